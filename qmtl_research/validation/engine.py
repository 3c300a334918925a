"""The validation engine: a batch of runs + a policy + a stage -> one outcome per run.

Order (QMTL's policy engine for selection, QMTL's validation layer for rules):

1. the profile for the stage (``default_profile_by_stage``) and the ruleset hash;
2. per-run rules (:func:`~qmtl_research.validation.rules.build_rules`); a rule that raises
   becomes a RuleResult with reason ``rule_error`` and status ``validation.on_error``;
3. batch selection inside ``risk_constraint``: runs that breach no threshold of the profile
   are candidates; ``top_k`` keeps the best k by the metric (ties: strategy_id, run_id),
   ``correlation`` drops a run correlated above ``max`` with a better kept one (needs
   return series or a correlation matrix; otherwise recorded as not evaluated),
   ``hysteresis`` admits a new run only at ``metric >= enter`` and keeps a previously active
   one while ``metric >= exit``;
4. ``cohort`` statistics over the batch;
5. summary status: any blocking fail -> fail; else any warn or non-blocking fail -> warn;
   else pass; and the recommended stage (see :func:`recommended_stage`).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from qmtl_research.validation.metrics import get_metric
from qmtl_research.validation.policy import (STAGE_LABELS, STAGES, Policy, check_stage, ruleset_hash)
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.validation.rules import (EPS, Check, RuleContext, RuleResult, build_rules, fold,
                                            missing_check)
from qmtl_research.validation.policy import RULE_DEFAULTS

COMPAT_NOTE = ("--qmtl-compat: recommended_stage follows QMTL's code, which derives it from the stage only "
               "(backtest -> backtest_only, paper -> paper_only, live -> paper_ok_live_candidate) whatever the "
               "verdict. Default: the stage reflects the outcome, as QMTL's design says (pass moves one stage "
               "up, warn holds, fail moves one stage down).")


@dataclass
class RunOutcome:
    """The verdict on one run."""

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

    @property
    def rules_executed_ratio(self) -> float:
        return self.rules_executed / self.rules_configured if self.rules_configured else 1.0

    def failing(self) -> list[str]:
        return [n for n, r in self.results.items() if r.status == "fail"]

    def to_json(self, details: bool = False) -> dict[str, Any]:
        rr = {}
        for name, r in self.results.items():
            d = {"status": r.status, "severity": r.severity, "owner": r.owner, "reason_code": r.reason_code}
            if details:
                d.update(reason=r.reason, tags=r.tags, details=r.details)
            rr[name] = d
        return {"world_id": self.run.world_id, "strategy_id": self.run.strategy_id, "run_id": self.run.run_id,
                "stage": self.stage, "profile": self.profile, "policy_version": self.policy_version,
                "ruleset_hash": self.ruleset_hash, "status": self.status,
                "recommended_stage": self.recommended_stage, "selected": self.selected, "rule_results": rr}

    def validation_payload(self) -> dict[str, Any]:
        """The ``validation`` field of a stored EvaluationRun."""
        return {"policy_version": self.policy_version, "ruleset_hash": self.ruleset_hash, "profile": self.profile,
                "stage": self.stage, "results": {n: r.model_dump() for n, r in self.results.items()},
                "rules_configured": self.rules_configured, "rules_executed": self.rules_executed,
                "validation_error_count": len(self.errors), "selected": self.selected}


def summary_status(results: Iterable[RuleResult]) -> str:
    """any blocking fail -> fail; else any warn or non-blocking fail -> warn; else pass."""
    results = list(results)
    if any(r.status == "fail" and r.severity == "blocking" for r in results):
        return "fail"
    if any(r.status in ("warn", "fail") for r in results):
        return "warn"
    return "pass"


def recommended_stage(status: str, stage: str, policy: Policy | None = None, qmtl_compat: bool = False) -> str:
    """QMTL label (backtest_only | paper_only | paper_ok_live_candidate).

    Default (QMTL's design): pass -> one stage up, warn -> stay, fail -> one stage down
    (a failing live run is a demotion candidate back to paper); ``governance.live_promotion.mode:
    disabled`` caps it at paper_only. ``qmtl_compat``: QMTL's code, the stage alone."""
    level = STAGES.index(check_stage(stage))
    if qmtl_compat:
        return STAGE_LABELS[level]
    level = {"pass": min(level + 1, 2), "warn": level, "fail": max(level - 1, 0)}[status]
    if policy is not None and policy.governance.live_promotion.mode == "disabled":
        level = min(level, 1)
    return STAGE_LABELS[level]


def _metric_path(metric: str) -> str:
    return metric if "." in metric else f"returns.{metric}"


def _correlation(runs: list[RunRecord], correlations: pd.DataFrame | None, a: RunRecord, b: RunRecord) -> float | None:
    if correlations is not None and a.strategy_id in correlations.index and b.strategy_id in correlations.columns:
        v = correlations.loc[a.strategy_id, b.strategy_id]
        return None if pd.isna(v) else float(v)
    if a.returns is not None and b.returns is not None:
        joined = pd.concat([a.returns, b.returns], axis=1, join="inner").dropna()
        if len(joined) >= 3:
            return float(joined.corr().iloc[0, 1])
    return None


def _selection(policy: Policy, runs: list[RunRecord], candidates: list[int], on_missing: str,
               prev_active: set[str], correlations: pd.DataFrame | None) -> tuple[dict[int, list[Check]], set[int]]:
    """Checks added to risk_constraint per run, and the indices selected."""
    sel = policy.selection
    checks: dict[int, list[Check]] = {i: [] for i in range(len(runs))}
    alive = list(candidates)
    if sel is None:
        return checks, set(alive)
    if sel.top_k is not None:
        path = _metric_path(sel.top_k.metric)
        valued = []
        for i in alive:
            v = get_metric(runs[i].metrics, path)
            if v is None:
                checks[i].append(missing_check("top_k", path, on_missing))
            else:
                valued.append((i, v))
        valued.sort(key=lambda iv: (-iv[1], runs[iv[0]].strategy_id, runs[iv[0]].run_id))
        k = sel.top_k.k
        alive = []
        for rank, (i, v) in enumerate(valued, 1):
            ok = rank <= k
            checks[i].append(Check("top_k", path, "pass" if ok else "fail", "top_k_ok" if ok else "top_k_excluded",
                                   f"rank {rank} of {len(valued)} candidates by {sel.top_k.metric} (k={k})",
                                   v, float(k), "rank<=k"))
            if ok:
                alive.append(i)
    if sel.correlation is not None:
        kept: list[int] = []
        for i in alive:  # alive is in rank order when top_k ran; else input order
            worst_pair, unknown = None, 0
            for j in kept:
                c = _correlation(runs, correlations, runs[i], runs[j])
                if c is None:
                    unknown += 1
                elif worst_pair is None or c > worst_pair[1]:
                    worst_pair = (j, c)
            if worst_pair is not None and worst_pair[1] > sel.correlation.max:
                j, c = worst_pair
                checks[i].append(Check("correlation", "correlation", "fail", "correlation_above_max",
                                       f"correlation {c:.3f} with {runs[j].strategy_id} > max {sel.correlation.max}",
                                       c, sel.correlation.max, "max"))
                continue
            if kept and unknown == len(kept):
                checks[i].append(Check("correlation", "correlation", "pass", "correlation_not_evaluated",
                                       "no return series or correlation matrix in the batch: limit not applied",
                                       None, sel.correlation.max, "max"))
            else:
                checks[i].append(Check("correlation", "correlation", "pass", "correlation_ok",
                                       f"max correlation with kept runs {worst_pair[1]:.3f}" if worst_pair else
                                       "first kept run", worst_pair[1] if worst_pair else None,
                                       sel.correlation.max, "max"))
            kept.append(i)
        alive = kept
    if sel.hysteresis is not None:
        h, path = sel.hysteresis, _metric_path(sel.hysteresis.metric)
        still = []
        for i in alive:
            v = get_metric(runs[i].metrics, path)
            if v is None:
                checks[i].append(missing_check("hysteresis", path, on_missing))
                continue
            active = runs[i].strategy_id in prev_active
            bound = h.exit if active else h.enter
            ok = v >= bound - EPS
            code = ("hysteresis_ok" if ok else "hysteresis_exit_breached" if active else "hysteresis_enter_not_met")
            checks[i].append(Check("hysteresis", path, "pass" if ok else "fail", code,
                                   f"{path} {v:.6g} {'>=' if ok else '<'} {'exit' if active else 'enter'} {bound:g}"
                                   f" ({'previously active' if active else 'not active'})", v, bound, "min"))
            if ok:
                still.append(i)
        alive = still
    return checks, set(alive)


def _cohort_checks(policy: Policy, runs: list[RunRecord], blocking_fail: list[bool], on_missing: str) -> tuple[list[Check], dict]:
    c = policy.cohort
    sharpes = [v for r in runs if (v := get_metric(r.metrics, "returns.sharpe")) is not None]
    stats = {"cohort_size": len(runs), "cohort_sharpe_median": statistics.median(sharpes) if sharpes else None,
             "cohort_fail_share": sum(blocking_fail) / len(runs) if runs else None}
    out = [Check("min_size", "cohort.size", "pass" if len(runs) >= c.min_size else "fail",
                 "cohort_size_ok" if len(runs) >= c.min_size else "cohort_too_small",
                 f"cohort of {len(runs)} run(s), min_size {c.min_size}", len(runs), c.min_size, "min")]
    if c.sharpe_median_min is not None:
        m = stats["cohort_sharpe_median"]
        if m is None:
            out.append(missing_check("sharpe_median_min", "cohort.sharpe_median", on_missing))
        else:
            ok = m >= c.sharpe_median_min
            out.append(Check("sharpe_median_min", "cohort.sharpe_median", "pass" if ok else "fail",
                             "cohort_sharpe_median_ok" if ok else "cohort_sharpe_median_below_min",
                             f"cohort median sharpe {m:.4g} {'>=' if ok else '<'} {c.sharpe_median_min:g}", m,
                             c.sharpe_median_min, "min"))
    if c.max_fail_share is not None and stats["cohort_fail_share"] is not None:
        s = stats["cohort_fail_share"]
        ok = s <= c.max_fail_share
        out.append(Check("max_fail_share", "cohort.fail_share", "pass" if ok else "fail",
                         "cohort_fail_share_ok" if ok else "cohort_fail_share_above_max",
                         f"{s:.1%} of the cohort fail blocking bounds (max {c.max_fail_share:.1%})", s,
                         c.max_fail_share, "max"))
    return out, stats


def evaluate_batch(runs: list[RunRecord], policy: Policy, stage: str | None = None, *,
                   policy_version: str | None = None, prev_active: Iterable[str] = (),
                   correlations: pd.DataFrame | None = None, qmtl_compat: bool = False) -> list[RunOutcome]:
    """Judge ``runs`` as one batch. ``stage`` overrides each run's own stage (default backtest).

    Runs of different stages are judged with their own profile; selection acts across the
    runs of the same stage."""
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
    profile_name = policy.profile_for_stage(stage)
    profile = policy.profile(profile_name)
    rhash = ruleset_hash(policy, profile_name)
    ctx = RuleContext(stage, policy, profile_name, profile, policy.validation.on_missing_metric)
    rules = build_rules(policy, profile, stage)
    per_run: list[dict[str, list[Check] | RuleResult]] = []
    errors: list[list[str]] = []
    for run in runs:
        res: dict[str, list[Check] | RuleResult] = {}
        errs = []
        for rule in rules:
            try:
                res[rule.name] = rule.checks(run.metrics, ctx)
            except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
                # QMTL's validation.on_error: the error becomes the rule's verdict (recorded, counted)
                status = policy.validation.on_error
                errs.append(f"{rule.name}: {exc}")
                res[rule.name] = RuleResult(rule=rule.name, status=status, severity=rule.severity, owner=rule.owner,
                                            reason_code="rule_error", reason=f"rule raised {type(exc).__name__}: {exc}",
                                            tags=list(rule.tags), details={"error": str(exc)})
        per_run.append(res)
        errors.append(errs)
    gating = [r for r in rules if r.gates_selection]
    candidates = [i for i, res in enumerate(per_run)
                  if all(isinstance(res[r.name], list) and all(c.status != "fail" for c in res[r.name]) for r in gating)]
    sel_checks, selected = _selection(policy, runs, candidates, ctx.on_missing_metric, prev_active, correlations)
    cohort = None
    if policy.cohort is not None:
        blocking_fail = [any(isinstance(res[r.name], list) and r.severity == "blocking"
                             and any(c.status == "fail" for c in res[r.name]) for r in gating) for res in per_run]
        cohort = _cohort_checks(policy, runs, blocking_fail, ctx.on_missing_metric)
    outcomes = []
    rules_by_name = {r.name: r for r in rules}

    def selection_label(i: int) -> str:
        if i in selected:
            return "selected"
        return "not a candidate (breaches a threshold)" if i not in candidates else "rejected by selection"

    for i, run in enumerate(runs):
        results: dict[str, RuleResult] = {}
        for name, val in per_run[i].items():
            if isinstance(val, RuleResult):
                results[name] = val
                continue
            checks, extra = list(val), None
            if name == "risk_constraint":
                checks += sel_checks[i]
                extra = {"selection": selection_label(i)}
            results[name] = rules_by_name[name].result(checks, extra)
        if "risk_constraint" not in results and policy.selection is not None:
            sev, own = RULE_DEFAULTS["risk_constraint"]
            results["risk_constraint"] = fold("risk_constraint", sel_checks[i], sev, own, ["core", "risk"],
                                              {"selection": selection_label(i)})
        if cohort is not None:
            sev, own = RULE_DEFAULTS["cohort"]
            c = policy.cohort
            results["cohort"] = fold("cohort", cohort[0], c.severity or sev, c.owner or own, ["extended", "cohort"],
                                     cohort[1])
        status = summary_status(results.values())
        n_conf = len(results)
        n_exec = sum(r.reason_code != "rule_error" for r in results.values())
        outcomes.append(RunOutcome(run, stage, profile_name, policy_version, rhash, results, status,
                                   recommended_stage(status, stage, policy, qmtl_compat), i in selected,
                                   n_conf, n_exec, errors[i]))
    return outcomes


def outcomes_frame(outcomes: list[RunOutcome]) -> pd.DataFrame:
    """One row per run: identity, status, recommended stage, selected and the failing rules."""
    rows = []
    for o in outcomes:
        rows.append({"strategy_id": o.run.strategy_id, "run_id": o.run.run_id, "stage": o.stage,
                     "profile": o.profile, "status": o.status, "recommended_stage": o.recommended_stage,
                     "selected": o.selected,
                     "failed_rules": ", ".join(f"{n}:{o.results[n].reason_code}" for n in o.failing()),
                     "warned_rules": ", ".join(f"{n}:{r.reason_code}" for n, r in o.results.items() if r.status == "warn")})
    return pd.DataFrame(rows)


def rules_frame(outcome: RunOutcome) -> pd.DataFrame:
    """The RuleResults of one run as a table (rule, status, severity, owner, reason_code, reason)."""
    return pd.DataFrame([{"rule": r.rule, "status": r.status, "severity": r.severity, "owner": r.owner,
                          "reason_code": r.reason_code, "reason": r.reason} for r in outcome.results.values()],
                        columns=["rule", "status", "severity", "owner", "reason_code", "reason"])
