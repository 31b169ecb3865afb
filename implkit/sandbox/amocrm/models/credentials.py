"""Credentials: long-lived tokens, OAuth clients, codes, the token endpoint, authentication."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import (
    ACCESS_TOKEN_LIFETIME, AUTH_CODE_LIFETIME, LONG_LIVED_DEFAULT_LIFETIME, REFRESH_TOKEN_LIFETIME, now,
)
from implkit.sandbox.store import Store


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token, as amoCRM issues (clients read `exp` and `api_domain`); the signature is random."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "RS256", "jti": claims["jti"]}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(64))}"


def _admin_id(db, account_id: int) -> int | None:
    row = db.execute("SELECT id FROM users WHERE account_id=? AND is_admin=1 ORDER BY id LIMIT 1",
                     (account_id,)).fetchone()
    return row[0] if row else None


def api_domain_of(db, account_id: int, host: str | None) -> str:
    """Where the moved-account lookup (`GET https://{api_domain}/oauth2/account/current/subdomain`) is answered.

    Live tokens name a shared API host (`api-b.amocrm.ru`). The sandbox maps an account host to a path
    prefix, so its `api_domain` is the host the token was asked from plus the account's prefix
    (`127.0.0.1:8765/amocrm/shop`), and a client that prepends a scheme and appends the documented path
    reaches the lookup. Outside a request (tokens made from Python or the CLI) the host is 127.0.0.1."""
    row = db.execute("SELECT subdomain FROM accounts WHERE id=?", (account_id,)).fetchone()
    return f"{host or '127.0.0.1'}/amocrm/{row[0] if row else ''}"


def _issue(db, account_id: int, kind: str, lifetime: int | None, *, issued_at: int, client_id: str | None = None,
           user_id: int | None = None, host: str | None = None) -> str:
    jti = secrets.token_hex(20)
    expires = issued_at + lifetime if lifetime else None
    if kind == "refresh":
        token = "def50200" + secrets.token_hex(160)   # refresh tokens are opaque strings on the real platform
    else:   # the claims of a live amoCRM access token (api_domain since 21.08.2024)
        token = _jwt({"aud": client_id or "long_lived", "jti": jti, "iat": issued_at, "nbf": issued_at,
                      "exp": expires, "sub": str(user_id or ""), "grant_type": "", "account_id": account_id,
                      "base_domain": "amocrm.ru", "version": 2,
                      "scopes": ["crm", "files", "files_delete", "notifications", "push_notifications"],
                      "hash_uuid": str(uuid.uuid4()), "api_domain": api_domain_of(db, account_id, host)})
    db.execute("INSERT INTO tokens (token, account_id, kind, client_id, user_id, expires_at, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)", (token, account_id, kind, client_id, user_id, expires, issued_at))
    return token


def issue_long_lived_token(store: Store, account_id: int, *, lifetime: int = LONG_LIVED_DEFAULT_LIFETIME,
                           issued_at: int | None = None) -> str:
    """A long-lived token of a private integration (no refresh token), acting as the account's admin."""
    with store.transaction() as db:
        return _issue(db, account_id, "long_lived", lifetime, issued_at=issued_at or now(),
                      client_id=None, user_id=_admin_id(db, account_id))


def register_oauth_client(store: Store, account_id: int, redirect_uri: str = "https://example.com/oauth") -> dict:
    """An integration installed in the account: returns {client_id, client_secret, redirect_uri}."""
    client = {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(48), "redirect_uri": redirect_uri}
    with store.transaction() as db:
        db.execute("INSERT INTO oauth_clients (account_id, client_id, client_secret, redirect_uri) VALUES (?, ?, ?, ?)",
                   (account_id, client["client_id"], client["client_secret"], redirect_uri))
    return client


