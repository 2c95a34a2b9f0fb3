"""The leaderboard web server (FastAPI).

| route | what |
|---|---|
| ``POST /submissions`` | token-authenticated :class:`~leaderboard.schema.Submission`; 201 new, 200 already stored |
| ``PUT /submissions/{id}/policy`` | the submitter's token; the run's policy (tar, :mod:`leaderboard.policy`): verified from it |
| ``GET /api/rankings/{env_id}`` | ranking of one env as JSON (``?limit=1..1000&offset=0..10**12``; ``total`` counts all) |
| ``GET /api/submissions/{id}`` | one entry with metadata and verification (no predictions, no references) |
| ``GET /`` | HTML: one ranking table per env (first 100 entries, sortable; ``?env=&offset=`` pages) |
| ``GET /submissions/{id}`` | HTML: configuration, per-metric scores, learning curve |
| ``GET /healthz`` | liveness |

Client mistakes are answered 4xx with ``{"detail": "..."}``: malformed JSON 400, missing token 401, wrong token 403,
unknown env or id 404, predictions for another split 409, non-JSON content type 415, body over the limit 413, wrong
shape or ids or an out-of-range query parameter 422.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from leaderboard.auth import authenticate
from leaderboard.plots import curve_series, curve_svg
from leaderboard.policy import MAX_POLICY_BYTES, TAR_CONTENT_TYPE, unpack_policy
from leaderboard.schema import (MAX_BODY_BYTES, LeaderboardError, Rankings, Receipt, Submission, SubmissionDetail,
                                Verification)
from leaderboard.scoring import Benchmarks, display_order
from leaderboard.service import MAX_OFFSET, MAX_RANKING_ROWS, SUBMISSION_ID, Leaderboard
from leaderboard.store import Store
from textenvs.metrics import CORPUS_PREFIX

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 100
"""Entries per env on one page of the index; further entries are reached through next/previous links."""
DRAIN_FACTOR = 4
"""An over-limit body is read (and dropped) up to this many times the limit, so ordinary clients that send the
whole body before reading get the 413 instead of a reset connection; beyond that the connection is cut."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 when it exceeds ``limit`` bytes (see :data:`DRAIN_FACTOR`)."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise LeaderboardError(400, f"Invalid Content-Length header {declared!r}.")
    too_large = LeaderboardError(413, f"Request body exceeds the limit of {limit} bytes"
                                      + (f" (Content-Length: {declared})." if declared else "."), limit=limit)
    if declared is not None and int(declared) > DRAIN_FACTOR * limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_FACTOR * limit:
            break
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise too_large
    return b"".join(chunks)


def create_app(db_url: str, *, env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, policy_dir: str | Path | None = None,
               max_policy_bytes: int = MAX_POLICY_BYTES) -> FastAPI:
    """Build the leaderboard app over the database at ``db_url``.

    :param db_url: database URL (``sqlite:///leaderboard.db``, ``postgresql://...``; see :class:`~leaderboard.store.Store`).
    :param env_kwargs: per env id, env kwargs defining its canonical test split and scorer (see
        :class:`~leaderboard.scoring.Benchmarks`); default: every env's built-in test split.
    :param max_body_bytes: largest accepted request body.
    :param policy_dir: where submitted policies are kept (``<policy_dir>/<submission id>/``); None: the server
        accepts no policies (``PUT /submissions/{id}/policy`` answers 404).
    :param max_policy_bytes: largest accepted policy.
    """
    leaderboard = Leaderboard(Store(db_url), Benchmarks(env_kwargs))
    app = FastAPI(title="textenvs leaderboard", version="1",
                  description="Submit predictions for an env's canonical test split; the server re-scores them.")
    app.state.leaderboard = leaderboard
    add_error_handlers(app)
    # Routes in this order (it is also the order of the OpenAPI schema): submissions, policies, JSON API, pages.
    add_submission_route(app, leaderboard, max_body_bytes)
    add_policy_route(app, leaderboard, policy_dir, max_policy_bytes)
    add_api_routes(app, leaderboard)
    add_pages(app, leaderboard)
    return app


