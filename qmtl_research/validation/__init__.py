"""Model-risk-management layer, compatible with QMTL's world validation.

metrics (blocks from returns) -> policy (QMTL format, pydantic) -> core (QMTL's five core rules
and selection, as QMTL's policy engine computes them) + rules (extended layers, research rules)
-> engine (batch verdicts; ``qmtl_compat=True`` reproduces QMTL's engine exactly) -> health
(QMTL's validation_health of a batch), diff (two policies on the same runs), evidence and
assessment (the validation stage's verdict). What happens to a verdict afterwards (run
lifecycle, overrides, approvals, events, monitoring, findings) is :mod:`qmtl_research.governance`.

The names below are loaded on first use (PEP 562), so importing one submodule
(``qmtl_research.validation.compat`` for the CLI's help text, say) does not load the
engine and its pandas/scipy/sklearn stack.
"""
from __future__ import annotations

import importlib
from typing import Any

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
    "RuleResult": "rules",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
