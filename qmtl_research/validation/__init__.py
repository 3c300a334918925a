"""Model-risk-management layer, compatible with QMTL's world validation.

metrics (blocks from returns) -> policy (QMTL format, pydantic; each section the config of one
rule) -> rules (the one Rule protocol) with core_rules (QMTL's five core rules, reading core's
threshold and selection pass), extended_rules (QMTL's extended layers) and research_rules
(this project's research_model_rules), assembled by registry (the only list of rule names)
-> engine (batch verdicts; ``qmtl_compat=True`` reproduces QMTL's engine exactly) -> health
(QMTL's validation_health of a batch), diff (two policies on the same runs), evidence and
assessment (the validation stage's verdict). What happens to a verdict afterwards (run
lifecycle, overrides, approvals, events, monitoring, findings) is :mod:`qmtl_research.governance`.

The names below are loaded on first use (PEP 562), so importing one submodule
(``qmtl_research.validation.compat`` for the CLI's help text, say) does not load the
engine and its pandas/scipy/sklearn stack.
"""
from __future__ import annotations

from qmtl_research.lazy import lazy_exports

#: public name -> the submodule that is its home
_HOMES = {
    "COMPAT_NOTE": "compat",
    "RunOutcome": "engine", "evaluate_batch": "engine", "outcomes_frame": "engine", "recommended_stage": "engine",
    "rules_frame": "engine", "summary_status": "engine",
    "CORE_PATHS": "metrics", "SHARPE_CONVENTION": "metrics", "V15_PATHS": "metrics",
    "compute_metric_blocks": "metrics", "get_metric": "metrics", "metric_coverage_ratio": "metrics",
    "CORE_RULES": "policy", "Policy": "policy", "load_policy": "policy", "policy_of_world": "policy",
    "qmtl_ruleset_hash": "policy", "ruleset_hash": "policy",
    "RunRecord": "qmtl_runs", "load_runs": "qmtl_runs", "parse_runs": "qmtl_runs",
    "Rule": "rules", "RuleBase": "rules", "RuleContext": "rules", "RuleResult": "rules",
    "build_rules": "registry", "register_rule": "registry", "registered_rules": "registry",
    "unregister_rule": "registry",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
