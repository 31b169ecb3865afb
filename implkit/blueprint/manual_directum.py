"""Directum RX: every structural object of a blueprint is a manual step (reference/directum-rx.md §4, §7.3).

The Integration Service reads and writes *data*; entity types, properties, enumerations, forms,
workflows, integration flags and functions are written in the Directum Development Studio (DDS) and
published with the deployment tool; rights, roles, departments and job schedules are set by an
administrator in the web client. So for Directum `manual_steps` (implkit/blueprint/manual.py)
returns one step per blueprint object, keyed by its address, plus the setup checklist of §7.3.
Texts are data, in Russian and English.
"""

from __future__ import annotations

from implkit.model import Blueprint, ManualStep

# Which Directum type a blueprint entity lands on. Base RX has no deal: it is a custom type.
ENTITY_TYPES = {
    "companies": ("Организация (Sungero.Parties.Company), перекрытие в слое заказчика",
                  "Company (Sungero.Parties.Company), overridden in the customer layer"),
    "contacts": ("Контактное лицо (Sungero.Parties.Contact), перекрытие в слое заказчика",
                 "Contact (Sungero.Parties.Contact), overridden in the customer layer"),
    "leads": ("тип «Сделка» собственного модуля (в базовой RX сделок нет)",
              "the custom module's “Deal” type (base RX has no deals)"),
    "customers": ("тип «Сделка» собственного модуля", "the custom module's “Deal” type"),
}
# Blueprint fields the base Company already has (reference/directum-rx.md §2.3): a check, not DDS work.
BASE_PROPERTIES = {("companies", "inn"): "TIN", ("companies", "kpp"): "TRRC", ("companies", "ogrn"): "PSRN",
                   ("companies", "okpo"): "NCEO", ("companies", "legal_address"): "LegalAddress",
                   ("companies", "phone"): "Phones", ("companies", "email"): "Email",
                   ("contacts", "phone"): "Phone", ("contacts", "email"): "Email"}
DDS = ("Среда разработки (DDS), затем публикация средством развёртывания: Сервис интеграции не меняет "
       "структуру.", "Development studio (DDS), then publish with the deployment tool: the Integration "
       "Service cannot change structure.")
ADMIN = ("Веб-клиент, раздел «Администрирование»: Сервис интеграции не настраивает права, роли и процессы.",
         "Web client, Administration: the Integration Service cannot set rights, roles or processes.")

TEXTS = {
    "pipeline": (("DDS: тип сущности «Сделка» для воронки «{name}» — справочник в собственном модуле с флагом "
                  "«Использовать в сервисе интеграции» и «Именем в сервисе интеграции»",
                  "DDS: a “Deal” entity type for pipeline “{name}” — a databook in a custom module with "
                  "“Use in the integration service” on and an “Integration service name” set"), DDS),
    "stage": (("DDS: значение «{name}» перечисления «Этап» сделки воронки «{pipeline}»",
               "DDS: value “{name}” of the deal's “Stage” enumeration in pipeline “{pipeline}”"), DDS),
    "automation": (("DDS или вариант процесса в веб-клиенте: «{pipeline}», этап «{stage}» — {action}",
                    "DDS or a process variant in the web client: “{pipeline}”, stage “{stage}” — {action}"), DDS),
    "field": (("DDS: свойство «{name}» ({type}) на типе: {target}",
               "DDS: property “{name}” ({type}) on: {target}"), DDS),
    "base_field": (("Проверить: «{name}» — базовое свойство {prop} ({target}), доработка в DDS не нужна",
                    "Check: “{name}” is the base property {prop} ({target}); no DDS work"),
                   ("Есть в базовой RX 4.8 (Sungero.Parties).", "Present in base RX 4.8 (Sungero.Parties).")),
    "field_group": (("DDS: группа «{name}» на карточке", "DDS: group “{name}” on the card form"), DDS),
    "role": (("Администрирование: роль «{name}» и права доступа к справочникам",
              "Administration: role “{name}” and its access rights to the directories"), ADMIN),
    "group": (("Администрирование: подразделение «{name}» и его сотрудники",
               "Administration: department “{name}” and its employees"), ADMIN),
    "loss_reason": (("DDS: справочник «Причины проигрыша», запись «{name}»",
                     "DDS: databook “Loss reasons”, entry “{name}”"), DDS),
    "integration": (("{name}: подключение решается на стороне Directum (коннектор или модуль), не через API",
                     "{name}: connected on the Directum side (connector or module), not over the API"), DDS),
}

