"""One source of truth for the company facts the spec prints, with where each value came from.

The rule (stated in the spec itself, section 2):

- The client's questionnaire answers override the blueprint's company facts:
  the company name, the number of sellers (and so the matrix group), the
  monthly revenue plan, the average check, the working days and the lead
  channels. Every section reads these facts from here, never from the
  blueprint directly, so the title, the sizing and the decomposition cannot
  disagree.
- Where the answers and the blueprint disagree, the difference is a
  `Conflict`: the CLI prints it on stderr and the spec lists it.
- A blueprint feature that the answers' group would add (★★ or more, not in
  the blueprint) or drop (in the blueprint, under ★★) is a `FeatureDifference`
  with the matrix's reason. Nothing is attributed to the client that the
  client did not say: "deferred by the client" only for features the client
  listed in `deferred_features`.
- A value nobody gave (a preset's typical figures, the questionnaire's default
  working days, funnel conversions that were not measured) is an assumption:
  `Value.assumed` is true and the spec lists it in one table to confirm.

Pure data: no language here beyond the source codes; the templates word them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from implkit.model import Blueprint, thaw
from implkit.sizing import Assessment

# Where a value came from. "client": an answer the client gave; "blueprint": the
# integrator's configuration; "preset": a preset's typical value; "default": the
# questionnaire's default for an unanswered question; "measured": an audit snapshot.
SOURCES = ("client", "blueprint", "preset", "default", "measured")
DEFAULT_WORKING_DAYS = 21  # the questionnaire's default (blueprints/questionnaire.yaml, working_days)

# Lead channels as the questionnaire names them, and the blueprint integrations that carry them.
MESSENGER_CHANNELS = ("whatsapp", "telegram", "vk", "instagram", "avito")
CHANNEL_KINDS = {"website_forms": "web_form", "phone": "telephony", "email": "email"}


@dataclass(frozen=True)
class Value:
    value: Any
    source: str
    assumed: bool = False

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Conflict:
    key: str  # company | sellers | group | revenue_month | avg_check | working_days | channels
    blueprint: Any
    client: Any


@dataclass(frozen=True)
class FeatureDifference:
    key: str
    change: str  # "add": the answers' group recommends it, the blueprint lacks it; "drop": the reverse
    stars: int | None
    reasons: tuple[Any, ...]  # sizing.Reason


@dataclass(frozen=True)
class Facts:
    company: Value
    sellers: Value
    group: Value
    revenue_month: Value
    avg_check: Value
    working_days: Value
    sales_cycle_days: Value
    channels: Value  # a tuple of questionnaire channel values
    from_answers: bool
    preset: str | None
    conflicts: tuple[Conflict, ...] = ()
    feature_differences: tuple[FeatureDifference, ...] = ()
    deferred: frozenset[str] = field(default_factory=frozenset)  # features the client chose to defer
    conversions_source: str = "blueprint"
    one_c: str = "none"  # the direction of the exchange with 1C the client named
    measured: Any = None  # implkit.spec.measured.Measured, from `spec render --measured-from`

    def assumptions(self) -> list[tuple[str, Value]]:
        """(key, value) of every assumed company fact, in the order the spec lists them."""
        keys = ("company", "sellers", "revenue_month", "avg_check", "working_days")
        return [(k, getattr(self, k)) for k in keys if getattr(self, k).assumed and getattr(self, k).known]


def blueprint_channels(blueprint: Blueprint) -> tuple[str, ...]:
    """The lead channels a blueprint's integrations carry, as questionnaire channel values."""
    channels: list[str] = []
    for integration in blueprint.integrations:
        if integration.kind == "messenger":
            key = integration.key if integration.key in MESSENGER_CHANNELS else integration.name.lower()
            if key in MESSENGER_CHANNELS:
                channels.append(key)
        elif integration.kind == "web_form":
            channels.append("website_forms")
        elif integration.kind == "telephony":
            channels.append("phone")
        elif integration.kind == "email":
            channels.append("email")
    return tuple(dict.fromkeys(channels))


