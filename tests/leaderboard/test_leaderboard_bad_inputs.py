"""Leaderboard edges of issue 13: every bad request is answered 4xx naming what is wrong, never 5xx; names follow one
rule; a submission answers one split; pages are paged; scoring turns are bounded; every documented URL form works."""

from __future__ import annotations

import json
import threading
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from leaderboard.auth import create_token
from leaderboard.scoring import Benchmark
from leaderboard.server import PAGE_SIZE, create_app
from leaderboard.store import NewSubmission, database_url
from textenvs import load_env_dataset
from textenvs.scorers import make_scorer

from tests.helpers import leaderboard_client

ENV = "textenvs/Dialogue-v0"
OTHER_ENV = "textenvs/Translation-v0"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db_url = f"sqlite:///{tmp_path_factory.mktemp('lb')}/leaderboard.db"
    with leaderboard_client(db_url, "mallory", raise_server_exceptions=False) as (client, _token):
        yield client


def _body(test_split, agent="agent", env_id=ENV, **metadata):
    return {"env_id": env_id, "dataset_hash": test_split.content_hash, "metadata": {"agent": agent, **metadata},
            "predictions": [{"id": e.id, "prediction": e.references[0]} for e in test_split]}


def _post(client, payload):
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/submissions", content=content, headers={"Content-Type": "application/json"})


# GET edges -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, parameter", [
    ({"offset": 9223372036854775808}, "offset"), ({"offset": 2**200}, "offset"), ({"offset": 10**12 + 1}, "offset"),
    ({"offset": -1}, "offset"), ({"offset": "abc"}, "offset"), ({"offset": "1e3"}, "offset"),
    ({"limit": 0}, "limit"), ({"limit": -5}, "limit"), ({"limit": 10**30}, "limit"), ({"limit": "many"}, "limit"),
    ({"limit": "NaN"}, "limit"), ({"limit": "1.5"}, "limit"),
])
def test_bad_ranking_queries_are_422_naming_the_parameter(client, query, parameter):
    for path in (f"/api/rankings/{ENV}", "/") if parameter == "offset" else (f"/api/rankings/{ENV}",):
        answer = client.get(path, params={**query, **({"env": ENV} if path == "/" else {})})
        assert answer.status_code == 422, (path, query, answer.text[:200])
        assert answer.json()["detail"].startswith(f"Invalid request: {parameter}="), answer.text[:200]


def test_largest_offset_is_an_empty_page(client):
    answer = client.get(f"/api/rankings/{ENV}", params={"offset": 10**12})
    assert answer.status_code == 200 and answer.json()["entries"] == []


@pytest.mark.parametrize("env_id", ["textenvs/Nope-v0", "a" * 5000, "%00", "..%2F..", "textenvs/Dialogue-v0%00",
                                    "\u202etxet", "%F0%9F%98%80", "textenvs/dialogue-v0"], ids=lambda value: value[:20])
def test_odd_env_ids_are_404_listing_the_valid_ones(client, env_id):
    answer = client.get(f"/api/rankings/{env_id}")
    assert answer.status_code == 404 and "valid env ids" in answer.json()["detail"]
    assert len(answer.content) < 2000, "the error must not echo a huge id"
    assert client.get("/", params={"env": env_id[:200]}).status_code in (404, 422)


@pytest.mark.parametrize("submission_id", ["0" * 16, "x", "%00" * 3, "g" * 16, "a" * 10_000, "0" * 15 + "%00",
                                           "0" * 16 + "/x", "%E2%80%AE"], ids=lambda value: value[:20])
def test_odd_submission_ids_are_404(client, submission_id):
    for path in (f"/api/submissions/{submission_id}", f"/submissions/{submission_id}"):
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "No submission with id" in answer.json()["detail"] and len(answer.content) < 2000


# Names, numbers and curves in metadata ---------------------------------------------------------------------------

