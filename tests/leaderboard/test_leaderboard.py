"""Leaderboard API through FastAPI's in-process client: server-side scoring, ranking, idempotency, validation,
authentication, size limits, HTML pages and the CLI's local mode, on the built-in Dialogue test split."""

from __future__ import annotations

import gzip
import json
import threading

import pytest
from sqlalchemy import inspect

from leaderboard.auth import create_token
from leaderboard.cli import main as cli_main, read_predictions
from leaderboard.schema import MAX_PREDICTION_CHARS
from leaderboard.service import Leaderboard
from leaderboard.store import Store, TokenRow
from textenvs import load_env_dataset, load_env_scorer

from tests.helpers import leaderboard_client

ENV = "textenvs/Dialogue-v0"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """App, client and a live token over a fresh SQLite file (200 kB body limit to test 413 cheaply)."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('lb')}/leaderboard.db"
    with leaderboard_client(db_url, "alice", max_body_bytes=200_000) as (client, token):
        yield client.app, client, token


def body(split, agent="agent", blank=0, **metadata):
    """A submission: the first reference of each example, with the first ``blank`` predictions left empty."""
    predictions = [{"id": e.id, "prediction": "" if i < blank else e.references[0]} for i, e in enumerate(split)]
    return {"env_id": ENV, "dataset_hash": split.content_hash, "predictions": predictions,
            "metadata": {"agent": agent, **metadata}}


def test_server_rescores_ignores_claims_and_ranks(server, test_split):
    _, client, _ = server
    half = client.post("/submissions", json=body(test_split, "half-blank", blank=250,
                                                 claimed_metrics={"token_f1": 0.99}))
    assert half.status_code == 201, half.text
    assert half.json()["primary_metric"] == "token_f1"
    assert half.json()["primary_score"] == pytest.approx(0.5)
    full = client.post("/submissions", json=body(test_split, "references", seeds=[0, 1]))
    assert full.status_code == 201 and full.json()["primary_score"] == pytest.approx(1.0) and full.json()["rank"] == 1

    # Per-example means under the scorer's names (the primary one ranks) and corpus values as corpus_<name>.
    assert half.json()["metrics"] == pytest.approx({"token_f1": 0.5, "token_precision": 0.5, "token_recall": 0.5,
                                                    "corpus_token_f1": 0.5, "corpus_token_precision": 0.5,
                                                    "corpus_token_recall": 0.5})

    ranking = client.get(f"/api/rankings/{ENV}").json()
    order = [entry["id"] for entry in ranking["entries"]]
    assert order.index(full.json()["id"]) < order.index(half.json()["id"])
    assert ranking["primary_metric"] == "token_f1" and ranking["metric_names"][:3] == ["token_f1", "corpus_token_f1",
                                                                                        "token_precision"]
    assert ranking["num_examples"] == len(test_split) and ranking["dataset"] == test_split.name
    assert [entry["rank"] for entry in ranking["entries"]] == list(range(1, len(order) + 1))
    detail = client.get(f"/api/submissions/{half.json()['id']}").json()
    assert detail["metadata"]["claimed_metrics"] == {"token_f1": 0.99} and detail["primary_score"] == pytest.approx(0.5)


def test_corpus_metrics_come_from_the_scorer(tmp_path):
    """Translation's chrF defines a corpus statistic; it is reported beside the mean sentence chrF."""
    env = "textenvs/Translation-v0"
    split = load_env_dataset(env, "test")
    predictions = [e.references[0] if i % 3 else e.prompt for i, e in enumerate(split)]
    payload = {"env_id": env, "dataset_hash": split.content_hash, "metadata": {"agent": "mixed"},
               "predictions": [{"id": e.id, "prediction": p} for e, p in zip(split, predictions, strict=True)]}
    receipt = Leaderboard(Store(f"sqlite:///{tmp_path}/lb.db")).submit(json.dumps(payload).encode(), "tester")
    scorer = load_env_scorer(env)
    references = [list(e.references) for e in split]
    assert receipt.primary_metric == "chrf"
    assert receipt.metrics["chrf"] == pytest.approx(scorer.score(predictions, references)["chrf"].mean())
    assert receipt.metrics["corpus_chrf"] == pytest.approx(scorer.corpus_score(predictions, references)["chrf"])
    assert receipt.metrics["corpus_chrf"] != pytest.approx(receipt.metrics["chrf"])


