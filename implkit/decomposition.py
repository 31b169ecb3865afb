"""Sales-plan decomposition («декомпозиция плана»): from a monthly revenue plan
back up the funnel to the leads needed, then per seller and per working day.

The method (domain.md §2.3), walking backwards from the result:

    sales         = ceil(revenue_month / avg_check)
    step[k-1]     = ceil(step[k] / conversion(k-1 → k))
    per_seller[k] = ceil(step[k] / sellers)
    per_day[k]    = ceil(per_seller[k] / working_days)

Two rules matter and are the reason this module exists:

- Round up at every step, not once at the end: 20 sales through 40%, 70%,
  50%, 60% need 240 leads stepwise, while 20 / (0.6·0.5·0.7·0.4) = 238.1 → 239.
- Exact arithmetic: in floats 21 / 0.7 = 30.000000000000004, and ceil gives
  31. Every number here is a `Decimal` built from its decimal text (a float
  goes through `repr`, so 0.7 becomes Decimal("0.7"), not its binary value),
  and 21 @ 70% is exactly 30.

Pure: no I/O, no language, no CRM. The spec and the audit both call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

# Enough digits that no division in a realistic plan is rounded before ceil.
_CONTEXT = Context(prec=60)


class DecompositionError(ValueError):
    """An input that cannot be decomposed; `key` names it (e.g. "funnel[2].conversion")."""

    def __init__(self, key: str, reason: str):
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


@dataclass(frozen=True)
class FunnelStep:
    """One step before the sale. `conversion` is the share of it that reaches the next step."""

    key: str
    name: str
    conversion: Decimal


@dataclass(frozen=True)
class StepTarget:
    """How many of a step the plan needs: in the month, per seller, per working day."""

    key: str
    name: str
    conversion: Decimal | None  # to the next step; None for the sale itself
    needed: int
    per_seller: int | None  # None when the number of sellers is unknown
    per_day: int | None  # None when sellers or working days are unknown

    @property
    def is_sale(self) -> bool:
        return self.conversion is None


@dataclass(frozen=True)
class Decomposition:
    revenue_month: Decimal
    avg_check: Decimal
    sellers: int | None
    working_days: int | None
    steps: tuple[StepTarget, ...]  # funnel order: first step … last step, then the sale

    @property
    def sales(self) -> int:
        return self.steps[-1].needed

    @property
    def overall_conversion(self) -> Decimal:
        """Sales per first-step entry, exactly (the product of the step conversions)."""
        result = Decimal(1)
        for step in self.steps[:-1]:
            result = _CONTEXT.multiply(result, step.conversion)
        return result


def to_decimal(value: Any, key: str) -> Decimal:
    """A number from YAML or the command line as an exact Decimal (floats via their shortest repr)."""
    if isinstance(value, bool):
        raise DecompositionError(key, f"expected a number, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, (int, str, Decimal)):
        try:
            number = Decimal(value) if not isinstance(value, str) else Decimal(value.strip())
        except InvalidOperation:
            raise DecompositionError(key, f"expected a number, got {value!r}") from None
        if number.is_finite():
            return number
    raise DecompositionError(key, f"expected a number, got {value!r}")


def ceil_div(numerator: Decimal | int, denominator: Decimal | int) -> int:
    """ceil(numerator / denominator), exactly."""
    quotient = _CONTEXT.divide(Decimal(numerator), Decimal(denominator))
    return int(quotient.to_integral_value(rounding=ROUND_CEILING))


def needed_before(next_count: int, conversion: Decimal) -> int:
    """How many must enter a step so that `next_count` reach the next one at `conversion`."""
    return ceil_div(next_count, conversion)


def decompose(
    revenue_month: Any,
    avg_check: Any,
    funnel: Iterable[FunnelStep],
    *,
    sellers: int | None = None,
    working_days: int | None = None,
    sale_key: str = "sale",
    sale_name: str = "",
) -> Decomposition:
    """Decompose a monthly revenue plan over `funnel` (ordered first step → last step before the sale)."""
    revenue = to_decimal(revenue_month, "revenue_month")
    check = to_decimal(avg_check, "avg_check")
    if revenue < 0:
        raise DecompositionError("revenue_month", "must not be negative")
    if check <= 0:
        raise DecompositionError("avg_check", "must be greater than 0")
    _check_positive_int(sellers, "sellers")
    _check_positive_int(working_days, "working_days")
    funnel = tuple(funnel)
    for index, step in enumerate(funnel):
        if not (0 < step.conversion <= 1):
            raise DecompositionError(f"funnel[{index}].conversion",
                                     f"must be a share above 0 and at most 1, got {step.conversion}")

    # Walk backwards from the sale; round up at every step.
    counts = [ceil_div(revenue, check)]
    for step in reversed(funnel):
        counts.append(needed_before(counts[-1], step.conversion))
    counts.reverse()  # now in funnel order, the sale last

    rows = [(s.key, s.name, s.conversion) for s in funnel] + [(sale_key, sale_name, None)]
    steps = tuple(
        StepTarget(key, name, conversion, needed, *_per_seller_and_day(needed, sellers, working_days))
        for (key, name, conversion), needed in zip(rows, counts)
    )
    return Decomposition(revenue, check, sellers, working_days, steps)


def from_analytics(analytics: Mapping[str, Any], *, sellers: int | None = None,
                   sale_key: str = "sale", sale_name: str = "") -> Decomposition | None:
    """Decompose a blueprint's `analytics` section (`plan` + `funnel`); None when it has no plan.

    Errors name the key inside the section, e.g. "analytics.funnel[1].conversion".
    """
    plan = analytics.get("plan")
    if not plan:
        return None
    try:
        funnel = tuple(
            FunnelStep(str(step.get("key", "")), str(step.get("name", "")),
                       to_decimal(step.get("conversion"), f"funnel[{index}].conversion"))
            for index, step in enumerate(analytics.get("funnel") or ())
        )
        return decompose(plan.get("revenue_month"), plan.get("avg_check"), funnel, sellers=sellers,
                         working_days=plan.get("working_days"), sale_key=sale_key, sale_name=sale_name)
    except DecompositionError as exc:
        prefix = "analytics." if exc.key.startswith("funnel") else "analytics.plan."
        raise DecompositionError(prefix + exc.key, exc.reason) from None


def _check_positive_int(value: Any, key: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DecompositionError(key, f"must be a whole number of at least 1, got {value!r}")


def _per_seller_and_day(needed: int, sellers: int | None, working_days: int | None) -> tuple[int | None, int | None]:
    if not sellers:
        return None, None
    per_seller = ceil_div(needed, sellers)
    return per_seller, (ceil_div(per_seller, working_days) if working_days else None)
