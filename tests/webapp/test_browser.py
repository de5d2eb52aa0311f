"""End to end in a real browser: the real server (``toiawase serve``, gunicorn) and headless Chromium.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``make browser-deps``; CI installs
them). Without them the test fails rather than skips, so a CI run cannot pass without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from routing.predictor import load_predictor as load_bundle
from tests.server import (
    HOST,
    ServerStartError,
    free_port,
    start_server,
    stop_server,
    wait_until_healthy,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
QUESTION = "商品がまだ届きません。配送状況を教えてください。"
START_TIMEOUT = 60.0  # seconds for gunicorn and its worker to answer /healthz


@pytest.fixture
def server(trained_bundle_dir: Path, tmp_path: Path) -> Iterator[str]:
    """``toiawase serve`` on a free 127.0.0.1 port with the session's model; yields its base URL."""
    port = free_port()
    log = tmp_path / "server.log"
    process = start_server(trained_bundle_dir, port, 1, log)
    url = f"http://{HOST}:{port}"
    try:
        try:
            wait_until_healthy(port, process, log, START_TIMEOUT)
        except ServerStartError as exc:
            pytest.fail(str(exc))
        yield url
    finally:
        stop_server(process)


@pytest.fixture
def browser(tmp_path: Path):
    """Headless Chromium through chromedriver (selenium); quits at the end."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: install headless Chromium with `make browser-deps` "
                    "(Debian packages chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1200,1100",
                     "--lang=ja"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_route_a_question_in_the_browser(server: str, browser, trained_bundle_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    expected = load_bundle(trained_bundle_dir).predict([QUESTION])[0]

    browser.get(server + "/")
    assert "問い合わせ" in browser.title
    label = browser.find_element(By.XPATH, "//label[normalize-space()='お客様からの質問']")
    textarea = browser.find_element(By.ID, label.get_attribute("for"))
    textarea.send_keys(QUESTION)
    browser.find_element(By.XPATH, "//button[normalize-space()='質問する']").click()

    result = WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "result")))
    assert result.get_attribute("data-category") == expected.category
    assert expected.category in result.text
    assert f"{100 * expected.probability:.1f}%" in result.text
    # The question stays in the textarea after the answer.
    assert browser.find_element(By.ID, "question").get_attribute("value") == QUESTION

    screenshot = tmp_path / "result.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
