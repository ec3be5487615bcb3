"""The app as a person sees it: `retailnova app` on a free loopback port over
the home of a real pipeline run, every page opened in headless Chromium
(Debian's, driven by Playwright), a chart drawn and no exception shown; a
screenshot of each page is kept under the test's temporary folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app.conftest import ENTRYPOINT, PAGES

CHROMIUM = os.environ.get("RETAILNOVA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 90
PAGE_SECONDS = 90  # the first page of a fresh server imports pandas, altair and deltalake
CHART = '[data-testid="stVegaLiteChart"] :is(canvas, svg)'


def _needs(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why}; the CI setup installs it")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _needs(False, "the playwright package is not installed")
    _needs(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(pipeline_home, tmp_path_factory):
    """The app on 127.0.0.1, reading the pipeline's home; its log is kept."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILNOVA_")}
    env["RETAILNOVA_HOME"] = str(pipeline_home.home)
    # What a user runs: `retailnova app`, which becomes `streamlit run`.
    command = [sys.executable, "-m", "extract.cli", "app", "--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ENTRYPOINT.parents[1], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"\n[app] streamlit log: {log_path}")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\n[app] screenshots: {folder}")
    return folder


@pytest.mark.parametrize("page_file", list(PAGES))
def test_every_page_renders_a_chart_and_no_exception(page_file, browser, server, screenshots):
    url = f"{server}/{PAGES[page_file]}"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    try:
        started = time.monotonic()
        page.goto(url, wait_until="domcontentloaded")
        # Streamlit renders over a websocket: wait for its script run to end.
        page.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"]',
            timeout=PAGE_SECONDS * 1000,
        )
        page.wait_for_selector(CHART, state="visible", timeout=PAGE_SECONDS * 1000)
        seconds = time.monotonic() - started
        # The app scrolls inside its own container: a tall window shows all of it.
        page.set_viewport_size({"width": 1400, "height": 3200})
        page.wait_for_timeout(1000)  # let the charts and tables finish painting
        name = PAGES[page_file] or "overview"
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

        assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")
        box = page.locator(CHART).first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, box
        title = page.locator("h1").first.inner_text()
        assert title, "the page has a title"
        assert "Traceback" not in page.inner_text("body")
        assert not console_errors, console_errors
        print(f"\n[app] {name}: rendered in {seconds:.1f}s")
    finally:
        context.close()


def test_kpis_channel_filter_in_the_browser(browser, server, screenshots):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{server}/kpis", wait_until="domcontentloaded")
        page.wait_for_selector(CHART, state="visible", timeout=PAGE_SECONDS * 1000)
        everything = page.locator('[data-testid="stMetricValue"]').first.inner_text()

        page.locator('[data-testid="stMultiSelect"]', has_text="Channel").click()
        page.get_by_role("option", name="Online", exact=True).click()
        page.keyboard.press("Escape")
        page.get_by_text("Sales of channel Online (gold.fact_sales)").wait_for(
            timeout=PAGE_SECONDS * 1000
        )
        page.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"]',
            timeout=PAGE_SECONDS * 1000,
        )
        page.wait_for_selector(CHART, state="visible", timeout=PAGE_SECONDS * 1000)
        page.set_viewport_size({"width": 1400, "height": 3200})
        page.wait_for_timeout(1000)
        page.screenshot(path=str(screenshots / "kpis-online.png"), full_page=True)

        online = page.locator('[data-testid="stMetricValue"]').first.inner_text()
        assert online != everything, (online, everything)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator(CHART).count() == 6
    finally:
        context.close()
