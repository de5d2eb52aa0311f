"""Tests of the `feedback` package."""
