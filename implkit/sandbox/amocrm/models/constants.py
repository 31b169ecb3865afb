"""Documented amoCRM constants and what a new account starts with."""

from __future__ import annotations

import time


WON_STATUS_ID = 142
LOST_STATUS_ID = 143
UNSORTED_TYPE = 1
MAX_PIPELINES = 50
MAX_STATUSES = 100                  # per pipeline, the 3 system ones included
MAX_BATCH = 250                     # items per POST/PATCH
MAX_USERS_PER_POST = 10
MAX_USERS_FOR_POST = 100            # POST /users is refused beyond this many users
MAX_WEBHOOKS = 100
MAX_SOURCES = 100
MAX_STATUS_DESCRIPTIONS = 3

STATUS_COLOURS = (
    "#fffeb2", "#fffd7f", "#fff000", "#ffeab2", "#ffdc7f", "#ffce5a", "#ffdbdb", "#ffc8c8", "#ff8f92",
    "#d6eaff", "#c1e0ff", "#98cbff", "#ebffb1", "#deff81", "#87f2c0", "#f9deff", "#f3beff", "#ccc8f9",
    "#eb93ff", "#f2f3f4", "#e6e8ea",
)
TAG_COLOURS = (
    "EBEBEB", "D0D0D0", "F2DDF7", "D1A4DC", "FF8F92", "FFC8C8", "C7DB8C", "DDEBB5", "8699DA", "AABDFF",
    "FFCE5A", "FFE193", "90CDB0", "C6F4DE", "A9A5D7", "D8D5FF", "86C0FC", "832161", "6A0F49", "0C7C59",
    "10599D", "9D2B32", "247BA0",
)
FIELD_TYPES = {
    "leads": {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "date_time", "textarea",
              "radiobutton", "streetaddress", "smart_address", "birthday", "legal_entity", "tracking_data",
              "chained_list", "monetary", "file"},
    "contacts": {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "date_time", "textarea",
                 "radiobutton", "streetaddress", "multitext", "smart_address", "birthday", "legal_entity",
                 "monetary", "file"},
    "companies": {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "date_time",
                  "textarea", "radiobutton", "streetaddress", "multitext", "smart_address", "birthday",
                  "legal_entity", "monetary", "file"},
}
ENUM_FIELD_TYPES = {"select", "multiselect", "radiobutton", "multitext", "smart_address"}
RIGHT_VALUES = {"A", "G", "M", "D"}
TASK_TYPES = [
    {"id": 1, "name": "Связаться", "color": None, "icon_id": None, "code": "FOLLOW_UP"},
    {"id": 2, "name": "Встреча", "color": None, "icon_id": None, "code": "MEETING"},
]
DEFAULT_GROUP = {"id": 0, "name": "Отдел продаж", "uuid": None}

ACCESS_TOKEN_LIFETIME = 86400                 # 1 day
REFRESH_TOKEN_LIFETIME = 90 * 86400           # 3 months
AUTH_CODE_LIFETIME = 20 * 60                  # 20 minutes
LONG_LIVED_DEFAULT_LIFETIME = 5 * 365 * 86400  # the longest a user may pick

FULL_ENTITY_RIGHTS = {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"}

# What a new account gets (amoCRM's sign-up defaults, as the doc examples show them).
DEFAULT_PIPELINE_NAME = "Воронка"
DEFAULT_STATUSES = [  # (name, sort, colour); the unsorted stage and 142/143 are added around them
    ("Первичный контакт", 20, "#99ccff"),
    ("Переговоры", 30, "#ffff99"),
    ("Принимают решение", 40, "#ffcc66"),
    ("Согласование договора", 50, "#ffcccc"),
]
UNSORTED_STATUS = ("Неразобранное", 10, "#c1c1c1")
WON_STATUS = ("Успешно реализовано", 10000, "#CCFF66")
LOST_STATUS = ("Закрыто и не реализовано", 11000, "#D5D8DB")
PHONE_ENUMS = ("WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER")
EMAIL_ENUMS = ("WORK", "PRIV", "OTHER")
PREDEFINED_GROUPS = {
    "leads": [("default", "Основное", "custom_field_group", 0), ("statistic", "Статистика", "linked_group", 2)],
    "contacts": [("default", "Основное", "custom_field_group", 0)],
    "companies": [("default", "Основное", "custom_field_group", 0)],
}
PREDEFINED_FIELDS = {  # (code, name, type, sort, enum values)
    "contacts": [("PHONE", "Телефон", "multitext", 4, PHONE_ENUMS), ("EMAIL", "Email", "multitext", 6, EMAIL_ENUMS),
                 ("POSITION", "Должность", "text", 2, ())],
    "companies": [("PHONE", "Телефон", "multitext", 4, PHONE_ENUMS), ("EMAIL", "Email", "multitext", 6, EMAIL_ENUMS),
                  ("WEB", "Web", "url", 8, ()), ("ADDRESS", "Адрес", "textarea", 10, ())],
}
STATUS_ID_FLOOR = 10_000_000   # status ids are 8-digit on the real platform; 142/143 must never be allocated


def now() -> int:
    return int(time.time())

# `/account?with=entity_names` of an account that kept the default name of leads ("сделки"): the six
# Russian cases of both numbers and the en/es forms, in the shape of the doc example (account-info),
# whose en/es forms are the defaults (only its Russian ones were renamed, to "клиенты").
DEFAULT_ENTITY_NAMES = {"leads": {
    "ru": {"gender": "f",
           "plural_form": {"dative": "сделкам", "default": "сделки", "genitive": "сделок", "accusative": "сделки",
                           "instrumental": "сделками", "prepositional": "сделках"},
           "singular_form": {"dative": "сделке", "default": "сделка", "genitive": "сделки", "accusative": "сделку",
                             "instrumental": "сделкой", "prepositional": "сделке"}},
    "en": {"singular_form": {"default": "lead"}, "plural_form": {"default": "leads"}, "gender": "f"},
    "es": {"singular_form": {"default": "acuerdo"}, "plural_form": {"default": "acuerdos"}, "gender": "m"},
}}

# the record entities of API v4 and the singular each event and link names them by
RECORD_ENTITIES = ("leads", "contacts", "companies")
SINGULAR = {"leads": "lead", "contacts": "contact", "companies": "company", "customers": "customer",
            "tasks": "task"}
