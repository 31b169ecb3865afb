"""Field names: the legacy upper-case CRM names and the camelCase the universal (crm.item.*) and task methods print.

Its own module because the entity models and the timeline/task methods both need it, and the models
build on the timeline.
"""

from __future__ import annotations

CAMEL_OVERRIDES = {"DATE_CREATE": "createdTime", "DATE_MODIFY": "updatedTime", "CREATED_BY_ID": "createdBy",
                   "MODIFY_BY_ID": "updatedBy", "MOVED_BY_ID": "movedBy", "STATUS_ID": "stageId",
                   "STATUS_SEMANTIC_ID": "stageSemanticId", "STATUS_DESCRIPTION": "stageDescription"}


def snake_to_camel(name: str) -> str:
    """ASSIGNED_BY_ID → assignedById; UF_CRM_1721244482250 → ufCrm_1721244482250 (a segment that
    starts with a digit keeps its underscore) [inference from the docs' ufCrm_<code> examples]."""
    if name in CAMEL_OVERRIDES:
        return CAMEL_OVERRIDES[name]
    parts = name.lower().split("_")
    out = parts[0]
    for part in parts[1:]:
        out += ("_" + part) if part[:1].isdigit() else part.capitalize()
    return out
