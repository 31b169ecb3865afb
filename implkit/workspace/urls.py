"""What a tenant's URL may be: https (plain http on loopback only, for the sandbox) and no credentials in it.

A tenant URL is written to implkit.yaml, which is meant to be committed: a user name, a password, a token in
the query or a Bitrix24 webhook secret in the path would be a secret in git. `check_url` refuses them with a
message naming where the credential goes instead.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from implkit.errors import InputError
from implkit.lang import say
from implkit.net import is_loopback

_MESSAGES = {
    "url_not_http": {"ru": "адрес клиента должен быть http(s)-адресом с хостом, а здесь {url!r}",
                     "en": "tenant URL must be an http(s) URL with a host, got {url!r}"},
    "url_plain_http": {"ru": "простой http:// для {host} не допускается (токены шли бы открытым текстом); "
                             "используйте https:// — http разрешён только на loopback (127.0.0.1, localhost, ::1)",
                       "en": "plain http:// is refused for {host} (tokens would travel in clear); use https:// — "
                             "http is allowed only on loopback (127.0.0.1, localhost, ::1)"},
    "url_user": {"ru": "в адресе клиента не должно быть имени пользователя или пароля; передайте учётные данные "
                       "через --token-env, --token-file или --keyring",
                 "en": "the tenant URL must not carry a user name or password; pass credentials with --token-env, "
                       "--token-file or --keyring"},
    "url_query": {"ru": "в адресе клиента не должно быть строки запроса или фрагмента",
                  "en": "the tenant URL must not have a query string or fragment"},
    "url_webhook": {"ru": "похоже на адрес вебхука Bitrix24, а в нём секрет: зарегистрируйте адрес портала "
                          "(https://PORTAL), а вебхук передайте через --token-env, --token-file или --keyring",
                    "en": "this looks like a Bitrix24 webhook URL, which carries its secret: register the portal URL "
                          "(https://PORTAL) and give the webhook through --token-env, --token-file or --keyring"},
}


def check_url(url: str, provider: str = "") -> str:
    """Validate a tenant URL; return it without a trailing slash. InputError names what is wrong.

    https only, except plain http on loopback (the sandbox). No credentials in
    it: no user:password@, no token in the query, no Bitrix24 webhook secret
    in the path (the webhook goes into the token source instead).
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(say(_MESSAGES, "url_not_http", url=_safe(url)))
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InputError(say(_MESSAGES, "url_plain_http", host=parts.hostname))
    if parts.username or parts.password:
        raise InputError(say(_MESSAGES, "url_user"))
    if parts.query or parts.fragment:
        raise InputError(say(_MESSAGES, "url_query"))
    if re.search(r"/rest/\d+/[^/]+", parts.path):
        raise InputError(say(_MESSAGES, "url_webhook"))
    return url.rstrip("/")


def _safe(url: str) -> str:
    from implkit.http.redact import redact

    return redact(url)