# reference/directum-rx.md §7.3, in order
CHECKLIST = [
    ("endpoint", ("Сервис интеграции: проверить, что он развёрнут и доступен по HTTPS; уточнить адрес "
                  "(/Integration или /DrxIntegration) и способ входа (Basic, токен, Kerberos)",
                  "Integration Service: confirm it is deployed and reachable over HTTPS; get its address "
                  "(/Integration or /DrxIntegration) and auth method (Basic, token, Kerberos)")),
    ("service_user", ("Завести отдельного пользователя интеграции с правами чтения справочников Организации, "
                      "Персоны, Банки, Контактные лица, Сотрудники, Населённые пункты, Регионы, Наши организации",
                      "Create a dedicated integration user with read rights on Companies, Persons, Banks, "
                      "Contacts, Employees, Cities, Regions and Business units")),
    ("metadata", ("Скачать $metadata, проверить наборы ICompanies, IPersons, IContacts… и записать "
                  "собственные свойства заказчика", "Download $metadata once, check the sets ICompanies, "
                  "IPersons, IContacts… and record the customer's own properties")),
    ("custom_entities", ("Для сделок и лидов: в DDS включить «Использовать в сервисе интеграции» (для новых "
                         "справочников выключено), задать имя, опубликовать, проверить в $metadata",
                         "For deals and leads: in DDS turn on “Use in the integration service” (off for new "
                         "databooks), set its name, publish, check $metadata")),
    ("incremental", ("По желанию: интеграционная функция модуля, возвращающая ИД изменённых записей "
                     "(у контрагентов нет даты изменения)", "Optional: a module integration function "
                     "returning ids changed since a date (counterparties carry no modification date)")),
    ("cleaning", ("По желанию: шаблон очистки дублей контрагентов — роль «Ответственные за контрагентов», "
                  "три фоновых процесса по порядку, проверить на копии", "Optional: the counterparty-cleaning "
                  "template — the role “Responsible for counterparties”, its three jobs in order, test on a copy")),
    ("validation", ("Решить, нужны ли серверные проверки КПП и e-mail и проверка дублей при сохранении "
                    "через API (сейчас только в интерфейсе)", "Decide on server-side KPP and e-mail checks "
                    "and a duplicate check on API saves (today they run in the UI only)")),
    ("rights", ("Права, роли, варианты процессов и расписания фоновых процессов — вручную в веб-клиенте",
                "Rights, roles, process variants and job schedules — by hand in the web client")),
    ("exchange_1c", ("Двусторонний обмен с 1С: коннектор Directum к 1С (лицензия) и связи ExternalEntityLink",
                     "Two-way exchange with 1C: the Directum 1C connector (licensed) and ExternalEntityLink "
                     "links")),
]


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "ru" else pair[1]


def _step(kind: str, key: str, lang: str, **values: str) -> ManualStep:
    title, where = TEXTS[kind]
    return ManualStep(key=key, title=_pick(title, lang).format(**values), feature="base",
                      details=_pick(where, lang))


def directum_steps(blueprint: Blueprint, lang: str = "en") -> list[ManualStep]:
    """One step per structural object of `blueprint`, keyed by its address, then the setup checklist."""
    steps: list[ManualStep] = []
    steps += [_step("group", g.address, lang, name=g.name) for g in blueprint.groups]
    steps += [_step("role", r.address, lang, name=r.name) for r in blueprint.roles]
    for p in blueprint.pipelines:
        steps.append(_step("pipeline", p.address, lang, name=p.name))
        steps += [_step("stage", s.address(p.key), lang, name=s.name, pipeline=p.name) for s in p.stages]
        steps += [_step("automation", a.address(p.key), lang, pipeline=p.name, stage=p.stage_name(a.stage), action=a.do)
                  for a in p.automations]
    groups_done: set[str] = set()
    for f in blueprint.fields:
        target = _pick(ENTITY_TYPES.get(f.entity, (f.entity, f.entity)), lang)
        if f.group and f"{f.entity}.{f.group}" not in groups_done:
            groups_done.add(f"{f.entity}.{f.group}")
            steps.append(_step("field_group", f"field_group.{f.entity}.{f.group}", lang, name=f.group))
        base = BASE_PROPERTIES.get((f.entity, f.key)) or BASE_PROPERTIES.get((f.entity, f.code or ""))
        if base:
            steps.append(_step("base_field", f.address, lang, name=f.name, prop=base, target=target))
        else:
            steps.append(_step("field", f.address, lang, name=f.name, type=f.type, target=target))
    steps += [_step("loss_reason", lr.address, lang, name=lr.name) for lr in blueprint.loss_reasons]
    steps += [_step("integration", i.address, lang, name=i.name) for i in blueprint.integrations]
    steps += [ManualStep(key=f"directum.{key}", title=_pick(text, lang), feature="base") for key, text in CHECKLIST]
    steps += list(blueprint.manual)
    return steps
