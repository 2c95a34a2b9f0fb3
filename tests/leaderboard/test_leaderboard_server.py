"""The leaderboard as a real server process on 127.0.0.1: the CLI submits over HTTP, headless Chromium sees the
entry ranked, limits hold over a real socket, and SIGKILL in the middle of a load loses no acknowledged submission
(a small run of ``benchmarks/leaderboard/stress.py``, whose full run sends 500 + 600)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from leaderboard.auth import create_token
from leaderboard.cli import main as cli_main
from leaderboard.store import Store
from textenvs import load_env_dataset

ENV = "textenvs/Dialogue-v0"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STRESS_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "leaderboard" / "stress.py"


def _stress_module():
    spec = importlib.util.spec_from_file_location("leaderboard_stress", STRESS_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stress():
    return _stress_module()


@pytest.fixture(scope="module")
def live(stress, tmp_path_factory):
    """A server process on a fresh SQLite database, and a token for it."""
    directory = tmp_path_factory.mktemp("live")
    db_url = f"sqlite:///{directory}/leaderboard.db"
    token = create_token(Store(db_url), "browser-test")
    server = stress.ServerProcess(db_url, log_path=directory / "server.log")
    server.start()
    yield server, token
    server.stop()


@pytest.fixture
def browser():
    """Headless Chromium through Playwright; the test is skipped where either is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _leaderboard_page(browser, server):
    """A page showing the server's index, and the env's board on it."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{server.url}/")
    return page, page.locator(f'section[id="{ENV}"]')


def _predictions_file(path: Path, blank: int) -> Path:
    split = load_env_dataset(ENV, "test")
    path.write_text("".join(json.dumps({"id": e.id, "prediction": "" if i < blank else e.references[0],
                                        "dataset_hash": split.content_hash}) + "\n"
                            for i, e in enumerate(split)))
    return path


def _cli_submit(server, token, predictions: Path, agent: str) -> int:
    metadata = json.dumps({"config": {"policy": agent}, "seeds": [0],
                           "curve": [{"env_steps": 2048 * k, "reward": 0.2 + 0.1 * k} for k in range(6)]})
    return cli_main(["submit", str(predictions), "--env", ENV, "--server", server.url, "--token", token,
                     "--agent", agent, "--metadata", metadata])


@pytest.mark.browser
def test_browser_sees_a_new_submission_ranked(live, browser, tmp_path, capsys):
    server, token = live
    assert _cli_submit(server, token, _predictions_file(tmp_path / "weak.jsonl", blank=300), "weak-agent") == 0
    assert "rank 1 of 1" in capsys.readouterr().out

    page, board = _leaderboard_page(browser, server)
    assert board.locator("tr.entry").count() == 1
    assert board.locator("tr.entry td.rank").first.inner_text() == "1"

    # A better entry arrives; after a reload it is ranked first, the earlier one second.
    assert _cli_submit(server, token, _predictions_file(tmp_path / "strong.jsonl", blank=50), "strong-agent") == 0
    page.reload()
    rows = board.locator("tr.entry")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").nth(1).inner_text() == "strong-agent"
    assert rows.nth(1).locator("td").nth(1).inner_text() == "weak-agent"
    assert [rows.nth(i).locator("td.rank").inner_text() for i in range(2)] == ["1", "2"]
    assert rows.nth(0).locator("td.primary").inner_text() == "0.9000"
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)

    rows.nth(0).locator("a").click()
    page.wait_for_selector("svg.curve polyline")
    assert page.locator("#scores").is_visible() and "strong-agent" in page.locator("#config").inner_text()
    page.screenshot(path=str(tmp_path / "submission.png"), full_page=True)
    keep = os.environ.get("TEXTENVS_SCREENSHOT_DIR")
    if keep:  # for a person to look at
        for name in ("leaderboard.png", "submission.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)


@pytest.mark.browser
def test_browser_pages_and_sorts_a_long_ranking(stress, browser, tmp_path):
    """More entries than one page: the index says how many exist and links to the next page; clicking a column
    heading sorts the table in the browser (numbers numerically, text alphabetically, a second click reverses)."""
    from leaderboard.server import PAGE_SIZE
    from leaderboard.store import NewSubmission

    split = load_env_dataset(ENV, "test")
    db_url = f"sqlite:///{tmp_path}/paged.db"
    store = Store(db_url)
    total = PAGE_SIZE + 5
    for number in range(total):  # scores 0.000, 0.001, ... so the ranking is the reverse of the numbering
        score = number / 1000
        store.insert(NewSubmission(
            id=f"{number:016x}", content_hash=f"{number:064x}", env_id=ENV, dataset_name=split.name,
            dataset_hash=split.content_hash, agent=f"agent-{(number * 37) % total:03d}", submitter="s",
            primary_metric="token_f1", primary_score=score, metrics={"token_f1": score}, metadata={"agent": "a"},
            predictions={}))
    store.close()
    server = stress.ServerProcess(db_url, log_path=tmp_path / "server.log")
    server.start()
    try:
        page, board = _leaderboard_page(browser, server)
        assert board.locator("tr.entry").count() == PAGE_SIZE
        assert board.locator(".pager .shown").inner_text() == f"1–{PAGE_SIZE}"
        assert board.locator(".pager .total").inner_text() == str(total)

        def column(index: int) -> list[str]:
            return board.locator(f"tr.entry td:nth-child({index})").all_inner_texts()

        assert column(3)[:2] == [f"{(total - 1) / 1000:.4f}", f"{(total - 2) / 1000:.4f}"]
        board.locator("th", has_text="agent").click()
        agents = column(2)
        assert agents == sorted(agents) and agents != sorted(agents, reverse=True)
        board.locator("th", has_text="agent").click()
        assert column(2) == sorted(agents, reverse=True)
        board.locator("th.primary").click()  # ascending scores: the lowest shown first
        scores = [float(value) for value in column(3)]
        assert scores == sorted(scores) and scores[0] == (total - PAGE_SIZE) / 1000
        ranks = [int(value) for value in column(1)]
        assert ranks == sorted(ranks, reverse=True), "the rank column moves with its row"

        with page.expect_navigation():
            board.locator("a.next").click()
        assert f"offset={PAGE_SIZE}" in page.url
        board = page.locator(f'section[id="{ENV}"]')
        assert board.locator("tr.entry").count() == total - PAGE_SIZE
        assert board.locator(".pager .shown").inner_text() == f"{PAGE_SIZE + 1}–{total}"
        assert board.locator("a.next").count() == 0 and board.locator("a.previous").count() == 1
        assert column(1) == [str(rank) for rank in range(PAGE_SIZE + 1, total + 1)]
    finally:
        server.stop()


def test_limits_and_tokens_over_a_real_socket(live, tmp_path, capsys):
    server, token = live
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    oversized = httpx.post(f"{server.url}/submissions", content=b"x" * (16 * 2**20 + 1), headers=headers, timeout=60)
    assert oversized.status_code == 413 and "limit" in oversized.json()["detail"]
    garbage = httpx.post(f"{server.url}/submissions", content=b'{"env_id": [', headers=headers, timeout=30)
    assert garbage.status_code == 400 and "Malformed JSON" in garbage.json()["detail"]

    predictions = _predictions_file(tmp_path / "p.jsonl", blank=0)
    assert _cli_submit(server, token[:-1] + ("x" if token[-1] != "x" else "y"), predictions, "forger") == 1
    assert "rejected (403)" in capsys.readouterr().err
    assert cli_main(["submit", str(predictions), "--env", ENV, "--server", server.url, "--token", token]) == 1
    assert "metadata.agent" in capsys.readouterr().err
    assert cli_main(["submit", str(predictions), "--env", "textenvs/Nope-v0", "--server", server.url,
                     "--token", token, "--agent", "a"]) == 1
    assert "rejected (404)" in capsys.readouterr().err
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


def test_sigkill_mid_load_loses_no_acknowledged_submission(stress, tmp_path):
    report = stress.run(f"sqlite:///{tmp_path}/crash.db", ENV, submissions=24, concurrency=24, kill_cycles=1,
                        kill_batch=30, kill_after=8, time_limit=120, log_path=tmp_path / "server.log")
    assert report.concurrency["acknowledged"] == 24 and report.concurrency["missing_from_db"] == 0
    assert report.idempotency["rows_added"] == 0
    (cycle,) = report.crash_cycles
    assert cycle["acknowledged_before_kill"] >= 8 and cycle["failed_in_flight"] > 0
    assert cycle["acknowledged_lost"] == 0 and cycle["rows_for_batch"] == 30
    assert report.ok, report
