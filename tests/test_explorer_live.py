"""The attention explorer served by uvicorn on a free 127.0.0.1 port: many clients, clients that leave, a browser.

The browser test drives Debian's chromium through its chromium-driver (``apt-get install chromium
chromium-driver``; .ci/run installs them); it skips, saying so, where they are missing.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

import nmt
from nmt.explorer import create_app
from nmt.explorer_models import ExplorerModel, GoldPair, Limits

SENTENCE = "alpha beta gamma delta"
GOLD = GoldPair("DELTA GAMMA BETA ALPHA", "0-3 1-2 2-1 3-0")
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.usefixtures("one_thread")


class Served:
    """A uvicorn server for one app on its own thread, on a port the OS picked."""

    def __init__(self, app) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def models(transformer_run, rnn_run) -> dict[str, ExplorerModel]:
    limits = Limits(max_chars=200, max_queue=64)
    return {
        label: ExplorerModel(label, nmt.load(run), limits, gold={SENTENCE: GOLD})
        for label, run in (("transformer", transformer_run), ("rnn", rnn_run))
    }


@pytest.fixture(scope="module")
def served(models) -> Iterator[Served]:
    with Served(create_app(models, Limits(max_chars=200, max_queue=64))) as s:
        yield s


async def _many(url: str, n: int, body: dict) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(*(client.post("/api/translate", json=body) for _ in range(n)))


def test_fifty_at_once_run_one_at_a_time(served, models, monkeypatch):
    """50 requests at once all get answers, and the models never run two requests together."""
    running, most = 0, 0
    real = ExplorerModel.translate

    def counted(self, *args, **kwargs):
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            time.sleep(0.005)  # long enough for overlapping calls to show
            return real(self, *args, **kwargs)
        finally:
            running -= 1

    monkeypatch.setattr(ExplorerModel, "translate", counted)
    answers = asyncio.run(_many(served.url, 50, {"text": SENTENCE, "strategy": "greedy"}))
    assert [r.status_code for r in answers] == [200] * 50
    assert most == 1 and served.app.state.worker.waiting == 0
    assert len({r.text for r in answers}) == 1


def test_a_full_queue_says_busy(models):
    with Served(create_app(models, Limits(max_chars=200, max_queue=2))) as small:
        answers = asyncio.run(_many(small.url, 12, {"text": SENTENCE, "strategy": "beam", "n_best": 3}))
        codes = [r.status_code for r in answers]
        assert set(codes) == {200, 503} and codes.count(200) >= 2
        assert all("busy" in r.json()["error"] for r in answers if r.status_code == 503)
        assert httpx.post(f"{small.url}/api/translate", json={"text": SENTENCE}).status_code == 200


def _raw(url: str, request: bytes) -> None:
    """Send bytes and hang up without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(request)


def test_clients_that_hang_up_leave_no_hung_worker(served):
    body = b'{"text": "alpha beta gamma delta", "strategy": "beam", "n_best": 2}'
    head = b"POST /api/translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    _raw(served.url, head + b"Content-Length: 500\r\n\r\n" + body)  # mid-body
    for _ in range(5):
        _raw(served.url, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)  # before the answer
    deadline = time.monotonic() + 20
    while served.app.state.worker.waiting:
        assert time.monotonic() < deadline, "requests of departed clients are still waiting"
        time.sleep(0.05)
    answer = httpx.post(f"{served.url}/api/translate", json={"text": SENTENCE}, timeout=30)
    assert answer.status_code == 200 and answer.json()["results"][0]["hypotheses"]


# --------------------------------------------------------------------------- the page in a browser


