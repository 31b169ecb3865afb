"""Bad input, table-driven: every case exits 3, names where (file:line:col, or the option), shows no
traceback and writes nothing: the workspace's files are byte-for-byte and mode-for-mode what they were,
no output file appears, and no request reaches the sandbox tenant.

Cases marked `ru` are told in Russian by default (no IMPLKIT_LANG, no --lang) with none of
jsonschema's or ruamel's raw English, and in English with `implkit --lang en`. The others
(messages another part of implkit owns) are checked for code, location, traceback and writes.

The world (a sandbox served on loopback, a workspace with tenant `acme`, a plan saved from it) is
built once; each case runs in a copy of the workspace.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "tests" / "plan" / "fixtures" / "blueprint.yaml").read_text(encoding="utf-8")
ANSWERS = (ROOT / "examples" / "answers" / "b2b-services.yaml").read_text(encoding="utf-8")
CHECK = (ROOT / "audits" / "D03.yaml").read_text(encoding="utf-8")

# Raw library English that must not reach a Russian reader.
RAW_ENGLISH = re.compile(r"is not of type|is not valid under|does not match|is not one of|unknown key|"
                         r"\bexpected\b|\bmust\b|was unexpected|while parsing|while scanning|not allowed|"
                         r"duplicate key|\binvalid\b|\bproblems?\b|\bunknown\b|\bno such\b|\bcannot\b|\berror:")


@dataclass
class Case:
    id: str
    argv: tuple[str, ...]  # placeholders: {dir} the case folder, {ws} its workspace, {plan} a saved plan, {bp}
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into {dir} (a "ws/..." path: into {ws})
    at: tuple[str, int] | None = None  # (file under {dir}, line) that the message must name as FILE:LINE:COL
    says: tuple[str, ...] = ()  # what else the message must name (the key, the option)
    ru: bool = True  # told in the user's language (see the module docstring)
    caps: dict[str, int] = field(default_factory=dict)  # implkit.yamlio caps lowered for the case


def line_of(text: str, marker: str) -> int:
    index = text.index(marker)
    return text.count("\n", 0, index) + 1


def bp(old: str, new: str, base: str = BASE) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def blueprint_case(id: str, text: str, marker: str | None, *says: str, command: str = "validate",
                   ru: bool = True, caps: dict | None = None, line: int | None = None) -> Case:
    """A blueprint fed to `blueprint validate`, or to `plan`/`apply` of tenant acme (nothing may be sent)."""
    argv = {"validate": ("blueprint", "validate", "{dir}/bp.yaml"),
            "plan": ("plan", "acme", "-b", "{dir}/bp.yaml", "-w", "{ws}"),
            "apply": ("apply", "acme", "-b", "{dir}/bp.yaml", "--yes", "-w", "{ws}"),
            "spec": ("spec", "render", "-b", "{dir}/bp.yaml", "-o", "{dir}/spec.md")}[command]
    at = ("bp.yaml", line or line_of(text, marker)) if marker or line else None
    return Case(id, argv, {"bp.yaml": text}, at, says, ru, caps or {})


def billion_laughs(levels: int = 9, width: int = 10,
                   head: str = "apiVersion: implkit/v1\nkind: Blueprint\n") -> str:
    """Ten lols, ten of those, ... `levels` times: 10**10 nodes once expanded, from a dozen short lines."""
    text = head + "lol0: &l0 [" + ", ".join(["lol"] * width) + "]\n"
    for i in range(1, levels + 1):
        text += f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]\n"
    return text


# --- 1. blueprints: names the CRM and recovery cannot tell apart, dangling references -------------------

DUPLICATE_NAMES = [
    blueprint_case("dup-pipeline-name", bp("name: Сервис", "name: Продажи"), "name: Продажи\n    stages:\n"
                   "      - {key: request", "pipeline.service.name", "pipeline.sales"),
    blueprint_case("dup-pipeline-name-case-space", bp("name: Сервис", "name: '  продажи '"), "'  продажи '",
                   "pipeline.service.name"),
    blueprint_case("dup-stage-name", bp("{key: done, name: Выполнено}", "{key: done, name: Обращение}"),
                   "{key: done", "pipeline.service.stage.done.name", "pipeline.service.stage.request"),
    blueprint_case("dup-stage-name-case", bp("name: КП отправлено", "name: КВАЛИФИКАЦИЯ"), "КВАЛИФИКАЦИЯ",
                   "pipeline.sales.stage.proposal.name"),
    blueprint_case("dup-stage-name-tab-space", bp("name: КП отправлено", 'name: "Квалификация\\t "'),
                   '"Квалификация', "pipeline.sales.stage.proposal.name"),
    blueprint_case("stage-named-like-won", bp("name: КП отправлено", "name: оплачено"), "name: оплачено",
                   "pipeline.sales.stage.proposal.name", "pipeline.sales.won_name"),
    blueprint_case("won-equals-lost", bp("lost_name: Отказ", "lost_name: Оплачено"), "lost_name",
                   "pipeline.sales.lost_name"),
    blueprint_case("dup-field-name", bp("name: Бюджет", "name: Источник"), "{key: budget",
                   "field.leads.budget.name", "field.leads.source"),
    blueprint_case("dup-field-name-case", bp("name: День рождения", "name: EMAIL"), "{key: birthday",
                   "field.contacts.birthday.name"),
    blueprint_case("dup-role-name", bp("name: Руководитель", "name: менеджер"), "name: менеджер",
                   "role.head.name", "role.manager"),
    blueprint_case("dup-group-name", bp("groups: [{key: sales, name: Отдел продаж}]",
                                        "groups: [{key: sales, name: Отдел продаж}, {key: b, name: отдел  продаж}]"),
                   "groups:", "group.b.name"),
    blueprint_case("dup-loss-reason-name", bp("loss_reasons: [{key: price, name: Дорого}]",
                                              "loss_reasons: [{key: price, name: Дорого}, {key: p2, name: ДОРОГО}]"),
                   "loss_reasons:", "loss_reason.p2.name"),
    blueprint_case("dup-names-refused-before-plan", bp("name: Сервис", "name: Продажи"),
                   "name: Продажи\n    stages:\n      - {key: request", "pipeline.service.name", command="plan"),
    blueprint_case("dup-names-refused-before-apply", bp("name: Бюджет", "name: Источник"), "{key: budget",
                   "field.leads.budget.name", command="apply"),
]

INTEGRATIONS = BASE + """integrations:
  web_form:
    - key: site
      name: Сайт
      settings: {pipeline: sales, stage: new, mapping: {comment: field.leads.budget, name: contact.name}}
  document:
    - {key: contract, name: Договор}