def resolve(blueprint: Blueprint, assessment: Assessment | None, answers: dict[str, Any] | None,
            answered: frozenset[str] | None = None, measured: Any = None) -> Facts:
    """The company facts of the spec: the answers over the blueprint, each with its source.

    `answered` is the set of question ids the answers file states explicitly
    (an optional question left out takes its default, which is an assumption).
    """
    plain = thaw(blueprint.analytics) if blueprint.analytics else {}
    plan = dict(plain.get("plan") or {})
    preset = dict(blueprint.extra_metadata).get("preset")
    bp_source = "preset" if preset else "blueprint"
    bp_assumed = bool(preset)
    answers = answers or {}
    if answered is None:
        answered = frozenset(k for k, v in answers.items() if v is not None)
    conflicts: list[Conflict] = []

    def pick(key: str, answer_id: str, bp_value: Any, *, default: Any = None) -> Value:
        if answer_id in answered and answers.get(answer_id) is not None:
            client = answers[answer_id]
            if bp_value not in (None, "") and bp_value != client:
                conflicts.append(Conflict(key, bp_value, client))
            return Value(client, "client")
        if bp_value not in (None, ""):
            return Value(bp_value, bp_source, bp_assumed)
        if default is not None:
            return Value(default, "default", True)
        return Value(None, "blueprint")

    company = pick("company", "company_name", blueprint.company or None)
    sellers = pick("sellers", "sellers", blueprint.sellers)
    if assessment is not None and sellers.source == "client":
        group = Value(assessment.group, "client")
        if blueprint.group and blueprint.group != assessment.group:
            conflicts.append(Conflict("group", blueprint.group, assessment.group))
    else:
        group = Value(assessment.group if assessment else blueprint.group, sellers.source if sellers.known
                      else bp_source, sellers.assumed)
    revenue = pick("revenue_month", "revenue_plan_month", plan.get("revenue_month"))
    check = pick("avg_check", "average_check", plan.get("avg_check"))
    if measured is not None and measured.avg_check is not None and check.source != "client":
        check = Value(measured.avg_check, "measured")  # measured beats a typical value, never the client's
    has_plan = revenue.known and check.known
    working_days = pick("working_days", "working_days", plan.get("working_days"),
                        default=DEFAULT_WORKING_DAYS if has_plan else None)
    cycle = pick("sales_cycle_days", "sales_cycle_days", None)
    if measured is not None and measured.cycle_days is not None and cycle.source != "client":
        cycle = Value(measured.cycle_days, "measured")

    bp_channels = blueprint_channels(blueprint)
    if "lead_channels" in answered and answers.get("lead_channels"):
        client_channels = tuple(answers["lead_channels"])
        if bp_channels and set(bp_channels) != set(client_channels):
            conflicts.append(Conflict("channels", bp_channels, client_channels))
        channels = Value(client_channels, "client")
    else:
        channels = Value(bp_channels, bp_source, bp_assumed)

    differences: list[FeatureDifference] = []
    from_answers = bool(answered)
    if assessment is not None and from_answers:
        in_blueprint = set(blueprint.features)
        for feature in assessment.features:
            recommended = (feature.stars or 0) >= 2
            if recommended and feature.key not in in_blueprint:
                differences.append(FeatureDifference(feature.key, "add", feature.stars, feature.reasons))
            elif not recommended and feature.key in in_blueprint and feature.key != "base":
                differences.append(FeatureDifference(feature.key, "drop", feature.stars, feature.reasons))

    return Facts(company=company, sellers=sellers, group=group, revenue_month=revenue, avg_check=check,
                 working_days=working_days, sales_cycle_days=cycle, channels=channels,
                 from_answers=from_answers, preset=preset, conflicts=tuple(conflicts),
                 feature_differences=tuple(differences),
                 deferred=frozenset(answers.get("deferred_features") or ()),
                 conversions_source=bp_source,
                 one_c=str(answers.get("one_c") or "none"), measured=measured)
