"""API tokens: created by an administrator (``textenvs leaderboard token create NAME``), stored hashed.

A token reads ``<id>.<secret>``: the id finds the row, the secret (256 random bits) is checked against its stored
SHA-256 with a constant-time comparison. A slow hash (PBKDF2) would add nothing for secrets of that entropy, and
the database never holds anything that would let a reader submit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from leaderboard.schema import LeaderboardError, check_name
from leaderboard.store import Store, TokenRow

_TOKEN = re.compile(r"^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_token(store: Store, name: str) -> str:
    """Create a token called ``name`` and return it; it is shown once and cannot be recovered later."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError(f"Token name must be 1-100 characters, got {len(name)}: {name[:120]!r}.")
    try:
        check_name(name)  # the token name is shown on the pages as the submitter
    except ValueError as error:
        raise ValueError(f"Token name {name!r} {error}.") from None
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    store.add_token(token_id, name, _sha256(secret))
    return f"{token_id}.{secret}"


def authenticate(store: Store, authorization: str | None) -> TokenRow:
    """The live token named by an ``Authorization: Bearer <token>`` header.

    :raises LeaderboardError: 401 when no bearer token is given, 403 when it is malformed, unknown, wrong or revoked
        (one message for all four, so a caller learns nothing about which ids exist).
    """
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise LeaderboardError(401, "Authentication required: send 'Authorization: Bearer <token>' "
                                    "(an administrator creates tokens with `textenvs leaderboard token create NAME`).")
    match = _TOKEN.match(presented.strip())
    row = store.find_token(match.group(1)) if match else None
    # Compare even when the id is unknown, so the answer takes as long either way.
    expected = row.secret_sha256 if row is not None else _sha256("")
    secret_ok = hmac.compare_digest(expected, _sha256(match.group(2) if match else "-"))
    if row is None or not secret_ok or row.revoked_at is not None:
        raise LeaderboardError(403, "Invalid or revoked token.")
    return row
