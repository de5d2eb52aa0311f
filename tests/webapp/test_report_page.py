"""The /model page's link to the latest re-training report, and the report route."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from webapp import create_app, settings

REPORT = "# Re-training report 2026-11-22T02:00:00+00:00\n\n**Decision: promoted** (exit status 0). 配送 | 支払い\n<script>alert(1)</script>\n"


@pytest.fixture
def models(tfidf_bundle_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's TF-IDF models directory (reports may be added to it)."""
    return Path(shutil.copytree(tfidf_bundle_dir, tmp_path / "models", symlinks=True))


def client_of(models: Path, monkeypatch):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    return create_app({"TESTING": True, "MODEL_PATH": str(models)}).test_client()


def add_report(models: Path) -> None:
    reports = models / "reports"
    reports.mkdir()
    (reports / "20261122-020000-20261122-020135-ab12cd.md").write_text(REPORT, encoding="utf-8")
    os.symlink("20261122-020000-20261122-020135-ab12cd.md", reports / "latest.md")


def test_the_model_page_links_the_latest_report_which_is_served_as_text(models, monkeypatch):
    add_report(models)
    client = client_of(models, monkeypatch)
    html = client.get("/model").get_data(as_text=True)
    assert '<a href="/model/report">最新の再学習レポート</a>' in html
    assert str(models) not in html  # no server path on the page
    response = client.get("/model/report")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True) == REPORT  # as written: plain text, nothing interpreted


def test_without_a_report_there_is_no_link_and_the_route_is_404(models, monkeypatch):
    client = client_of(models, monkeypatch)
    assert "最新の再学習レポート" not in client.get("/model").get_data(as_text=True)
    assert client.get("/model/report").status_code == 404


def test_the_report_route_without_a_model_is_404(tmp_path, monkeypatch):
    client = client_of(tmp_path / "nothing", monkeypatch)
    assert client.get("/model/report").status_code == 404


def test_a_damaged_report_is_shown_with_replacement_characters_not_a_500(models, monkeypatch):
    add_report(models)
    target = models / "reports" / "20261122-020000-20261122-020135-ab12cd.md"
    target.write_bytes("# 再学習レポート\n".encode("utf-8") + b"\xff\xfe\n")
    response = client_of(models, monkeypatch).get("/model/report")
    assert response.status_code == 200 and response.get_data(as_text=True) == "# 再学習レポート\n\ufffd\ufffd\n"