def test_references_are_never_served(server, test_split):
    _, client, _ = server
    receipt = client.post("/submissions", json=body(test_split, "all-blank", blank=len(test_split))).json()
    pages = [client.get(f"/api/rankings/{ENV}").text, client.get(f"/api/submissions/{receipt['id']}").text,
             client.get("/").text, client.get(f"/submissions/{receipt['id']}").text]
    for example in test_split.examples[:50]:
        assert not any(example.references[0] in page for page in pages)


def test_resubmission_is_idempotent(server, test_split):
    app, client, _ = server
    store = app.state.leaderboard.store
    first = client.post("/submissions", json=body(test_split, "idempotent", blank=3))
    rows = store.count()
    again = client.post("/submissions", json=body(test_split, "idempotent", blank=3))
    shuffled = body(test_split, "idempotent", blank=3)
    shuffled["predictions"].reverse()
    reordered = client.post("/submissions", json=shuffled)
    assert first.status_code == 201 and again.status_code == 200 and reordered.status_code == 200
    assert first.json()["id"] == again.json()["id"] == reordered.json()["id"]
    assert again.json()["created"] is False and store.count() == rows
    changed = client.post("/submissions", json=body(test_split, "idempotent", blank=3, seeds=[7]))
    assert changed.status_code == 201 and changed.json()["id"] != first.json()["id"]


def test_concurrent_identical_submissions_store_one_row(server, test_split):
    app, _, _ = server
    leaderboard: Leaderboard = app.state.leaderboard
    payload = json.dumps(body(test_split, "racer", blank=11)).encode()
    receipts, barrier = [], threading.Barrier(6)

    def submit():
        barrier.wait()
        receipts.append(leaderboard.submit(payload, "racer"))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.id for r in receipts}) == 1 and sum(r.created for r in receipts) == 1
    assert sum(1 for entry in leaderboard.rankings(ENV, limit=1000).entries if entry.agent == "racer") == 1


def test_ids_must_cover_the_split_exactly_once(server, test_split):
    _, client, _ = server
    submission = body(test_split, "partial")
    submission["predictions"] = submission["predictions"][300:] + [{"id": "nope", "prediction": "x"},
                                                                   submission["predictions"][400]]
    answer = client.post("/submissions", json=submission)
    assert answer.status_code == 422
    error = answer.json()
    assert error["missing_count"] == 300 and len(error["missing"]) == 100 and error["missing"][0] == test_split[0].id
    assert error["extra"] == ["nope"] and error["repeated"] == [test_split[400].id]
    assert "300 test id(s) missing" in error["detail"] and "... and 280 more" in error["detail"]
    assert "'nope'" in error["detail"] and "more than once" in error["detail"]


def test_a_partial_split_is_refused_with_a_hint_about_eval_examples(server, test_split):
    _, client, _ = server
    submission = body(test_split, "first-200")
    submission["predictions"] = submission["predictions"][:200]  # what `textenvs bench --eval-examples 200` writes
    answer = client.post("/submissions", json=submission)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert f"{len(test_split) - 200} test id(s) missing" in detail
    assert (f"Only 200 of the {len(test_split)} test examples were answered: predictions from `textenvs bench "
            "--eval-examples N` (or its --quick settings) cover the first N only; evaluate on the whole test split "
            "(no --eval-examples) to submit.") in detail


def test_unknown_env_lists_valid_ids(server, test_split):
    _, client, _ = server
    answer = client.post("/submissions", json={**body(test_split), "env_id": "textenvs/Nope-v0"})
    assert answer.status_code == 404
    assert ENV in answer.json()["valid_env_ids"] and "textenvs/Nope-v0" in answer.json()["detail"]
    assert client.get("/api/rankings/textenvs/Nope-v0").status_code == 404
    assert client.get("/api/submissions/0000000000000000").status_code == 404


