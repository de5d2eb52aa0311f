"""Tests of the console script, `toiawase.cli`."""
