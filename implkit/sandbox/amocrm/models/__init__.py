"""amoCRM's behaviour over the sandbox store: accounts, auth, configuration, records.

`bootstrap_account` creates an account as amoCRM does on sign-up;
`issue_long_lived_token` and the OAuth functions hand out credentials;
`AmoAccount` is the backend of one account: every method filters on its
account id and returns the documented models as plain dicts (HAL `_links`
included), or raises an `AmoError` from `errors.py`. `decode.py`
only parses requests and serialises what these methods return.

One module per family of endpoints, each a mixin over `base.AccountBase`:
`pipelines`, `fields`, `people` (users, roles, loss reasons), `channels`
(sources, tags, webhooks), `records` (leads, contacts, companies, links),
`activity` (tasks, notes, events), `unsorted`, `complex`; `accounts` and
`credentials` are the module-level functions; `constants` the documented
figures. Everything is re-exported here.
"""

from __future__ import annotations

from implkit.sandbox.amocrm.models.constants import (  # noqa: F401
    ACCESS_TOKEN_LIFETIME,
    AUTH_CODE_LIFETIME,
    DEFAULT_GROUP,
    DEFAULT_PIPELINE_NAME,
    DEFAULT_STATUSES,
    EMAIL_ENUMS,
    ENUM_FIELD_TYPES,
    FIELD_TYPES,
    FULL_ENTITY_RIGHTS,
    LONG_LIVED_DEFAULT_LIFETIME,
    LOST_STATUS,
    LOST_STATUS_ID,
    MAX_BATCH,
    MAX_PIPELINES,
    MAX_SOURCES,
    MAX_STATUSES,
    MAX_STATUS_DESCRIPTIONS,
    MAX_USERS_FOR_POST,
    MAX_USERS_PER_POST,
    MAX_WEBHOOKS,
    PHONE_ENUMS,
    PREDEFINED_FIELDS,
    PREDEFINED_GROUPS,
    REFRESH_TOKEN_LIFETIME,
    RIGHT_VALUES,
    STATUS_COLOURS,
    STATUS_ID_FLOOR,
    TAG_COLOURS,
    TASK_TYPES,
    UNSORTED_STATUS,
    UNSORTED_TYPE,
    WON_STATUS,
    WON_STATUS_ID,
    now,
)
from implkit.sandbox.amocrm.models.accounts import (  # noqa: F401
    account_by_subdomain,
    allocate_enum_id,
    allocate_status_id,
    bootstrap_account,
    create_pipeline_rows,
)
from implkit.sandbox.amocrm.models.credentials import (  # noqa: F401
    authenticate,
    current_subdomain,
    exchange_token,
    expire_tokens,
    issue_auth_code,
    issue_long_lived_token,
    register_oauth_client,
    token_fingerprint,
)
from implkit.sandbox.amocrm.models.base import (  # noqa: F401
    AccountBase,
    Errors,
    batch,
)
from implkit.sandbox.amocrm.models.pipelines import (  # noqa: F401
    PipelinesMixin,
)
from implkit.sandbox.amocrm.models.fields import (  # noqa: F401
    FieldsMixin,
)
from implkit.sandbox.amocrm.models.people import (  # noqa: F401
    ENTITY_RIGHT_KEYS,
    PASSWORD_RULE,
    PeopleMixin,
)
from implkit.sandbox.amocrm.models.channels import (  # noqa: F401
    ChannelsMixin,
)
from implkit.sandbox.amocrm.models.records import (  # noqa: F401
    DATE_TYPES,
    RECORD_COLUMNS,
    RECORD_ENTITIES,
    RECORD_FILTERS,
    RECORD_ORDERS,
    RECORD_WITH,
    RecordsMixin,
    SELECT_TYPES,
    SINGULAR,
    TEXT_TYPES,
)
from implkit.sandbox.amocrm.models.activity import (  # noqa: F401
    ActivityMixin,
    EVENT_FILTER_ENTITIES,
    EVENT_TYPES,
    NOTE_EVENTS,
    NOTE_TYPES,
    TASK_ENTITIES,
)
from implkit.sandbox.amocrm.models.unsorted import (  # noqa: F401
    UNSORTED_CATEGORIES,
    UNSORTED_CREATABLE,
    UnsortedMixin,
)
from implkit.sandbox.amocrm.models.complex import (  # noqa: F401
    ComplexMixin,
    MAX_COMPLEX,
    MAX_COMPLEX_FIELD_VALUES,
)


class AmoAccount(ComplexMixin):
    """The whole amoCRM API of one account (the mixins chain through every family of endpoints)."""
