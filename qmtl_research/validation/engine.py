"""The validation engine: a batch of runs + a policy + a stage -> one outcome per run.

Order (QMTL's policy engine, ``evaluate_policy``, driven as its ``scripts/policy_diff.py`` does):

1. the profile for the stage and the ruleset hash;
2. the batch pass (:func:`~qmtl_research.validation.core.core_batch`): every threshold on every
   run, then selection (``selected``);
3. every rule the policy configures, assembled from the rule registry
   (:func:`~qmtl_research.validation.registry.build_rules`), each a
   :class:`~qmtl_research.validation.rules.Rule`: QMTL's five core rules ``data_currency``,
   ``sample``, ``performance``, ``risk_constraint``, ``robustness`` always, in this order; the
   extended layers and this project's ``research_model_rules``; ``cohort`` (over the batch)
   last. A rule that raises becomes a RuleResult with reason ``rule_error`` and status
   ``validation.on_error``;
4. the summary status (:func:`summary_status`) and the recommended stage
   (:func:`recommended_stage`).

Two modes:

* ``qmtl_compat=True`` (``validate --qmtl-compat``) reproduces QMTL's engine: QMTL's profile
  choice, QMTL's metric view and profile keys only, no research rules, summary status as
  QMTL's policy_diff reads it, ``recommended_stage`` from the stage alone, ``ruleset_hash``
  QMTL's (``blake3:blake3:<hex>``).
* default: the same five core rules with the same statuses on a QMTL-format policy, plus this
  project's extension keys and research rules; ``recommended_stage`` reflects the outcome
  (QMTL's design) and ``ruleset_hash`` is this project's (``sha256:``, whole policy). The QMTL
  values are kept alongside (``qmtl_recommended_stage``, ``qmtl_ruleset_hash``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import pandas as pd

from qmtl_research.validation.core import core_batch
from qmtl_research.validation.policy import (CORE_RULES, STAGE_LABELS, STAGES, Policy, check_stage, qmtl_ruleset_hash,
                                             ruleset_hash)
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.validation.registry import build_rules
from qmtl_research.validation.rules import RuleContext, RuleResult


@dataclass
class RunOutcome:
    """The verdict on one run.

    ``ruleset_hash`` / ``recommended_stage`` are QMTL's under ``qmtl_compat`` and this project's
    otherwise; ``qmtl_ruleset_hash`` / ``qmtl_recommended_stage`` are always QMTL's."""

    run: RunRecord
    stage: str
    profile: str
    policy_version: str | None
    ruleset_hash: str
    results: dict[str, RuleResult]
    status: str
    recommended_stage: str
    selected: bool
    rules_configured: int
    rules_executed: int
    errors: list[str] = field(default_factory=list)
    qmtl_compat: bool = False
    qmtl_ruleset_hash: str | None = None
    qmtl_recommended_stage: str | None = None

    @property
    def rules_executed_ratio(self) -> float:
        """Share of the rules that ran without ``rule_error`` (1.0 without rules)."""
        return self.rules_executed / self.rules_configured if self.rules_configured else 1.0

    def failing(self) -> list[str]:
        """Names of the rules that fail."""
        return [n for n, r in self.results.items() if r.status == "fail"]

    def to_json(self, details: bool = False) -> dict[str, Any]:
        """The run's verdict as QMTL reports it: identity, stage, profile, policy_version,
        ruleset_hash, status, recommended_stage, selected and {rule: status, severity, owner,
        reason_code}; by default (not compat) also ``qmtl_recommended_stage`` and
        ``qmtl_ruleset_hash``. ``details`` adds reason, tags and details to each rule."""
        rr = {}
        for name, r in self.results.items():
            d = {"status": r.status, "severity": r.severity, "owner": r.owner, "reason_code": r.reason_code}
            if details:
                d.update(reason=r.reason, tags=r.tags, details=r.details)
            rr[name] = d
        out = {"world_id": self.run.world_id, "strategy_id": self.run.strategy_id, "run_id": self.run.run_id,
               "stage": self.stage, "profile": self.profile, "policy_version": self.policy_version,
               "ruleset_hash": self.ruleset_hash, "status": self.status,
               "recommended_stage": self.recommended_stage, "selected": self.selected, "rule_results": rr}
        if not self.qmtl_compat:
            out["qmtl_recommended_stage"] = self.qmtl_recommended_stage
            out["qmtl_ruleset_hash"] = self.qmtl_ruleset_hash
        return out

    def validation_payload(self) -> dict[str, Any]:
        """The ``validation`` field of a stored EvaluationRun."""
        return {"policy_version": self.policy_version, "ruleset_hash": self.ruleset_hash, "profile": self.profile,
                "stage": self.stage, "results": {n: r.model_dump() for n, r in self.results.items()},
                "rules_configured": self.rules_configured, "rules_executed": self.rules_executed,
                "validation_error_count": len(self.errors), "selected": self.selected,
                "qmtl_compat": self.qmtl_compat, "qmtl_ruleset_hash": self.qmtl_ruleset_hash,
                "qmtl_recommended_stage": self.qmtl_recommended_stage}


