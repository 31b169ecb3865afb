"""Driver run by the third-party tier with fast_bitrix24's own interpreter (.venv-thirdparty-b24): the library,
unmodified and at its default pacing, against a sandbox portal served over TCP.

Usage: python thirdparty_fast_bitrix24.py WEBHOOK_URL DEAL_ID CONTACT_ID
Prints one JSON object with what the library read and wrote; the test compares it with the sandbox's store.
Only public options are set: verbose=False (no progress bar on stderr). Nothing is patched or wrapped.
"""

from __future__ import annotations

import json
import sys

from fast_bitrix24 import Bitrix


def main(webhook: str, deal_id: int, contact_id: int) -> dict:
    b = Bitrix(webhook, verbose=False)
    out: dict = {}

    deals = b.get_all("crm.deal.list", {"select": ["*", "UF_*"]})
    contacts = b.get_all("crm.contact.list", {"select": ["*", "UF_*"]})
    out["deal_ids"] = sorted(int(d["ID"]) for d in deals)
    out["deal_keys"] = sorted(set().union(*(set(d) for d in deals)))
    out["contact_ids"] = sorted(int(c["ID"]) for c in contacts)

    by_id = b.get_by_ID("crm.deal.get", out["deal_ids"][:75])
    out["get_by_id"] = {str(k): v.get("TITLE") for k, v in by_id.items()}

    # call(): a list of items goes out as batches of crm.deal.update commands; one dict as a single call
    titles = {i: f"Переименована {i}" for i in out["deal_ids"][:3]}
    out["updated"] = list(b.call("crm.deal.update", [{"ID": i, "fields": {"TITLE": t}} for i, t in titles.items()]))
    out["titles_after"] = {str(k): v["TITLE"] for k, v in b.get_by_ID("crm.deal.get", list(titles)).items()}

    batch = b.call_batch({"halt": 0, "cmd": {"deal": f"crm.deal.get?ID={deal_id}",
                                             "contacts": "crm.contact.list?select[0]=ID&start=-1"}})
    out["batch_deal_title"] = batch["deal"]["TITLE"]
    out["batch_contacts"] = len(batch["contacts"])

    comment_id = b.call("crm.timeline.comment.add", {"fields": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal",
                                                                "COMMENT": "Клиент просит перезвонить в среду"}})
    out["comment_id"] = comment_id
    # call() with one dict whose answer is an object hands back the batch's labelled dict ({"order0000000000":
    # {...}}: CallUserRequest.run unwraps only list answers); a list of one item gives the tuple of answers
    (comment,) = b.call("crm.timeline.comment.get", [{"id": comment_id}])
    out["comment_read"] = comment["COMMENT"]
    out["comments_listed"] = [c["ID"] for c in b.get_all("crm.timeline.comment.list",
                                                         {"filter": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal"}})]

    activity_id = b.call("crm.activity.add", {"fields": {
        "OWNER_TYPE_ID": 2, "OWNER_ID": deal_id, "TYPE_ID": 2, "SUBJECT": "Исходящий звонок", "RESPONSIBLE_ID": 1,
        "COMPLETED": "N", "DIRECTION": 2, "START_TIME": "2026-02-02T10:00:00+03:00",
        "END_TIME": "2026-02-02T10:15:00+03:00",
        "COMMUNICATIONS": [{"VALUE": "+79161234567", "ENTITY_ID": contact_id, "ENTITY_TYPE_ID": 3}]}})
    out["activity_id"] = activity_id
    b.call("crm.activity.update", {"id": activity_id, "fields": {"COMPLETED": "Y"}})
    (activity,) = b.call("crm.activity.get", [{"id": activity_id}])
    out["activity_read"] = {k: activity[k] for k in ("SUBJECT", "COMPLETED", "STATUS", "DIRECTION", "OWNER_ID")}
    (todo,) = b.call("crm.activity.todo.add", [{"ownerTypeId": 2, "ownerId": deal_id,
                                                "deadline": "2026-02-03T12:00:00", "title": "Отправить КП"}])
    out["todo_id"] = todo      # the documented {"id": N}: the library replaces a one-key object by its value
    out["activities_of_deal"] = sorted(int(a["ID"]) for a in b.get_all(
        "crm.activity.list", {"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal_id}}))
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])), ensure_ascii=False))
