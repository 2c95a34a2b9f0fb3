"""``textenvs leaderboard ...``: serve the leaderboard, submit to it, administer tokens, verify runs.

    textenvs leaderboard serve --port 8000 --db sqlite:///leaderboard.db
    textenvs leaderboard token create alice --db sqlite:///leaderboard.db
    textenvs leaderboard submit predictions.jsonl --env textenvs/Translation-v0 --server http://127.0.0.1:8000 \\
        --token <token> --dataset-hash <hash> --metadata '{"agent": "ppo", "seeds": [0]}'
    textenvs leaderboard submit predictions.jsonl --env textenvs/Translation-v0 --db sqlite:///leaderboard.db --agent ppo
    textenvs leaderboard submit results/quick/predictions/<run>.jsonl --env <env id> --server URL --token TOKEN \\
        --metadata @results/quick/predictions/<run>.metadata.json --model results/quick/policies/<run>
    textenvs leaderboard verify <submission id> path/to/checkpoint --db sqlite:///leaderboard.db

A predictions file is JSONL (plain or gzip), one ``{"id": ..., "prediction": ...}`` per line (``example_id`` is accepted for ``id``,
so the records of :func:`textenvs.generate_split` can be written out as they are); a multi-turn episode's record may
add ``agent_turns`` (its agent turns, the last being the prediction; ``textenvs bench`` writes them), which the
server needs to replay and score a conversation whose user can change its goal. A submission names the test split
it answers by its content hash: ``--dataset-hash``, or a ``dataset_hash`` field in the records.

``--model DIR`` sends the run's policy with the submission (the ``save_pretrained`` directory ``textenvs bench``
keeps as ``<out>/policies/<run>``; safetensors weights only, see :mod:`leaderboard.policy`): the server regenerates
the predictions from it and marks the entry verified when every one is identical to the submitted text.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from leaderboard.schema import DEFAULT_TOLERANCE
from leaderboard.store import DEFAULT_DB_URL
from textenvs.data.loaders import read_jsonl

TOKEN_ENV = "TEXTENVS_LEADERBOARD_TOKEN"


class UsageError(Exception):
    """A problem with the command line or its input files, reported without a traceback."""


def _json_argument(value: str, what: str) -> Any:
    """Inline JSON, or ``@path`` to a JSON file."""
    try:
        return json.loads(Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value)
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"--{what}: {error}") from None


def read_predictions(path: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """``[{"id", "prediction"[, "agent_turns"]}, ...]`` from a JSONL predictions file (see module docstring), and the
    set of ``dataset_hash`` values its records carry (records may name the split they answer)."""
    records = []
    hashes: set[str] = set()
    try:
        for number, row in read_jsonl(path):
            example_id = row.get("id", row.get("example_id")) if isinstance(row, dict) else None
            if example_id is None or "prediction" not in row:
                raise UsageError(f"{path}, line {number}: expected an object with 'id' (or 'example_id') and "
                                 f"'prediction'.")
            records.append({"id": str(example_id), "prediction": row["prediction"]})
            if row.get("agent_turns") is not None:  # checked by the server's schema like every other field
                records[-1]["agent_turns"] = row["agent_turns"]
            if row.get("dataset_hash") is not None:
                hashes.add(str(row["dataset_hash"]))
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from None
    return records, hashes


def _benchmarks(args: argparse.Namespace):
    """The canonical splits: the envs' defaults, or what ``--benchmarks`` names per env id."""
    from leaderboard.scoring import Benchmarks

    env_kwargs = _json_argument(args.benchmarks, "benchmarks") if args.benchmarks else None
    try:
        return Benchmarks(env_kwargs)
    except (TypeError, ValueError, AttributeError) as error:
        raise UsageError(f"--benchmarks: {error}") from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from leaderboard.server import create_app

    app = create_app(args.db, env_kwargs=_benchmarks(args).env_kwargs, max_body_bytes=args.max_body_mb << 20,
                     policy_dir=None if args.policy_dir == "" else args.policy_dir,
                     max_policy_bytes=args.max_policy_mb << 20)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _submit(args: argparse.Namespace) -> int:
    metadata = _json_argument(args.metadata, "metadata") if args.metadata else {}
    if not isinstance(metadata, dict):
        raise UsageError("--metadata must be a JSON object.")
    if args.agent:
        metadata["agent"] = args.agent
    records, recorded_hashes = read_predictions(args.predictions)
    dataset_hash = args.dataset_hash or (recorded_hashes.pop() if len(recorded_hashes) == 1 else None)
    if len(recorded_hashes) > 1:
        raise UsageError(f"{args.predictions}: the records carry {len(recorded_hashes)} different dataset_hash "
                         "values; a submission answers one split.")
    if dataset_hash is None:
        raise UsageError("--dataset-hash is required (the records carry none): the content hash of the test split "
                         "the predictions were made for, i.e. 'dataset_hash' in the run's env config / benchmark "
                         "result, or the 'data' hash shown on the leaderboard page for the env.")
    body = json.dumps({"env_id": args.env, "dataset_hash": dataset_hash, "predictions": records,
                       "metadata": metadata}, ensure_ascii=True).encode("ascii")
    policy = _packed_policy(args.model) if args.model else None
    if args.server:
        return _submit_remote(args, body, policy)
    from leaderboard.schema import LeaderboardError
    from leaderboard.service import Leaderboard
    from leaderboard.store import Store

    leaderboard = Leaderboard(Store(args.db), _benchmarks(args))
    try:
        receipt = leaderboard.submit(body, submitter=f"local:{getpass.getuser()}")
    except LeaderboardError as error:
        print(f"rejected ({error.status}): {error.detail}", file=sys.stderr)
        return 1
    _print_receipt(receipt.model_dump(mode="json"), args.db)
    if args.model is None:
        return 0
    from leaderboard.verify import verify_policy

    verification = verify_policy(leaderboard, receipt.id, args.model.expanduser().resolve())
    return _print_verification(receipt.id, verification.model_dump(mode="json"))