"""

REFERENCES = [
    blueprint_case("integration-unknown-pipeline", bp("pipeline: sales, stage: new", "pipeline: ghost, stage: new",
                                                      INTEGRATIONS), "pipeline: ghost",
                   "integration.web_form.site.settings.pipeline", "ghost"),
    blueprint_case("integration-unknown-pipeline-apply", bp("pipeline: sales, stage: new",
                                                            "pipeline: ghost, stage: new", INTEGRATIONS),
                   "pipeline: ghost", "integration.web_form.site.settings.pipeline", command="apply"),
    blueprint_case("integration-unknown-stage", bp("stage: new, mapping", "stage: nope, mapping", INTEGRATIONS),
                   "stage: nope", "integration.web_form.site.settings.stage", "nope"),
    blueprint_case("integration-stage-without-pipeline", bp("pipeline: sales, stage: new", "stage: new",
                                                            INTEGRATIONS),
                   "settings: {stage", "integration.web_form.site.settings.stage"),
    blueprint_case("integration-maps-unknown-field",
                   bp("comment: field.leads.budget", "comment: field.leads.nope", INTEGRATIONS),
                   "comment: field.leads.nope", "integration.web_form.site.settings.mapping.comment",
                   "field.leads.nope"),
    blueprint_case("notify-unknown-role", bp("      - {key: done, name: Выполнено}",
                                             "      - {key: done, name: Выполнено}\n    automations:\n"
                                             "      - {on: enter, stage: done, do: notify, params: {to: role.boss}}"),
                   "role.boss", "params.to", "role.boss"),
    blueprint_case("automation-unknown-stage", bp("      - {key: done, name: Выполнено}",
                                                  "      - {key: done, name: Выполнено}\n    automations:\n"
                                                  "      - {on: enter, stage: ghost, do: create_task, text: x}"),
                   "stage: ghost", "ghost"),
    blueprint_case("automation-unknown-template", bp("      - {key: done, name: Выполнено}",
                                                     "      - {key: done, name: Выполнено}\n    automations:\n"
                                                     "      - {on: enter, stage: done, do: generate_document,"
                                                     " params: {template: act}}", INTEGRATIONS),
                   "template: act", "params.template", "act"),
    blueprint_case("automation-unknown-rule", bp("      - {key: done, name: Выполнено}",
                                                 "      - {key: done, name: Выполнено}\n    automations:\n"
                                                 "      - {on: enter, stage: done, do: distribute,"
                                                 " params: {rule: rr}}"),
                   "rule: rr", "params.rule", "rr"),
    blueprint_case("required-unknown-field", bp("[field.leads.source]", "[field.leads.ghost]"),
                   "field.leads.ghost", "required_fields", "field.leads.ghost"),
    blueprint_case("distribution-unknown-pipeline", BASE + "distribution:\n  rules:\n"
                   "    - {key: rr, name: По кругу, method: round_robin, pipeline: ghost}\n",
                   "pipeline: ghost", "distribution.rule.rr.pipeline"),
    blueprint_case("distribution-unknown-stage", BASE + "distribution:\n  rules:\n"
                   "    - {key: rr, name: По кругу, method: round_robin, pipeline: sales, stage: ghost}\n",
                   "stage: ghost", "distribution.rule.rr.stage"),
    blueprint_case("distribution-unknown-group", BASE + "distribution:\n  rules:\n"
                   "    - {key: rr, name: По кругу, method: round_robin, group: ghosts}\n",
                   "group: ghosts", "distribution.rule.rr.group"),
    blueprint_case("funnel-unknown-stage", BASE + "analytics:\n  funnel:\n"
                   "    - {key: lead, name: Лид, stage: pipeline.sales.stage.ghost}\n",
                   "pipeline.sales.stage.ghost", "analytics.funnel.lead.stage"),
    blueprint_case("report-unknown-role", BASE + "analytics:\n  reports:\n"
                   "    - {key: daily, name: Ежедневный, audience: [director]}\n",
                   "[director]", "analytics.report.daily.audience[0]"),
    blueprint_case("duplicate-pipeline-key", bp("key: service", "key: sales"), "key: sales\n    name: Сервис",
                   "pipeline.sales.key", "sales"),
    blueprint_case("duplicate-stage-key", bp("{key: done,", "{key: request,"), "{key: request, name: Выполнено",
                   "pipeline.service.stage.request.key"),
    blueprint_case("duplicate-field-key", bp("{key: budget,", "{key: source,"), "{key: source, name: Бюджет",
                   "field.leads.source.key"),
]

# --- schema and syntax: what passed before, and the translated validator messages ----------------------

SCHEMA = [
    blueprint_case("unknown-top-level-key", BASE + "colour: red\n", "colour:", "colour"),
    blueprint_case("unknown-stage-key", bp("description: Связаться", "colour: red, description: Связаться"),
                   "colour: red", "pipeline.sales.stage.new.colour"),
    blueprint_case("bad-key-format", bp("key: service", "key: Service-Desk"), "Service-Desk", "Service-Desk"),
    blueprint_case("bad-rights-level", bp("view: own, edit: own, add: all", "view: mine, edit: own, add: all"),
                   "view: mine", "role.manager.rights.leads.view", "mine"),
    blueprint_case("boolean-for-a-name", bp("name: Сервис", "name: true"), "name: true", "pipeline.service.name"),
    blueprint_case("number-for-a-name", bp("name: Сервис", "name: 42"), "name: 42", "pipeline.service.name"),
    blueprint_case("list-for-stages", bp("    stages:\n      - {key: request, name: Обращение}\n"
                                         "      - {key: done, name: Выполнено}", "    stages: {request: 1}"),
                   "stages: {request", "pipeline.service.stages"),
    blueprint_case("version-not-semver", bp("version: 1.0.0", "version: one"), "version: one", "metadata.version"),
    blueprint_case("wrong-api-version", bp("apiVersion: implkit/v1", "apiVersion: implkit/v9"), "apiVersion",
                   "apiVersion"),
    blueprint_case("wrong-kind", bp("kind: Blueprint", "kind: Plan"), "kind: Plan", "kind"),
    blueprint_case("missing-metadata-name", bp("metadata: {name: plan-test, ", "metadata: {"), "metadata:",
                   "metadata", "name"),
    blueprint_case("select-without-options", bp("type: select, options: [Сайт, Телефон, WhatsApp]", "type: select"),
                   "{key: source", "field.leads.source.type"),
    blueprint_case("options-on-text", bp("{key: inn, name: ИНН, type: text,", "{key: inn, name: ИНН, type: text, "
                                                                           "options: [a],"),
                   "options: [a]", "field.companies.inn.options"),
    blueprint_case("two-main-pipelines", bp("    name: Сервис\n", "    name: Сервис\n    is_main: true\n"),
                   "is_main: true\n    stages:\n      - {key: request", "pipeline.service.is_main"),
    blueprint_case("bad-stage-colour", bp('color: "#c1e0ff"', 'color: "blue"'), '"blue"',
                   "pipeline.sales.stage.new.color"),
    blueprint_case("revenue-nan", BASE + "analytics: {plan: {revenue_month: .nan}}\n", ".nan",
                   "analytics.plan.revenue_month"),
    blueprint_case("revenue-inf", BASE + "analytics: {plan: {revenue_month: .inf}}\n", ".inf",
                   "analytics.plan.revenue_month"),
    blueprint_case("revenue-negative", BASE + "analytics: {plan: {revenue_month: -5}}\n", "-5",
                   "analytics.plan.revenue_month"),
    blueprint_case("working-days-40", BASE + "analytics: {plan: {working_days: 40}}\n", "working_days",
                   "analytics.plan.working_days"),
    blueprint_case("description-too-long", bp("description: Связаться в течение 15 минут.",
                                              "description: " + "я" * 1001), "яяя",
                   "pipeline.sales.stage.new.description"),
    blueprint_case("unknown-feature", bp("metadata:", "features: [base, teleportation]\nmetadata:"),
                   "teleportation", "features"),
    blueprint_case("document-is-a-list", "- 1\n- 2\n", "- 1", "(document)"),
    blueprint_case("document-is-a-string", "just text\n", "just", "(document)"),
    blueprint_case("empty-file", "", None, "bp.yaml"),
    blueprint_case("spec-of-a-bad-blueprint", bp("name: Сервис", "name: Продажи"),
                   "name: Продажи\n    stages:\n      - {key: request", "pipeline.service.name", command="spec"),
]

SYNTAX = [
    blueprint_case("unclosed-flow-mapping", bp("metadata: {name: plan-test,", "metadata: {name: plan-test"),
                   "metadata:", "bp.yaml"),
    blueprint_case("unclosed-flow-sequence", bp("groups: [{key: sales, name: Отдел продаж}]",
                                                "groups: [{key: sales, name: Отдел продаж}"), "roles:", "bp.yaml"),
    blueprint_case("tab-indentation", bp("    name: Сервис", "\tname: Сервис"), "\tname", "bp.yaml"),
    blueprint_case("colon-in-plain-value", bp("name: Сервис", "name: Сервис: отдел"), "Сервис: отдел", "bp.yaml"),
    blueprint_case("duplicate-mapping-key", bp("kind: Blueprint", "kind: Blueprint\nkind: Blueprint"),
                   "kind: Blueprint\nmetadata", "kind"),
    blueprint_case("undefined-alias", bp("name: Сервис", "name: *nowhere"), "*nowhere", "nowhere"),
    blueprint_case("bad-indentation", bp("    name: Сервис", "   name: Сервис"), "   name: Сервис", "bp.yaml"),
    blueprint_case("unclosed-quote", BASE + "extra: 'never closed\n", None, "bp.yaml",
                   line=BASE.count("\n") + 2),  # the file's end, where the quote is still open
    blueprint_case("two-documents", BASE + "---\nkind: Blueprint\n", "---", "bp.yaml"),
    blueprint_case("control-character", bp("name: Сервис", "name: Сер\x07вис"), "Сер\x07", "bp.yaml"),
    blueprint_case("python-tag", bp("name: Сервис", "name: !!python/object:os.system x"), "!!python", "tag"),
    blueprint_case("local-tag", bp("name: Сервис", "name: !secret x"), "!secret", "!secret"),
    blueprint_case("bad-escape", bp("name: Сервис", 'name: "\\q"'), '"\\q"', "bp.yaml", ru=False),
    Case("not-utf8", ("blueprint", "validate", "{dir}/bp.yaml"),
         {"bp.yaml": BASE.encode("utf-8").replace("Сервис".encode(), b"\xff\xfe")},
         ("bp.yaml", line_of(BASE, "Сервис")),
         ("UTF-8",)),
    Case("missing-file", ("blueprint", "validate", "{dir}/nowhere.yaml"), {}, None, ("nowhere.yaml",)),
    Case("directory-not-file", ("blueprint", "show", "{dir}/folder"), {"folder/x": "1"}, None, ("folder",), ru=False),
]

BOMBS = [
    blueprint_case("billion-laughs", billion_laughs(), "*l4", "bp.yaml"),
    blueprint_case("billion-laughs-apply", billion_laughs(), "*l4", "bp.yaml", command="apply"),
    blueprint_case("merge-key-bomb", "a: &a {" + ", ".join(f"k{i}: v" for i in range(200)) + "}\n"
                   + "".join(f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 20) + "]\n"
                             for i in range(4)), "*b1", "bp.yaml"),
    blueprint_case("deep-flow-20000", "a: " + "[" * 20000 + "]" * 20000 + "\n", "a:", "bp.yaml"),
    blueprint_case("deep-mapping-20000", "a: " + "{b: " * 20000 + "1" + "}" * 20000 + "\n", "a:", "bp.yaml"),
    blueprint_case("deep-block-100", "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "x\n",
                   "k63:", "bp.yaml"),
    blueprint_case("deep-plan", "a: " + "[" * 20000 + "]" * 20000 + "\n", "a:", "bp.yaml", command="plan"),
    blueprint_case("too-many-nodes", "items:\n" + "".join(f"  - {i}\n" for i in range(2000)), "- 997\n",
                   "bp.yaml", caps={"MAX_NODES": 1000}),  # the mapping, its key and 998 items
    blueprint_case("too-big", BASE + "#" * 5000 + "\n", None, "bp.yaml", caps={"MAX_BYTES": 4096}),
]

# --- 4. implkit.yaml --------------------------------------------------------------------------------------

WS_HEAD = "version: 1\nid: 00000000-0000-0000-0000-000000000001\ntenants:\n  acme:\n    provider: amocrm\n"


def ws_case(id: str, tail: str, marker: str, *says: str, argv: tuple[str, ...] = ("tenant", "list", "-w", "{ws}"),
            head: str | None = None, ru: bool = True) -> Case:
    """implkit.yaml of the case's workspace replaced by HEAD + url/credentials + TAIL."""
    text = (WS_HEAD if head is None else head) + tail
    return Case(id, argv, {"ws/implkit.yaml": text}, ("ws/implkit.yaml", line_of(text, marker)), says, ru)


