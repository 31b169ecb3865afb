"""Every answer carries one `Date`, from the sandbox's clock (RFC 9110 §6.6.1), over a real server too:
clients take the CRM's time from it (the audit sync caps its marks there)."""

from __future__ import annotations

import email.utils

import httpx

from implkit.sandbox import Sandbox, serve_in_thread
from implkit.sandbox.app import Clock

AT = 1_900_000_000  # not the host's time: the header must follow the sandbox's clock


def test_amocrm_and_bitrix24_answers_carry_one_date_from_the_sandbox_clock(tmp_path):
    clock = Clock()
    clock.freeze(AT)
    sandbox = Sandbox(tmp_path / "sandbox.db", clock=clock)
    sandbox.create_account("acme")
    sandbox.create_portal("portal")
    hook = sandbox.webhook_url("portal")
    with serve_in_thread(sandbox) as root, httpx.Client(base_url=root) as client:
        answers = [client.get(sandbox.base_url("acme") + "/api/v4/account",
                              headers={"Authorization": f"Bearer {sandbox.token('acme')}"}),
                   client.get(sandbox.base_url("acme") + "/api/v4/account"),  # refused: 401, dated all the same
                   client.post(hook + "user.current")]
        clock.advance(3600)
        later = client.get(sandbox.base_url("acme") + "/api/v4/account",
                           headers={"Authorization": f"Bearer {sandbox.token('acme')}"})
    assert [a.status_code for a in answers] == [200, 401, 200]
    for answer in answers:
        dates = answer.headers.get_list("date")
        assert len(dates) == 1 and email.utils.parsedate_to_datetime(dates[0]).timestamp() == AT
    assert email.utils.parsedate_to_datetime(later.headers["date"]).timestamp() == AT + 3600
    sandbox.close()
