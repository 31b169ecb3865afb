"""Where a tenant's secret comes from, and how rotated OAuth tokens are written back.

implkit.yaml only ever names the source — an environment variable, a token
file, or a keyring entry — never the secret itself.

A token file is either a single long-lived token (one line), or JSON
`{"access_token", "refresh_token", "expires_at", "client_secret"?}` for
OAuth. It must be readable by its owner only (0600): a file that group or
others can read is refused, as ssh refuses a private key. Rotation writes it
back atomically with mode 0600 (`TokenFileStore`, the `TokenStore` the HTTP
layer's `OAuth2Session` calls before it uses a new access token).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from implkit.errors import InputError, RuntimeFailure
from implkit.http.auth import Auth, BearerToken, NoAuth, OAuth2Session, TokenSet, TokenStore
from implkit.http.redact import register_secret
from implkit.lang import say
from implkit.yamlio import atomic_write

KEYRING_SERVICE = "implkit"

_MESSAGES = {
    "env": {"ru": "переменная окружения {var}", "en": "environment variable {var}"},
    "file": {"ru": "файл токена {path}", "en": "token file {path}"},
    "keyring": {"ru": "связка ключей {service}/{username}", "en": "keyring {service}/{username}"},
    "source_env": {"ru": "переменная", "en": "env"},
    "source_file": {"ru": "файл", "en": "file"},
    "source_keyring": {"ru": "связка ключей", "en": "keyring"},
    "no_secret": {"ru": "клиент работает через OAuth, но секрет клиента (client secret) не настроен "
                        "(укажите --client-secret-env или добавьте client_secret в файл токена)",
                  "en": "this tenant uses OAuth but no client secret is configured "
                        "(set --client-secret-env, or put client_secret in the token file)"},
    "not_found": {"ru": "{path}: файл токена не найден", "en": "{path}: token file not found"},
    "not_regular": {"ru": "{path}: файл токена — не обычный файл", "en": "{path}: token file is not a regular file"},
    "open_mode": {"ru": "{path}: файл токена доступен группе или другим (права {mode}); выполните `chmod 600 {path}`",
                  "en": "{path}: token file is accessible by group or others (mode {mode}); run `chmod 600 {path}`"},
    "empty": {"ru": "{path}: файл токена пуст", "en": "{path}: token file is empty"},
    "not_json": {"ru": "{path}:{line}:{column}: файл токена — не корректный JSON",
                 "en": "{path}:{line}:{column}: token file is not valid JSON"},
    "no_access": {"ru": "{path}: в JSON файла токена нет access_token", "en": "{path}: token file JSON has no access_token"},
    "keyring_read": {"ru": "связка ключей {service}/{username}: не удаётся прочитать ({kind})",
                     "en": "keyring {service}/{username}: cannot read ({kind})"},
    "keyring_write": {"ru": "связка ключей {service}/{username}: не удаётся сохранить токен ({kind}); используйте "
                            "--token-file или --token-env",
                      "en": "keyring {service}/{username}: cannot store the token ({kind}); use --token-file or "
                            "--token-env instead"},
    "env_unset": {"ru": "клиент {tenant!r} берёт токен из переменной окружения {var}, а она не задана",
                  "en": "tenant {tenant!r} takes its token from the environment variable {var}, which is not set"},
    "keyring_empty": {"ru": "клиент {tenant!r}: в связке ключей нет токена под {service}/{username}; добавьте его "
                            "снова: `implkit tenant add {tenant} ... --keyring`",
                      "en": "tenant {tenant!r}: no token in the keyring under {service}/{username}; add it again "
                            "with `implkit tenant add {tenant} ... --keyring`"},
    "unknown_source": {"ru": "клиент {tenant!r}: неизвестный источник учётных данных {kind!r}",
                       "en": "tenant {tenant!r}: unknown credentials source {kind!r}"},
}


def source_word(kind: str) -> str:
    """A credentials source's kind (env, file, keyring) as the reader calls it."""
    return say(_MESSAGES, f"source_{kind}") if f"source_{kind}" in _MESSAGES else kind


