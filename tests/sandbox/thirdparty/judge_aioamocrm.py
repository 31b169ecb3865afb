"""Run aioamocrm, unmodified, against a sandbox account (run by test_sandbox_thirdparty.py in its own venv).

The first line on stdin: JSON {base_url, client_id, client_secret, redirect_uri, code}. Prints one JSON
line of what the client saw; between phases it prints `EXPIRE` and waits for a line on stdin (the test moves the sandbox
clock past the access token's lifetime, so the next call must go through the client's own refresh).
Only the client's public API is used, at its defaults (7 requests/s, 250 a page, batches of 50).
"""

import asyncio
import json
import sys

from aioamocrm import AmoCRMClient, Contact, Lead, MemoryTokenStorage, OAuth2


async def main(spec: dict) -> dict:
    storage = MemoryTokenStorage()
    auth = OAuth2(client_id=spec["client_id"], client_secret=spec["client_secret"],
                  redirect_uri=spec["redirect_uri"], storage=storage)
    seen: dict = {}
    async with AmoCRMClient(base_url=spec["base_url"], auth=auth) as amo:
        await amo.exchange_code(spec["code"])
        first = await storage.load()
        for name in ("leads", "contacts", "companies"):
            seen[f"{name}_ids"] = [item.id async for item in getattr(amo, name).iterate()]
        page = await amo.leads.get_page(2, limit=50)
        seen["leads_page_2"] = [lead.id for lead in page.items]
        contacts = await amo.contacts.create([
            Contact(name=f"Judge {i}", custom_fields_values=[
                {"field_code": "PHONE", "values": [{"value": f"+7999123450{i}", "enum_code": "MOB"}]},
                {"field_code": "EMAIL", "values": [{"value": f"judge{i}@example.test", "enum_code": "WORK"}]}])
            for i in range(3)])
        leads = await amo.leads.create([Lead(name=f"Judge lead {i}", price=1000 * (i + 1)) for i in range(2)])
        await amo.leads.update([Lead(id=leads[0].id, name="Judge lead renamed")])
        await amo.leads.link(leads[0].id, "contacts", contacts[0].id)
        seen["written"] = {"contacts": [c.id for c in contacts], "leads": [lead.id for lead in leads]}
        back = await amo.contacts.get(contacts[0].id)
        seen["phone_back"] = [v.model_dump(exclude_none=True) for v in back.field("PHONE").values]
        seen["email_back"] = back.field_values("EMAIL")
        lead_back = await amo.leads.get(leads[0].id, with_=["contacts"])
        seen["lead_back"] = {"name": lead_back.name, "price": lead_back.price,
                             "contacts": [c.id for c in lead_back.embedded.contacts]}
        print("EXPIRE", flush=True)
        sys.stdin.readline()
        account = await amo.account.get()       # the stale access token: 401, refresh, retry
        seen["account_id_after_refresh"] = account.id
        second = await storage.load()
        seen["refreshed"] = first.refresh_token != second.refresh_token and first.access_token != second.access_token
        seen["leads_after_refresh"] = len([item.id async for item in amo.leads.iterate()])
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.stdin.readline())))), flush=True)