def _packed_policy(directory: Path) -> bytes:
    """The policy directory as the upload's tar archive, checked here first so a refused file is named before
    anything is sent."""
    from leaderboard.policy import pack_policy
    from leaderboard.schema import LeaderboardError

    try:
        return pack_policy(directory.expanduser().resolve())
    except LeaderboardError as error:
        raise UsageError(f"--model: {error.detail}") from None


def _print_verification(submission_id: str, verification: dict[str, Any]) -> int:
    """Print a verification's verdict; exit status 0 when verified, 3 when not."""
    if verification["verified"]:
        print(f"submission {submission_id}: VERIFIED from its policy (every prediction regenerated identically)")
        return 0
    print(f"submission {submission_id}: NOT verified: {verification['reason']}")
    return 3


def _submit_remote(args: argparse.Namespace, body: bytes, policy: bytes | None = None) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise UsageError(f"--server needs a token: pass --token or set {TOKEN_ENV}.")
    server = args.server.rstrip("/")
    answer = _send("POST", f"{server}/submissions", body, token, "application/json", args.timeout,
                   unreachable=f"cannot reach {server}", refused="rejected", accepted=(200, 201))
    if answer is None:
        return 1
    _print_receipt(answer, server)
    if policy is None:
        return 0
    return _upload_policy(server, answer["id"], policy, token, args.timeout)


def _upload_policy(server: str, submission_id: str, policy: bytes, token: str, timeout: float) -> int:
    """PUT the packed policy to the stored submission; the server answers once it has verified it."""
    from leaderboard.policy import TAR_CONTENT_TYPE

    answer = _send("PUT", f"{server}/submissions/{submission_id}/policy", policy, token, TAR_CONTENT_TYPE, timeout,
                   unreachable=f"policy upload to {server} failed", refused="policy rejected", accepted=(200,))
    if answer is None:
        return 1
    return _print_verification(submission_id, answer)


