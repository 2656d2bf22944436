"""Driving the page (`export/web/`, served by `export/serve_web.py`) in a headless Chromium with
Selenium, for the page's tests: the `browser` fixture, a server per version, waiting for the
page, reading its canvases. Tests skip, saying which is missing, without Chromium and
chromedriver (Debian: `apt-get install chromium chromium-driver`), Selenium or ONNX Runtime Web
(`make install`)."""

import pathlib
import select
import shutil
import subprocess
import time

import numpy as np
import pytest

from kerasrnn.export import web_files
from script_runs import start_script

PAGE_DIR = pathlib.Path(__file__).resolve().parents[1] / "export" / "web"


def find_chromium():
    """`(chromium, chromedriver)` paths; skips saying what is missing."""
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if p is None)
        pytest.skip(f"no {missing} on the PATH (Debian: apt-get install chromium chromium-driver)")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Selenium (skips where one is missing)."""
    chromium, chromedriver = find_chromium()
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra: make install)")
    missing = [n for n in web_files.ORT_FILES if not (PAGE_DIR / web_files.ORT_DIST / n).is_file()]
    if missing:
        pytest.skip(f"onnxruntime-web is not installed in export/web ({web_files.INSTALL_HINT})")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,1000", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def start_server(version, log):
    """`(process, url)`: `serve_web.py version --port 0`, its URL read from its first line."""
    process = start_script("export/serve_web.py", version, "--port", "0",
                           stdout=subprocess.PIPE, stderr=log, text=True)
    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else ""
    if " at http://" not in line:
        process.kill()
        pytest.fail(f"serve_web.py did not start: {line!r} (exit {process.poll()})")
    return process, line.split(" at ", 1)[1].split()[0]


def wait_for(browser, script, timeout=60):
    """The first truthy value of `script` (JavaScript returning a value), polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    state = browser.execute_script("return document.body.dataset.state")
    raise AssertionError(f"timed out waiting for {script!r}: state {state}, error {error_text(browser)!r}")


def open_page(browser, url):
    browser.get(url)
    state = wait_for(browser, "const s = document.body.dataset.state; return s !== 'loading' && s")
    assert state == "ready", error_text(browser)


def error_text(browser):
    return browser.execute_script("const e = document.getElementById('error'); "
                                  "return e.hidden ? '' : e.textContent")


def act(browser, action):
    """Runs `action()` (which starts one request in the page), waits until the page has finished
    it; returns the page's state ("ready" or "error")."""
    before = int(browser.execute_script("return document.body.dataset.runs"))
    action()
    wait_for(browser, f"return Number(document.body.dataset.runs) > {before}")
    return browser.execute_script("return document.body.dataset.state")


def set_value(browser, element_id, value):
    browser.execute_script("document.getElementById(arguments[0]).value = arguments[1]", element_id, value)


def click(browser, element_id):
    browser.find_element("id", element_id).click()


def canvas_pixels(browser, element_id):
    """The RGBA pixels (H, W, 4) of a canvas of the page."""
    width, data = browser.execute_script("""
        const c = document.getElementById(arguments[0]);
        return [c.width, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)];""",
                                         element_id)
    return np.asarray(data, np.uint8).reshape(-1, width, 4)
