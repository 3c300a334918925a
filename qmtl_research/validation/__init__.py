"""Model-risk-management layer, compatible with QMTL's world validation.

metrics (blocks from returns) -> policy (QMTL format, pydantic) -> core (QMTL's five core rules
and selection, as QMTL's policy engine computes them) + rules (extended layers, research rules)
-> engine (batch verdicts; ``qmtl_compat=True`` reproduces QMTL's engine exactly) -> runs
(EvaluationRun lifecycle in the store) -> overrides, events, monitoring, health, diff, invariants.
"""
from qmtl_research.validation.engine import (COMPAT_NOTE, RunOutcome, evaluate_batch, outcomes_frame,
                                             recommended_stage, rules_frame, summary_status)
from qmtl_research.validation.metrics import (CORE_PATHS, SHARPE_CONVENTION, V15_PATHS, compute_metric_blocks,
                                              get_metric, metric_coverage_ratio)
from qmtl_research.validation.policy import (CORE_RULES, Policy, load_policy, policy_of_world, qmtl_ruleset_hash,
                                             ruleset_hash)
from qmtl_research.validation.qmtl_runs import RunRecord, load_runs, parse_runs
from qmtl_research.validation.rules import RuleResult

__all__ = ["COMPAT_NOTE", "CORE_PATHS", "CORE_RULES", "Policy", "RuleResult", "RunOutcome", "RunRecord",
           "SHARPE_CONVENTION", "V15_PATHS", "compute_metric_blocks", "evaluate_batch", "get_metric", "load_policy",
           "load_runs", "metric_coverage_ratio", "outcomes_frame", "parse_runs", "policy_of_world",
           "qmtl_ruleset_hash", "recommended_stage", "rules_frame", "ruleset_hash", "summary_status"]