BAD_NAMES = {
    "C0 control": "evil\x07agent", "C1 control": "evil\x85agent", "DEL": "a\x7fb", "right-to-left override": "a\u202eb",
    "left-to-right embedding": "a\u202ab", "isolate": "a\u2066b\u2069", "right-to-left mark": "a\u200fb",
    "line separator": "a\u2028b", "paragraph separator": "a\u2029b", "zero-width only": "\u200b\u200c\u200d",
    "word joiner and BOM only": "\u2060\ufeff", "soft hyphen only": "\u00ad", "Hangul filler only": "\u3164",
    "combining marks only": "\u0301\u0302", "braille blank only": "\u2800", "arabic letter mark": "a\u061cb",
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_one_name_rule_for_every_shown_name(client, test_split, case):
    name = BAD_NAMES[case]
    placements = {
        "metadata.agent": _body(test_split, agent=name),
        "metadata.versions": _body(test_split, versions={name: "1.0"}),
        "metadata.claimed_metrics": _body(test_split, claimed_metrics={name: 0.5}),
        "metadata.curve": _body(test_split, curve=[{"env_steps": 1, name: 0.5}]),
    }
    for where, payload in placements.items():
        answer = _post(client, payload)
        assert answer.status_code == 422, (case, where, answer.text[:300])
        assert where in answer.json()["detail"] or where.rsplit(".", 1)[1] in answer.json()["detail"]
        assert "control, bidi-override or line-separator" in answer.json()["detail"] \
            or "at least one visible character" in answer.json()["detail"], answer.json()["detail"]
    with pytest.raises(ValueError, match=r"Token name .* (must not contain|must contain at least one visible)"):
        create_token(client.app.state.leaderboard.store, name)


def test_visible_unicode_names_are_accepted(client, test_split):
    for name in ("Ünïcode-агент", "模型 7", "family 👨\u200d👩\u200d👧"):
        answer = _post(client, _body(test_split, agent=name))
        assert answer.status_code in (200, 201), answer.text[:300]
    create_token(client.app.state.leaderboard.store, "bob 👨\u200d👩\u200d👧")


@pytest.mark.parametrize("config, where", [
    ({"lr": float("nan")}, "config.lr"), ({"lr": float("inf")}, "config.lr"),
    ({"deep": {"x": [1, float("-inf")]}}, r"config.deep.x\[1\]"), ({"schedule": [0.1, float("nan")]}, r"config.schedule\[1\]"),
])
def test_nan_and_infinity_are_refused_anywhere_in_metadata_config(client, test_split, config, where):
    answer = _post(client, json.dumps(_body(test_split, config=config)).encode())  # json.dumps writes NaN / Infinity
    assert answer.status_code == 422, answer.text[:300]
    assert "metadata.config" in answer.json()["detail"]
    assert __import__("re").search(where + r" is (nan|inf|-inf)", answer.json()["detail"]), answer.json()["detail"]


@pytest.mark.parametrize("metadata, where", [
    ({"claimed_metrics": {"token_f1": float("nan")}}, "metadata.claimed_metrics.token_f1"),
    ({"curve": [{"env_steps": 1, "reward": float("inf")}]}, "metadata.curve.0.reward"),
    ({"curve": [{"env_steps": 2**63, "reward": 0.5}]}, "metadata.curve.0.env_steps"),
    ({"curve": [{"env_steps": 1.5, "reward": 0.5}]}, "metadata.curve.0.env_steps"),
])
def test_other_metadata_numbers_are_refused_naming_the_field(client, test_split, metadata, where):
    answer = _post(client, json.dumps(_body(test_split, **metadata)).encode())
    assert answer.status_code == 422 and where in answer.json()["detail"], answer.text[:300]


def test_page_with_a_huge_learning_curve_renders(client, test_split):
    curve = [{"env_steps": 0, "reward": -1.7e308}, {"env_steps": 2**63 - 1, "reward": 1.7e308},
             {"env_steps": 2**62, "kl": 5e-324}]
    receipt = _post(client, _body(test_split, agent="huge-curve", curve=curve))
    assert receipt.status_code == 201, receipt.text[:300]
    page = client.get(receipt.json()["url"])
    assert page.status_code == 200 and page.text.count("<svg") == 2
    assert "nan" not in page.text.lower().split("<svg", 1)[1] and "inf" not in page.text.split("<svg", 1)[1]
    assert client.get("/api/submissions/" + receipt.json()["id"]).json()["metadata"]["curve"][1]["env_steps"] == 2**63 - 1


# Which split a submission answers --------------------------------------------------------------------------------

def test_predictions_for_another_envs_split_are_refused_naming_it(client, test_split):
    other = load_env_dataset(OTHER_ENV, "test")
    assert [e.id for e in other] == [e.id for e in test_split], "the built-in splits share their ids"
    # Translation predictions (ids valid on Dialogue too) sent under the Dialogue env:
    payload = {**_body(other), "env_id": ENV}
    answer = _post(client, payload)
    assert answer.status_code == 409, answer.text[:300]
    detail = answer.json()["detail"]
    assert f"made for data {other.content_hash[:12]} ({OTHER_ENV}'s test split)" in detail
    assert f"but {ENV}'s test split is {test_split.content_hash[:12]}" in detail
    assert f"submit them under {OTHER_ENV}" in detail
    assert answer.json()["dataset_env_id"] == OTHER_ENV

    unknown = _post(client, {**_body(test_split), "dataset_hash": "0" * 64})
    assert unknown.status_code == 409 and "a test split this server does not hold" in unknown.json()["detail"]
    for bad in ("", "abc", "0" * 63, "G" * 64, None):
        answer = _post(client, {**_body(test_split), "dataset_hash": bad})
        assert answer.status_code == 422 and "dataset_hash" in answer.json()["detail"]
    missing = _body(test_split)
    del missing["dataset_hash"]
    assert "dataset_hash: Field required" in _post(client, missing).json()["detail"]


# Paging and the index --------------------------------------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("class") in ("next", "previous"):
            self.links[attributes["class"]] = attributes["href"]


def _links(html: str) -> dict[str, str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def test_index_pages_through_more_entries_than_fit(tmp_path, test_split):
    app = create_app(f"sqlite:///{tmp_path}/paged.db")
    leaderboard = app.state.leaderboard
    benchmark = leaderboard.benchmarks.get(ENV)
    total = PAGE_SIZE + 7
    for number in range(total):
        leaderboard.store.insert(NewSubmission(
            id=f"{number:016x}", content_hash=f"{number:064x}", env_id=ENV, dataset_name=test_split.name,
            dataset_hash=test_split.content_hash, agent=f"agent-{number:03d}", submitter="t",
            primary_metric=benchmark.primary, primary_score=number / total,
            metrics={benchmark.primary: number / total}, metadata={"agent": "a"}, predictions={}))
    with TestClient(app) as client:
        first = client.get("/")
        assert f"entries <span class=\"shown\">1–{PAGE_SIZE}</span> of\n    <span class=\"total\">{total}</span>" \
            in first.text
        assert first.text.count('<tr class="entry"') == PAGE_SIZE
        link = _links(first.text)["next"]
        assert "previous" not in _links(first.text)
        second = client.get(link)
        assert second.status_code == 200 and second.text.count('<tr class="entry"') == 7
        assert f"{PAGE_SIZE + 1}–{total}" in second.text and "agent-000" in second.text
        assert "next" not in _links(second.text)
        back = client.get(_links(second.text)["previous"])
        assert back.text.count('<tr class="entry"') == PAGE_SIZE and f"1–{PAGE_SIZE}" in back.text
        api = client.get(f"/api/rankings/{ENV}", params={"limit": 5, "offset": total - 2}).json()
        assert api["total"] == total and api["offset"] == total - 2 and len(api["entries"]) == 2
        beyond = client.get("/", params={"env": ENV, "offset": 10**6})
        assert beyond.status_code == 200 and f"this split has {total}" in beyond.text


# Scoring turns ---------------------------------------------------------------------------------------------------

def test_a_small_submission_is_scored_between_the_chunks_of_a_big_one(test_split):
    """A maximum-size submission cannot hold its env's scorer: its chunks take first-come, first-served turns, so a
    small submission arriving meanwhile is scored after the chunk in progress (checked on the turn log, not timing)."""
    benchmark = Benchmark(ENV, test_split, make_scorer("token_f1"))
    benchmark.chunk_chars = 20_000
    big = ["word " * 1_999 for _ in test_split]  # every prediction at the 10k-character limit
    small = ["x"] * len(test_split)
    first_turn_started, release = threading.Event(), threading.Event()
    original = benchmark.scorer.score

    def score_pausing_in_the_first_turn(*args, **kwargs):
        if not first_turn_started.is_set():
            first_turn_started.set()
            release.wait(timeout=60)
        return original(*args, **kwargs)

    benchmark.scorer.score = score_pausing_in_the_first_turn
    results = {}
    big_thread = threading.Thread(target=lambda: results.update(big=benchmark.score(big)))
    big_thread.start()
    assert first_turn_started.wait(timeout=60)
    small_thread = threading.Thread(target=lambda: results.update(small=benchmark.score(small)))
    small_thread.start()
    while benchmark.scoring_turns.waiting < 2:  # wait until the small submission has asked for its turn
        threading.Event().wait(0.01)
    release.set()
    big_thread.join(timeout=120)
    small_thread.join(timeout=120)
    threads = [entry[0] for entry in benchmark.turn_log]
    big_id, small_id = threads[0], threads[1]
    assert big_id != small_id, "the small submission was scored right after the big one's chunk in progress"
    assert threads.count(big_id) > 100 and 1 <= threads.count(small_id) <= 3
    last_small = len(threads) - 1 - threads[::-1].index(small_id)
    assert last_small < 10, "the small submission finished within the big one's first few chunks"
    benchmark.scorer.score = original
    benchmark.chunk_chars = 10**9
    assert results["big"] == pytest.approx(benchmark.score(big)) and results["small"] == benchmark.score(small)


def test_chunked_corpus_statistics_equal_the_whole_corpus():
    other = load_env_dataset(OTHER_ENV, "test")
    predictions = [e.references[0] if i % 3 else e.prompt for i, e in enumerate(other)]
    chunked, whole = (Benchmark(OTHER_ENV, other, make_scorer("chrf")) for _ in range(2))
    chunked.chunk_chars, whole.chunk_chars = 2_000, 10**9
    assert chunked.score(predictions) == pytest.approx(whole.score(predictions))
    assert len(chunked.turn_log) > 10 and len(whole.turn_log) == 2  # one chunk + the corpus aggregate


# Database URLs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, driver", [
    ("postgresql://u@127.0.0.1:5432/lb", "postgresql+psycopg2"), ("postgres://u@127.0.0.1/lb", "postgresql+psycopg2"),
    ("postgresql+psycopg2://u@127.0.0.1/lb", "postgresql+psycopg2"), ("sqlite:///x.db", "sqlite"),
])
def test_documented_url_forms_use_an_installed_driver(url, driver):
    parsed = database_url(url)
    assert parsed.drivername == driver
    parsed.get_dialect().import_dbapi()  # the driver module is importable


