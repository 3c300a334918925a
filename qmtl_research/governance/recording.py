"""Recording the validation stage: the ``validation`` results section of an assessment
(:mod:`qmtl_research.validation.assessment` judges; this module adds what the store knows: the
run's overrides and the policy's stability) and the run's freeze (``evaluate_run``), with the
``validation_profile_changed`` event of the policy it was judged under.

Governance, not validation: it reads override revisions and writes events and the run lifecycle.
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.governance.events import sync_policy
from qmtl_research.governance.overrides import overrides_frame
from qmtl_research.results import ValidationResults
from qmtl_research.validation.assessment import Assessment
from qmtl_research.validation.health import policy_stability


def assessment_results(ctx, a: Assessment) -> ValidationResults:
    """The section ``validation`` of the results contract for the assessment ``a``."""
    health = a.health()
    if ctx.recording:
        health["validation_policy_age_days"], health["ruleset_change_count_last_90d"] = \
            policy_stability(ctx.store, ctx.world_id, a.stage)
        ov = overrides_frame(ctx.store, ctx.world_id, ctx.strategy_id)
        ov = ov[ov["run_id"] == ctx.run_id].reset_index(drop=True)
    else:
        ov = pd.DataFrame(columns=["run_id"])
    return ValidationResults(rules=a.rules, thresholds=a.thresholds(), summary=a.summary(), metrics=a.metrics,
                             health=health, benchmark_comparison=a.benchmark_comparison(), extended=a.extended(),
                             overrides=ov, verdicts=a.verdicts)


def record_assessment(ctx, a: Assessment) -> ValidationResults:
    """Record section "validation" for the run and evaluate (freeze) it. No-op in exploration mode."""
    if ctx.recording:
        sync_policy(ctx.store, ctx.world, a.policy)
    res = assessment_results(ctx, a).record(ctx)
    if ctx.recording:
        ctx.store.evaluate_run(ctx.key, metrics=a.metrics, validation=a.validation_payload(), summary=a.summary(),
                               policy_version=a.policy_version, ruleset_hash=a.ruleset_hash)
    return res
