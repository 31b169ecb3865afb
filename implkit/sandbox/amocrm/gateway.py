"""The amoCRM emulator's routes: path → handler (`handlers.py`), wrapped by `decode.api`.

Paths are relative to the account root (``/amocrm/{subdomain}``), so a client
appends ``/api/v4/...`` and ``/oauth2/access_token`` exactly as it would to
``https://{subdomain}.amocrm.ru``. A path that exists answers 405 to a method
it doesn't list (there is no DELETE for leads, contacts, companies or tasks
in API v4; the router answers it as the documented 405).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Route

from implkit.sandbox.amocrm import handlers as h
from implkit.sandbox.amocrm.decode import api

V4 = "/api/v4"


def amocrm_routes() -> list[Route]:
    def route(path: str, methods: dict[str, object]) -> list[Route]:
        return [Route(f"{V4}{path}", api(handler), methods=[method]) for method, handler in methods.items()]

    records = "{entity:records}"
    fields_of = records
    routes = [Route("/oauth2/access_token", h.oauth_access_token, methods=["POST"]),
              Route("/oauth2/account/current/subdomain", h.oauth_current_subdomain, methods=["GET"])]
    routes += route("/account", {"GET": h.get_account})
    # pipelines and statuses
    routes += route("/leads/pipelines", {"GET": h.list_pipelines, "POST": h.add_pipelines})
    routes += route("/leads/pipelines/{id:int}", {"GET": h.get_pipeline, "PATCH": h.update_pipeline,
                                                  "DELETE": h.delete_pipeline})
    routes += route("/leads/pipelines/{pipeline_id:int}/statuses", {"GET": h.list_statuses, "POST": h.add_statuses})
    routes += route("/leads/pipelines/{pipeline_id:int}/statuses/{id:int}",
                    {"GET": h.get_status, "PATCH": h.update_status, "DELETE": h.delete_status})
    routes += route("/leads/loss_reasons", {"GET": h.list_loss_reasons})
    routes += route("/leads/loss_reasons/{id:int}", {"GET": h.get_loss_reason})
    routes += route("/leads/complex", {"POST": h.add_complex})
    # unsorted (before the custom-field routes: `/leads/unsorted` is not a record id)
    routes += route("/leads/unsorted", {"GET": h.list_unsorted})
    routes += route("/leads/unsorted/summary", {"GET": h.unsorted_summary})
    routes += route("/leads/unsorted/{category:unsorted_category}", {"POST": h.add_unsorted})
    routes += route("/leads/unsorted/{uid}", {"GET": h.get_unsorted})
    routes += route("/leads/unsorted/{uid}/accept", {"POST": h.accept_unsorted})
    routes += route("/leads/unsorted/{uid}/decline", {"DELETE": h.decline_unsorted})
    routes += route("/leads/unsorted/{uid}/link", {"POST": h.link_unsorted})
    # custom fields and groups
    routes += route(f"/{fields_of}/custom_fields/groups", {"GET": h.list_groups, "POST": h.add_groups})
    routes += route(f"/{fields_of}/custom_fields/groups/{{group_id}}",
                    {"GET": h.get_group, "PATCH": h.update_group, "DELETE": h.delete_group})
    routes += route(f"/{fields_of}/custom_fields", {"GET": h.list_fields, "POST": h.add_fields,
                                                   "PATCH": h.update_fields})
    routes += route(f"/{fields_of}/custom_fields/{{id:int}}", {"GET": h.get_field, "PATCH": h.update_fields,
                                                              "DELETE": h.delete_field})
    # users, roles
    routes += route("/users", {"GET": h.list_users, "POST": h.add_users})
    routes += route("/users/{id:int}", {"GET": h.get_user})
    routes += route("/roles", {"GET": h.list_roles, "POST": h.add_roles})
    routes += route("/roles/{id:int}", {"GET": h.get_role, "PATCH": h.update_role, "DELETE": h.delete_role})
    # sources, tags, webhooks
    routes += route("/sources", {"GET": h.list_sources, "POST": h.add_sources, "PATCH": h.update_sources,
                                 "DELETE": h.delete_sources})
    routes += route("/sources/{id:int}", {"GET": h.get_source, "PATCH": h.update_sources, "DELETE": h.delete_sources})
    routes += route(f"/{records}/tags", {"GET": h.list_tags, "POST": h.add_tags})
    routes += route("/webhooks", {"GET": h.list_webhooks, "POST": h.add_webhook, "DELETE": h.delete_webhook})
    # tasks and events
    routes += route("/tasks", {"GET": h.list_tasks, "POST": h.add_tasks, "PATCH": h.update_tasks})
    routes += route("/tasks/{id:int}", {"GET": h.get_task, "PATCH": h.update_tasks})
    routes += route("/events", {"GET": h.list_events})
    routes += route("/events/types", {"GET": h.event_types})
    routes += route("/events/{event_id}", {"GET": h.get_event})
    # notes
    routes += route(f"/{records}/notes", {"GET": h.list_notes, "POST": h.add_notes, "PATCH": h.update_notes})
    routes += route(f"/{records}/notes/{{id:int}}", {"GET": h.get_note, "PATCH": h.update_notes})
    routes += route(f"/{records}/{{entity_id:int}}/notes", {"GET": h.list_notes, "POST": h.add_notes})
    routes += route(f"/{records}/{{entity_id:int}}/notes/{{id:int}}", {"GET": h.get_note, "PATCH": h.update_notes})
    # links
    routes += route(f"/{records}/links", {"GET": h.list_links})
    routes += route(f"/{records}/{{id:int}}/links", {"GET": h.list_links})
    routes += route(f"/{records}/link", {"POST": h.link})
    routes += route(f"/{records}/unlink", {"POST": h.unlink})
    routes += route(f"/{records}/{{id:int}}/link", {"POST": h.link})
    routes += route(f"/{records}/{{id:int}}/unlink", {"POST": h.unlink})
    # leads, contacts, companies (no DELETE in v4: the router answers 405)
    routes += route(f"/{records}", {"GET": h.list_records, "POST": h.add_records, "PATCH": h.update_records})
    routes += route(f"/{records}/{{id:int}}", {"GET": h.get_record, "PATCH": h.update_records})
    return routes


class RecordsConvertor(Convertor):
    """The record entities a path segment may name (Starlette convertors are registered by name)."""

    regex = "leads|contacts|companies"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class UnsortedCategoryConvertor(RecordsConvertor):
    """The unsorted categories the API can create."""

    regex = "sip|forms"


register_url_convertor("records", RecordsConvertor())
register_url_convertor("unsorted_category", UnsortedCategoryConvertor())
