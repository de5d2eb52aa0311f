"""Fixtures of the web app's end-to-end tests: headless Chromium and the real server.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``make browser-deps``; CI installs
them). Without them a test using :func:`browser` fails rather than skips, so a CI run cannot pass
without a real browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from webapp import create_app
from webapp.feedback_store import close_store
from tests.server import HOST, ServerStartError, free_port, start_server, stop_server, wait_until_healthy

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
START_TIMEOUT = 60.0  # seconds for gunicorn and its worker to answer /healthz


@pytest.fixture
def browser(tmp_path: Path):
    """Headless Chromium through chromedriver (selenium), Japanese UI, a profile in ``tmp_path``; quits at the end."""
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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The feedback database of the test's server."""
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


@pytest.fixture
def server(trained_bundle_dir: Path, tmp_path: Path, db_url: str) -> Iterator[str]:
    """``toiawase serve`` on a free 127.0.0.1 port with the session's model (threshold 0); yields its base URL."""
    port = free_port()
    log = tmp_path / "server.log"
    process = start_server(trained_bundle_dir, port, 1, log, db=db_url, threshold=0.0)
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
def make_app(trained_bundle_dir: Path, db_url: str):
    """Apps (Flask, ``TESTING``) on the session's bundle and the test's database ``db_url``, with
    extra config as keyword arguments; their feedback stores are closed at the end."""
    apps = []

    def make(**config):
        app = create_app({"TESTING": True, "MODEL_PATH": str(trained_bundle_dir), "DB_URL": db_url, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_store(app)
