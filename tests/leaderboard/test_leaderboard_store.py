"""The store contract on SQLite and on a real PostgreSQL server.

PostgreSQL comes from ``$TEXTENVS_TEST_POSTGRES_URL`` (CI starts one with ``scripts/start_postgres.sh``) or, failing
that, from running ``scripts/start_postgres.sh --no-install`` here; the PostgreSQL cases skip with the script's
reason when neither gives a server.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leaderboard.auth import authenticate, create_token
from leaderboard.schema import LeaderboardError
from leaderboard.server import create_app
from leaderboard.service import Leaderboard
from leaderboard.store import Store

ENV = "textenvs/Dialogue-v0"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "start_postgres.sh"


@pytest.fixture(scope="module")
def postgres_url():
    if os.environ.get("TEXTENVS_TEST_POSTGRES_URL"):
        yield os.environ["TEXTENVS_TEST_POSTGRES_URL"]
        return
    # Not under pytest's tmp_path: the server runs as the 'postgres' user, which cannot enter root's 0700 dirs.
    directory = Path(tempfile.gettempdir()) / f"textenvs-test-postgres-{uuid.uuid4().hex[:8]}"
    try:
        started = subprocess.run(["bash", str(SCRIPT), "--no-install", "--dir", str(directory)],
                                 capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        started = None
    if started is None or started.returncode != 0 or not started.stdout.strip():
        subprocess.run(["bash", str(SCRIPT), "--stop", str(directory)], capture_output=True, timeout=60)
        reason = "timed out" if started is None else started.stderr.strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"no PostgreSQL server could be started by {SCRIPT.name}: {reason} "
                    "(set TEXTENVS_TEST_POSTGRES_URL or install Debian's postgresql)")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "--stop", str(directory)], capture_output=True, timeout=60)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/leaderboard.db"
    return request.getfixturevalue("postgres_url")


def _body(test_split, agent, blank=0):
    return {"env_id": ENV, "dataset_hash": test_split.content_hash, "metadata": {"agent": agent},
            "predictions": [{"id": e.id, "prediction": "" if i < blank else e.references[0]}
                            for i, e in enumerate(test_split)]}


def test_server_on_database(db_url, test_split):
    run = uuid.uuid4().hex[:8]  # a PostgreSQL database may outlive one test run
    app = create_app(db_url)
    store = app.state.leaderboard.store
    token = create_token(store, f"writer-{run}")
    assert authenticate(store, f"Bearer {token}").name == f"writer-{run}"
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        rows = store.count()
        weak = client.post("/submissions", json=_body(test_split, f"weak-{run}", blank=400))
        strong = client.post("/submissions", json=_body(test_split, f"strong-{run}", blank=100))
        again = client.post("/submissions", json=_body(test_split, f"weak-{run}", blank=400))
        assert (weak.status_code, strong.status_code, again.status_code) == (201, 201, 200)
        assert again.json()["id"] == weak.json()["id"] and store.count() == rows + 2
        assert weak.json()["primary_score"] == pytest.approx(0.2)
        assert strong.json()["primary_score"] == pytest.approx(0.8)

        entries = client.get(f"/api/rankings/{ENV}", params={"limit": 1000}).json()["entries"]
        ours = [e["agent"] for e in entries if e["agent"].endswith(run)]
        assert ours == [f"strong-{run}", f"weak-{run}"]
        assert f"strong-{run}" in client.get(f"/submissions/{strong.json()['id']}").text

    assert store.revoke_token(f"writer-{run}") and not store.revoke_token(f"writer-{run}")
    with pytest.raises(LeaderboardError) as refused:
        authenticate(store, f"Bearer {token}")
    assert refused.value.status == 403
    store.set_verification(weak.json()["id"], True, {"note": "recorded"})
    assert store.get(weak.json()["id"]).verified
    store.close()


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(db_url, test_split):
    run = uuid.uuid4().hex[:8]
    leaderboard = Leaderboard(Store(db_url))
    rows = leaderboard.store.count()
    bodies = [json.dumps(_body(test_split, f"distinct-{run}-{k}", blank=k)).encode() for k in range(8)]
    bodies += [json.dumps(_body(test_split, f"same-{run}", blank=9)).encode()] * 8
    receipts, errors = [], []
    barrier = threading.Barrier(len(bodies))

    def submit(payload):
        barrier.wait()
        try:
            receipts.append(leaderboard.submit(payload, "writer"))
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            errors.append(error)

    threads = [threading.Thread(target=submit, args=(payload,)) for payload in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert leaderboard.store.count() == rows + 9
    assert len(receipts) == 16 and len({r.id for r in receipts}) == 9
    copies = [r for r in receipts if r.metrics["token_f1"] == pytest.approx(1 - 9 / len(test_split))]
    assert len(copies) == 8 and len({r.id for r in copies}) == 1 and sum(r.created for r in copies) == 1
    leaderboard.store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_the_plain_postgresql_url_forms_connect(postgres_url, scheme):
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which the install does not provide; the store gives it
    the installed driver, so the URL forms the README documents all work."""
    plain = scheme + "://" + postgres_url.split("://", 1)[1]
    store = Store(plain)
    try:
        assert store.count() >= 0
    finally:
        store.close()
