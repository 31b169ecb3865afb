"""Activities, timeline comments and tasks: written as the docs' examples write them, read back, refused
with the documented errors; the seed's tasks and activities carry completion and results."""

from __future__ import annotations

from b24_helpers import NOW, TCP_TOO, fixture


def _deal(acme) -> int:
    return acme.ok("crm.deal.add", {"fields": {"TITLE": "Сделка"}})["result"]


@TCP_TOO
def test_activity_add_get_update_complete(acme):
    deal = _deal(acme)
    request = fixture("crm.activity.add.request.json")
    request["fields"].update(OWNER_ID=deal, FILES=[])
    activity_id = acme.ok("crm.activity.add", request)["result"]
    assert isinstance(activity_id, int)
    got = acme.ok("crm.activity.get", {"id": activity_id})["result"]
    documented = fixture("crm.activity.get.response.json")["result"]
    assert set(got) == set(documented)
    assert all(isinstance(v, str) or v is None for k, v in got.items() if k not in ("SETTINGS", "PROVIDER_PARAMS"))
    assert (got["TYPE_ID"], got["PROVIDER_ID"], got["DIRECTION"], got["COMPLETED"], got["STATUS"]) == \
        ("2", "VOXIMPLANT_CALL", "2", "N", "1")
    assert got["START_TIME"] == "2023-12-31T15:00:00+03:00"            # 12:00 UTC, printed in portal time
    assert acme.ok("crm.activity.update", {"id": activity_id, "fields": {"COMPLETED": "Y", "RESULT_STATUS": 1}})[
        "result"] is True
    done = acme.ok("crm.activity.get", {"id": activity_id})["result"]
    assert (done["COMPLETED"], done["STATUS"], done["RESULT_STATUS"]) == ("Y", "2", "1")
    listed = acme.ok("crm.activity.list", {"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "COMPLETED": "Y"},
                                           "select": ["*", "COMMUNICATIONS"]})
    assert listed["total"] == 1 and listed["result"][0]["COMMUNICATIONS"][0]["VALUE"] == "+499832322323"


def test_activity_add_refusals_as_the_error_table_words_them(acme):
    deal = _deal(acme)
    base = {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "Звонок", "RESPONSIBLE_ID": 1,
            "COMMUNICATIONS": [{"VALUE": "+79990000000"}]}
    cases = [({"SUBJECT": ""}, "The field SUBJECT is not defined or empty"),
             ({"RESPONSIBLE_ID": 999}, "The field RESPONSIBLE_ID is not defined or invalid"),
             ({"TYPE_ID": 9}, "The field TYPE_ID is not defined or invalid"),
             ({"COMMUNICATIONS": []}, "The field COMMUNICATIONS is not defined or invalid"),
             ({"OWNER_ID": 404}, "Could not build binding. Please ensure that owner info and communications are "
                                 "defined correctly")]
    for change, text in cases:
        response = acme.call("crm.activity.add", {"fields": {**base, **change}})
        assert response.status_code == 400 and response.json() == {"error": "", "error_description": text}, change
    assert acme.ok("crm.activity.list", {"filter": {"OWNER_ID": deal}})["total"] == 0     # nothing half-written
    missing = acme.call("crm.activity.get", {"id": 404})
    assert missing.status_code == 400 and missing.json()["error_description"] == "Not found"
    activity = acme.ok("crm.activity.add", {"fields": base})["result"]
    assert acme.ok("crm.activity.delete", {"id": activity})["result"] is True
    assert acme.call("crm.activity.get", {"id": activity}).json()["error_description"] == "Not found"


def test_todo_add_answers_its_id_and_reads_back_as_an_activity(acme):
    deal = _deal(acme)
    body = acme.ok("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": deal, "deadline": "2026-02-03T15:00:00",
                                             "title": "Перезвонить", "description": "после обеда", "responsibleId": 1})
    assert set(body["result"]) == {"id"} and isinstance(body["result"]["id"], int)
    got = acme.ok("crm.activity.get", {"id": body["result"]["id"]})["result"]
    assert (got["PROVIDER_ID"], got["SUBJECT"], got["DEADLINE"], got["COMPLETED"]) == \
        ("CRM_TODO", "Перезвонить", "2026-02-03T15:00:00+03:00", "N")
    absent = acme.call("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": 404, "deadline": "2026-02-03T15:00:00"})
    assert absent.status_code == 400 and absent.json() == {"error": "NOT_FOUND", "error_description": "Not found."}
    bad_date = acme.call("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": deal, "deadline": "завтра"})
    assert bad_date.status_code == 400 and bad_date.json()["error"] == "WRONG_DATETIME_FORMAT"
    missing = acme.call("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": deal})
    assert missing.status_code == 400 and missing.json()["error"] == "100"


