"""What a target CRM's API cannot configure, derived from a blueprint: the manual steps.

This is the one place that knows it. The plan lists these steps as `manual`
rows; the spec prints them as the consultant's checklist. Sources:
amocrm-api.md §7.14 and §8, bitrix24-api.md §8.14 and §9.

- amoCRM: Digital Pipeline triggers and robots, Salesbot scenarios,
  duplicate-control rules, user groups, loss reasons (read-only since
  2026-02), channel connections (mail, telephony, messengers, web forms),
  document templates, reports and dashboards.
- Bitrix24: CRM roles and access rights (no REST method reads or writes
  them), robots and triggers on stages, binding lead sources to channels,
  web forms / open lines / telephony, document templates, reports; and what
  implkit's Bitrix24 provider does not create (card sections).

Every CRM: a field a stage requires, where the CRM's API cannot make that
entity's fields required at a stage (amoCRM: only deal fields; Bitrix24 and
Directum: none), is one step per stage and field (`STAGE_REQUIRED_BY_API`;
tests/spec/test_spec_plan_manual.py checks it against each provider's
`Capabilities.required_entities`, which decides what the plan writes).

`every_manual_step` is the one function that lists them all: `plan`, `apply`
and the spec's checklist call it (the plan adds rows of its own only for kinds
a provider cannot write that no step here covers). `manual_steps` is its part
about blueprint objects (each keyed by the object's address).

Each step's key is the address of the blueprint object it is about (so the
plan can relate a manual row to its object), and the step's text is in the
requested language: English for the plan, Russian or English for the spec.
Steps the blueprint lists itself (`manual:`) are passed through as written.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from implkit.lang import plural_ru
from implkit.model import Automation, Blueprint, Integration, ManualStep, Pipeline, thaw

CRMS = ("amocrm", "bitrix24")   # the spec's default checklists; Directum: manual_directum.py
LANGS = ("ru", "en")
CRM_NAMES = {"amocrm": "amoCRM", "bitrix24": "Bitrix24", "directum": "Directum RX"}

# Automation vocabulary, shared with the spec (which lays out the same automations as a table).
TRIGGERS = {
    "enter": ("при переходе в этап", "on entering the stage"),
    "leave": ("при выходе из этапа", "on leaving the stage"),
    "create": ("при создании сделки", "when a deal is created"),
    "no_activity": ("при отсутствии активности", "when there is no activity"),
}
ACTIONS = {
    "create_task": ("создать задачу", "create a task"),
    "send_message": ("отправить сообщение", "send a message"),
    "send_email": ("отправить письмо", "send an e-mail"),
    "send_sms": ("отправить SMS", "send an SMS"),
    "change_stage": ("сменить этап", "change the stage"),
    "change_responsible": ("сменить ответственного", "change the responsible user"),
    "distribute": ("распределить заявку", "distribute the lead"),
    "generate_document": ("сформировать документ", "generate a document"),
    "webhook": ("отправить вебхук", "call a webhook"),
    "salesbot": ("запустить чат-бота", "run a chat bot"),
    "notify": ("отправить уведомление", "send a notification"),
}
INTEGRATION_KINDS = {
    "messenger": ("Мессенджер", "Messenger", "messengers"),
    "telephony": ("Телефония", "Telephony", "telephony"),
    "web_form": ("Форма на сайте", "Website form", "web_forms"),
    "document": ("Шаблон документа", "Document template", "documents"),
    "bi": ("Выгрузка во внешнюю аналитику", "External analytics export", "external_analytics"),
}
_DURATION_UNITS = {"m": ("мин", "min"), "h": ("ч", "h"), "d": ("дн.", "days")}  # days: see format_duration

# Where in each CRM's interface the consultant does it, and why the API cannot.
_WHERE = {
    "automation": {
        "amocrm": ("Сделки → Настроить воронку → этап «{stage}» → добавить триггер. "
                   "API amoCRM не создаёт триггеры цифровой воронки.",
                   "Leads → Set up pipeline → stage “{stage}” → add a trigger. "
                   "The amoCRM API cannot create Digital Pipeline triggers."),
        "bitrix24": ("CRM → Сделки → Роботы → стадия «{stage}» → добавить робота. "
                     "REST API Битрикс24 не размещает роботов и триггеры на стадиях.",
                     "CRM → Deals → Automation rules → stage “{stage}” → add a rule. "
                     "The Bitrix24 REST API cannot place robots or triggers on stages."),
    },
    "salesbot": {
        "amocrm": ("Сценарий бота собирается в конструкторе Salesbot; API умеет только запускать ботов.",
                   "Build the scenario in the Salesbot designer; the API can only run bots."),
        "bitrix24": ("Сценарий бота собирается в конструкторе открытых линий или бизнес-процессов.",
                     "Build the scenario in the open-lines or workflow designer."),
    },
    "duplicates": {
        "amocrm": ("Настройки воронки → Контроль дублей: правила для каждой воронки и источника. "
                   "API не настраивает контроль дублей.",
                   "Pipeline settings → Duplicate control: rules per pipeline and source. "
                   "The API cannot configure duplicate control."),
    },
    "group": {
        "amocrm": ("Настройки → Пользователи → добавить группу. API только читает группы.",
                   "Settings → Users → add a group. The API only reads groups."),
    },
    "role": {
        "bitrix24": ("CRM → Настройки → Права доступа → добавить роль и выставить права по матрице "
                     "раздела «Роли и права». REST API Битрикс24 не читает и не пишет права CRM.",
                     "CRM → Settings → Access permissions → add the role and set the rights from the "
                     "matrix in “Roles and rights”. The Bitrix24 REST API cannot read or write CRM permissions."),
    },
    "loss_reason": {
        "amocrm": ("Настройки воронки → Причины отказа. С 02.2026 API только читает причины отказа.",
                   "Pipeline settings → Loss reasons. Since 2026-02 the API only reads loss reasons."),
        "bitrix24": ("В Битрикс24 нет справочника причин отказа: заведите стадии провала или поле-список "
                     "«Причина отказа» и сделайте его обязательным при проигрыше.",
                     "Bitrix24 has no loss-reason list: add failure stages or a list field “Loss reason” "
                     "required when a deal is lost."),
    },
    "distribution": {
        "amocrm": ("Цифровая воронка (триггер «Сменить ответственного») или виджет распределения; "
                   "API правила распределения не настраивает.",
                   "Digital Pipeline (“Change responsible” trigger) or a distribution widget; "
                   "the API cannot configure distribution rules."),
        "bitrix24": ("Роботы «Назначить ответственного» на первой стадии или очередь открытой линии; "
                     "REST API их не настраивает.",
                     "“Assign responsible” robots on the first stage or the open-line queue; "
                     "the REST API cannot configure them."),
    },
    "integration": {
        "amocrm": ("Подключается в интерфейсе (amoMarket / Настройки → Интеграции): API не подключает каналы, "
                   "формы, телефонию и шаблоны документов.",
                   "Connected in the interface (amoMarket / Settings → Integrations): the API cannot connect "
                   "channels, forms, telephony or document templates."),
        "bitrix24": ("Подключается в интерфейсе (Контакт-центр, CRM-формы, Телефония, Маркет); REST API не "
                     "привязывает источники к каналам.",
                     "Connected in the interface (Contact Center, CRM forms, Telephony, Market); the REST API "
                     "cannot bind lead sources to channels."),
    },
    "required": {
        # English as the plan always printed it for amoCRM
        "amocrm": ("API amoCRM делает поле обязательным на этапе только для полей сделок.",
                   "the amocrm API sets required stages on lead fields only"),
        "bitrix24": ("Настройки поля в карточке → «Обязательное» → выбрать стадии. "
                     "REST API Битрикс24 не задаёт обязательность поля по стадиям.",
                     "Field settings on the card → “Required” → choose the stages. "
                     "The Bitrix24 REST API cannot make a field required at a stage."),
        "directum": ("DDS: проверка заполнения при смене этапа (обработчик сохранения сделки): "
                     "Сервис интеграции не меняет структуру.",
                     "DDS: a check on the stage change (the deal's save handler): the Integration "
                     "Service cannot change structure."),
    },
    "field_group": {
        "bitrix24": ("Карточка → «Создать раздел» и перенести в него поля. implkit не размещает поля "
                     "по разделам карточки Битрикс24.",
                     "Card → “Create section”, then move the fields into it. implkit does not lay out "
                     "Bitrix24's card sections."),
    },
    # Letters and SMS to clients from stage automations: the automation itself is a step above; these are
    # what it needs first. amoCRM: the Digital Pipeline's «Отправить письмо» takes a condition, an event, a
    # template and a sender (seed 001); mail and channel connections are UI-only (amocrm-api.md §8).
    # Bitrix24: SMS go out from CRM robots through an SMS provider connected to the portal, which only an
    # app registers (dev.1c-bitrix.ru course 266 lesson 25566; messageservice.sender.add).
    "email": {
        "amocrm": ("Почта → подключить корпоративный ящик; шаблоны писем — в настройках почты, отправитель — "
                   "ответственный за сделку или общий ящик. API amoCRM не подключает почту и не создаёт шаблоны.",
                   "Mail → connect the company mailbox; e-mail templates in the mail settings, the sender is the "
                   "deal's responsible user or a shared mailbox. The amoCRM API cannot connect mail or add templates."),
        "bitrix24": ("Подключить ящики сотрудников к CRM в разделе почты и завести шаблоны писем CRM; письмо "
                     "уходит роботом стадии. REST API Битрикс24 не подключает почту к CRM.",
                     "Connect the employees' mailboxes to the CRM in the mail section and add CRM e-mail templates; "
                     "a stage robot sends the letter. The Bitrix24 REST API cannot connect mail to the CRM."),
    },
    "sms": {
        "amocrm": ("SMS отправляет подключённый SMS-сервис (виджет из amoMarket) действием цифровой воронки; "
                   "тексты — в настройках виджета. API amoCRM не подключает каналы.",
                   "SMS go out through a connected SMS service (an amoMarket widget) as a Digital Pipeline "
                   "action; the texts live in the widget's settings. The amoCRM API cannot connect channels."),
        "bitrix24": ("Подключить SMS-провайдера (приложение из Маркета) — без него роботы SMS не отправляют; "
                     "тексты — в настройках робота стадии. Провайдера регистрирует только приложение.",
                     "Connect an SMS provider (a Market app): without one, robots send no SMS; the texts live in "
                     "the stage robot's settings. Only an app can register a provider."),
    },
    "reports": {
        "amocrm": ("Раздел «Аналитика»: отчёты и рабочие столы настраиваются только в интерфейсе.",
                   "Analytics section: reports and dashboards are set up in the interface only."),
        "bitrix24": ("CRM → Аналитика: отчёты и панели настраиваются только в интерфейсе.",
                     "CRM → Analytics: reports and dashboards are set up in the interface only."),
    },
}

_TITLES = {
    "automation": ("Воронка «{pipeline}», этап «{stage}»: {trigger} — {action}",
                   "Pipeline “{pipeline}”, stage “{stage}”: {trigger}, {action}"),
    "salesbot": ("Собрать чат-бота для воронки «{pipeline}», этап «{stage}»",
                 "Build the chat bot for pipeline “{pipeline}”, stage “{stage}”"),
    "duplicates": ("Настроить контроль дублей для воронки «{pipeline}»",
                   "Set up duplicate control for pipeline “{pipeline}”"),
    "group": ("Создать группу пользователей «{name}»", "Create the user group “{name}”"),
    "role": ("Создать роль «{name}» и выдать права", "Create the role “{name}” and grant its rights"),
    "loss_reason": ("Добавить причину отказа «{name}»", "Add the loss reason “{name}”"),
    "distribution": ("Настроить правило распределения заявок «{name}»", "Set up the lead distribution rule “{name}”"),
    "integration": ("{kind}: подключить «{name}»", "{kind}: connect “{name}”"),
    "reports": ("Настроить отчёты: {names}", "Set up the reports: {names}"),
    "email": ("Подключить почту для писем клиентам и завести шаблоны: {names}",
              "Connect mail for letters to clients and add the templates: {names}"),
    "sms": ("Подключить SMS-сервис и завести тексты SMS: {names}",
            "Connect an SMS service and add the SMS texts: {names}"),
    "required": ("Сделать поле {entity} «{name}» обязательным на этапе «{stage}» воронки «{pipeline}»",
                 "Make the {entity} field “{name}” required at stage “{stage}” of pipeline “{pipeline}”"),
    "field_group": ("Создать раздел карточки «{name}»", "Create the card section “{name}”"),
}

# Entities whose fields the CRM's API can make required at a stage (amocrm-api.md: `required_statuses`
# on lead fields only; bitrix24-api.md: no REST method; Directum: structure is DDS work). The providers'
# Capabilities.required_entities say the same (tested); a field of another entity is a manual step.
STAGE_REQUIRED_BY_API = {"amocrm": frozenset({"leads"}), "bitrix24": frozenset(), "directum": frozenset()}
_ENTITY_WORDS = {"leads": ("сделки", "lead"), "contacts": ("контакта", "contact"),
                 "companies": ("компании", "company"), "customers": ("покупателя", "customer")}

# Integration kinds that bring leads in (their duplicates meet in one deal only with duplicate control).
_LEAD_SOURCES = ("messenger", "telephony", "web_form")


def manual_steps(blueprint: Blueprint, crm: str, lang: str = "en",
                 describe: Callable[[Any, str], str] | None = None) -> list[ManualStep]:
    """Everything in `blueprint` that `crm`'s API cannot configure, in a stable order, in `lang`.

    `describe(settings, lang)` words settings in the details; the spec passes one that prints
    human labels instead of keys (implkit.spec.labels), the plan keeps `settings_text`.
    """
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: expected one of {', '.join(LANGS)}")
    if crm not in (*CRMS, "directum"):
        raise ValueError(f"unknown CRM {crm!r}: expected one of {', '.join(CRMS)}, directum")
    text = _Texts(crm, lang, describe or settings_text)
    if crm == "directum":     # no structure over its API: every object is a step (manual_directum.py)
        from implkit.blueprint.manual_directum import directum_steps
        return directum_steps(blueprint, lang)
    steps: list[ManualStep] = []
    if crm == "amocrm":
        steps += [text.step("group", g.address, "base", name=g.name) for g in blueprint.groups]
    if crm == "bitrix24":
        steps += [text.step("role", r.address, "access_restrictions", name=r.name) for r in blueprint.roles]
        sections = dict.fromkeys((f.entity, f.group) for f in blueprint.fields if f.group)
        steps += [text.step("field_group", f"field_group.{entity}.{group}", "base", name=group)
                  for entity, group in sections]
    for pipeline in blueprint.pipelines:
        steps += _pipeline_steps(pipeline, text)
    steps += _messaging_steps(blueprint, text)
    if crm == "amocrm" and any(i.kind in _LEAD_SOURCES for i in blueprint.integrations):
        steps += [text.step("duplicates", f"{p.address}.duplicate_control", "base", pipeline=p.name)
                  for p in blueprint.pipelines]
    for rule in distribution_rules(blueprint):
        steps.append(text.step("distribution", f"distribution.{rule.get('key', '')}", "lead_distribution",
                               name=str(rule.get("name", rule.get("key", "")))))
    steps += [text.step("loss_reason", lr.address, "base", name=lr.name) for lr in blueprint.loss_reasons]
    steps += [_integration_step(blueprint, i, text) for i in blueprint.integrations]
    reports = report_names(thaw(blueprint.analytics).get("reports") if blueprint.analytics else None)
    if reports:
        steps.append(text.step("reports", "analytics.reports", "analytics", names=", ".join(reports)))
    steps += list(blueprint.manual)
    return steps


def every_manual_step(blueprint: Blueprint, crm: str, lang: str = "en",
                      describe: Callable[[Any, str], str] | None = None) -> list[ManualStep]:
    """Every step the consultant does by hand for `blueprint` on `crm`: what `plan` and `apply` list as
    manual rows and the spec prints as its checklist — all three call this.

    The steps about blueprint objects (`manual_steps`), then the stage-required fields the CRM's API
    cannot mark (last, where the plan has always listed them), keyed under their stage's address.
    """
    steps = manual_steps(blueprint, crm, lang, describe)
    return steps + _required_steps(blueprint, _Texts(crm, lang, describe or settings_text))


def describe_trigger(automation: Automation, lang: str) -> str:
    return _pick(TRIGGERS.get(automation.on), lang, automation.on)


def describe_action(automation: Automation, lang: str) -> str:
    """The action with its text and due time, e.g. «создать задачу «Позвонить», срок 15 мин»."""
    parts = [_pick(ACTIONS.get(automation.do), lang, automation.do)]
    if automation.text:
        parts[0] += " " + _quote(automation.text, lang)
    if automation.due:
        parts.append(("срок " if lang == "ru" else "due in ") + format_duration(automation.due, lang))
    return ", ".join(parts)


def format_duration(value: str, lang: str) -> str:
    """"15m" → "15 мин" / "15 min"; anything else is shown as written."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", str(value))
    if not match:
        return str(value)
    count, unit = match.group(1), _pick(_DURATION_UNITS[match.group(2)], lang)
    if match.group(2) == "d":  # days agree with their number: "1 день", "3 дня", "5 дней"; "1 day", "2 days"
        unit = plural_ru(int(count), "день", "дня", "дней") if lang == "ru" else ("day" if int(count) == 1 else "days")
    return f"{count} {unit}"


