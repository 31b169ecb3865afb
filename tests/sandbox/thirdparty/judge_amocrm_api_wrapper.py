"""Run amocrm-api-wrapper 0.0.20, unmodified, against a sandbox account (see test_sandbox_thirdparty.py).

The first line on stdin: JSON {base_url, access_token, refresh_token, client_id, client_secret,
redirect_uri}. Prints one JSON line of what the client saw. The client has no page iterator: this walks
`page=1, 2, ...` through its public `get_*` methods while the answer has a `next` link (the documented
end-of-list signal).
"""

import json
import sys

from amocrm_api import AmoOAuthClient


def all_ids(get, key: str) -> list:
    ids, page = [], 1
    while True:
        answer = get(page=page)
        ids += [item["id"] for item in (answer.get("_embedded") or {}).get(key, [])]
        if "next" not in (answer.get("_links") or {}):
            return ids
        page += 1


def main(spec: dict) -> dict:
    amo = AmoOAuthClient(spec["access_token"], spec["refresh_token"], spec["base_url"], spec["client_id"],
                         spec["client_secret"], spec["redirect_uri"])
    seen = {"leads_ids": all_ids(amo.get_leads, "leads"), "contacts_ids": all_ids(amo.get_contacts, "contacts"),
            "companies_ids": all_ids(amo.get_companies, "companies")}
    seen["leads_page_2"] = [lead["id"] for lead in amo.get_leads(limit=50, page=2)["_embedded"]["leads"]]
    phone = {"field_code": "PHONE", "values": [{"value": "+79990001122", "enum_code": "HOME"}]}
    created = amo.create_contacts([{"name": "Wrapper judge", "custom_fields_values": [phone]}])
    contact_id = created["_embedded"]["contacts"][0]["id"]
    leads = amo.create_leads([{"name": "Wrapper lead", "price": 777}])
    lead_id = leads["_embedded"]["leads"][0]["id"]
    amo.update_leads([{"id": lead_id, "name": "Wrapper lead renamed"}])
    seen["written"] = {"contacts": [contact_id], "leads": [lead_id]}
    seen["phone_back"] = amo.get_contact(contact_id)["custom_fields_values"][0]["values"]
    lead = amo.get_lead(lead_id)
    seen["lead_back"] = {"name": lead["name"], "price": lead["price"]}
    old = amo.refresh_token
    amo.update_tokens()                       # the client's own refresh grant
    seen["refreshed"] = amo.refresh_token != old
    seen["account_id_after_refresh"] = amo.get_account_info()["id"]
    return seen


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.stdin.readline()))), flush=True)
