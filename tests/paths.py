"""Paths the tests share: the repository root, the sample tickets, the tests' own data."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TICKETS = REPO_ROOT / "data" / "sample" / "tickets.tsv"
TEST_DATA = Path(__file__).resolve().parent / "data"