def settings_text(settings: Any, lang: str) -> str:
    """Free-form settings (a frozen mapping) as "key: value; key: value"."""
    plain = thaw(settings)
    if isinstance(plain, dict):
        return "; ".join(f"{k}: {_scalar_text(v, lang)}" for k, v in plain.items())
    return _scalar_text(plain, lang)


def distribution_rules(blueprint: Blueprint) -> list[dict[str, Any]]:
    """The blueprint's lead-distribution rules (`distribution.rules`) as plain dicts."""
    plain = thaw(blueprint.distribution) if blueprint.distribution else {}
    return [r for r in plain.get("rules") or () if isinstance(r, dict)]


def report_names(reports: Any) -> list[str]:
    """Report names from `analytics.reports`: a list of names or of mappings with `name` (or `key`)."""
    names = []
    for report in reports or ():
        if isinstance(report, dict):
            names.append(str(report.get("name") or report.get("key") or ""))
        else:
            names.append(str(report))
    return [n for n in names if n]


def _pipeline_steps(pipeline: Pipeline, text: "_Texts") -> list[ManualStep]:
    steps = []
    for automation in pipeline.automations:
        stage_name = pipeline.stage_name(automation.stage)
        details = [text.where("automation", stage=stage_name)]
        if automation.params:
            details.append(text.describe(automation.params, text.lang))
        steps.append(text.step(
            "automation", automation.address(pipeline.key), "digital_pipeline",
            details=" ".join(details), pipeline=pipeline.name, stage=stage_name,
            trigger=describe_trigger(automation, text.lang), action=describe_action(automation, text.lang)))
        if automation.do == "salesbot":
            steps.append(text.step("salesbot", f"{automation.address(pipeline.key)}.scenario", "digital_pipeline",
                                   pipeline=pipeline.name, stage=stage_name))
    return steps