ACME = "    url: {url}\n    credentials: {file: {token}}\n"


def acme(extra: str = "") -> str:
    return ACME + extra


WORKSPACE = [
    ws_case("ws-unknown-top-level-key", acme() + "colour: red\n", "colour", "colour"),
    ws_case("ws-unknown-tenant-key", acme("    token: abc\n"), "token:", "tenants.acme.token"),
    ws_case("ws-threshold-lots", acme("    audit: {thresholds: {D03: lots}}\n"), "D03: lots",
            "tenants.acme.audit.thresholds.D03"),
    ws_case("ws-threshold-lots-on-audit", acme("    audit: {thresholds: {D03: lots}}\n"), "D03: lots",
            "thresholds.D03", argv=("audit", "acme", "--workspace", "{ws}")),
    ws_case("ws-threshold-unknown-check", acme("    audit: {thresholds: {Z99: 1}}\n"), "Z99", "Z99",
            argv=("audit", "acme", "--workspace", "{ws}")),
    ws_case("ws-threshold-check-name-not-id", acme("    audit: {thresholds: {stale_leads: 0.1}}\n"), "stale_leads",
            "stale_leads"),
    ws_case("ws-threshold-share-over-1", acme("    audit: {thresholds: {C06: {max_share: 2}}}\n"), "max_share",
            "C06.max_share"),
    ws_case("ws-threshold-negative", acme("    audit: {thresholds: {D03: -1}}\n"), "D03: -1", "D03"),
    ws_case("ws-threshold-count-text", acme("    audit: {thresholds: {D03: {max_count: x}}}\n"), "max_count",
            "D03.max_count"),
    ws_case("ws-threshold-unknown-bound", acme("    audit: {thresholds: {D03: {limit: 1}}}\n"), "limit",
            "D03.limit"),
    ws_case("ws-threshold-bool", acme("    audit: {thresholds: {D03: true}}\n"), "D03: true", "D03"),
    ws_case("ws-threshold-nan", acme("    audit: {thresholds: {D03: .nan}}\n"), "D03: .nan", "D03"),
    ws_case("ws-exempt-not-a-list", acme("    audit: {exempt_stages: Оплата}\n"), "exempt_stages",
            "exempt_stages"),
    ws_case("ws-audit-not-a-mapping", acme("    audit: [1]\n"), "audit:", "tenants.acme.audit"),
    ws_case("ws-audit-unknown-key", acme("    audit: {threshold: {D03: 1}}\n"), "threshold:", "audit.threshold"),
    ws_case("ws-rate-nan", acme("    rate_limit: .nan\n"), "rate_limit", "tenants.acme.rate_limit"),
    ws_case("ws-rate-inf", acme("    rate_limit: .inf\n"), "rate_limit", "tenants.acme.rate_limit"),
    ws_case("ws-rate-zero", acme("    rate_limit: 0\n"), "rate_limit", "tenants.acme.rate_limit"),
    ws_case("ws-rate-negative", acme("    rate_limit: -3\n"), "rate_limit", "tenants.acme.rate_limit"),
    ws_case("ws-rate-text", acme("    rate_limit: fast\n"), "rate_limit", "tenants.acme.rate_limit"),
    ws_case("ws-rate-nan-on-plan", acme("    rate_limit: .nan\n"), "rate_limit", "rate_limit",
            argv=("plan", "acme", "-w", "{ws}")),
    ws_case("ws-unknown-provider", "    url: {url}\n    credentials: {env: X}\n", "provider", "provider",
            head=WS_HEAD.replace("provider: amocrm", "provider: salesforce")),
    ws_case("ws-http-remote-url", "    url: http://crm.example.com\n    credentials: {env: X}\n", "url:",
            "tenants.acme.url", ru=False),
    ws_case("ws-two-credential-sources", "    url: {url}\n    credentials: {env: X, file: y}\n", "credentials",
            "tenants.acme.credentials"),
    ws_case("ws-empty-credentials", "    url: {url}\n    credentials: {}\n", "credentials",
            "tenants.acme.credentials"),
    ws_case("ws-missing-credentials", "    url: {url}\n", "acme:", "credentials"),
    ws_case("ws-oauth-unknown-key", acme("    oauth: {client_id: c, secret: s}\n"), "oauth", "oauth.secret"),
    ws_case("ws-tenant-name-uppercase", acme(), "Acme", "Acme", head=WS_HEAD.replace("  acme:", "  Acme:")),
    ws_case("ws-version-2", acme(), "version", "version", head=WS_HEAD.replace("version: 1", "version: 2")),
    ws_case("ws-version-missing", acme(), "id:", "version", head=WS_HEAD.replace("version: 1\n", "")),
    ws_case("ws-unknown-language", acme() + "lang: de\n", "lang: de", "lang"),
    ws_case("ws-tenants-a-list", "", "tenants", "tenants", head="version: 1\ntenants: [acme]\n"),
    ws_case("ws-not-a-mapping", "", "- 1", "(document)", head="- 1\n"),
    Case("ws-malformed-yaml", ("tenant", "list", "-w", "{ws}"),
         {"ws/implkit.yaml": WS_HEAD + acme("    audit: {thresholds: {D03: 1}\n")},
         ("ws/implkit.yaml", (WS_HEAD + acme()).count("\n") + 2), ("implkit.yaml",)),  # the end: '}' never came
    ws_case("ws-yaml-bomb", billion_laughs(8, head=""), "*l4", "implkit.yaml", head="version: 1\n"),
    ws_case("ws-deep-nesting", "x: " + "[" * 5000 + "]" * 5000 + "\n", "x:", "implkit.yaml", head="version: 1\n"),
]

