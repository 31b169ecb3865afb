"""Bitrix24's behaviour over the store: one `Portal` per call, every query filtered on its account id.

Methods return plain Python values in the dialect of their method family and raise `B24Error`s
(errors.py); `methods.py` maps REST method names onto them and the gateway wraps the envelope.
Each call adds its modelled execution time to `Portal.cost` (see the cost model in
`bitrix24/__init__.py`).

Records of leads, deals, contacts and companies are kept as the legacy API shows them (UPPER_CASE
keys, numbers as strings) in `b24_crm.data`; `crm.item.*` converts them to camelCase with real
numbers on the way out and back on the way in.

One module per family of methods, each a mixin over `base.PortalBase` (as amoCRM's `models/`):
`userfields` (crm.*.userfield.*), `pipelines` (crm.status.*, crm.category.*), `records` (leads, deals,
contacts, companies in both dialects; crm.duplicate.findbycomm), `history` (activity, stage-history and
task lists), `people` (users, departments), `timeline` (activities and timeline comments written),
`tasks` (tasks, their comments and results), `telephony` (external calls registered and finished, the
call statistics);
`base` holds the cost model, the entity types and the value conversions. Everything is re-exported here.
"""

from __future__ import annotations

from implkit.sandbox.bitrix24.models.base import (  # noqa: F401
    BASE_COST,
    BY_NAME,
    COUNT_COST,
    ENTITIES,
    GET_ONLY,
    INT_TYPES,
    LABELS,
    LANGS,
    MULTIFIELDS,
    NEW_RECORD_DEFAULTS,
    ROW_COST,
    SPEC,
    STAGE_CODE,
    STAGE_DIRECTORY,
    UF_NAME,
    USER_TYPES,
    WRITE_COST,
    EntityType,
    PortalBase,
    as_dict,
    legacy_value,
    param,
    php_int,
    positive_id,
    typed_value,
)
from implkit.sandbox.bitrix24.models.history import HistoryMixin
from implkit.sandbox.bitrix24.models.people import PeopleMixin
from implkit.sandbox.bitrix24.models.pipelines import PipelinesMixin
from implkit.sandbox.bitrix24.models.records import RecordsMixin
from implkit.sandbox.bitrix24.models.tasks import TasksMixin
from implkit.sandbox.bitrix24.models.telephony import TelephonyMixin
from implkit.sandbox.bitrix24.models.timeline import TimelineMixin
from implkit.sandbox.bitrix24.models.userfields import UserFieldsMixin, normalise_uf_name  # noqa: F401


class Portal(UserFieldsMixin, PipelinesMixin, RecordsMixin, HistoryMixin, PeopleMixin, TimelineMixin, TasksMixin,
             TelephonyMixin, PortalBase):
    """The backend of one portal for one call (or one batch sub-call), every family's methods together."""
