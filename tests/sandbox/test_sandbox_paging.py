"""The pagination helper on its own."""

from __future__ import annotations

import pytest

from implkit.sandbox.amocrm.paging import Envelope, Page, PagingError, collection, page_of, parse_page


def test_parse_page_defaults_clamps_and_fixes():
    assert parse_page({}) == Page(1, 50)
    assert parse_page({"page": "3", "limit": "250"}) == Page(3, 250)
    assert parse_page({"page": "3", "limit": "999"}) == Page(3, 50, over_limit=True)
    assert parse_page({"limit": "250"}, max_limit=100) == Page(1, 50, over_limit=True)
    assert parse_page({"limit": "2"}, fixed_limit=50) == Page(1, 50)
    for bad in ({"page": "0"}, {"limit": "x"}, {"page": "-1"}):
        with pytest.raises(PagingError):
            parse_page(bad)


def test_page_of_looks_one_row_ahead():
    rows = list(range(7))
    fetch = lambda offset, count: rows[offset:offset + count]  # noqa: E731
    assert page_of(fetch, Page(1, 3)) == ([0, 1, 2], True)
    assert page_of(fetch, Page(3, 3)) == ([6], False)
    assert page_of(fetch, Page(1, 3, over_limit=True)) == ([0, 1, 2], False)


def test_envelopes_per_family():
    items = [{"id": 1}]
    assert collection("x", [], envelope=Envelope.PAGED, self_url="u", page=Page(1, 5)) is None
    paged = collection("leads", items, envelope=Envelope.PAGED, self_url="http://h/l", query=[("with", "contacts")],
                       page=Page(2, 5), has_next=True)
    assert set(paged) == {"_page", "_links", "_embedded"}
    assert paged["_links"]["next"]["href"] == "http://h/l?with=contacts&page=3&limit=5"
    assert set(paged["_links"]) == {"self", "next", "first", "prev"}
    counted = collection("users", items, envelope=Envelope.COUNTED, self_url="u", page=Page(1, 1), total=3,
                         last_link=True)
    assert (counted["_total_items"], counted["_page_count"]) == (3, 3) and set(counted["_links"]) == \
        {"self", "next", "last"}
    assert set(collection("statuses", items, envelope=Envelope.TOTAL_ONLY, self_url="u")) == \
        {"_total_items", "_embedded"}
    assert set(collection("pipelines", items, envelope=Envelope.TOTAL_LINKED, self_url="u")) == \
        {"_total_items", "_links", "_embedded"}


def test_php_bracket_queries_parse_as_php_does():
    from implkit.sandbox.querystring import parse_query

    assert parse_query([("filter[id][]", "1"), ("filter[id][]", "2"), ("limit", "5")]) == \
        {"filter": {"id": ["1", "2"]}, "limit": "5"}
    assert parse_query([("filter[statuses][0][pipeline_id]", "7"), ("filter[statuses][0][status_id]", "142")]) == \
        {"filter": {"statuses": {"0": {"pipeline_id": "7", "status_id": "142"}}}}
    assert parse_query([("filter[updated_at][from]", "1"), ("filter[updated_at][to]", "9"),
                        ("order[updated_at]", "asc")]) == \
        {"filter": {"updated_at": {"from": "1", "to": "9"}}, "order": {"updated_at": "asc"}}
    assert parse_query([("a[][b]", "1"), ("a[][c]", "2")]) == {"a": [{"b": "1"}, {"c": "2"}]}
    assert parse_query([("filter[name]", "x"), ("filter[name][]", "y")]) == {"filter": {"name": ["y"]}}
