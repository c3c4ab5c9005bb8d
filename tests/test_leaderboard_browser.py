"""The leaderboard in a real browser: `mer-bench leaderboard` served on a free loopback port and
driven by headless Chromium through Playwright. Needs Debian's chromium (see README / .ci/run);
set MER_BENCH_SKIP_BROWSER=1 to skip where no browser can be installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from leaderboard_fixtures import fill_store

from mer_bench.results.store import Store
from mer_bench.results.summary import summarize_run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("MER_BENCH_SKIP_BROWSER") == "1", reason="MER_BENCH_SKIP_BROWSER=1"
    ),
]


#: JavaScript: for each cell, how many lines its text takes on the page.
LINES_PER_CELL = """cells => cells.map(cell => {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const tops = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    return tops.size; })"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(store: Path, port: int) -> list[str]:
    script = Path(sys.executable).with_name("mer-bench")
    head = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from mer_bench.cli import main; main()"]
    )
    return head + ["leaderboard", "--store", str(store), "--port", str(port)]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"leaderboard exited with {proc.returncode}: "
                f"{proc.stdout.read() if proc.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"leaderboard did not answer on {url} within {timeout} s")


@pytest.fixture()
def server(tmp_path):
    store = tmp_path / "results.sqlite"
    ids = fill_store(store)
    port = _free_port()
    proc = subprocess.Popen(
        _command(store, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, ids, store
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_leaderboard_in_chromium(server, tmp_path):
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail(
            "playwright is not installed: pip install -e '.[test]' "
            "(or set MER_BENCH_SKIP_BROWSER=1)"
        )
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium "
            "chromium-driver (or set MER_BENCH_SKIP_BROWSER=1)"
        )
    url, ids, store_path = server
    weak = ids[("weak-net", "fixed", 0)]
    top = ids[("good-net", "fixed", 0)]
    store = Store(store_path)
    expected = summarize_run(store, weak, device="cpu").report.pooled
    store.close()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1800})
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            ranking_tab = page.get_by_role("tabpanel", name="Ranking")
            ranking = ranking_tab.locator('[data-testid="stTable"]').first
            sync_api.expect(ranking).to_contain_text("good-net", timeout=90_000)
            sync_api.expect(ranking).to_contain_text("weak-net")
            sync_api.expect(ranking).to_contain_text("±")
            for elsewhere in ("best-on-test", "zero-epoch-net", "stopped-net", "demo-net"):
                sync_api.expect(ranking).not_to_contain_text(elsewhere)  # honest, real data
            # every cell on one line: names like good-net and dates never break mid-word
            lines = ranking.locator("td").evaluate_all(LINES_PER_CELL)
            assert lines and set(lines) == {1}, lines
            side = ranking_tab.locator('[data-testid="stTable"]').filter(
                has_text="chance of its rule"
            )
            sync_api.expect(side).to_contain_text("best-on-test (test-selected)")
            sync_api.expect(side).to_contain_text("best-of-20 chance")
            not_ranked = ranking_tab.locator('[data-testid="stTable"]').filter(
                has_text="why not ranked"
            )
            sync_api.expect(not_ranked).to_contain_text("no epoch to choose from")
            sync_api.expect(not_ranked).to_contain_text("incomplete: 5/68 folds stored")
            sync_api.expect(page.get_by_text("Reported in papers", exact=False)).to_be_visible()
            # a viewer's toolbar: no Deploy button (client.toolbarMode=viewer)
            sync_api.expect(page.locator('[data-testid="stAppDeployButton"]')).to_have_count(0)
            sync_api.expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
            sync_api.expect(page.locator("body")).to_contain_text("0.8603")
            page.screenshot(path=str(tmp_path / "ranking.png"), full_page=True)

            # the detail opens on the top-ranked run, with the epochs its folds kept
            page.get_by_role("tab", name="Run detail").click()
            detail = page.get_by_role("tabpanel", name="Run detail")
            sync_api.expect(detail).to_contain_text(f"Run {top}: good-net", timeout=60_000)
            sync_api.expect(detail.get_by_text("Chosen epochs")).to_be_visible()
            sync_api.expect(detail).to_contain_text("epoch kept by each of 68 folds")
            page.locator('[data-testid="stSelectbox"]').filter(has_text="Run").first.click()
            page.get_by_role("option").filter(has_text=weak).click()
            sync_api.expect(detail).to_contain_text(f"Run {weak}: weak-net", timeout=60_000)
            # wait for the rerun to finish: the metrics and the table are the weak run's own
            metrics = detail.locator('[data-testid="stMetricValue"]')
            sync_api.expect(metrics.first).to_have_text(f"{expected.uf1:.4f}", timeout=60_000)
            sync_api.expect(detail.get_by_text("Confusion matrix")).to_be_visible()
            table = detail.locator('[data-testid="stTable"]').first
            sync_api.expect(table).to_contain_text("pred surprise")
            cells = [int(c) for c in table.locator("tbody td").all_inner_texts()]
            assert cells == [v for row in expected.confusion for v in row]
            sync_api.expect(detail.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
            provenance = detail.locator('[data-testid="stTable"]').filter(has_text="git_commit")
            sync_api.expect(provenance).to_contain_text("provenance.manifest_version")
            sync_api.expect(provenance).not_to_contain_text("{")
            page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)

            # the synthetic demo is its own ranking, without published numbers beside it
            page.get_by_role("tab", name="Ranking").click()
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
                has_text="Source"
            ).click()
            page.get_by_role("option").filter(has_text="demo (synthetic demo data)").click()
            sync_api.expect(ranking_tab).to_contain_text(
                "Ranking: megc2019 on demo (synthetic demo data)", timeout=60_000
            )
            demo = ranking_tab.locator('[data-testid="stTable"]').first
            sync_api.expect(demo).to_contain_text("demo-net")
            sync_api.expect(demo).not_to_contain_text("good-net")
            sync_api.expect(ranking_tab).to_contain_text("not comparable with real-data runs")
            sync_api.expect(page.get_by_text("Reported in papers", exact=False)).to_have_count(0)
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        finally:
            browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("ranking.png", "detail.png", "demo.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        shutil.copy(tmp_path / name, ARTIFACTS / f"leaderboard-{name}")