@TCP_TOO
def test_timeline_comment_add_list_get_update(acme):
    deal = _deal(acme)
    comment_id = acme.ok("crm.timeline.comment.add", {"fields": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal",
                                                                 "COMMENT": "Клиент просит скидку"}})["result"]
    assert isinstance(comment_id, int)
    request = fixture("crm.timeline.comment.list.request.json")
    request["filter"]["ENTITY_ID"] = deal
    listed = acme.ok("crm.timeline.comment.list", request)
    documented = fixture("crm.timeline.comment.list.response.json")
    assert listed["total"] == 1 and set(listed["result"][0]) == set(documented["result"][1])
    assert listed["result"][0]["COMMENT"] == "Клиент просит скидку" and listed["result"][0]["AUTHOR_ID"] == "1"
    assert acme.ok("crm.timeline.comment.update", {"id": comment_id, "fields": {"COMMENT": "Скидка 5 %"}})[
        "result"] == comment_id
    assert acme.ok("crm.timeline.comment.get", {"id": comment_id})["result"]["COMMENT"] == "Скидка 5 %"
    assert acme.ok("crm.timeline.comment.delete", {"id": comment_id})["result"] is True
    assert acme.ok("crm.timeline.comment.list", request)["total"] == 0


def test_timeline_comment_refusals(acme):
    deal = _deal(acme)
    # since crm 23.100.0 only a lower-case `fields` is read: FIELDS is as good as nothing
    upper = acme.call("crm.timeline.comment.add", {"FIELDS": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal", "COMMENT": "x"}})
    assert upper.status_code == 400 and upper.json()["error"] == "100"
    empty = acme.call("crm.timeline.comment.add", {"fields": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal", "COMMENT": " "}})
    assert empty.status_code == 400 and empty.json()["error"] == "INVALID_ARG_VALUE"
    orphan = acme.call("crm.timeline.comment.add", {"fields": {"ENTITY_ID": 404, "ENTITY_TYPE": "deal", "COMMENT": "x"}})
    assert orphan.status_code == 400 and orphan.json() == {"error": "NOT_FOUND", "error_description": "Not found."}
    missing = acme.call("crm.timeline.comment.get", {"id": 404})
    assert missing.json() == {"error": "", "error_description": "Not found."}
    assert acme.ok("crm.timeline.comment.list", {"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}})["total"] == 0


@TCP_TOO
def test_task_add_close_reopen_and_results(acme):
    deal = _deal(acme)
    added = acme.ok("tasks.task.add", {"fields": {"TITLE": "Позвонить клиенту", "RESPONSIBLE_ID": 1,
                                                  "DEADLINE": "2026-01-10T18:00:00", "UF_CRM_TASK": [f"D_{deal}"],
                                                  "SE_PARAMETER": [{"VALUE": "Y", "CODE": 3}]}})
    task = added["result"]["task"]
    assert (task["status"], task["closedDate"], task["ufCrmTask"], task["deadline"]) == \
        ("2", None, [f"D_{deal}"], "2026-01-10T18:00:00+03:00")
    assert isinstance(task["id"], str) and task["responsible"]["id"] == "1"
    closed = acme.ok("tasks.task.update", {"taskId": task["id"], "fields": {"STATUS": 5}})["result"]["task"]
    assert closed["status"] == "5" and closed["closedDate"] and closed["closedBy"] == "1"
    assert acme.ok("tasks.task.result.list", {"taskId": task["id"]})["result"] == []
    listed = acme.ok("tasks.task.list", {"filter": {"STATUS": 5}, "select": ["ID", "STATUS", "CLOSED_DATE"],
                                         "params": {"WITH_RESULT_INFO": True}})["result"]["tasks"]
    assert [(t["id"], t["taskRequireResult"], t["taskHasResult"]) for t in listed] == [(task["id"], "Y", "N")]
    reopened = acme.ok("tasks.task.renew", {"taskId": task["id"]})["result"]["task"]
    assert (reopened["status"], reopened["closedDate"]) == ("2", None)
    assert acme.ok("tasks.task.start", {"taskId": task["id"]})["result"]["task"]["status"] == "3"
    assert acme.ok("tasks.task.defer", {"taskId": task["id"]})["result"]["task"]["status"] == "6"
    got = acme.ok("tasks.task.get", {"taskId": task["id"], "select": ["ID", "TITLE", "CREATED_BY"]})["result"]["task"]
    assert got["title"] == "Позвонить клиенту" and got["creator"]["id"] == "1" and "action" in got


def test_task_refusals_as_documented(acme):
    cases = [({"fields": {}}, "100", "Could not find value for parameter {fields} (internal error)"),
             ({"fields": {"RESPONSIBLE_ID": 1}}, "ERROR_CORE", "Task title not specified<br>"),
             ({"fields": {"TITLE": "x"}}, "ERROR_CORE", "Assignee not specified<br>"),
             ({"fields": {"TITLE": "x", "RESPONSIBLE_ID": 77}}, "ERROR_CORE",
              'User specified in the "Assignee" field not found<br>'),
             ({"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1, "STATUS": 9}}, "ERROR_CORE", "Invalid status<br>")]
    for body, code, text in cases:
        response = acme.call("tasks.task.add", body)
        assert response.status_code == 400 and response.json() == {"error": code, "error_description": text}, body
    assert acme.ok("tasks.task.list")["total"] == 0
    bad_select = acme.call("tasks.task.get", {"taskId": 1, "select": {}})
    assert bad_select.json() == fixture("tasks.task.get.error.response.json")
    assert acme.call("tasks.task.get", {"taskId": 404}).json() == {"error": "0", "error_description": "Access denied."}


def test_seeded_tasks_and_activities_carry_completion_results_and_direction(acme, sandbox):
    from implkit.sandbox.bitrix24.seed import seed_portal
    acme.unlimited()
    summary = seed_portal(sandbox.store, sandbox.portal_id("acme"), deals=300, seed=4, now=NOW)
    truth = summary.ground_truth
    tasks = []
    start = 0
    while True:
        page = acme.ok("tasks.task.list", {"order": {"ID": "asc"}, "select": ["ID", "STATUS", "CLOSED_DATE"],
                                           "start": start})
        tasks += page["result"]["tasks"]
        if "next" not in page:
            break
        start = page["next"]
    assert len(tasks) == truth["counts"]["tasks"]
    closed = [t for t in tasks if t["status"] == "5"]
    assert closed and all(t["closedDate"] for t in closed)
    without = sorted(int(t["id"]) for t in closed if not acme.ok("tasks.task.result.list", {"taskId": t["id"]})["result"])
    assert without == truth["defects"]["T02"]["ids"] and 0 < len(without) < len(closed)
    calls = acme.ok("crm.activity.list", {"filter": {"TYPE_ID": 2}, "select": ["ID", "DIRECTION", "RESULT_STATUS"]})
    assert {r["DIRECTION"] for r in calls["result"]} == {"1", "2"}
    todos = acme.ok("crm.activity.list", {"filter": {"PROVIDER_ID": "CRM_TODO"}, "select": ["ID", "DIRECTION"]})
    assert todos["result"] and {r["DIRECTION"] for r in todos["result"]} == {"0"}


def test_a_comment_pinned_as_the_result_closes_with_its_task(acme):
    task = acme.ok("tasks.task.add", {"fields": {"TITLE": "Отправить КП", "RESPONSIBLE_ID": 1}})["result"]["task"]
    comment = acme.ok("task.commentitem.add", {"TASKID": task["id"], "FIELDS": {"POST_MESSAGE": "КП [B]отправлено[/B]"}})
    comment_id = comment["result"]
    positional = acme.ok("task.commentitem.add", {"0": task["id"], "1": {"POST_MESSAGE": "второй"}})["result"]
    assert isinstance(comment_id, int) and positional == comment_id + 1
    pinned = acme.ok("tasks.task.result.addFromComment", {"commentId": comment_id})["result"]
    assert (pinned["taskId"], pinned["commentId"], pinned["status"], pinned["files"], pinned["formattedText"]) == \
        (int(task["id"]), comment_id, 0, None, "КП <b>отправлено</b>")
    again = acme.call("tasks.task.result.addFromComment", {"commentId": comment_id})
    assert again.status_code == 400 and again.json() == {"error": "0", "error_description": "Result already exists."}
    missing = acme.call("tasks.task.result.addFromComment", {"commentId": 999})
    assert missing.json() == {"error": "0", "error_description": "Comment not found."}
    info = {"select": ["ID"], "params": {"WITH_RESULT_INFO": "Y"}, "filter": {"ID": task["id"]}}
    listed = acme.ok("tasks.task.list", info)["result"]["tasks"][0]
    assert (listed["taskHasResult"], listed["taskHasOpenResult"]) == ("Y", "Y")
    acme.ok("tasks.task.complete", {"taskId": task["id"]})
    results = acme.ok("tasks.task.result.list", {"taskId": task["id"]})["result"]
    assert [(r["commentId"], r["status"], r["files"]) for r in results] == [(comment_id, 1, [])]
    listed = acme.ok("tasks.task.list", info)["result"]["tasks"][0]
    assert (listed["taskHasResult"], listed["taskHasOpenResult"]) == ("Y", "N")