@dataclass(frozen=True)
class CredentialSource:
    """Where a secret lives: `env` (var), `file` (path), or `keyring` (service, username). No secret here."""

    kind: str
    var: str | None = None
    path: Path | None = None
    service: str | None = None
    username: str | None = None

    def describe(self) -> str:
        if self.kind in ("env", "file", "keyring"):
            return say(_MESSAGES, self.kind, var=self.var, path=self.path, service=self.service,
                       username=self.username)
        return self.kind

    def to_config(self, root: Path) -> dict[str, str]:
        if self.kind == "env":
            return {"env": str(self.var)}
        if self.kind == "file":
            assert self.path is not None
            return {"file": _relative(self.path, root)}
        return {"keyring": f"{self.service}/{self.username}"}

    @classmethod
    def from_config(cls, data: Mapping[str, Any], root: Path) -> CredentialSource:
        if "env" in data:
            return cls("env", var=str(data["env"]))
        if "file" in data:
            path = Path(str(data["file"])).expanduser()
            return cls("file", path=path if path.is_absolute() else root / path)
        if "keyring" in data:
            service, _, username = str(data["keyring"]).partition("/")
            return cls("keyring", service=service, username=username)
        raise ValueError("credentials: expected one of env, file, keyring")


@dataclass(frozen=True)
class Credentials:
    """A tenant's resolved secret. `repr` never shows it.

    - `token`: a long-lived token (amoCRM private integration), or a Bitrix24
      webhook ("USER_ID/SECRET" or the full webhook URL);
    - `tokens` + `store` + `client_id`/`client_secret`: OAuth, rotated through `store`.
    """

    source: CredentialSource
    token: str | None = field(default=None, repr=False)
    tokens: TokenSet | None = field(default=None, repr=False)
    store: TokenStore | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str = ""

    @property
    def is_oauth(self) -> bool:
        return (self.tokens is not None and bool(self.tokens.refresh_token) and bool(self.client_id)
                and self.store is not None)

    def auth(self, *, token_url: str | None = None, transport: Any = None) -> Auth:
        """The HTTP auth for these credentials: OAuth2Session (needs `token_url`), BearerToken, or NoAuth."""
        if self.is_oauth:
            if not token_url:
                raise ValueError("OAuth credentials need the provider's token_url")
            if not self.client_secret:
                raise InputError(say(_MESSAGES, "no_secret"))
            assert self.store is not None and self.client_id is not None
            return OAuth2Session(token_url, client_id=self.client_id, client_secret=self.client_secret,
                                 redirect_uri=self.redirect_uri, store=self.store, tokens=self.tokens,
                                 transport=transport)
        token = self.token or (self.tokens.access_token if self.tokens else None)
        return BearerToken(token) if token else NoAuth()


# ---- token files ---------------------------------------------------------------------------------

def check_private(path: Path) -> None:
    """Refuse a token file that group or others may read or write (InputError, exit 3)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(say(_MESSAGES, "not_found", path=path)) from None
    if not stat.S_ISREG(mode):
        raise InputError(say(_MESSAGES, "not_regular", path=path))
    if mode & 0o077:
        raise InputError(say(_MESSAGES, "open_mode", path=path, mode=f"{stat.S_IMODE(mode):04o}"))


def write_token_file(path: Path, content: str | TokenSet, *, extra: Mapping[str, Any] | None = None) -> None:
    """Create or replace a token file atomically with mode 0600."""
    if isinstance(content, TokenSet):
        data = dict(extra or {})
        data.update(content.to_dict())
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = content.strip() + "\n"
    atomic_write(path, text, mode=0o600)


def read_token_file(path: Path) -> dict[str, Any]:
    """The token file's content as a dict (`{"token": ...}` for a one-line file)."""
    check_private(path)
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise InputError(say(_MESSAGES, "empty", path=path))
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:  # the position only: the text may be a secret
            raise InputError(say(_MESSAGES, "not_json", path=path, line=exc.lineno, column=exc.colno)) from None
        if not isinstance(data, dict) or not data.get("access_token"):
            raise InputError(say(_MESSAGES, "no_access", path=path))
        for key in ("access_token", "refresh_token", "client_secret"):
            register_secret(data.get(key))
        return data
    register_secret(text)
    return {"token": text}