# --- 3. options ---------------------------------------------------------------------------------------------

ADD = ("tenant", "add", "newcomer", "--provider", "amocrm", "--url", "https://new.amocrm.ru", "--token-env", "X",
       "-w", "{ws}")


def option_case(id: str, argv: tuple[str, ...], *says: str, ru: bool = True) -> Case:
    return Case(id, argv, {}, None, says, ru)


OPTIONS = [
    *(option_case(f"rate-limit-{value}", (*ADD, "--rate-limit", value), "--rate-limit", value)
      for value in ("nan", "NaN", "inf", "-inf", "Infinity", "1e999", "0", "-0", "-1", "abc", "")),
    # an unknown tenant is named at implkit.yaml's `tenants:` (line 5 of what `init` writes), known ones listed
    Case("unknown-tenant", ("plan", "nobody", "-w", "{ws}"), {}, ("ws/implkit.yaml", 5), ("nobody", "acme")),
    Case("unknown-tenant-apply", ("apply", "nobody", "--yes", "-w", "{ws}"), {}, ("ws/implkit.yaml", 5),
         ("nobody", "acme")),
    Case("unknown-tenant-audit", ("audit", "nobody", "--workspace", "{ws}"), {}, ("ws/implkit.yaml", 5),
         ("nobody",)),
    option_case("plan-neither-tenant-nor-all", ("plan", "-w", "{ws}"), "TENANT", ru=False),
    option_case("plan-tenant-and-all", ("plan", "acme", "--all", "-w", "{ws}"), "--all", ru=False),
    option_case("apply-without-yes", ("apply", "acme", "-w", "{ws}"), "--yes"),
    option_case("apply-plan-and-blueprint", ("apply", "acme", "--plan", "{plan}", "-b", "{bp}", "--yes",
                                             "-w", "{ws}"), "-b", ru=False),
    option_case("plan-all-with-out", ("plan", "--all", "-o", "{dir}/x.json", "-w", "{ws}"), "-o", ru=False),
    option_case("unknown-option", ("plan", "acme", "--frobnicate", "-w", "{ws}"), "--frobnicate", ru=False),
    option_case("unknown-language", ("--lang", "de", "tenant", "list", "-w", "{ws}"), "--lang", ru=False),
    option_case("bad-fail-on", ("audit", "acme", "--fail-on", "never", "--workspace", "{ws}"), "--fail-on", ru=False),
    option_case("tenant-add-bad-name", ("tenant", "add", "Bad Name", *ADD[3:]), "Bad Name"),
    option_case("tenant-add-existing", ("tenant", "add", "acme", *ADD[3:]), "acme", "tenant remove acme"),
    option_case("tenant-add-two-token-sources", (*ADD, "--keyring"), "--token-env", "--keyring"),
    option_case("tenant-add-http-remote", ("tenant", "add", "x", "--provider", "amocrm", "--url",
                                           "http://crm.example.com", "--token-env", "X", "-w", "{ws}"),
                "http://", "crm.example.com"),
    option_case("tenant-add-webhook-url", ("tenant", "add", "x", "--provider", "bitrix24", "--url",
                                           "https://p.bitrix24.ru/rest/1/secretsecret", "--token-env", "X",
                                           "-w", "{ws}"), "Bitrix24", "https://PORTAL"),
    option_case("no-workspace", ("tenant", "list", "-w", "{dir}/nowhere"), "nowhere"),
    option_case("spec-bad-lang", ("spec", "render", "-b", "{bp}", "--lang", "de", "-o", "{dir}/s.md"), "'de'",
                ru=False),
]

