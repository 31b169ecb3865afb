"""paginate(): follows _links.next across pages, never stops on a short page, stops on 204 / no next."""

from __future__ import annotations

import httpx
import pytest

from implkit.errors import ApiError


def page(items, next_href=None, key="custom_fields"):
    links = {"self": {"href": "x"}}
    if next_href:
        links["next"] = {"href": next_href}
    return httpx.Response(200, json={"_page": 1, "_links": links, "_embedded": {key: items}},
                          headers={"Content-Type": "application/hal+json"})


def by_page(pages):
    def handler(request: httpx.Request) -> httpx.Response:
        return pages[int(request.url.params.get("page", "1"))]()
    return handler


def test_follows_next_through_short_pages(make_client, script):
    base = "https://acme.amocrm.ru/api/v4/leads/custom_fields"
    pages = {
        1: lambda: page([{"id": i} for i in range(50)], f"{base}?page=2&limit=250"),  # capped at 50 < limit
        2: lambda: page([{"id": i} for i in range(50, 100)], f"{base}?page=3&limit=250"),
        3: lambda: page([{"id": 100}, {"id": 101}, {"id": 102}]),
    }
    s = script(by_page(pages))
    client = make_client(s)
    items = list(client.paginate("/api/v4/leads/custom_fields", {"limit": 250}, "custom_fields"))
    assert [i["id"] for i in items] == list(range(103))
    assert [r.url.params.get("page") for r in s.requests] == [None, "2", "3"]
    assert all(r.url.params["limit"] == "250" for r in s.requests)


def test_stops_on_204(make_client, script):
    pages = {1: lambda: page([{"id": 1}], "https://acme.amocrm.ru/api/v4/leads?page=2", key="leads"),
             2: lambda: httpx.Response(204)}
    s = script(by_page(pages))
    assert list(make_client(s).paginate("/api/v4/leads", {}, "leads")) == [{"id": 1}]
    assert len(s.requests) == 2


def test_empty_list_answers_204_at_once(make_client, script):
    s = script(httpx.Response(204))
    assert list(make_client(s).paginate("/api/v4/sources", None, "sources")) == []
    assert len(s.requests) == 1


def test_next_link_to_another_host_is_rebuilt_onto_the_account(make_client, script):
    # The docs' examples name shard hosts (and http://) in links; the token must not go there.
    pages = {1: lambda: page([{"id": 1}], "http://shard152.amocrm.ru/api/v4/leads?page=2&limit=5", key="leads"),
             2: lambda: page([{"id": 2}], key="leads")}
    s = script(by_page(pages))
    items = list(make_client(s).paginate("/api/v4/leads", {"limit": 5, "with": "contacts"}, "leads"))
    assert [i["id"] for i in items] == [1, 2]
    assert {r.url.host for r in s.requests} == {"acme.amocrm.ru"}
    assert {r.url.scheme for r in s.requests} == {"https"}
    assert s.requests[1].url.params["with"] == "contacts"  # our own filters are kept
    assert s.requests[1].url.params["page"] == "2"


def test_next_link_inside_a_base_path_is_followed(make_client, script):
    base = "http://127.0.0.1:8765/amocrm/demo"
    pages = {1: lambda: page([{"id": 1}], f"{base}/api/v4/leads?page=2&limit=1", key="leads"),
             2: lambda: page([{"id": 2}], key="leads")}
    s = script(by_page(pages))
    client = make_client(s, base_url=base)
    assert [i["id"] for i in client.paginate("/api/v4/leads", {"limit": 1}, "leads")] == [1, 2]
    assert [r.url.path for r in s.requests] == ["/amocrm/demo/api/v4/leads"] * 2
    assert client.stats.by_endpoint == {"GET /api/v4/leads": 2}


def test_a_next_link_looping_back_is_an_error(make_client, script):
    s = script(lambda r: page([{"id": 1}], "https://acme.amocrm.ru/api/v4/leads?page=1", key="leads"))
    with pytest.raises(ApiError, match="loops back"):
        list(make_client(s).paginate("/api/v4/leads", {"page": 1}, "leads"))
    assert len(s.requests) == 1


def test_max_pages(make_client, script):
    s = script(lambda r: page([{"id": r.url.params.get("page")}],
                              f"https://acme.amocrm.ru/api/v4/leads?page={int(r.url.params.get('page', 1)) + 1}",
                              key="leads"))
    assert len(list(make_client(s).paginate("/api/v4/leads", {}, "leads", max_pages=3))) == 3
    assert len(s.requests) == 3
