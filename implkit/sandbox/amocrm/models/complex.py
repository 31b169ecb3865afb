"""POST /leads/complex."""

from __future__ import annotations

from typing import Any

from implkit.sandbox.amocrm.models.base import Errors, _is_int, batch
from implkit.sandbox.amocrm.models.unsorted import UNSORTED_CREATABLE, UnsortedMixin


MAX_COMPLEX = 50
MAX_COMPLEX_FIELD_VALUES = 40


class ComplexMixin(UnsortedMixin):
    def add_complex(self, body: Any) -> list[dict[str, Any]]:
        """POST /leads/complex: each lead with at most one contact and one company (by id or new), in one call.
        `_embedded.metadata` makes the lead an unsorted one. No duplicate control: `merged` is always false."""
        items = batch(body, limit=MAX_COMPLEX)
        errors = Errors()
        for rid, item in items:
            embedded = item.get("_embedded") or {}
            if not isinstance(embedded, dict):
                errors.add(rid, "_embedded", "InvalidType", "This value should be of type array.")
                continue
            for kind in ("contacts", "companies"):
                if not isinstance(embedded.get(kind, []), list) or len(embedded.get(kind, [])) > 1:
                    errors.add(rid, f"_embedded.{kind}", "InvalidType", "At most one item.")
            for path, entity in [("", item)] + [(f"_embedded.{k}.0.", (embedded.get(k) or [{}])[0])
                                                for k in ("contacts", "companies")]:
                values = entity.get("custom_fields_values") if isinstance(entity, dict) else None
                if isinstance(values, list) and len(values) > MAX_COMPLEX_FIELD_VALUES:
                    errors.add(rid, f"{path}custom_fields_values", "TooMany",
                               f"At most {MAX_COMPLEX_FIELD_VALUES} custom field values per entity.")
            metadata = embedded.get("metadata")
            if metadata is not None and (not isinstance(metadata, dict)
                                         or metadata.get("category") not in UNSORTED_CREATABLE):
                errors.not_a_choice(rid, "_embedded.metadata.category")
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                embedded = dict(item.get("_embedded") or {})
                ids: dict[str, int | None] = {"contacts": None, "companies": None}
                for kind in ("contacts", "companies"):
                    if embedded.get(kind):
                        given = embedded[kind][0]
                        if set(given) <= {"id", "is_main"} and _is_int(given.get("id")):
                            ids[kind] = given["id"]     # an existing one; _check_common validates it below
                        else:
                            ids[kind] = self._nested_add(kind, {**given, "request_id": rid}, f"_embedded.{kind}.0.")
                lead = {k: v for k, v in item.items() if k != "_embedded"}
                lead["_embedded"] = {k: v for k, v in embedded.items() if k not in ("contacts", "companies",
                                                                                     "metadata")}
                if ids["contacts"]:
                    lead["_embedded"]["contacts"] = [{"id": ids["contacts"], "is_main": True}]
                if ids["companies"]:
                    lead["_embedded"]["companies"] = [{"id": ids["companies"]}]
                lead["request_id"] = rid
                lead_id = self._nested_add("leads", lead, "")
                if ids["contacts"] and ids["companies"]:
                    self._link(db, "contacts", ids["contacts"], "companies", ids["companies"], None)
                metadata = embedded.get("metadata")
                if metadata:
                    pipeline_id = db.execute("SELECT pipeline_id FROM leads WHERE id=?", (lead_id,)).fetchone()[0]
                    self._insert_unsorted(db, lead_id=lead_id, pipeline_id=pipeline_id,
                                          category=metadata["category"], source_uid=str(metadata.get("source_uid", "")),
                                          source_name=str(metadata.get("source_name", "")), metadata=metadata,
                                          created_at=item.get("created_at", self.at))
                answers.append({"id": lead_id, "contact_id": ids["contacts"], "company_id": ids["companies"],
                                "request_id": [rid], "merged": False})
        return answers
