"""batch: sequential sub-calls, $result references (list paths too), halt, the 50 cap, result_* members."""

from __future__ import annotations

from b24_helpers import TCP_TOO, add_deals, fixture


@TCP_TOO
def test_linked_calls_from_the_documentation(acme):
    request = fixture("batch.request.2.json")
    body = acme.ok("batch", request)
    result = body["result"]
    assert set(result) == {"result", "result_error", "result_total", "result_next", "result_time"}
    assert result["result"]["get_department"][0]["ID"] == str(result["result"]["get_user"]["UF_DEPARTMENT"][0])
    assert result["result_total"] == {"get_department": 1}
    assert result["result_error"] == [] and result["result_next"] == []
    assert set(result["result_time"]) == {"get_user", "get_department"}


def test_list_path_references_chain_the_fast_export(acme):
    ids = add_deals(acme, 130)
    cmd = {"p0": "crm.deal.list?order[ID]=ASC&filter[>ID]=0&select[]=ID&start=-1",
           "p1": "crm.deal.list?order[ID]=ASC&filter[>ID]=$result[p0][49][ID]&select[]=ID&start=-1",
           "p2": "crm.item.list?entityTypeId=2&order[id]=ASC&filter[>id]=$result[p1][49][ID]&select[]=id&start=-1",
           "p3": "crm.item.list?entityTypeId=2&order[id]=ASC&filter[>id]=$result[p2][items][29][id]&start=-1"}
    result = acme.ok("batch", {"halt": 0, "cmd": cmd})["result"]
    rows = [int(r["ID"]) for label in ("p0", "p1") for r in result["result"][label]]
    rows += [r["id"] for r in result["result"]["p2"]["items"]]
    assert rows == sorted(ids)
    assert result["result"]["p3"] == {"items": []}
    assert result["result_total"] == {"p0": 0, "p1": 0, "p2": 0, "p3": 0}


def test_total_and_next_per_label(acme):
    add_deals(acme, 60)
    result = acme.ok("batch", {"cmd": {"a": "crm.deal.list?select[]=ID", "b": "crm.deal.list?start=50"}})["result"]
    assert result["result_total"] == {"a": 60, "b": 60}
    assert result["result_next"] == {"a": 50}


def test_halt_stops_at_the_first_failure(acme):
    cmd = {"ok": "crm.deal.add?fields[TITLE]=one", "bad": "crm.deal.get?id=999",
           "after": "crm.deal.add?fields[TITLE]=two"}
    halted = acme.ok("batch", {"halt": 1, "cmd": cmd})["result"]
    assert list(halted["result"]) == ["ok"]
    assert halted["result_error"] == {"bad": {"error": "", "error_description": "Not found"}}
    assert acme.ok("crm.deal.list")["total"] == 1
    kept = acme.ok("batch", {"halt": 0, "cmd": cmd})["result"]
    assert list(kept["result"]) == ["ok", "after"] and list(kept["result_error"]) == ["bad"]
    assert acme.ok("crm.deal.list")["total"] == 3


def test_more_than_fifty_commands_fail_beyond_the_fiftieth(acme):
    cmd = {f"c{i}": f"crm.deal.add?fields[TITLE]=n{i}" for i in range(52)}
    result = acme.ok("batch", {"halt": 0, "cmd": cmd})["result"]
    assert len(result["result"]) == 50
    assert result["result_error"] == {f"c{i}": {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                               "error_description": "Max batch length exceeded"} for i in (50, 51)}
    assert acme.ok("crm.deal.list")["total"] == 50