def summary_status(results: Iterable[RuleResult], qmtl_compat: bool = False) -> str:
    """The run's status from its rule results.

    QMTL's engine (as ``scripts/policy_diff.py`` reads it): ``fail`` if any rule fails, else
    ``warn`` if any warns, else ``pass`` -- severity does not soften a fail. This holds for
    QMTL's five core rules in both modes, and for every rule under ``qmtl_compat``. By default the
    other rules (extended layers as implemented here, research_model_rules) keep their severity:
    a blocking fail fails the run, a soft or info fail makes it ``warn``.

    Parameters
    ----------
    results : iterable of RuleResult
        The run's rule results.
    qmtl_compat : bool, default False
        Read every rule as QMTL's policy_diff does.

    Returns
    -------
    str
        ``pass`` | ``warn`` | ``fail``.
    """
    results = list(results)
    if any(r.status == "fail" and (qmtl_compat or r.rule in CORE_RULES or r.severity == "blocking")
           for r in results):
        return "fail"
    if any(r.status in ("warn", "fail") for r in results):
        return "warn"
    return "pass"


def recommended_stage(status: str, stage: str, policy: Policy | None = None, qmtl_compat: bool = False) -> str:
    """QMTL label (backtest_only | paper_only | paper_ok_live_candidate).

    Default (QMTL's design): pass -> one stage up, warn -> stay, fail -> one stage down
    (a failing live run is a demotion candidate back to paper); ``governance.live_promotion.mode:
    disabled`` caps it at paper_only. ``qmtl_compat``: QMTL's code, the stage alone.

    Parameters
    ----------
    status : str
        The run's summary status (:func:`summary_status`).
    stage : str
        backtest | paper | live.
    policy : Policy, optional
        Its ``governance.live_promotion.mode`` caps the label.
    qmtl_compat : bool, default False

    Returns
    -------
    str
        One of :data:`~qmtl_research.validation.policy.STAGE_LABELS`.

    Raises
    ------
    InputError
        An unknown stage.
    """
    level = STAGES.index(check_stage(stage))
    if qmtl_compat:
        return STAGE_LABELS[level]
    level = {"pass": min(level + 1, 2), "warn": level, "fail": max(level - 1, 0)}[status]
    if policy is not None and policy.governance.live_promotion.mode == "disabled":
        level = min(level, 1)
    return STAGE_LABELS[level]


def evaluate_batch(runs: list[RunRecord], policy: Policy, stage: str | None = None, *,
                   policy_version: str | None = None, prev_active: Iterable[str] = (),
                   correlations: pd.DataFrame | None = None, qmtl_compat: bool = False) -> list[RunOutcome]:
    """Judge ``runs`` as one batch. ``stage`` overrides each run's own stage (default backtest).

    Runs of different stages are judged with their own profile; selection acts across the
    runs of the same stage. ``correlations``: a matrix with strategy ids as index and columns
    (``selection.correlation`` is applied only with it, or by default with return series).

    Parameters
    ----------
    runs : list of RunRecord
        The batch.
    policy : Policy
    stage : str, optional
        backtest | paper | live for every run; None: each run's own stage (default backtest).
    policy_version : str, optional
        Recorded with each outcome.
    prev_active : iterable of str
        Strategy ids active before this batch (selection's hysteresis).
    correlations : DataFrame, optional
        Pairwise correlations, strategy ids as index and columns.
    qmtl_compat : bool, default False
        Reproduce QMTL's engine (module docstring).

    Returns
    -------
    list of RunOutcome
        One per run, in the order of ``runs``.

    Raises
    ------
    InputError
        An unknown stage.
    ConfigError
        The policy has no profile for a stage, or a rule refuses the policy (e.g. a forecast_error
        champion that is not the model stage 1 validated).
    """
    outcomes: list[RunOutcome | None] = [None] * len(runs)
    by_stage: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        by_stage.setdefault(check_stage(stage or r.stage or "backtest"), []).append(i)
    for st, idx in by_stage.items():
        group = [runs[i] for i in idx]
        for j, out in enumerate(_evaluate_stage(group, policy, st, policy_version, set(prev_active),
                                                correlations, qmtl_compat)):
            outcomes[idx[j]] = out
    return outcomes  # type: ignore[return-value]


