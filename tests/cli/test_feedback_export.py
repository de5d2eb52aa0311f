"""``toiawase feedback export``: the agents' labels as a ticket TSV, and its errors.

The database is filled through the real store with fixed times, so the output is known exactly.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedback import FeedbackStore, default_url
from preprocessing.datasets import load_tickets
from tests.paths import REPO_ROOT
from toiawase.cli import main


def at(day: int, hour: int) -> datetime:
    """A UTC instant in November 2026."""
    return datetime(2026, 11, day, hour, tzinfo=timezone.utc)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """A models directory whose default database holds three labels; returns it and the feedback ids."""
    monkeypatch.delenv("TOIAWASE_DB", raising=False)
    directory = tmp_path / "models"
    ids = {}
    with FeedbackStore.open(default_url(directory)) as store:
        def logged(question: str, category: str, day: int) -> str:
            return store.log_prediction(question=question, model_version="v1", category=category, probability=0.8,
                                        top_k=[(category, 0.8)], created_at=at(day, 1))

        delivery = logged("注文した商品がまだ届きません <ORDER>", "配送", 20)
        billing = logged("クレジットカードの請求が二重です", "配送", 21)
        login = logged("パスワードを忘れました\tログインできません", "アカウント", 22)
        ids["delivery"] = store.record_feedback(prediction_id=delivery, action="confirm", agent_category="配送",
                                                idempotency_key="a", created_at=at(20, 9)).feedback.id
        ids["billing"] = store.record_feedback(prediction_id=billing, action="correct", agent_category="支払い",
                                               idempotency_key="b", created_at=at(21, 9)).feedback.id
        ids["login"] = store.record_feedback(prediction_id=login, action="confirm", agent_category="アカウント",
                                             idempotency_key="c", created_at=at(22, 9)).feedback.id
    return directory, ids


def test_export_to_stdout_writes_exactly_the_labels(models) -> None:
    directory, ids = models
    result = invoke("feedback", "export", "--models", str(directory))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "id\tquestion\tanswer\tcategory\n"
        f"{ids['delivery']}\t注文した商品がまだ届きません <ORDER>\t\t配送\n"
        f"{ids['billing']}\tクレジットカードの請求が二重です\t\t支払い\n"
        f"{ids['login']}\tパスワードを忘れました ログインできません\t\tアカウント\n"
    )
    assert result.stderr == "exported 3 labeled ticket(s)\n"


def test_export_a_window_to_a_file_that_training_reads(models, tmp_path: Path) -> None:
    directory, ids = models
    out = tmp_path / "labels.tsv"
    # --since is inclusive, --until exclusive; 2026-11-21T18:00+09:00 is 09:00 UTC, the billing label.
    result = invoke("feedback", "export", "--models", str(directory), "--out", str(out),
                    "--since", "2026-11-21T18:00+09:00", "--until", "2026-11-22T09:00")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == f"id\tquestion\tanswer\tcategory\n{ids['billing']}\tクレジットカードの請求が二重です\t\t支払い\n"
    assert result.stderr == f"exported 1 labeled ticket(s) to {out}\n"
    tickets = load_tickets(str(out)).tickets  # the classic ticket export: header, four fields
    assert [(t.question, t.category) for t in tickets] == [("クレジットカードの請求が二重です", "支払い")]


def test_export_with_db_and_the_environment(models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory, ids = models
    url = default_url(directory)
    elsewhere = tmp_path / "empty-models"
    assert invoke("feedback", "export", "--models", str(elsewhere), "--db", url).stdout.count("\n") == 4
    monkeypatch.setenv("TOIAWASE_DB", url)
    assert invoke("feedback", "export", "--models", str(elsewhere)).stdout.count("\n") == 4


@pytest.mark.parametrize(
    "args, starts",
    [
        (["--db", "not a url"], "error: invalid database URL 'not a url'"),
        (["--db", "nosuchdb://host/db"], "error: unknown database dialect"),
        (["--db", "postgresql+psycopg://app:s3cret@127.0.0.1:1/db"], "error: cannot open the feedback store at postgresql+psycopg://app:***@127.0.0.1:1/db"),
        (["--models", "{tmp}/nothing-here"], "error: no feedback database at {tmp}/nothing-here/feedback.sqlite3"),
        (["--db", "sqlite:///{tmp}/models/feedback.sqlite3", "--out", "{tmp}/no/such/dir/labels.tsv"], "error: cannot write {tmp}/no/such/dir/labels.tsv"),
        (["--db", "sqlite:///{tmp}/models/feedback.sqlite3", "--since", "2026-11-23", "--until", "2026-11-22"], "error: since (2026-11-23T00:00:00+00:00) must be before until"),
    ],
    ids=["unparsable URL", "unknown dialect", "unreachable database", "missing SQLite file", "missing output directory", "empty window"],
)
def test_export_errors_are_one_line_and_status_2(models, tmp_path: Path, args: list[str], starts: str) -> None:
    result = invoke("feedback", "export", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts.replace("{tmp}", str(tmp_path))), result.stderr
    assert "s3cret" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "nothing-here").exists()  # a missing database is not created by an export


def test_a_bad_time_is_a_usage_error() -> None:
    result = invoke("feedback", "export", "--since", "yesterday")
    assert result.exit_code == 2
    assert "Invalid value for '--since': 'yesterday' is not an ISO 8601 date or date-time" in result.stderr


def test_serve_with_a_bad_database_url_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "toiawase", "serve", "--model", str(tmp_path / "models"), "--db", "postgresql+nosuchdriver://h/db"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "postgresql+nosuchdriver://h/db" in errors[0] and "Traceback" not in done.stderr
