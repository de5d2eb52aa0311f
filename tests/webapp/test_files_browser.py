"""The files page in headless Chromium against the real server: upload a Shift_JIS CSV, route it, download the CSV.

Uses the real server and Chromium fixtures of ``tests/webapp/conftest.py`` (Debian packages
``chromium`` and ``chromium-driver``: ``scripts/install-system-deps.sh --browser``).
"""

from __future__ import annotations

import codecs
import csv
import io
import time
from pathlib import Path

from routing.predictor import load_predictor as load_bundle

QUESTIONS = ["パスワードを忘れてしまい、ログインできません。", "注文した商品がまだ届きません。いつ発送されますか？"]


def wait_for_download(directory: Path, suffix: str, timeout: float = 20.0) -> Path:
    """The finished download in ``directory`` ending with ``suffix`` (Chromium writes ``.crdownload`` first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in directory.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no *{suffix} in {directory}: {sorted(p.name for p in directory.iterdir())}")


def test_upload_route_and_download_in_the_browser(server: str, browser, trained_bundle_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    upload = tmp_path / "問い合わせ一覧.csv"
    upload.write_bytes(f"受付番号,お問い合わせ内容\r\n1,{QUESTIONS[0]}\r\n\r\n2,{QUESTIONS[1]}\r\n".encode("cp932"))
    expected = load_bundle(trained_bundle_dir).predict(QUESTIONS, top_k=1, threshold=0.0)
    wait = WebDriverWait(browser, 30)

    browser.get(server + "/")
    browser.find_element(By.LINK_TEXT, "ファイルで振り分ける").click()
    wait.until(EC.presence_of_element_located((By.ID, "file"))).send_keys(str(upload))
    browser.find_element(By.XPATH, "//button[normalize-space()='アップロード']").click()

    # The script uploaded it (XHR with progress) and went to the column page; the column is recognised.
    menu = Select(wait.until(EC.presence_of_element_located((By.ID, "column"))))
    assert menu.first_selected_option.get_attribute("value") == "お問い合わせ内容"
    assert "Shift_JIS（cp932）" in browser.page_source
    browser.find_element(By.XPATH, "//button[normalize-space()='振り分ける']").click()

    results = wait.until(EC.visibility_of_element_located((By.ID, "file-results")))
    assert results.get_attribute("data-rows") == "3"
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in results.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [c[:3] for c in cells] == [["2", QUESTIONS[0], expected[0].category], ["3", "", ""], ["4", QUESTIONS[1], expected[1].category]]
    assert cells[1][4:] == ["要確認", "no_content"]

    browser.find_element(By.ID, "download-csv").click()
    saved = wait_for_download(downloads, "_routed.csv")
    assert saved.name == "問い合わせ一覧_routed.csv"
    data = saved.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8):].decode("utf-8"), newline="")))
    assert rows == [
        ["line", "question", "category", "probability", "needs_review", "reason"],
        ["2", QUESTIONS[0], expected[0].category, f"{expected[0].probability:.4f}", str(expected[0].needs_review).lower(), expected[0].reason or ""],
        ["3", "", "", "", "true", "no_content"],
        ["4", QUESTIONS[1], expected[1].category, f"{expected[1].probability:.4f}", str(expected[1].needs_review).lower(), expected[1].reason or ""],
    ]