def add_error_handlers(app: FastAPI) -> None:
    """Every refusal as ``{"detail": "..."}`` with its status: :class:`~leaderboard.schema.LeaderboardError` (401
    with ``WWW-Authenticate: Bearer``) and FastAPI's query validation errors (422, naming each parameter)."""

    @app.exception_handler(LeaderboardError)
    async def _refused(_request: Request, error: LeaderboardError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_query(_request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer is a list without a sentence; name each parameter, its value and the legal range.
        problems = [f"{e['loc'][-1]}={e.get('input')!r:.60}: {e['msg']}" for e in error.errors()]
        return JSONResponse({"detail": "Invalid request: " + "; ".join(problems) + ".",
                             "errors": [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in error.errors()]},
                            status_code=422)


def add_submission_route(app: FastAPI, leaderboard: Leaderboard, max_body_bytes: int) -> None:
    """``POST /submissions``: a token-authenticated JSON :class:`~leaderboard.schema.Submission`, re-scored and
    stored; 201 when new, 200 when the same content was already stored."""

    @app.post("/submissions", status_code=201, response_model=Receipt,
              responses={200: {"model": Receipt, "description": "the same content was already stored"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": Submission.model_json_schema()}}}})
    async def submit(request: Request) -> JSONResponse:
        token = await run_in_threadpool(authenticate, leaderboard.store, request.headers.get("authorization"))
        content_type = request.headers.get("content-type", "application/json")
        if "json" not in content_type.lower():
            raise LeaderboardError(415, f"Content-Type must be application/json, got {content_type!r}.")
        body = await read_body(request, max_body_bytes)
        receipt = await run_in_threadpool(leaderboard.submit, body, token.name)
        return JSONResponse(receipt.model_dump(mode="json"), status_code=201 if receipt.created else 200)


def add_api_routes(app: FastAPI, leaderboard: Leaderboard) -> None:
    """The read-only JSON routes: ``GET /api/rankings/{env_id}``, ``GET /api/submissions/{id}`` and ``GET /healthz``."""

    @app.get("/api/rankings/{env_id:path}", response_model=Rankings)
    def rankings(env_id: str, limit: int = Query(100, ge=1, le=MAX_RANKING_ROWS),
                 offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Rankings:
        return leaderboard.rankings(env_id, limit, offset)

    @app.get("/api/submissions/{submission_id:path}", response_model=SubmissionDetail)
    def submission(submission_id: str) -> SubmissionDetail:
        return leaderboard.detail(submission_id)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}


def add_pages(app: FastAPI, leaderboard: Leaderboard) -> None:
    """The HTML pages: ``GET /`` (the ranking tables) and ``GET /submissions/{id}`` (one entry)."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["score"] = lambda value: "—" if value is None else f"{value:.4f}"

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, env: str | None = Query(None, max_length=200),
              offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> HTMLResponse:
        """Every env's first page, or (``?env=<id>&offset=N``) one env's page starting at entry N + 1."""
        if env is not None and env not in leaderboard.benchmarks.env_ids:
            leaderboard.benchmarks.get(env)  # 404 naming the valid ids
        boards = [_board(leaderboard, env_id, offset if env is not None else 0)
                  for env_id in ([env] if env is not None else leaderboard.benchmarks.env_ids)]
        return templates.TemplateResponse(request, "index.html", {"boards": boards, "page_size": PAGE_SIZE})

    @app.get("/submissions/{submission_id:path}", response_class=HTMLResponse)
    def submission_page(request: Request, submission_id: str) -> HTMLResponse:
        detail = leaderboard.detail(submission_id)
        names = display_order(detail.primary_metric, detail.metrics)
        curves = [curve_svg(detail.metadata.curve, name) for name in curve_series(detail.metadata.curve)]
        return templates.TemplateResponse(request, "submission.html", {
            "s": detail, "metric_names": names, "curves": curves,
            "config_json": json.dumps(detail.metadata.config, indent=2, sort_keys=True, ensure_ascii=False)})


def _board(leaderboard: Leaderboard, env_id: str, offset: int) -> dict[str, Any]:
    """One env's table on the index page: its entries from ``offset`` on (:data:`PAGE_SIZE` of them), the columns
    shown and the links to the neighbouring pages; or the error that kept the env from being ranked."""
    try:
        ranked = leaderboard.rankings(env_id, limit=PAGE_SIZE, offset=offset)
    except LeaderboardError as error:
        return {"env_id": env_id, "error": error.detail}
    # The table shows every per-example mean and the primary metric's corpus value; the entry page has all.
    columns = [name for name in ranked.metric_names
               if not name.startswith(CORPUS_PREFIX) or name == CORPUS_PREFIX + ranked.primary_metric]
    first = ranked.entries[0].rank if ranked.entries else 0
    page = {"first": first, "last": first + len(ranked.entries) - 1 if ranked.entries else 0,
            "previous": _page_link(env_id, max(0, ranked.offset - PAGE_SIZE)) if ranked.offset > 0 else None,
            "next": _page_link(env_id, ranked.offset + PAGE_SIZE) if ranked.offset + PAGE_SIZE < ranked.total else None}
    return {"env_id": env_id, "rankings": ranked, "columns": columns, "page": page}


def _page_link(env_id: str, offset: int) -> str:
    return f"/?{urlencode({'env': env_id, 'offset': offset})}#{quote(env_id)}"


def add_policy_route(app: FastAPI, leaderboard: Leaderboard, policy_dir: str | Path | None,
                     max_policy_bytes: int) -> None:
    """``PUT /submissions/{id}/policy``: the submitter sends the run's policy (a tar archive, see
    :mod:`leaderboard.policy`); the server keeps it as ``policy_dir/<id>/``, regenerates the predictions from it and
    answers the stored :class:`~leaderboard.schema.Verification` (verified or not, with the reason)."""
    verifying = threading.Lock()  # one regeneration at a time: each takes the CPU (or GPU) for a while

    @app.put("/submissions/{submission_id}/policy", response_model=Verification,
             openapi_extra={"requestBody": {"required": True, "content": {TAR_CONTENT_TYPE: {}}}})
    async def submit_policy(submission_id: str, request: Request) -> Verification:
        token = await run_in_threadpool(authenticate, leaderboard.store, request.headers.get("authorization"))
        if policy_dir is None:
            raise LeaderboardError(404, "This server keeps no policies (its operator starts it with --policy-dir); "
                                        "the submission stays unverified.")
        row = await run_in_threadpool(leaderboard.store.get, submission_id) \
            if SUBMISSION_ID.match(submission_id) else None
        if row is None:
            raise LeaderboardError(404, f"No submission with id {submission_id!r:.100}.")
        if row.submitter != token.name:
            raise LeaderboardError(403, f"Submission {row.id} belongs to another token; only its submitter may "
                                        "attach a policy to it.")
        content_type = request.headers.get("content-type", "")
        if content_type.lower() != TAR_CONTENT_TYPE:
            raise LeaderboardError(415, f"Content-Type must be {TAR_CONTENT_TYPE}, got {content_type!r}.")
        archive = await read_body(request, max_policy_bytes)
        return await run_in_threadpool(_receive_policy, leaderboard, row.id, archive, Path(policy_dir),
                                       max_policy_bytes, verifying)


def _receive_policy(leaderboard: Leaderboard, submission_id: str, archive: bytes, policy_dir: Path, max_bytes: int,
                    lock: threading.Lock) -> Verification:
    """Keep the uploaded policy as ``policy_dir/<id>/`` and verify the submission from it; an archive that breaks
    the policy rules is recorded as a failed verification with the reason, and no policy is kept for the entry."""
    from leaderboard.verify import record_unverified, verify_policy

    directory = (policy_dir / submission_id).resolve()
    with lock:
        try:
            unpack_policy(archive, directory, max_bytes)
        except LeaderboardError as error:
            shutil.rmtree(directory, ignore_errors=True)
            return record_unverified(leaderboard, submission_id, directory, error.detail)
        return verify_policy(leaderboard, submission_id, directory, max_bytes=max_bytes)
