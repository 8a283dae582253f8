"""`serve --demo` in a real headless Chromium: the price appears, `?` opens the help, screenshots.

The terminal is drawn by xterm.js on a canvas, so there is no text in the page's DOM to read.
Before the page's scripts run, a test-only script records the xterm `Terminal` that
textual-serve's page creates (it is assigned to a `terminal` property), and the test reads the
screen through xterm's public buffer API (`buffer.active.getLine(i).translateToString()`):
exactly the characters the user sees. The same script notes when the first frame of the app
arrived (textual-serve marks it with the body class `-first-byte`), in the page's own clock.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (`make
install-browser`); without them the test is skipped with that reason.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.web.conftest import Served, serving, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL = (
    "run `make install-browser` (apt-get install chromium chromium-driver; pip install selenium)"
)

# The machine has no internet: nothing in the browser may try to reach it.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1280,860",
)

CAPTURE = """
(() => {
  window.__firstFrameMs = null;
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    get() { return undefined; },
    set(value) {
      Object.defineProperty(this, "terminal",
        { value, writable: true, configurable: true, enumerable: true });
      if (value && typeof value.loadAddon === "function" && value.buffer) {
        window.__xterm = value;
      }
    },
  });
  new MutationObserver((_, observer) => {
    if (document.body && document.body.classList.contains("-first-byte")) {
      window.__firstFrameMs = performance.now();
      observer.disconnect();
    }
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["class"] });
})();
"""

SCREEN = """
const t = window.__xterm;
if (!t) { return null; }
const b = t.buffer.active, lines = [];
for (let i = 0; i < t.rows; i++) {
  const line = b.getLine(b.viewportY + i);
  lines.push(line ? line.translateToString(true) : "");
}
return lines.join("\\n");
"""

PRICE = re.compile(r"\b\d{1,3}(?:,\d{3})+\.\d{2}\b")  # 60,012.34


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    webdriver = pytest.importorskip("selenium.webdriver", reason=f"selenium is missing: {INSTALL}")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(f"no Chromium or chromedriver on PATH: {INSTALL}")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_AVOID_STATS", "true")  # selenium-manager: no usage statistics
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE})
        yield driver
    finally:
        driver.quit()


def screen(driver) -> str:
    return driver.execute_script(SCREEN) or ""


def test_demo_in_a_browser_shows_the_price_and_the_help(
    browser, serve_root: Path, tmp_path: Path
) -> None:
    with serving(serve_root) as served:
        started = time.monotonic()
        browser.get(served.url + "/")
        wait_for(
            lambda: browser.execute_script("return window.__firstFrameMs"), 60, "a first frame"
        )
        first_frame_ms = browser.execute_script("return window.__firstFrameMs")
        wait_for(lambda: "Live" in screen(browser), 60, "the app's Live pane")

        def live_price() -> str | None:
            lines = screen(browser).splitlines()
            top = [line for line in lines[:8] if "Live" not in line]  # below the pane's title
            found = [m.group(0) for line in top for m in PRICE.finditer(line)]
            return found[0] if found else None

        wait_for(live_price, 60, "a price in the Live pane")
        price_s = time.monotonic() - started
        price = live_price()
        live_png = tmp_path / "serve-live.png"
        assert browser.save_screenshot(str(live_png))

        from selenium.webdriver.common.by import By

        browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys("?")
        wait_for(lambda: "escape closes this screen" in screen(browser), 30, "the help screen")
        help_text = screen(browser)
        help_png = tmp_path / "serve-help.png"
        assert browser.save_screenshot(str(help_png))
        assert "Command palette" in help_text

        assert len(served.children()) == 1  # the page's one session
        report = _report(served, first_frame_ms, price_s, price, live_png, help_png)
    print(json.dumps(report, indent=2))
    (tmp_path / "browser.json").write_text(json.dumps(report, indent=2))
    for png in (live_png, help_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def _report(
    served: Served, first_frame_ms: float, price_s: float, price: str | None, *pngs: Path
) -> dict[str, object]:
    return {
        "first_frame_ms_after_navigation": round(first_frame_ms),
        "price_visible_s_after_get": round(price_s, 2),
        "price": price,
        "screenshots": [str(p) for p in pngs],
        "serve": served.url,
    }