def _bad_bodies(split):
    good = body(split)
    nested = b"[" * 5000 + b"]" * 5000
    deep = b'{"env_id": "x", "predictions": [], "metadata": {"agent": "a", "config": {"k": ' + nested + b"}}}"

    def with_metadata(**changes):
        return json.dumps({**good, "metadata": {**good["metadata"], **changes}}).encode()

    def with_first_prediction(value):
        return json.dumps({**good, "predictions": [{"id": split[0].id, "prediction": value}] + good["predictions"][1:]})

    return {
        "empty body": (b"", 400),
        "not json": (b"{env_id: ", 400),
        "invalid utf-8": (b'{"env_id": "\xff\xfe"}', 400),
        "lone surrogate": (b'{"env_id": "\\ud800", "predictions": [], "metadata": {"agent": "a"}}', 400),
        "deep nesting": (deep, 400),
        "json array": (b"[1, 2, 3]", 422),
        "null": (b"null", 422),
        "missing fields": (b"{}", 422),
        "predictions as object": (json.dumps({**good, "predictions": {split[0].id: "x"}}).encode(), 422),
        "prediction as number": (with_first_prediction(3).encode(), 422),
        "prediction too long": (with_first_prediction("x" * (MAX_PREDICTION_CHARS + 1)).encode(), 422),
        "id as list": (json.dumps({**good, "predictions": [{"id": [1], "prediction": "x"}]}).encode(), 422),
        "unknown field": (json.dumps({**good, "score": 1.0}).encode(), 422),
        "negative seed": (with_metadata(seeds=[-1]), 422),
        "seed too large": (with_metadata(seeds=[2**70]), 422),
        "nan in curve": (with_metadata(curve=[{"env_steps": 1, "reward": float("nan")}]), 422),
        "string in curve": (with_metadata(curve=[{"env_steps": 1, "reward": "high"}]), 422),
        "agent too long": (with_metadata(agent="a" * 101), 422),
        "agent with control characters": (with_metadata(agent="evil\nagent"), 422),
        "empty agent": (with_metadata(agent="  "), 422),
        "claimed metric not a number": (with_metadata(claimed_metrics={"token_f1": "1.0"}), 422),
        "env id not a string": (json.dumps({**good, "env_id": 7}).encode(), 422),
    }


def test_malformed_requests_get_4xx_with_a_message(server, test_split):
    _, client, _ = server
    for name, (payload, status) in _bad_bodies(test_split).items():
        answer = client.post("/submissions", content=payload, headers={"Content-Type": "application/json"})
        assert answer.status_code == status, (name, answer.status_code, answer.text[:300])
        assert answer.json()["detail"], name
        assert len(answer.content) < 20_000, f"{name}: the error echoes the payload"