def _evaluate_stage(runs, policy, stage, policy_version, prev_active, correlations, qmtl_compat):
    """The outcomes of one stage's runs: the batch pass, then every rule of the registry the
    policy configures (:func:`~qmtl_research.validation.registry.build_rules`) on every run."""
    qmtl_profile = policy.qmtl_profile_for_stage(stage)
    profile_name = qmtl_profile if qmtl_compat else policy.profile_for_stage(stage)
    profile = policy.profile(profile_name)
    qhash = qmtl_ruleset_hash(policy, qmtl_profile)
    rhash = qhash if qmtl_compat else ruleset_hash(policy, profile_name)
    batch = core_batch(runs, policy, profile, qmtl=qmtl_compat, prev_active=prev_active, correlations=correlations)
    ctx = RuleContext(stage, policy, profile_name, profile, policy.validation.on_missing_metric, qmtl_compat, batch)
    rules = build_rules(policy, profile, stage, research=not qmtl_compat)
    outcomes = []
    for i, run in enumerate(runs):
        run_ctx = replace(ctx, index=i)
        results: dict[str, RuleResult] = {}
        errs = list(batch.errors[i])
        for rule in rules:
            try:
                results[rule.name] = rule.evaluate(run.metrics, run_ctx)
            except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
                # QMTL's validation.on_error: the error becomes the rule's verdict (recorded, counted)
                errs.append(f"{rule.name}: {exc}")
                results[rule.name] = RuleResult(rule=rule.name, status=policy.validation.on_error,
                                                severity=rule.severity, owner=rule.owner, reason_code="rule_error",
                                                reason=f"rule raised {type(exc).__name__}: {exc}",
                                                tags=list(rule.tags), details={"error": str(exc)})
        status = summary_status(results.values(), qmtl_compat)
        n_exec = sum(r.reason_code != "rule_error" for r in results.values())
        qrec = recommended_stage(status, stage, qmtl_compat=True)
        outcomes.append(RunOutcome(run, stage, profile_name, policy_version, rhash, results, status,
                                   qrec if qmtl_compat else recommended_stage(status, stage, policy),
                                   batch.selected[i], len(results), n_exec, errs, qmtl_compat, qhash, qrec))
    return outcomes


def outcomes_frame(outcomes: list[RunOutcome]) -> pd.DataFrame:
    """One row per run: identity, status, recommended stage, selected and the failing rules.

    Parameters
    ----------
    outcomes : list of RunOutcome

    Returns
    -------
    DataFrame
        Columns strategy_id, run_id, stage, profile, status, recommended_stage, selected,
        failed_rules and warned_rules (``rule:reason_code``, comma-separated).
    """
    rows = []
    for o in outcomes:
        rows.append({"strategy_id": o.run.strategy_id, "run_id": o.run.run_id, "stage": o.stage,
                     "profile": o.profile, "status": o.status, "recommended_stage": o.recommended_stage,
                     "selected": o.selected,
                     "failed_rules": ", ".join(f"{n}:{o.results[n].reason_code}" for n in o.failing()),
                     "warned_rules": ", ".join(f"{n}:{r.reason_code}" for n, r in o.results.items() if r.status == "warn")})
    return pd.DataFrame(rows)


def rules_frame(outcome: RunOutcome) -> pd.DataFrame:
    """The RuleResults of one run as a table.

    Parameters
    ----------
    outcome : RunOutcome

    Returns
    -------
    DataFrame
        Columns rule, status, severity, owner, reason_code, reason; one row per rule, in
        emission order.
    """
    return pd.DataFrame([{"rule": r.rule, "status": r.status, "severity": r.severity, "owner": r.owner,
                          "reason_code": r.reason_code, "reason": r.reason} for r in outcome.results.values()],
                        columns=["rule", "status", "severity", "owner", "reason_code", "reason"])


def checks_frame(validation: dict | None) -> pd.DataFrame:
    """Every threshold of every rule in force, with the value measured on the run: one row per
    check recorded in the RuleResults of a stored run's ``validation`` payload (rule, severity,
    threshold key, metric, bound as ``>= x`` / ``<= x`` or the test in words, measured value,
    status). Rules that checked no threshold get one row saying so. Empty when the payload holds
    no rule details (a batch of imported QMTL runs).

    Parameters
    ----------
    validation : dict or None
        The ``validation`` field of a stored EvaluationRun (:meth:`RunOutcome.validation_payload`).

    Returns
    -------
    DataFrame
        Columns rule, severity, threshold, metric, bound, measured, status.
    """
    cols = ["rule", "severity", "threshold", "metric", "bound", "measured", "status"]
    rows = []
    for name, r in ((validation or {}).get("results") or {}).items():
        if not isinstance(r, dict) or "details" not in r:
            continue
        checks = (r.get("details") or {}).get("checks") or []
        if not checks:
            rows.append({"rule": name, "severity": r.get("severity"), "threshold": "none configured",
                         "metric": "", "bound": "", "measured": "", "status": r.get("status")})
        for c in checks:
            bound = c.get("bound")
            if isinstance(bound, (int, float)) and not isinstance(bound, bool):
                strict = str(c.get("reason", "")).endswith("(strict target)")
                op = {("min", False): ">=", ("min", True): ">", ("max", False): "<=", ("max", True): "<"}
                shown = f"{op[(c.get('kind') or 'max', strict)]} {bound:.6g}"
            else:
                shown = str(c.get("reason", ""))
            value = c.get("value")
            measured = (f"{value:.6g}" if isinstance(value, (int, float)) and not isinstance(value, bool)
                        else "missing" if value is None else str(value))
            rows.append({"rule": name, "severity": r.get("severity"), "threshold": c.get("key"),
                         "metric": c.get("metric"), "bound": shown, "measured": measured, "status": c.get("status")})
    return pd.DataFrame(rows, columns=cols)