def test_rows_stored_under_older_looser_rules_still_render(tmp_path, test_split):
    """A database written before the name rule and the NaN check tightened holds rows they would refuse now: their
    pages must render (offending values neutralized), not fail with 500."""
    app = create_app(f"sqlite:///{tmp_path}/legacy.db")
    leaderboard = app.state.leaderboard
    legacy = {"agent": "evil\u202eagent", "config": {"lr": float("nan"), "name\x85": "x\u2028y"}, "seeds": [1],
              "versions": {"\u200b": "1"}, "curve": [{"env_steps": 2**70, "reward": float("inf")},
                                                   {"env_steps": 5, "reward": 0.5}]}
    leaderboard.store.insert(NewSubmission(
        id="0" * 16, content_hash="0" * 64, env_id=ENV, dataset_name=test_split.name,
        dataset_hash=test_split.content_hash, agent=legacy["agent"], submitter="old\x85token",
        primary_metric="token_f1", primary_score=0.5, metrics={"token_f1": 0.5}, metadata=legacy, predictions={}))
    with TestClient(app) as client:
        detail = client.get("/api/submissions/" + "0" * 16)
        assert detail.status_code == 200, detail.text[:300]
        shown = detail.json()
        assert shown["agent"] == shown["metadata"]["agent"] == "evil\ufffdagent" and shown["submitter"] == "old\ufffdtoken"
        assert shown["metadata"]["config"] == {"lr": None, "name\ufffd": "x\ufffdy"}
        assert client.get("/submissions/" + "0" * 16).status_code == 200
        assert "evil\ufffdagent" in client.get("/").text


def test_cli_submit_needs_the_split_identity(tmp_path, test_split, capsys):
    from leaderboard.cli import main as cli_main

    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": e.id, "prediction": e.references[0]}) + "\n" for e in test_split))
    db = f"sqlite:///{tmp_path}/cli.db"
    assert cli_main(["submit", str(predictions), "--env", ENV, "--db", db, "--agent", "a"]) == 2
    assert "--dataset-hash is required (the records carry none)" in capsys.readouterr().err
    other = load_env_dataset(OTHER_ENV, "test").content_hash
    assert cli_main(["submit", str(predictions), "--env", ENV, "--db", db, "--agent", "a", "--dataset-hash", other]) == 1
    assert f"({OTHER_ENV}'s test split)" in capsys.readouterr().err
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps({"id": e.id, "prediction": "x", "dataset_hash": f"{i % 2:064x}"}) + "\n"
                             for i, e in enumerate(test_split)))
    assert cli_main(["submit", str(mixed), "--env", ENV, "--db", db, "--agent", "a"]) == 2
    assert "carry 2 different dataset_hash values" in capsys.readouterr().err
