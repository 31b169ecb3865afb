"""Plan decomposition: the worked example of domain.md §2.3, checked by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from implkit.decomposition import (
    DecompositionError, FunnelStep, ceil_div, decompose, from_analytics, needed_before,
)

# Lead → qualified 60%, qualified → meeting 50%, meeting → КП 70%, КП → sale 40%.
FUNNEL = (
    FunnelStep("lead", "Лид", Decimal("0.6")),
    FunnelStep("qualified", "Квалифицирован", Decimal("0.5")),
    FunnelStep("meeting", "Встреча", Decimal("0.7")),
    FunnelStep("proposal", "КП отправлено", Decimal("0.4")),
)


def test_worked_example_rounds_up_at_every_step():
    result = decompose(800_000, 40_000, FUNNEL, sellers=4, working_days=21)
    needed = {s.key: s.needed for s in result.steps}
    # 800 000 / 40 000 = 20; ceil(20/0.4) = 50; ceil(50/0.7) = ceil(71.43) = 72; 72/0.5 = 144; 144/0.6 = 240.
    assert needed == {"proposal": 50, "meeting": 72, "qualified": 144, "lead": 240, "sale": 20}
    assert result.sales == 20
    assert [s.key for s in result.steps] == ["lead", "qualified", "meeting", "proposal", "sale"]
    assert [s.per_seller for s in result.steps] == [60, 36, 18, 13, 5]
    assert [s.per_day for s in result.steps] == [3, 2, 1, 1, 1]
    assert result.steps[-1].is_sale and result.steps[-1].conversion is None


def test_rounding_once_at_the_end_would_give_fewer_leads():
    result = decompose(800_000, 40_000, FUNNEL)
    once = math.ceil(Decimal(20) / result.overall_conversion)
    assert once == 239
    assert result.steps[0].needed == 240 != once


def test_exact_arithmetic_21_at_70_percent_is_30():
    assert math.ceil(21 / 0.7) == 31  # the float trap this module avoids
    assert needed_before(21, Decimal("0.7")) == 30
    # floats from YAML go through their decimal repr, so 0.7 stays 0.7
    result = decompose(21, 1, [FunnelStep("a", "A", Decimal(repr(0.7)))])
    assert result.steps[0].needed == 30
    assert from_analytics({"plan": {"revenue_month": 21, "avg_check": 1},
                           "funnel": [{"key": "a", "name": "A", "conversion": 0.7}]}).steps[0].needed == 30


def test_sales_round_up_and_per_seller_absent_without_sellers():
    result = decompose(800_001, 40_000, ())
    assert result.sales == 21
    assert result.steps[0].per_seller is None and result.steps[0].per_day is None
    assert decompose(100, 10, (), sellers=3).steps[0].per_day is None  # no working days
    assert ceil_div(7, 7) == 1 and ceil_div(8, 7) == 2


def test_from_analytics_without_plan_is_none():
    assert from_analytics({}) is None
    assert from_analytics({"kpi": []}) is None


@pytest.mark.parametrize(("analytics", "key"), [
    ({"plan": {"revenue_month": 100, "avg_check": 0}}, "analytics.plan.avg_check"),
    ({"plan": {"revenue_month": -1, "avg_check": 10}}, "analytics.plan.revenue_month"),
    ({"plan": {"revenue_month": "lots", "avg_check": 10}}, "analytics.plan.revenue_month"),
    ({"plan": {"revenue_month": 100, "avg_check": 10, "working_days": 0}}, "analytics.plan.working_days"),
    ({"plan": {"revenue_month": 100, "avg_check": 10},
      "funnel": [{"key": "a", "name": "A", "conversion": 0.5}, {"key": "b", "name": "B", "conversion": 40}]},
     "analytics.funnel[1].conversion"),
    ({"plan": {"revenue_month": 100, "avg_check": 10}, "funnel": [{"key": "a", "name": "A", "conversion": 0}]},
     "analytics.funnel[0].conversion"),
    ({"plan": {"revenue_month": 100, "avg_check": 10}, "funnel": [{"key": "a", "name": "A"}]},
     "analytics.funnel[0].conversion"),
])
def test_bad_inputs_name_their_key(analytics, key):
    with pytest.raises(DecompositionError) as info:
        from_analytics(analytics, sellers=2)
    assert info.value.key == key
    assert str(info.value).startswith(key + ": ")


def test_bad_sellers():
    with pytest.raises(DecompositionError, match="sellers"):
        decompose(100, 10, (), sellers=0)