def test_size_limits_and_content_type(server):
    _, client, _ = server
    huge = b'{"env_id": "' + b"x" * 300_000 + b'"}'
    answer = client.post("/submissions", content=huge, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and "200000 bytes" in answer.json()["detail"]
    chunked = client.post("/submissions", content=iter([b"[" + b"0," * 60_000] * 3),
                          headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    form = client.post("/submissions", content=b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert client.get(f"/api/rankings/{ENV}", params={"limit": 0}).status_code == 422
    assert client.get(f"/api/rankings/{ENV}", params={"limit": "many"}).status_code == 422


def test_writes_need_a_live_token(server, test_split):
    app, client, token = server
    store = app.state.leaderboard.store
    payload = body(test_split, "auth-check")
    anonymous = client.post("/submissions", json=payload, headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    token_id, secret = token.split(".")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for wrong in (f"{token_id}.{flipped}", "0123456789abcdef." + secret, "garbage", token + "x",
                  f"{token_id}.{secret}' OR '1'='1"):
        answer = client.post("/submissions", json=payload, headers={"Authorization": f"Bearer {wrong}"})
        assert answer.status_code == 403 and answer.json()["detail"] == "Invalid or revoked token.", wrong
    assert client.post("/submissions", json=payload, headers={"Authorization": f"Basic {token}"}).status_code == 401

    revocable = create_token(store, "bob")
    assert store.revoke_token("bob")
    answer = client.post("/submissions", json=payload, headers={"Authorization": f"Bearer {revocable}"})
    assert answer.status_code == 403

    # Only a hash is stored.
    with store.session() as session:
        stored = [(row.id, row.secret_sha256) for row in session.query(TokenRow)]
    assert all(secret not in value and token not in value for row in stored for value in row)


def test_sql_metacharacters_are_plain_data(server, test_split):
    app, client, _ = server
    agent = "x'); DROP TABLE submissions; --"
    receipt = client.post("/submissions", json=body(test_split, agent, blank=5, config={"q": "' OR 1=1 --"}))
    assert receipt.status_code == 201
    assert client.get(f"/api/submissions/{receipt.json()['id']}").json()["agent"] == agent
    assert client.get("/api/submissions/x' OR '1'='1").status_code == 404
    assert client.get(f"/api/rankings/{ENV}' OR '1'='1").status_code == 404
    assert {"submissions", "tokens"} <= set(inspect(app.state.leaderboard.store.engine).get_table_names())


def test_html_pages_show_rankings_config_scores_and_curve(server, test_split):
    _, client, _ = server
    curve = [{"env_steps": 512 * step, "reward": 0.1 * step, "kl": 0.01 * step} for step in range(8)]
    receipt = client.post("/submissions", json=body(test_split, "<script>alert(1)</script>", blank=40,
                                                    config={"learning_rate": 0.0003}, curve=curve,
                                                    versions={"textenvs": "0.1.0"})).json()
    index = client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    for text in (ENV, "textenvs/Translation-v0", "textenvs/Summarization-v0", "token_precision", "token_recall",
                 f'/submissions/{receipt["id"]}', "&lt;script&gt;alert(1)&lt;/script&gt;"):
        assert text in index.text, text
    assert "<script>alert(1)</script>" not in index.text

    page = client.get(f"/submissions/{receipt['id']}").text
    assert "learning_rate" in page and "0.0003" in page and "0.1.0" in page
    assert f"{receipt['primary_score']:.4f}" in page
    assert page.count("<svg") == 2 and "<polyline" in page and ">reward</text>" in page and ">kl</text>" in page
    assert "<script>alert(1)</script>" not in page


def test_cli_token_and_local_submit(tmp_path, test_split, capsys):
    db_url = f"sqlite:///{tmp_path}/local.db"
    assert cli_main(["token", "create", "carol", "--db", db_url]) == 0
    token = capsys.readouterr().out.strip()
    assert token.count(".") == 1
    assert cli_main(["token", "create", "carol", "--db", db_url]) == 2  # names are unique
    assert "already exists" in capsys.readouterr().err

    predictions = tmp_path / "predictions.jsonl"
    # generate_split records name the id 'example_id'; they are accepted as they are.
    predictions.write_text("".join(json.dumps({"example_id": e.id, "prediction": e.references[0]}) + "\n"
                                   for e in test_split))
    metadata = json.dumps({"config": {"lr": 1e-4}, "seeds": [3]})
    args = ["submit", str(predictions), "--env", ENV, "--db", db_url, "--agent", "cli-agent", "--metadata", metadata,
            "--dataset-hash", test_split.content_hash]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "stored" in out and "token_f1" in out and "rank 1 of 1" in out
    assert cli_main(args) == 0 and "already stored" in capsys.readouterr().out

    entries = Leaderboard(Store(db_url)).rankings(ENV).entries
    assert [(e.agent, e.submitter.startswith("local:"), e.primary_score) for e in entries] == [("cli-agent", True, 1.0)]

    predictions.write_text(predictions.read_text().split("\n", 1)[1])
    assert cli_main(args) == 1 and "1 test id(s) missing" in capsys.readouterr().err
    (tmp_path / "broken.jsonl").write_text('{"id": 1\n')
    assert cli_main(["submit", str(tmp_path / "broken.jsonl"), "--env", ENV, "--db", db_url, "--agent", "a",
                     "--dataset-hash", test_split.content_hash]) == 2
    assert "line 1: invalid JSON" in capsys.readouterr().err
    # Predictions are read by the dataset loaders' JSONL reader: gzip works, a wrong encoding is named.
    with gzip.open(tmp_path / "predictions.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(predictions.read_text())
    assert read_predictions(tmp_path / "predictions.jsonl.gz") == read_predictions(predictions)
    (tmp_path / "utf16.jsonl").write_text(predictions.read_text(), encoding="utf-16")
    assert cli_main(["submit", str(tmp_path / "utf16.jsonl"), "--env", ENV, "--db", db_url, "--agent", "a",
                     "--dataset-hash", test_split.content_hash]) == 2
    assert "utf16.jsonl: is UTF-16 text" in capsys.readouterr().err
    assert cli_main(["token", "revoke", "carol", "--db", db_url]) == 0
    assert cli_main(["token", "list", "--db", db_url]) == 0 and "revoked" in capsys.readouterr().out