# The automations that write to a client, by channel: what the messaging steps and the spec's section on
# letters and SMS list.
MESSAGING_ACTIONS = {"send_email": "email", "send_sms": "sms"}


def messaging_automations(blueprint: Blueprint) -> list[tuple[Pipeline, Automation]]:
    return [(p, a) for p in blueprint.pipelines for a in p.automations if a.do in MESSAGING_ACTIONS]


def _messaging_steps(blueprint: Blueprint, text: "_Texts") -> list[ManualStep]:
    """One step per channel (mail, SMS) the blueprint's automations write to clients through: connect it and
    add the templates they use, named by template (else by the automation's text)."""
    steps = []
    for action, channel in MESSAGING_ACTIONS.items():
        names = []
        for _, automation in messaging_automations(blueprint):
            if automation.do == action:
                params = dict(thaw(automation.params)) if automation.params else {}
                names.append(_quote(str(params.get("template") or automation.text or automation.stable_key), text.lang))
        if names:
            steps.append(text.step(channel, f"messaging.{channel}", "digital_pipeline",
                                   names=", ".join(dict.fromkeys(names))))
    return steps


def _required_steps(blueprint: Blueprint, text: "_Texts") -> list[ManualStep]:
    """A field a stage requires, of an entity the CRM's API cannot make required at a stage: one step
    per stage and field, keyed under the stage's address."""
    steps = []
    for p in blueprint.pipelines:
        for s in p.stages:
            for address in s.required_fields:
                f = blueprint.field(address)
                if f is None or f.entity in STAGE_REQUIRED_BY_API[text.crm]:
                    continue
                entity = _pick(_ENTITY_WORDS.get(f.entity), text.lang, f.entity)
                steps.append(text.step("required", f"{s.address(p.key)}.required.{f.entity}.{f.key}", "base",
                                       entity=entity, name=f.name, stage=s.name, pipeline=p.name))
    return steps


