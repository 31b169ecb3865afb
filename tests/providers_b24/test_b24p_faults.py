"""Faults on a Bitrix24 portal: lost answers, refused requests and a killed run never duplicate anything."""

from __future__ import annotations

from collections import Counter

import pytest
from b24p_rig import manual, preset

from implkit.plan.changes import CREATING_PREFIX
from implkit.plan.run import apply_blueprint, make_plan
from implkit.providers.base import STAGE_NORMAL


def live_of(portal):
    provider = portal.provider()
    try:
        return provider.read_config()
    finally:
        provider.close()


def assert_no_duplicates(portal, bp):
    live = live_of(portal)
    names = Counter(p.name for p in live.pipelines)
    assert all(n == 1 for n in names.values()), names
    for p in live.pipelines:
        stage_names = Counter(s.name for s in p.stages)
        assert all(n == 1 for n in stage_names.values()), (p.name, stage_names)
    fields = Counter((f.entity, f.name) for f in live.fields)
    assert all(n == 1 for n in fields.values()), fields
    for bp_pipeline in bp.pipelines:
        assert names[bp_pipeline.name] == 1
    # no stray stage: every managed pipeline holds exactly the blueprint's stages, in its order
    by_name = {p.name: [s.name for s in p.stages if s.kind == STAGE_NORMAL] for p in live.pipelines}
    for bp_pipeline in bp.pipelines:
        assert by_name[bp_pipeline.name] == [s.name for s in bp_pipeline.stages], bp_pipeline.name


def converge(portal, bp, provider):
    try:
        return apply_blueprint(provider, bp, portal.state, tenant="acme", manual=manual(bp))[1]
    finally:
        provider.close()


@pytest.mark.parametrize("lost_request", [2, 3, 4, 5])
def test_a_lost_answer_after_the_write_is_reconciled_without_duplicates(portal, lossy, lost_request):
    bp = preset("b2b-services")
    transport = lossy(portal.transport, lambda n, request: n == lost_request)
    result = converge(portal, bp, portal.provider(transport=transport))
    # requests 2, 4, 5 write (pipelines, their stages, fields): re-read and reconciled; 3 only reads: retried
    assert result.reconciliations == (0 if lost_request == 3 else 1)
    assert_no_duplicates(portal, bp)
    provider = portal.provider()
    assert make_plan(provider, bp, portal.state, tenant="acme", manual=manual(bp)).changes == ()
    provider.close()


def test_refused_and_failed_requests_converge(portal):
    bp = preset("retail")
    portal.sandbox.bitrix24.runtime("acme")  # the portal's runtime exists before faults are set
    from implkit.sandbox.bitrix24 import operations

    operations.set_faults(portal.gateway, "acme", "5xx=0.15,drop=0.05", seed=7)
    result = converge(portal, bp, portal.provider(max_retries=8, backoff=0.001, max_backoff=0.002))
    operations.set_faults(portal.gateway, "acme", None)
    statuses = Counter(r["status"] for r in portal.log())
    assert statuses[500] + statuses[503] + statuses[0] > 0  # faults did happen
    assert result.reconciliations >= 0
    assert_no_duplicates(portal, bp)
    provider = portal.provider()
    assert make_plan(provider, bp, portal.state, tenant="acme", manual=manual(bp)).changes == ()
    provider.close()


class Killed(BaseException):
    """kill -9 in the middle of a request: nothing after it runs."""


@pytest.mark.parametrize("kill_at", [2, 3, 4, 5])
def test_a_killed_apply_is_finished_by_the_next_run(portal, kill_at):
    import httpx

    bp = preset("manufacturer")

    class KillAfter(httpx.BaseTransport):
        def __init__(self, inner):
            self.inner, self.seen = inner, 0

        def handle_request(self, request):
            self.seen += 1
            response = self.inner.handle_request(request)  # the portal did the work...
            if self.seen == kill_at:
                raise Killed()  # ...and the process died before reading the answer
            return response

    with pytest.raises(Killed):
        converge(portal, bp, portal.provider(transport=KillAfter(portal.transport)))
    recorded_before = dict(portal.state.get_ids())
    result = converge(portal, bp, portal.provider())
    assert_no_duplicates(portal, bp)
    ids = portal.state.get_ids()
    assert all(ids[a] == r for a, r in recorded_before.items()
               if not a.startswith(CREATING_PREFIX))  # what was recorded stays valid
    assert not [a for a in ids if a.startswith(CREATING_PREFIX)]  # the interrupted creation was finished
    provider = portal.provider()
    assert make_plan(provider, bp, portal.state, tenant="acme", manual=manual(bp)).changes == ()
    provider.close()
    assert result.created + result.updated + len(recorded_before) > 0
