"""Redaction: every secret form is masked in text, mappings, log lines and the client's exceptions."""

from __future__ import annotations

import logging

import httpx
import pytest

from implkit.http import NoAuth, TransportError, WriteOutcomeUnknown, redact
from implkit.http.redact import MASK, register_secret

CASES = [
    ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
    ("headers={'Authorization': 'Bearer abc.def.ghi'}", "abc.def.ghi"),
    ("X-Refresh-Token: def50200aa11bb22", "def50200aa11bb22"),
    ('{"access_token": "tok-123-secret", "expires_in": 86400}', "tok-123-secret"),
    ('{"refresh_token":"def502-refresh"}', "def502-refresh"),
    ("client_secret=s3cr3t-value&client_id=abc", "s3cr3t-value"),
    ("https://portal.bitrix24.ru/rest/1/k2m4n6p8q0r2t4v6/crm.deal.list.json", "k2m4n6p8q0r2t4v6"),
    ("https://portal.bitrix24.ru/rest/17/abcd1234efgh/", "abcd1234efgh"),
    ("https://portal.bitrix24.ru/rest/crm.deal.list?auth=oauth-access-999&start=0", "oauth-access-999"),
    ("GET /oauth?code=def50200code&state=x", "def50200code"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ("token was eyJ0eXAiOiJKV1Qi.eyJhY2NvdW50X2lkIjox.c2lnbmF0dXJlLXg in the log", "eyJhY2NvdW50X2lkIjox"),
]


@pytest.mark.parametrize("text, secret", CASES)
def test_text_forms_are_masked(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert MASK in cleaned


def test_innocent_text_is_kept():
    text = "GET https://acme.amocrm.ru/api/v4/leads?page=2&limit=250 → 200 (code NotSupportedChoice)"
    assert redact(text) == text


def test_mappings_mask_secret_keys_whatever_the_case():
    data = {"Authorization": "Bearer x", "x-refresh-token": "r", "nested": {"Client_Secret": "c"},
            "list": [{"access_token": "a"}], "name": "Продажи", "id": 5}
    assert redact(data) == {"Authorization": MASK, "x-refresh-token": MASK, "nested": {"Client_Secret": MASK},
                            "list": [{"access_token": MASK}], "name": "Продажи", "id": 5}


def test_registered_literal_is_masked_anywhere():
    register_secret("unusual-literal-secret-42")
    assert redact("echoed back: unusual-literal-secret-42!") == "echoed back: ***!"


def test_client_logs_and_errors_carry_no_webhook_secret(make_client, script, caplog):
    webhook = "https://portal.bitrix24.ru/rest/1/w3bh00ks3cr3t"
    s = script(httpx.Response(503), httpx.Response(503), httpx.Response(503))
    client = make_client(s, base_url=webhook, auth=NoAuth(), max_retries=2)
    with caplog.at_level(logging.DEBUG, logger="implkit.http"):
        with pytest.raises(TransportError) as err:
            client.get("/crm.deal.list.json", {"auth": "query-token-777"})
    assert "w3bh00ks3cr3t" in str(s.requests[0].url)  # it was really sent...
    for secret in ("w3bh00ks3cr3t", "query-token-777"):  # ...and never shown
        assert secret not in str(err.value)
        assert secret not in caplog.text
        assert secret not in repr(client)
    assert "rest/1/***" in str(err.value)
    assert caplog.records  # the retries were logged


def test_write_error_message_has_no_bearer_token(make_client, script, caplog):
    s = script(httpx.ReadTimeout("timed out"))
    client = make_client(s)  # BearerToken("long-lived-token-123456")
    with caplog.at_level(logging.DEBUG, logger="implkit.http"):
        with pytest.raises(WriteOutcomeUnknown) as err:
            client.post("/api/v4/leads", json=[{"name": "long-lived-token-123456"}])
    assert s.requests[0].headers["Authorization"] == "Bearer long-lived-token-123456"
    assert "long-lived-token-123456" not in str(err.value) + caplog.text


def test_error_body_echoing_a_token_is_masked(make_client, script):
    body = {"title": "Unauthorized", "status": 401, "detail": "bad token long-lived-token-123456",
            "refresh_token": "should-not-appear"}
    s = script(httpx.Response(401, json=body))
    with pytest.raises(Exception) as err:
        make_client(s).get("/api/v4/account")
    text = str(err.value) + repr(err.value.body)
    assert "long-lived-token-123456" not in text and "should-not-appear" not in text


def test_log_filter_redacts_arguments(caplog):
    log = logging.getLogger("implkit.http")
    with caplog.at_level(logging.INFO, logger="implkit.http"):
        log.info("sending %s", {"Authorization": "Bearer zzz-secret-zzz"})
    assert "zzz-secret-zzz" not in caplog.text and "Bearer ***" in caplog.text

def test_a_dotted_key_address_in_an_error_message_is_not_taken_for_a_secret():
    from implkit.http.redact import redact

    message = "implkit.yaml:7:5: tenants.acme.token: unknown key 'token'"
    assert redact(message) == message
    assert redact("token: abc123secret") == "token: ***"