def test_nested_batch_and_unknown_method_fail_inside(acme):
    result = acme.ok("batch", {"cmd": {"n": "batch?cmd[x]=user.current", "u": "no.such.method",
                                       "ok": "user.current"}})["result"]
    assert result["result_error"]["n"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert result["result_error"]["u"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert result["result"]["ok"]["ID"] == "1"


def test_numeric_labels_serialise_as_php_lists(acme):
    result = acme.ok("batch", {"cmd": ["crm.deal.get?id=1", "crm.deal.get?id=2"]})["result"]
    assert result["result"] == []
    assert result["result_error"] == [{"error": "", "error_description": "Not found"}] * 2


def test_array_reference_fills_an_in_filter(acme):
    add_deals(acme, 5)
    result = acme.ok("batch", {"cmd": {
        "user": "user.current",
        "mine": "crm.deal.list?filter[ASSIGNED_BY_ID]=$result[user][ID]&select[]=ID",
        "dept": "department.get?ID=$result[user][UF_DEPARTMENT]"}})["result"]
    assert len(result["result"]["mine"]) == 5
    assert result["result"]["dept"][0]["ID"] == "1"


def test_batch_is_one_request_for_the_bucket(acme):
    runtime = acme.sandbox.bitrix24.runtime("acme")
    before = runtime.bucket.level
    acme.ok("batch", {"cmd": {f"u{i}": "user.current" for i in range(50)}})
    assert runtime.bucket.level == before + 1


def test_commands_are_decoded_once_more_inside(acme):
    acme.ok("crm.deal.add", {"fields": {"TITLE": "A&B"}})
    acme.ok("crm.deal.add", {"fields": {"TITLE": "A"}})
    as_json = acme.ok("batch", {"cmd": {"q": "crm.deal.list?filter[TITLE]=A%26B&select[]=TITLE"}})
    assert as_json["result"]["result"]["q"] == [{"ID": "1", "TITLE": "A&B"}]
    as_form = acme.http.post(acme.hook + "batch", content=b"halt=0&cmd%5Bq%5D=crm.deal.list%3Ffilter%5BTITLE%5D%3DA%2526B"
                             b"%26select%5B%5D%3DTITLE", headers={"content-type": "application/x-www-form-urlencoded"})
    assert as_form.json()["result"]["result"]["q"] == [{"ID": "1", "TITLE": "A&B"}]


def test_fast_bitrix24_wire_format(acme):
    """What fast_bitrix24 1.8.14 sends (reference §11.3): lower-cased URL, trailing '&', quoted leaf keys,
    numbered list keys, zero-padded labels, ids as labels, the `__order` parameter inside commands."""
    acme.unlimited()
    add_deals(acme, 120)
    first = acme.http.post(acme.hook + "crm.deal.list", json={"order": {"ID": "ASC"}}).json()
    assert first["total"] == 120 and len(first["result"]) == 50
    cmd = {f"cmd{i:010d}": f"crm.deal.list?select%5B0%5D=ID&filter%5B%3EID%5D=0&order%5BID%5D=ASC&start={start}&"
           for i, start in enumerate(range(50, 120, 50))}
    result = acme.ok("batch", {"halt": 0, "cmd": cmd})["result"]
    rows = [r["ID"] for label in sorted(result["result"]) for r in result["result"][label]]
    assert rows == [str(i) for i in range(51, 121)]
    assert result["result_total"] == {label: 120 for label in cmd}
    by_id = acme.ok("batch", {"halt": 0, "cmd": {"5": "crm.deal.get?ID=5&", "7": "crm.deal.get?ID=7&__order=order0&"}})
    assert set(by_id["result"]["result"]) == {"5", "7"} and by_id["result"]["result"]["7"]["ID"] == "7"


def test_empty_list_inside_a_batch_as_observed(acme):
    observed = fixture("observed/fast_bitrix24.batch_list_empty.response.json")
    label = next(iter(observed["result"]["result"]))
    body = acme.ok("batch", {"halt": 0, "cmd": {label: "crm.deal.list?filter[ID]=0"}})
    assert body["result"]["result"] == observed["result"]["result"] == {label: []}
    assert body["result"]["result_total"] == observed["result"]["result_total"] == {label: 0}
    assert body["result"]["result_error"] == observed["result"]["result_error"] == []
    assert body["result"]["result_next"] == observed["result"]["result_next"] == []