def _integration_step(blueprint: Blueprint, integration: Integration, text: "_Texts") -> ManualStep:
    ru, en, feature = INTEGRATION_KINDS.get(integration.kind, (integration.kind, integration.kind, None))
    details = [text.where("integration")]
    settings = dict(thaw(integration.settings)) if integration.settings else {}
    pipeline = blueprint.pipeline(str(settings.pop("pipeline", ""))) if "pipeline" in settings else None
    stage_key = str(settings.pop("stage", "")) if pipeline else ""
    if pipeline:
        stage = pipeline.stage(stage_key)
        where = _quote(pipeline.name, text.lang) + (f" → {_quote(stage.name, text.lang)}" if stage else "")
        details.append(("Новые заявки: " if text.lang == "ru" else "New leads: ") + where + ".")
    if settings:
        details.append(text.describe(settings, text.lang))
    return text.step("integration", integration.address, feature, details=" ".join(details),
                     kind=ru if text.lang == "ru" else en, name=integration.name)


class _Texts:
    """Titles and details of one CRM in one language."""

    def __init__(self, crm: str, lang: str, describe: Callable[[Any, str], str] = settings_text):
        self.crm = crm
        self.lang = lang
        self.describe = describe

    def where(self, topic: str, **values: str) -> str:
        return _pick(_WHERE[topic].get(self.crm), self.lang, "").format(**values)

    def step(self, topic: str, key: str, feature: str | None, *, details: str | None = None,
             **values: str) -> ManualStep:
        title = _pick(_TITLES[topic], self.lang).format(**values)
        return ManualStep(key=key, title=title, feature=feature,
                          details=details if details is not None else (self.where(topic, **values) or None))


def _quote(text: str, lang: str) -> str:
    return f"«{text}»" if lang == "ru" else f"“{text}”"


def _pick(pair: tuple[str, ...] | None, lang: str, default: str = "") -> str:
    if not pair:
        return default
    return pair[0] if lang == "ru" else pair[1]


def _scalar_text(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return ("да" if value else "нет") if lang == "ru" else ("yes" if value else "no")
    if isinstance(value, list):
        return ", ".join(_scalar_text(v, lang) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_scalar_text(v, lang)}" for k, v in value.items())
    return str(value)