class TokenFileStore:
    """A TokenStore on a 0600 JSON file: atomic rotation, `locked()` serialises refreshes across processes."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> TokenSet | None:
        if not self.path.exists():
            return None
        data = read_token_file(self.path)
        if "token" in data:
            return TokenSet(access_token=data["token"])
        return TokenSet(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                        expires_at=data.get("expires_at"))

    def save(self, tokens: TokenSet) -> None:
        extra: dict[str, Any] = {}
        if self.path.exists():
            try:
                current = read_token_file(self.path)
            except InputError:
                current = {}
            extra = {k: v for k, v in current.items() if k not in {"token", "access_token", "refresh_token",
                                                                   "expires_at"}}
        write_token_file(self.path, tokens, extra=extra)

    @contextmanager
    def locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# ---- keyring ---------------------------------------------------------------------------------

def _keyring() -> Any:
    import keyring  # imported lazily: the backend probe is slow and most commands do not need it

    return keyring


def keyring_get(service: str, username: str) -> str | None:
    try:
        value = _keyring().get_password(service, username)
    except Exception as exc:  # keyring.errors.* and backend failures
        raise RuntimeFailure(say(_MESSAGES, "keyring_read", service=service, username=username,
                                 kind=type(exc).__name__)) from None
    register_secret(value)
    return value


def keyring_set(service: str, username: str, secret: str) -> None:
    try:
        _keyring().set_password(service, username, secret)
    except Exception as exc:
        raise RuntimeFailure(say(_MESSAGES, "keyring_write", service=service, username=username,
                                 kind=type(exc).__name__)) from None


def keyring_delete(service: str, username: str) -> None:
    try:
        _keyring().delete_password(service, username)
    except Exception:  # already absent, or a read-only backend: nothing to clean up
        pass


class KeyringTokenStore:
    """A TokenStore in the system keyring (the value is the token file's JSON, or a bare token)."""

    def __init__(self, service: str, username: str):
        self.service = service
        self.username = username

    def load(self) -> TokenSet | None:
        value = keyring_get(self.service, self.username)
        if value is None:
            return None
        data = _parse_secret(value)
        if "token" in data:
            return TokenSet(access_token=data["token"])
        return TokenSet(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                        expires_at=data.get("expires_at"))

    def save(self, tokens: TokenSet) -> None:
        current = keyring_get(self.service, self.username)
        extra = {}
        if current:
            extra = {k: v for k, v in _parse_secret(current).items()
                     if k not in {"token", "access_token", "refresh_token", "expires_at"}}
        extra.update(tokens.to_dict())
        keyring_set(self.service, self.username, json.dumps(extra))


def _parse_secret(value: str) -> dict[str, Any]:
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("access_token"):
            for key in ("access_token", "refresh_token", "client_secret"):
                register_secret(data.get(key))
            return data
    register_secret(value)
    return {"token": value}


# ---- resolution --------------------------------------------------------------------------------

def resolve(source: CredentialSource, *, tenant: str, environ: Mapping[str, str] | None = None,
            client_id: str | None = None, client_secret_env: str | None = None,
            redirect_uri: str = "") -> Credentials:
    """Read the secret from its source. A missing or unsafe source is InputError (exit 3)."""
    environ = os.environ if environ is None else environ
    client_secret = None
    if client_secret_env:
        client_secret = environ.get(client_secret_env) or None
        register_secret(client_secret)
    store: TokenStore | None = None
    if source.kind == "env":
        value = environ.get(str(source.var))
        if not value:
            raise InputError(say(_MESSAGES, "env_unset", tenant=tenant, var=source.var))
        data = _parse_secret(value)
    elif source.kind == "file":
        assert source.path is not None
        data = read_token_file(source.path)
        store = TokenFileStore(source.path)
    elif source.kind == "keyring":
        assert source.service is not None and source.username is not None
        value = keyring_get(source.service, source.username)
        if value is None:
            raise InputError(say(_MESSAGES, "keyring_empty", tenant=tenant, service=source.service,
                                 username=source.username))
        data = _parse_secret(value)
        store = KeyringTokenStore(source.service, source.username)
    else:
        raise InputError(say(_MESSAGES, "unknown_source", tenant=tenant, kind=source.kind))

    client_secret = client_secret or data.get("client_secret")
    if "token" in data:
        return Credentials(source=source, token=data["token"], client_id=client_id,
                           client_secret=client_secret, redirect_uri=redirect_uri)
    tokens = TokenSet(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                      expires_at=data.get("expires_at"))
    return Credentials(source=source, tokens=tokens, store=store, client_id=client_id,
                       client_secret=client_secret, redirect_uri=redirect_uri)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