def issue_auth_code(store: Store, account_id: int, client_id: str, *, issued_at: int | None = None) -> str:
    """What the consent screen would redirect with: a code valid 20 minutes, for one exchange."""
    code = "def50200" + secrets.token_hex(120)
    with store.transaction() as db:
        db.execute("INSERT INTO auth_codes (code, account_id, client_id, user_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                   (code, account_id, client_id, _admin_id(db, account_id), (issued_at or now()) + AUTH_CODE_LIFETIME))
    return code


def exchange_token(store: Store, account_id: int, form: dict[str, Any], *, at: int,
                   host: str | None = None) -> dict[str, Any]:
    """POST /oauth2/access_token: both grants; a refresh token works once (rotation)."""
    for key in ("client_id", "client_secret", "grant_type", "redirect_uri"):
        if not form.get(key):
            raise exc.OAuthError(400, f"The request is missing a required parameter: {key}",
                                 f"Check the `{key}` parameter")
    with store.transaction() as db:
        client = db.execute("SELECT * FROM oauth_clients WHERE client_id=? AND account_id=?",
                            (str(form["client_id"]), account_id)).fetchone()
        if client is None or not secrets.compare_digest(client["client_secret"], str(form["client_secret"])):
            raise exc.OAuthError(401, "Client authentication failed", "Check client_id and client_secret")
        if client["redirect_uri"] != form["redirect_uri"]:
            raise exc.OAuthError(400, "The redirect_uri does not match the registered one", "Check redirect_uri")
        grant = form["grant_type"]
        if grant == "authorization_code":
            row = db.execute("SELECT * FROM auth_codes WHERE code=? AND account_id=? AND client_id=?",
                             (str(form.get("code") or ""), account_id, client["client_id"])).fetchone()
            if row is None or row["used"] or row["expires_at"] < at:
                raise exc.OAuthError(400, "Authorization code has expired or was already used",
                                     "Authorization code has been revoked")
            db.execute("UPDATE auth_codes SET used=1 WHERE code=?", (row["code"],))
            user_id = row["user_id"]
        elif grant == "refresh_token":
            row = db.execute("SELECT * FROM tokens WHERE token=? AND account_id=? AND kind='refresh' AND client_id=?",
                             (str(form.get("refresh_token") or ""), account_id, client["client_id"])).fetchone()
            if row is None or row["revoked"] or (row["expires_at"] is not None and row["expires_at"] < at):
                raise exc.OAuthError(400, "The refresh token is invalid.", "Token has been revoked")
            db.execute("UPDATE tokens SET revoked=1 WHERE token=?", (row["token"],))
            user_id = row["user_id"]
        else:
            raise exc.OAuthError(400, "The authorization grant type is not supported by the authorization server.",
                                 "Check the `grant_type` parameter")
        access = _issue(db, account_id, "access", ACCESS_TOKEN_LIFETIME, issued_at=at,
                        client_id=client["client_id"], user_id=user_id, host=host)
        refresh = _issue(db, account_id, "refresh", REFRESH_TOKEN_LIFETIME, issued_at=at,
                         client_id=client["client_id"], user_id=user_id)
    return {"token_type": "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME, "server_time": at,
            "access_token": access, "refresh_token": refresh}


def current_subdomain(store: Store, refresh_token: str | None, *, at: int) -> dict[str, Any]:
    """GET /oauth2/account/current/subdomain with `X-Refresh-Token`: which account the token belongs to
    (fixture GET_oauth2_account_current_subdomain). The sandbox never moves an account, so `domain` is the
    name it would have live. An unknown, spent or expired refresh token is 401."""
    rows = store.query("SELECT t.account_id, t.revoked, t.expires_at, a.subdomain FROM tokens t JOIN accounts a "
                       "ON a.id=t.account_id WHERE t.token=? AND t.kind='refresh'", (refresh_token or "",))
    if not rows or rows[0]["revoked"] or (rows[0]["expires_at"] is not None and rows[0]["expires_at"] < at):
        raise exc.Unauthorized()
    row = rows[0]
    return {"id": row["account_id"], "subdomain": row["subdomain"], "domain": f"{row['subdomain']}.amocrm.ru",
            "top_level_domain": "ru"}


def authenticate(store: Store, account_id: int, authorization: str | None, *, at: int) -> dict[str, Any]:
    """The token row behind an `Authorization: Bearer` header for this account, or 401."""
    if not authorization or not authorization.startswith("Bearer "):
        raise exc.Unauthorized()
    token = authorization[len("Bearer "):].strip()
    rows = store.query("SELECT * FROM tokens WHERE token=? AND kind IN ('access', 'long_lived')", (token,))
    if not rows:
        raise exc.Unauthorized()
    row = dict(rows[0])
    if row["account_id"] != account_id or row["revoked"] or (row["expires_at"] is not None and row["expires_at"] <= at):
        raise exc.Unauthorized()
    return row


def expire_tokens(store: Store, account_id: int, *, at: int) -> int:
    """Make every live access/long-lived token of the account expire now (fault `expire_token_after`)."""
    with store.transaction() as db:
        return db.execute("UPDATE tokens SET expires_at=? WHERE account_id=? AND kind IN ('access', 'long_lived') "
                          "AND revoked=0 AND (expires_at IS NULL OR expires_at>?)", (at, account_id, at)).rowcount


def token_fingerprint(token: str) -> str:
    """What a log may show of a token: a short hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]