def _send(method: str, url: str, content: bytes, token: str, content_type: str, timeout: float, *,
          unreachable: str, refused: str, accepted: tuple[int, ...]) -> dict[str, Any] | None:
    """Send ``content`` to the server with the bearer ``token``; its JSON answer when the status is one of
    ``accepted``, else None after printing to stderr ``<unreachable>: <error>`` (no answer) or
    ``<refused> (<status>): <detail>`` (a non-JSON answer's detail is its first 500 characters)."""
    import httpx

    try:
        response = httpx.request(method, url, content=content, timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    except httpx.HTTPError as error:
        print(f"{unreachable}: {error}", file=sys.stderr)
        return None
    try:
        answer = response.json()
    except ValueError:
        answer = {"detail": response.text[:500]}
    if response.status_code not in accepted:
        print(f"{refused} ({response.status_code}): {answer.get('detail', answer)}", file=sys.stderr)
        return None
    return answer


def _print_receipt(receipt: dict[str, Any], where: str) -> None:
    state = "stored" if receipt["created"] else "already stored (same content)"
    print(f"submission {receipt['id']} {state}: {receipt['primary_metric']} = {receipt['primary_score']:.4f}, "
          f"rank {receipt['rank']} of {receipt['entries']} on {receipt['env_id']}")
    for name, value in sorted(receipt["metrics"].items()):
        print(f"  {name:<24} {value:.4f}")
    if where.startswith("http"):
        print(f"  {where}{receipt['url']}")


def _token(args: argparse.Namespace) -> int:
    from leaderboard.auth import create_token
    from leaderboard.store import Store

    store = Store(args.db)
    if args.action == "create":
        try:
            token = create_token(store, args.name)
        except ValueError as error:
            raise UsageError(str(error)) from None
        print(token)
        print(f"token {args.name!r} created; it is shown only now (the database keeps its hash).", file=sys.stderr)
    elif args.action == "revoke":
        if not store.revoke_token(args.name):
            raise UsageError(f"No live token named {args.name!r}.")
        print(f"token {args.name!r} revoked")
    else:
        for row in store.tokens():
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "live"
            print(f"{row.name:<30} created {row.created_at:%Y-%m-%d %H:%M}  {state}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from leaderboard.schema import LeaderboardError
    from leaderboard.service import Leaderboard
    from leaderboard.store import Store
    from leaderboard.verify import verify_submission

    leaderboard = Leaderboard(Store(args.db), _benchmarks(args))
    try:
        result = verify_submission(leaderboard, args.submission_id, args.checkpoint, tolerance=args.tolerance,
                                   batch_size=args.batch_size, device=args.device,
                                   progress=lambda done: print(f"  regenerated {done} examples", file=sys.stderr))
    except LeaderboardError as error:
        print(f"cannot verify ({error.status}): {error.detail}", file=sys.stderr)
        return 1
    verdict = "VERIFIED" if result.verified else "NOT verified"
    print(f"submission {args.submission_id}: {verdict} (largest metric difference {result.max_abs_difference:.2e}, "
          f"tolerance {result.tolerance:g}; {100 * result.identical_predictions:.1f}% of predictions identical)")
    return 0 if result.verified else 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textenvs leaderboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def database(sub: argparse.ArgumentParser, benchmarks: bool = True) -> None:
        sub.add_argument("--db", default=DEFAULT_DB_URL,
                         help=f"database URL: sqlite:///FILE or postgresql://USER@HOST:PORT/DB (also "
                              f"postgresql+psycopg2://, postgres://) (default {DEFAULT_DB_URL})")
        if benchmarks:
            sub.add_argument("--benchmarks", help="JSON object (or @file) mapping env ids to the env kwargs of "
                                                  "their canonical test split, e.g. a private dataset path")

    serve = commands.add_parser("serve", help="run the leaderboard server")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default loopback only)")
    serve.add_argument("--max-body-mb", type=int, default=16, help="largest accepted request body in MiB")
    serve.add_argument("--policy-dir", default="leaderboard-policies",
                       help="where policies submitted with runs are kept and verified from (default "
                            "./leaderboard-policies; '' accepts none)")
    serve.add_argument("--max-policy-mb", type=int, default=64,
                       help="largest accepted policy in MiB (default 64; the quick start's take about 4.5 MB)")
    serve.add_argument("--log-level", default="info")
    database(serve)
    serve.set_defaults(run=_serve)

    submit = commands.add_parser("submit", help="submit predictions to a server, or straight into a database")
    submit.add_argument("predictions", type=Path, help="JSONL file of {'id', 'prediction'} records")
    submit.add_argument("--env", required=True, help="env id, e.g. textenvs/Translation-v0")
    submit.add_argument("--metadata", help="JSON object (or @file): agent, config, seeds, versions, curve, ...")
    submit.add_argument("--agent", help="agent name (sets metadata.agent)")
    submit.add_argument("--dataset-hash", help="content hash of the test split the predictions answer (the run's "
                                               "env config 'dataset_hash'; needed unless the records carry it)")
    submit.add_argument("--server", help="server URL; without it the submission is written to --db directly")
    submit.add_argument("--token", help=f"API token for --server (default: ${TOKEN_ENV})")
    submit.add_argument("--model", type=Path, metavar="DIR",
                        help="the run's policy (save_pretrained directory, safetensors weights; textenvs bench keeps "
                             "it as <out>/policies/<run>): sent with the submission, the server regenerates the "
                             "predictions from it and marks the entry verified when all are identical")
    submit.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the server (with --model: for the regeneration too)")
    database(submit)
    submit.set_defaults(run=_submit)

    token = commands.add_parser("token", help="create, list or revoke API tokens (administrator)")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?", help="token name (create, revoke)")
    database(token, benchmarks=False)
    token.set_defaults(run=_token)

    verify = commands.add_parser("verify", help="regenerate a submission from its policy checkpoint and re-score it")
    verify.add_argument("submission_id")
    verify.add_argument("checkpoint", type=Path, help="save_pretrained directory of the model and its tokenizer")
    verify.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"largest accepted absolute metric difference (default {DEFAULT_TOLERANCE:g})")
    verify.add_argument("--batch-size", type=int, default=32)
    verify.add_argument("--device", default="cpu")
    database(verify)
    verify.set_defaults(run=_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "token" and args.action != "list" and not args.name:
        print(f"textenvs leaderboard token {args.action}: a token NAME is required", file=sys.stderr)
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return int(args.run(args))
    except UsageError as error:
        print(f"textenvs leaderboard {args.command}: {error}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, ImportError) as error:  # a bad URL, an unreachable server, a missing driver
        print(f"textenvs leaderboard {args.command}: database {args.db!r}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