def _browser():
    if CHROMIUM is None or not Path(CHROMEDRIVER).exists() or shutil.which("chromedriver") is None:
        pytest.skip("needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.slow
def test_the_page_in_headless_chromium(served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _browser()
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(served.url)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        panels = driver.find_elements(By.CSS_SELECTOR, ".panel")
        assert [p.get_attribute("data-model") for p in panels] == ["transformer", "rnn"]  # side by side

        driver.find_element(By.ID, "translate").click()  # nothing typed yet: the page says so
        wait.until(lambda d: d.find_element(By.ID, "message").text == "Type a sentence first.")
        driver.find_element(By.ID, "text").send_keys(SENTENCE)
        driver.find_element(By.ID, "translate").click()
        cells = "#panel-{} svg.heatmap rect.cell"
        wait.until(lambda d: all(d.find_elements(By.CSS_SELECTOR, cells.format(i)) for i in (0, 1)))
        transformer = driver.find_element(By.ID, "panel-0")
        assert transformer.find_element(By.CSS_SELECTOR, ".hypothesis").text.strip()
        rows = len(transformer.find_elements(By.CSS_SELECTOR, "svg.heatmap text.row-label"))
        cols = len(transformer.find_elements(By.CSS_SELECTOR, "svg.heatmap rect.cell")) // rows
        assert rows >= 2 and cols >= 2 and rows * cols == len(transformer.find_elements(By.CSS_SELECTOR, "rect.cell"))
        assert "AER" in transformer.find_element(By.CSS_SELECTOR, ".gold-info").text  # a sentence with gold links
        title = transformer.find_element(By.CSS_SELECTOR, "svg.heatmap rect.cell title")
        assert "←" in title.get_attribute("textContent")  # hovering shows the weight

        before = [c.get_attribute("data-weight") for c in transformer.find_elements(By.CSS_SELECTOR, "rect.cell")]
        Select(transformer.find_element(By.CSS_SELECTOR, "select.head")).select_by_value("2")
        wait.until(lambda d: transformer.get_attribute("data-head") == "2")
        after = [c.get_attribute("data-weight") for c in transformer.find_elements(By.CSS_SELECTOR, "rect.cell")]
        assert len(after) == len(before) and after != before

        wait.until(lambda d: transformer.get_attribute("data-temperature") == "1")
        entropy_before = transformer.find_element(By.CSS_SELECTOR, ".next-title").text
        slider = driver.find_element(By.ID, "temperature")
        slider.send_keys(*[Keys.ARROW_RIGHT] * 10)  # 1.0 -> 2.0, as a user drags it
        wait.until(lambda d: transformer.get_attribute("data-temperature") == "2")
        assert driver.find_element(By.ID, "temperature-value").text == "2.0"
        assert transformer.find_element(By.CSS_SELECTOR, ".next-title").text != entropy_before
        assert driver.find_element(By.ID, "message").text == ""

        shot = tmp_path / "explorer.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_latency_script_measures_every_level(served):
    from nmt.bench.explorer_latency import _percentile, measure, table

    assert _percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5 and _percentile([7.0], 0.9) == 7.0
    result = asyncio.run(measure(served.url, [1, 3], 6, [SENTENCE, "beta alpha"], "rnn"))
    levels = [(r["endpoint"], r["clients"]) for r in result["rows"]]
    assert levels == [("/api/translate", 1), ("/api/attention", 1), ("/api/translate", 3), ("/api/attention", 3)]
    for row in result["rows"]:
        assert row["statuses"] == {"200": 6} and 0 < row["median_ms"] <= row["p90_ms"] <= row["max_ms"]
    assert table(result).count("\n") == 5


@pytest.mark.slow
def test_the_serve_command_serves_and_refuses_a_busy_port(rnn_run, tmp_path):
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "nmt.serve", f"run={rnn_run}", f"port={port}", "log_level=warning"]
    server = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "nmt.serve did not answer"
                time.sleep(0.2)
        assert [m["label"] for m in info["models"]] == ["rnn"]
        second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and second.stderr.strip().splitlines() == [
            f"nmt.serve: error: host=127.0.0.1 port={port}: cannot listen there (Address already in use); "
            "pick another port=…"
        ]
    finally:
        server.terminate()
        server.wait(10)