# --- 5. saved plans -----------------------------------------------------------------------------------------


def plan_case(id: str, damage: Callable[[str], str | bytes], *says: str, line: int | None = None,
              ru: bool = True) -> Case:
    return Case(id, ("apply", "acme", "--plan", "{dir}/plan.json", "--yes", "-w", "{ws}"),
                {"plan.json": damage}, ("plan.json", line) if line else None, says, ru)  # type: ignore[dict-item]


def _edit(mutate: Callable[[dict], None]) -> Callable[[str], str]:
    def damage(text: str) -> str:
        data = json.loads(text)
        mutate(data)
        return json.dumps(data, ensure_ascii=False, indent=2)
    return damage


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda d: d.__setitem__(key, value)


PLANS = [
    plan_case("plan-truncated", lambda t: t[: len(t) // 2], "plan.json"),
    plan_case("plan-truncated-to-one-byte", lambda t: t[:1], "plan.json", line=1),
    plan_case("plan-empty", lambda t: "", "plan.json", line=1),
    plan_case("plan-edited-fingerprint", _edit(_set("fingerprint", "0" * 64)), "checksum"),
    plan_case("plan-edited-change", _edit(lambda d: d["changes"][0].__setitem__("name", "Чужое")), "checksum"),
    plan_case("plan-edited-blueprint", _edit(lambda d: d["desired"]["pipelines"][0].__setitem__("name", "X")),
              "checksum"),
    plan_case("plan-edited-account", _edit(_set("account_id", 1)), "checksum"),
    plan_case("plan-checksum-removed", _edit(lambda d: d.pop("checksum")), "checksum"),
    plan_case("plan-checksum-garbage", _edit(_set("checksum", "sha256:abc")), "checksum"),
    plan_case("plan-wrong-kind", _edit(_set("kind", "terraform-plan")), "kind"),
    plan_case("plan-no-kind", _edit(lambda d: d.pop("kind")), "kind"),
    plan_case("plan-wrong-version", _edit(_set("schema_version", 99)), "schema_version"),
    plan_case("plan-a-list", lambda t: "[1, 2, 3]", "plan.json", line=1),
    plan_case("plan-not-utf8", lambda t: b"\xff\xfe" + t.encode(), "plan.json"),
    plan_case("plan-trailing-garbage", lambda t: t + "}\n", "plan.json"),
    Case("plan-missing", ("apply", "acme", "--plan", "{dir}/none.json", "--yes", "-w", "{ws}"), {}, None,
         ("none.json",)),
]

# --- answers files and check files (they already failed cleanly; kept so they stay so) ---------------------


def answers_case(id: str, text: str, marker: str | None, *says: str, ru: bool = False) -> Case:
    return Case(id, ("blueprint", "compose", "--answers", "{dir}/answers.yaml", "-o", "{dir}/out.yaml"),
                {"answers.yaml": text}, ("answers.yaml", line_of(text, marker)) if marker else None, says, ru)


ANSWER_FILES = [
    answers_case("answers-malformed", ANSWERS.replace("sellers: 8", "sellers: [8"), "  has_head_of_sales",
                 "answers.yaml",
                 ru=True),
    answers_case("answers-unknown-question", ANSWERS + "  favourite_colour: red\n", "favourite_colour",
                 "favourite_colour"),
    answers_case("answers-wrong-type", ANSWERS.replace("sellers: 8", "sellers: many"), "  sellers:", "sellers",
                 ru=True),
    answers_case("answers-negative", ANSWERS.replace("sellers: 8", "sellers: -8"), "  sellers:", "sellers",
                 ru=True),
    answers_case("answers-bad-choice", ANSWERS.replace("industry: services", "industry: piracy"), "industry",
                 "industry"),
    answers_case("answers-unknown-top-key", ANSWERS + "extra: 1\n", "extra", "extra"),
    answers_case("answers-wrong-questionnaire", ANSWERS.replace("questionnaire: 1", "questionnaire: 7"),
                 "questionnaire", "questionnaire"),
    answers_case("answers-bomb", billion_laughs(8, head=""), "*l4", "answers.yaml", ru=True),
    answers_case("answers-deep", "x: " + "[" * 5000 + "]" * 5000 + "\n", "x:", "answers.yaml", ru=True),
    answers_case("answers-empty", "", None, "answers.yaml"),
    Case("answers-missing", ("blueprint", "compose", "--answers", "{dir}/none.yaml", "-o", "{dir}/out.yaml"), {},
         None, ("none.yaml",)),
]


def check_case(id: str, text: str, marker: str | None, *says: str, ru: bool = False) -> Case:
    return Case(id, ("audit", "--list", "--checks-dir", "{dir}/checks"), {"checks/D03.yaml": text},
                ("checks/D03.yaml", line_of(text, marker)) if marker else None, says, ru)


CHECK_FILES = [
    check_case("check-unknown-key", CHECK + "bogus: 1\n", "bogus", "bogus", ru=True),
    check_case("check-malformed", CHECK.replace("severity: warning", "severity: [warning"), "entity:", "D03.yaml"),
    check_case("check-bad-severity", CHECK.replace("severity: warning", "severity: fatal"), "severity", "severity",
               ru=True),
    check_case("check-bad-id", CHECK.replace("id: D03", "id: stale"), "id: stale", "id", ru=True),
    check_case("check-sql-does-not-compile", CHECK.replace("FROM leads l", "FROM nowhere l", 1),
               "sql:", "sql"),
    check_case("check-threshold-text", CHECK.replace("threshold: {max_count: 0}", "threshold: {max_count: lots}"),
               "threshold", "max_count", ru=True),
    # the YAML part in Russian; the check files' headline is the audit engine's
    check_case("check-bomb", billion_laughs(8, head=""), "*l4", "D03.yaml", "узлов"),
    check_case("check-deep", "x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "x:", "D03.yaml", "вложенность"),
    check_case("check-empty", "", None, "D03.yaml"),
]

CASES = [*DUPLICATE_NAMES, *REFERENCES, *SCHEMA, *SYNTAX, *BOMBS, *WORKSPACE, *OPTIONS, *PLANS, *ANSWER_FILES,
         *CHECK_FILES]


def test_the_suite_is_large_and_its_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 100


# --- the world --------------------------------------------------------------------------------------------


class World:
    """A sandbox on loopback with account acme, a workspace with tenant acme, a plan saved from it."""

    def __init__(self, root: Path, run_cli):
        from implkit.sandbox import Sandbox, serve_in_thread

        self.root = root
        self.sandbox = Sandbox(root / "sandbox.db", integration_rps=1000, account_rps=1000)
        self.sandbox.create_account("acme")
        self._serving = serve_in_thread(self.sandbox)
        self.url = self._serving.__enter__() + self.sandbox.base_url("acme")
        token = root / "acme.token"
        token.write_text(self.sandbox.token("acme") + "\n")
        token.chmod(0o600)
        (root / "bp.yaml").write_text(BASE, encoding="utf-8")
        self.ws = root / "ws"
        assert run_cli("init", self.ws).exit_code == 0
        added = run_cli("tenant", "add", "acme", "-w", self.ws, "--provider", "amocrm", "--url", self.url,
                        "--token-file", token, "--blueprint", root / "bp.yaml", "--rate-limit", "100")
        assert added.exit_code == 0, added.output
        self.plan = root / "plan.json"
        saved = run_cli("plan", "acme", "-w", self.ws, "-o", self.plan)
        assert saved.exit_code == 2, saved.output
        self.plan_text = self.plan.read_text(encoding="utf-8")

    def requests(self) -> int:
        return len(self.sandbox.request_log("acme"))

    def close(self) -> None:
        self._serving.__exit__(None, None, None)
        self.sandbox.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from click.testing import CliRunner

    from implkit.cli import cli

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    w = World(tmp_path_factory.mktemp("world"), run)
    yield w
    w.close()


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _prepare(case: Case, world: World, folder: Path) -> tuple[list[str], Path]:
    ws = folder / "ws"
    shutil.copytree(world.ws, ws)
    (folder / "plan.json").write_text(world.plan_text, encoding="utf-8")
    names = {"dir": str(folder), "ws": str(ws), "url": world.url, "plan": str(folder / "plan.json"),
             "bp": str(world.root / "bp.yaml")}
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content = content(world.plan_text)
        if isinstance(content, str):
            if name.startswith("ws/"):
                content = content.replace("{url}", world.url).replace("{token}", str(world.root / "acme.token"))
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return [arg.format(**names) for arg in case.argv], ws


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_its_location_and_nothing_written(case, world, tmp_path, monkeypatch, run_cli):
    import implkit.yamlio as yamlio

    for cap, value in case.caps.items():
        monkeypatch.setattr(yamlio, cap, value)
    argv, ws = _prepare(case, world, tmp_path)
    before, sent = _files(tmp_path), world.requests()
    monkeypatch.delenv("IMPLKIT_LANG")  # the default language: Russian
    runs = {"ru": run_cli(*argv)}
    if case.ru:
        runs["en"] = run_cli("--lang", "en", *argv)
    for lang, result in runs.items():
        output = result.output
        assert result.exit_code == 3, f"[{lang}] exit {result.exit_code}:\n{output}"
        assert "Traceback" not in output and "internal error" not in output, output
        if case.at:
            file, line = case.at
            where = re.escape(f"{tmp_path / file}:{line}:") + r"\d+"
            assert re.search(where, output), f"[{lang}] expected {tmp_path / file}:{line}:COL in:\n{output}"
        for needle in case.says:
            assert needle.format(dir=tmp_path) in output, f"[{lang}] expected {needle!r} in:\n{output}"
        assert _files(tmp_path) == before, f"[{lang}] a file was written or changed"
        assert world.requests() == sent, f"[{lang}] a request reached the tenant"
    if case.ru:
        told = runs["ru"].output.replace(str(tmp_path), "")
        assert told.startswith("ошибка:"), told
        assert not RAW_ENGLISH.search(told), f"English reached a Russian reader:\n{told}"
        assert runs["en"].output.startswith("error:")
