"""The incoming-webhook credential: USER_ID/SECRET or the whole URL, of this portal only."""

from __future__ import annotations

import pytest

from implkit.errors import InputError
from implkit.providers.bitrix24 import webhook_base

PORTAL = "https://portal.bitrix24.ru"


@pytest.mark.parametrize("stored", ["1/k2m4n6p8q0r2", "https://portal.bitrix24.ru/rest/1/k2m4n6p8q0r2/",
                                    "rest/1/k2m4n6p8q0r2", " 1/k2m4n6p8q0r2/\n"])
def test_every_stored_form_gives_the_webhook_base(stored):
    assert webhook_base(PORTAL, stored) == "https://portal.bitrix24.ru/rest/1/k2m4n6p8q0r2"


@pytest.mark.parametrize("stored, message", [("not a webhook", "not an incoming webhook"),
                                             ("", "not an incoming webhook"),
                                             ("https://evil.example/rest/1/k2m4n6p8q0r2/", "another portal")])
def test_a_bad_or_foreign_webhook_is_bad_input_without_its_secret(stored, message):
    with pytest.raises(InputError, match=message) as err:
        webhook_base(PORTAL, stored)
    assert err.value.exit_code == 3
    assert "k2m4n6p8q0r2" not in str(err.value)
