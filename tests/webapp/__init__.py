"""Tests of the `webapp` package."""
