"""The web console in a real browser: headless Chromium (Debian's chromium + chromium-driver)
driven by Selenium. Sign in with a token, run the playground (three streams to three simulated
providers over ONE WebSocket), see the new rows in the live log, open a request's detail.
Screenshots go to the test's tmp dir (and `AIGW_CONSOLE_SCREENSHOT`, if set, gets the last)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest

from aigw.testing.gateway import running_gateway
from aigw.testing.simulators import Simulators

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra has it)")
if CHROMIUM is None or not os.path.exists(CHROMEDRIVER):
    pytest.skip("no chromium + chromium-driver (apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.timeout(90)


class GatewayThread:
    """The gateway and simulators on their own loop in a thread (Selenium's calls block)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.stop = None
        self.loop = None
        self.gw = None
        self.error: BaseException | None = None

    def run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop = asyncio.Event()
            async with Simulators("openai", "anthropic", "workers-ai") as sims:
                for sim in sims.values():
                    sim.chunks, sim.chunk_delay = 12, 0.04
                async with running_gateway(sims, console={"enabled": True}) as gw:
                    self.gw = gw
                    self.ready.set()
                    await self.stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the fixture
            self.error = exc
            self.ready.set()


@pytest.fixture
def gateway():
    runner = GatewayThread()
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    assert runner.ready.wait(30) and runner.error is None, runner.error
    yield runner.gw
    runner.loop.call_soon_threadsafe(runner.stop.set)
    thread.join(30)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1360,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_sign_in_run_the_playground_see_live_rows_and_open_a_detail(gateway, browser, tmp_path: Path):
    wait = WebDriverWait(browser, 20)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    browser.get(f"http://127.0.0.1:{gateway.port}/ui")

    # A wrong token is refused; the right one signs in and is kept in sessionStorage only.
    browser.find_element(By.ID, "token").send_keys("wrong-token")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "refused"))
    browser.get_log("browser")  # drains the expected 401 of that attempt
    token_input = browser.find_element(By.ID, "token")
    token_input.clear()
    token_input.send_keys(gateway.token)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(EC.visibility_of_element_located((By.ID, "view-logs")))
    wait.until(EC.text_to_be_present_in_element((By.ID, "live-state"), "live"))
    assert browser.execute_script("return sessionStorage.getItem('aigw.console.token')") == gateway.token
    assert browser.execute_script("return localStorage.length") == 0
    browser.save_screenshot(str(shots / "1-live-log-empty.png"))

    # The playground: three providers, one WebSocket, three streams that complete.
    browser.find_element(By.CSS_SELECTOR, '#nav a[data-view="playground"]').click()
    wait.until(EC.visibility_of_element_located((By.ID, "pg-send")))
    providers = [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#pg-lanes select")]
    assert providers == ["openai", "anthropic", "workers-ai"]
    browser.find_element(By.ID, "pg-send").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '.out[data-state="done"]')) == 3)
    texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".out .text")]
    assert all(t.strip() for t in texts), texts
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pg-timeline rect")) >= 3 * 12
    assert "over one WebSocket" in browser.find_element(By.ID, "pg-status").text
    browser.save_screenshot(str(shots / "2-playground.png"))

    # The live log got the three new rows without a reload.
    browser.find_element(By.CSS_SELECTOR, '#nav a[data-view="logs"]').click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log-table tbody tr")) >= 3)
    providers_logged = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "#log-table tbody tr td:nth-child(2)")}
    assert providers_logged == {"openai", "anthropic", "workers-ai"}
    browser.save_screenshot(str(shots / "3-live-log.png"))

    # A request's detail: attempts, tokens, both bodies.
    browser.find_element(By.CSS_SELECTOR, "#log-table tbody tr a").click()
    wait.until(EC.visibility_of_element_located((By.ID, "log-attempts")))
    facts = browser.find_element(By.ID, "log-facts").text
    assert "Tokens in" in facts and "Duration" in facts
    bodies = browser.find_elements(By.CSS_SELECTOR, "#log-detail pre.body")
    assert len(bodies) == 2 and "stream" in bodies[0].text
    browser.save_screenshot(str(shots / "4-detail.png"))

    # The charts draw one series per provider/model.
    browser.find_element(By.CSS_SELECTOR, '#nav a[data-view="charts"]').click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-requests polyline")) == 3)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-cost polyline")) == 3)
    browser.save_screenshot(str(shots / "5-charts.png"))

    # Back to the playground for the picture that shows the point.
    browser.find_element(By.CSS_SELECTOR, '#nav a[data-view="playground"]').click()
    wait.until(EC.visibility_of_element_located((By.ID, "pg-send")))
    final = shots / "console.png"
    browser.save_screenshot(str(final))
    if os.environ.get("AIGW_CONSOLE_SCREENSHOT"):
        shutil.copy(final, os.environ["AIGW_CONSOLE_SCREENSHOT"])
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
