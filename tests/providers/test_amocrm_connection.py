"""Every command that talks to one amoCRM account draws from one rate budget in the process."""

from __future__ import annotations

from types import SimpleNamespace

from implkit.http import AMOCRM_RATE
from implkit.providers.amocrm import tenant_connection


class _Credentials:
    def auth(self, *, token_url):
        return ("auth for", token_url)


def _tenant(url: str, rate_limit=None):
    return SimpleNamespace(url=url, rate_limit=rate_limit)


def test_plan_apply_and_sync_share_the_account_limiter_at_the_documented_rate():
    auth, first = tenant_connection(_tenant("https://acme.amocrm.ru"), _Credentials())
    _, second = tenant_connection(_tenant("https://acme.amocrm.ru"), _Credentials())
    assert first is second  # a second command in the same process does not start with a fresh budget
    assert first.rate == AMOCRM_RATE
    assert auth == ("auth for", "https://acme.amocrm.ru/oauth2/access_token")


def test_another_account_has_its_own_budget_and_a_tenant_may_set_its_rate():
    _, acme = tenant_connection(_tenant("https://acme.amocrm.ru"), _Credentials())
    _, other = tenant_connection(_tenant("https://other.amocrm.ru", rate_limit=3), _Credentials())
    assert other is not acme and other.rate == 3
