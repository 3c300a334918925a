"""QMTL's five core rules and batch selection, as QMTL's policy engine computes them.

Reference: hyophyop/qmtl ``qmtl/services/worldservice/policy_engine.py`` (``evaluate_policy``,
the newest stored version; the rule logic is the same in the fc06bd80-era version), driven the
way ``scripts/policy_diff.py`` drives it. For one batch of runs, one stage and one profile:

1. **thresholds**: every bound of the profile (sample, performance, robustness, risk sections)
   is checked on every run; a breach is a *blocking* failure, a missing metric is blocking under
   ``validation.on_missing_metric: fail``, recorded but not blocking under ``warn``, ignored
   under ``ignore``. Bounds are inclusive (``value < min`` or ``value > max`` breaches).
   **Departure from QMTL** (both views): an infinite value (``Infinity``/``-Infinity`` in an
   export) is a blocking failure ``<metric>_not_finite`` (QMTL lets +inf pass a minimum and -inf a
   maximum), and so is an infinite top_k / hysteresis metric. NaN keeps QMTL's meaning (missing in
   the default view, a number that passes in the QMTL view); a finite value outside its domain
   (a negative drawdown ...) is refused when the export is loaded.
2. **selection**: runs without a blocking failure are candidates; ``top_k`` keeps the best k by
   its metric (a missing value ranks as -inf, ties keep batch order); ``correlation`` (only with
   correlations given) drops a run whose ``|corr|`` with an already kept run exceeds ``max``
   (an unknown pair counts as 0); ``hysteresis`` keeps a previously active run while
   ``metric >= exit`` and admits another at ``metric >= enter`` (a missing value drops the run
   silently). ``selected`` = what survives.
3. **rules**, always these five, in this order:

   ============== ================================================================ ==========
   rule           QMTL's logic                                                     default
   ============== ================================================================ ==========
   data_currency  no numeric metric at all -> ``metrics_missing``; else pass        blocking/ops
   sample         any *sample* bound breached or its metric missing (always) ->     soft/quant
                  fail ``sample_thresholds_failed``; else a sample metric > 0 ->
                  ``sample_ok``; else warn ``sample_metrics_missing``
   performance    a blocking failure of ANY threshold (sample, DSR and risk         blocking/quant
                  bounds included) -> fail ``performance_thresholds_failed``;
                  else a missing metric -> ``performance_metrics_missing``
                  (warn; fail under on_missing_metric fail); else outside top_k
                  -> fail ``performance_rank_outside_top_k``; else ``performance_ok``
   risk_constraint correlation -> fail ``correlation_constraint_failed``;           blocking/risk
                  hysteresis -> fail ``hysteresis_not_entered`` / ``hysteresis_exit``;
                  neither configured -> pass, severity info,
                  ``risk_constraints_not_configured``; else ``risk_constraints_ok``
   robustness     DSR missing -> warn ``dsr_missing``; below ``dsr_min`` -> fail     soft/quant
                  ``dsr_below_min``; ``|first - second half Sharpe| > cv_sharpe_gap_max``
                  -> fail ``cv_sharpe_gap_exceeds_max``; else ``robustness_ok``
   ============== ================================================================ ==========

   Severity and owner come from the profile section when it sets them.

Two ways to read a run's metrics (:class:`MetricView`):

* ``qmtl=True`` (``--qmtl-compat``): QMTL's flat view. Every numeric leaf is keyed by its dotted
  path and by its leaf name (first occurrence wins, in block order), and thresholds look up the
  leaf name; NaN counts as a number (every comparison with it is false, so it passes), strings
  are invisible. Only the profile keys QMTL knows are used (:data:`QMTL_PROFILE_KEYS`).
* default: dotted paths (``returns.sharpe`` ...); NaN and null are missing; a non-numeric value
  is a rule error (``validation.on_error``). This project's extension keys are applied as well:
  they count in ``performance`` (as every threshold does) and gate selection; ``sample`` and
  ``robustness`` extension keys are checked by those rules (``<metric>_below_min`` ...,
  missing per ``on_missing_metric``); ``data_currency.max_lag_days`` fails data_currency with
  ``data_lag_days_above_max``. For a policy in QMTL's format both views give the same statuses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pandas as pd

from qmtl_research.validation.metrics import get_metric
from qmtl_research.validation.policy import (PROFILE_SECTIONS, QMTL_PROFILE_KEYS, RULE_DEFAULTS, THRESHOLDS,
                                             Policy, ValidationProfile)
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.validation.rules import Check, RuleResult

#: leaf names QMTL's sample rule reads (``_SAMPLE_METRIC_KEYS``)
SAMPLE_KEYS = ("n_trades_total", "n_trades_per_year", "num_trades", "effective_history_years", "sample_days")


def qmtl_flat_metrics(blocks: Mapping[str, Any]) -> dict[str, float]:
    """QMTL's flat metric map of a run: numeric leaves (bools excluded) by dotted path and by
    leaf name; the first leaf of a name wins (``policy_diff._extract_metrics`` /
    ``policy_engine._flatten_metrics``)."""
    flat: dict[str, float] = {}

    def visit(prefix: str, obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                visit(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            flat.setdefault(prefix, float(obj))
            flat.setdefault(prefix.split(".")[-1], float(obj))

    visit("", blocks or {})
    return flat


class MetricView:
    """How the core rules read one run's metric blocks (see the module docstring)."""

    def __init__(self, blocks: Mapping[str, Any], qmtl: bool):
        self.blocks = blocks or {}
        self.qmtl = qmtl
        self.flat = qmtl_flat_metrics(self.blocks)

    def value(self, path: str) -> Any:
        """The value of ``path`` (dotted); None when missing."""
        if self.qmtl:
            return self.flat.get(path.split(".")[-1])
        return get_metric(self.blocks, path)

    def present(self, path: str) -> bool:
        return self.value(path) is not None

    @property
    def empty(self) -> bool:
        """No numeric metric at all (QMTL: ``not metrics``)."""
        return not self.flat

    def sample_values(self) -> dict[str, float]:
        """The sample metrics QMTL's sample rule looks at (leaf names of :data:`SAMPLE_KEYS`)."""
        if self.qmtl:
            return {k: self.flat[k] for k in SAMPLE_KEYS if k in self.flat}
        block = self.blocks.get("sample") if isinstance(self.blocks.get("sample"), Mapping) else {}
        return {k: v for k in SAMPLE_KEYS if _is_number(v := block.get(k)) and not math.isnan(v)}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Threshold:
    """One bound of the profile in force."""

    section: str       # sample | performance | robustness | risk | data_currency
    key: str           # policy key, e.g. sharpe_min
    metric: str        # dotted path, e.g. returns.sharpe
    kind: str          # min | max
    bound: float
    qmtl: bool         # a key QMTL's engine knows

    @property
    def leaf(self) -> str:
        return self.metric.split(".")[-1]


def profile_thresholds(profile: ValidationProfile, qmtl_only: bool = False) -> list[Threshold]:
    """The bounds of a profile in QMTL's order (sample, performance, robustness, risk; then our
    data_currency extension); ``qmtl_only``: the keys QMTL knows."""
    out = []
    for section in PROFILE_SECTIONS:
        cfg = getattr(profile, section)
        if cfg is None:
            continue
        for key, (path, kind) in THRESHOLDS[section].items():
            value = getattr(cfg, key, None)
            known = key in QMTL_PROFILE_KEYS.get(section, ())
            if value is not None and (known or not qmtl_only):
                out.append(Threshold(section, key, path, kind, float(value), known))
    return out


class MetricError(Exception):
    """A metric that is present but not a number (default view only)."""


def check_threshold(view: MetricView, t: Threshold, on_missing: str) -> Check:
    """One bound on one run. Status ``fail`` = blocking failure (breach, or missing under
    on_missing_metric fail); ``warn`` = missing under warn; missing under ignore passes with a
    ``*_missing_ignored`` note. Raises :class:`MetricError` for a non-numeric value."""
    value = view.value(t.metric)
    if value is None:
        status = {"fail": "fail", "warn": "warn", "ignore": "pass"}[on_missing]
        code = f"{t.leaf}_missing" + ("_ignored" if on_missing == "ignore" else "")
        return Check(t.key, t.metric, status, code, f"{t.metric} is missing (on_missing_metric={on_missing})",
                     None, t.bound, t.kind)
    if not _is_number(value):
        raise MetricError(f"metric {t.metric} is not a number: {value!r}")
    if math.isinf(value):
        # a deliberate departure from QMTL's engine (which lets +inf pass a minimum and -inf a
        # maximum): no gate is passed by an infinite metric, in either view; blocking, whatever
        # on_missing_metric says
        return Check(t.key, t.metric, "fail", f"{t.leaf}_not_finite",
                     f"{t.metric} is {value} (not a finite number): no bound can be checked", value, t.bound, t.kind)
    breached = value < t.bound if t.kind == "min" else value > t.bound
    if breached:
        code = f"{t.leaf}_{'below_min' if t.kind == 'min' else 'above_max'}"
        op = "<" if t.kind == "min" else ">"
    else:
        code, op = f"{t.leaf}_ok", (">=" if t.kind == "min" else "<=")
    return Check(t.key, t.metric, "fail" if breached else "pass", code,
                 f"{t.metric} {value:.6g} {op} {t.key} {t.bound:.6g}", value, t.bound, t.kind)


@dataclass
class CoreVerdicts:
    """The five core RuleResults of every run of a batch and QMTL's selection."""

    results: list[dict[str, RuleResult]]
    selected: list[bool]
    candidates: list[bool]
    errors: list[list[str]] = field(default_factory=list)


def _meta(profile: ValidationProfile, section: str, rule: str) -> tuple[str, str]:
    sev, own = RULE_DEFAULTS[rule]
    cfg = getattr(profile, section, None)
    if cfg is not None:
        sev, own = cfg.severity or sev, cfg.owner or own
    return sev, own


def _pair_correlation(a: RunRecord, b: RunRecord, correlations: pd.DataFrame | None, use_series: bool) -> float | None:
    """Correlation of two runs: the matrix (either orientation) or, in the default view, their
    return series (>= 3 common dates); None when unknown."""
    if correlations is not None:
        for x, y in ((a.strategy_id, b.strategy_id), (b.strategy_id, a.strategy_id)):
            if x in correlations.index and y in correlations.columns:
                v = correlations.loc[x, y]
                return None if pd.isna(v) else float(v)
    if use_series and a.returns is not None and b.returns is not None:
        joined = pd.concat([a.returns, b.returns], axis=1, join="inner").dropna()
        if len(joined) >= 3:
            return float(joined.corr().iloc[0, 1])
    return None


def _selection_metric(view: MetricView, metric: str) -> Any:
    """Value of a selection metric (``sharpe`` or a dotted path)."""
    if view.qmtl:
        return view.flat.get(metric)
    return view.value(metric if "." in metric else f"returns.{metric}")


def evaluate_core(runs: list[RunRecord], policy: Policy, profile: ValidationProfile, *, qmtl: bool,
                  prev_active: Iterable[str] = (), correlations: pd.DataFrame | None = None) -> CoreVerdicts:
    """The five core rules for every run of one batch judged under ``profile`` (module docstring)."""
    on_missing = policy.validation.on_missing_metric
    on_error = policy.validation.on_error
    thresholds = profile_thresholds(profile, qmtl_only=qmtl)
    views = [MetricView(r.metrics, qmtl) for r in runs]
    prev = set(prev_active)

    # 1. every threshold on every run
    checks: list[list[Check]] = []
    errors: list[list[str]] = []
    for v in views:
        cs, errs = [], []
        for t in thresholds:
            try:
                cs.append(check_threshold(v, t, on_missing))
            except MetricError as exc:
                errs.append(f"{t.section}.{t.key}: {exc}")
        cs += _non_finite_selection_checks(v, policy)
        checks.append(cs)
        errors.append(errs)
    candidates = [not errors[i] and all(c.status != "fail" for c in checks[i]) for i in range(len(runs))]

    # 2. selection
    sel = policy.selection
    alive = [i for i in range(len(runs)) if candidates[i]]
    ranks: dict[int, int] = {i: n for n, i in enumerate(alive)}
    top_k = sel.top_k if sel is not None else None
    if top_k is not None:
        scored = []
        for i in alive:
            val = _selection_metric(views[i], top_k.metric)
            scored.append((i, val if _is_number(val) else -math.inf))
        scored.sort(key=lambda iv: iv[1], reverse=True)       # stable: ties keep batch order
        ranks = {i: n for n, (i, _) in enumerate(scored)}
        alive = [i for i, _ in scored[: top_k.k]]
    topk_selected = set(alive)
    corr_rule = sel.correlation if sel is not None else None
    corr_blocked: dict[int, list[tuple[str, float]]] = {}
    corr_note: dict[int, str] = {}
    if corr_rule is not None:
        have = correlations is not None or (not qmtl and any(r.returns is not None for r in runs))
        if have:
            kept: list[int] = []
            for i in alive:
                blocked = []
                for j in kept:
                    c = _pair_correlation(runs[i], runs[j], correlations, use_series=not qmtl)
                    c = 0.0 if c is None else c                  # QMTL: an unknown pair counts as 0
                    if abs(c) > corr_rule.max:
                        blocked.append((runs[j].strategy_id, c))
                if blocked:
                    corr_blocked[i] = blocked
                else:
                    kept.append(i)
            alive = kept
        else:
            for i in alive:
                corr_note[i] = "no correlations given: the limit is not applied (as in QMTL's engine)"
    hyst = sel.hysteresis if sel is not None else None
    hyst_blocked: dict[int, str] = {}
    if hyst is not None:
        still = []
        for i in alive:
            val = _selection_metric(views[i], hyst.metric)
            if not _is_number(val):
                continue                                         # QMTL: dropped without a reason
            if runs[i].strategy_id in prev:
                (still.append(i) if val >= hyst.exit else hyst_blocked.__setitem__(i, "exit"))
            else:
                (still.append(i) if val >= hyst.enter else hyst_blocked.__setitem__(i, "enter"))
        alive = still
    selected = set(alive)

    # 3. the five rules
    out: list[dict[str, RuleResult]] = []
    for i, (run, view) in enumerate(zip(runs, views)):
        cs = checks[i]
        res: dict[str, RuleResult] = {}
        res["data_currency"] = _data_currency(view, profile, [c for t, c in zip(thresholds, cs)
                                                               if t.section == "data_currency"], on_missing, qmtl)
        sample_err = [e for e in errors[i] if e.startswith("sample.")]
        res["sample"] = (_error_result("sample", profile, "sample", sample_err, on_error) if sample_err else
                         _sample(view, profile, [c for t, c in zip(thresholds, cs) if t.section == "sample"]))
        res["performance"] = (_error_result("performance", profile, "performance", errors[i], on_error)
                              if errors[i] else
                              _performance(cs, profile, on_missing, top_k, i in topk_selected, ranks.get(i)))
        res["risk_constraint"] = _risk_constraint(profile, corr_rule, hyst, corr_blocked.get(i), hyst_blocked.get(i),
                                                  view, run.strategy_id in prev,
                                                  _selection_label(i, candidates, topk_selected, selected),
                                                  corr_note.get(i))
        rob_err = [e for e in errors[i] if e.startswith("robustness.")]
        res["robustness"] = (_error_result("robustness", profile, "robustness", rob_err, on_error) if rob_err else
                             _robustness(view, profile, [c for t, c in zip(thresholds, cs)
                                                         if t.section == "robustness" and not t.qmtl], on_missing))
        out.append(res)
    return CoreVerdicts(out, [i in selected for i in range(len(runs))], candidates, errors)


def _non_finite_selection_checks(view: MetricView, policy: Policy) -> list[Check]:
    """A failing check for each selection metric (top_k, hysteresis) whose value is +-inf: an
    infinite Sharpe must neither rank first nor enter (this project's rule, not QMTL's; the check
    comes after the threshold checks, so it fails ``performance`` and makes the run no candidate)."""
    sel = policy.selection
    out: list[Check] = []
    for name in ("top_k", "hysteresis"):
        cfg = getattr(sel, name, None) if sel is not None else None
        if cfg is None:
            continue
        val = _selection_metric(view, cfg.metric)
        if _is_number(val) and math.isinf(val) and all(c.metric != cfg.metric for c in out):
            leaf = cfg.metric.split(".")[-1]
            out.append(Check(f"selection.{name}.metric", cfg.metric, "fail", f"{leaf}_not_finite",
                             f"{cfg.metric} is {val} (not a finite number): it cannot rank the run", val, None, None))
    return out


def _selection_label(i: int, candidates: list[bool], topk: set[int], selected: set[int]) -> str:
    if i in selected:
        return "selected"
    if not candidates[i]:
        return "not a candidate (a threshold fails)"
    if i not in topk:
        return "outside top_k"
    return "rejected by correlation or hysteresis"


def _result(rule: str, status: str, severity: str, owner: str, code: str, reason: str, tags: list[str],
            details: dict) -> RuleResult:
    return RuleResult(rule=rule, status=status, severity=severity, owner=owner, reason_code=code, reason=reason,
                      tags=tags, details=details)


def _error_result(rule: str, profile: ValidationProfile, section: str, errs: list[str], on_error: str) -> RuleResult:
    sev, own = _meta(profile, section, rule)
    return _result(rule, on_error, sev, own, "rule_error", "; ".join(errs), [rule], {"error": errs})


def _data_currency(view: MetricView, profile: ValidationProfile, dc_checks: list[Check], on_missing: str,
                   qmtl: bool) -> RuleResult:
    sev, own = ("blocking", "ops") if qmtl else _meta(profile, "data_currency", "data_currency")
    tags = ["data_currency"]
    details = {"policy_on_missing_metric": on_missing, "checks": [c.as_dict() for c in dc_checks]}
    if view.empty:
        return _result("data_currency", "fail" if on_missing == "fail" else "warn",
                       "info" if on_missing == "ignore" else sev, own, "metrics_missing",
                       "No metrics provided for strategy", tags, details)
    missing = [c.metric for c in dc_checks if c.value is None]
    if missing:
        reason = f"Missing metrics: {', '.join(sorted(missing))}"
        if on_missing == "ignore":
            return _result("data_currency", "warn", "info", own, "missing_metric_ignored", reason, tags, details)
        return _result("data_currency", on_missing, sev, own, "missing_metric", reason, tags, details)
    bad = [c for c in dc_checks if c.status == "fail"]
    if bad:
        return _result("data_currency", "fail", sev, own, bad[0].reason_code, "; ".join(c.reason for c in bad),
                       tags, details)
    return _result("data_currency", "pass", sev, own, "data_currency_ok", "Required metrics present", tags, details)


def _sample(view: MetricView, profile: ValidationProfile, sample_checks: list[Check]) -> RuleResult:
    sev, own = _meta(profile, "sample", "sample")
    tags = ["sample"]
    failing = [c for c in sample_checks if c.status == "fail" or c.value is None]   # missing always fails
    if failing:
        return _result("sample", "fail", sev, own, "sample_thresholds_failed",
                       f"Sample thresholds failed: {', '.join(c.metric.split('.')[-1] for c in failing)}", tags,
                       {"violations": [c.as_dict() for c in failing], "checks": [c.as_dict() for c in sample_checks]})
    values = view.sample_values()
    if any(v is not None and v > 0 for v in values.values()):
        return _result("sample", "pass", sev, own, "sample_ok", "Sample depth present", tags,
                       {"sample_metrics": values, "checks": [c.as_dict() for c in sample_checks]})
    return _result("sample", "warn", sev, own, "sample_metrics_missing", "No sample metrics found", tags,
                   {"sample_metrics": values, "checks": [c.as_dict() for c in sample_checks]})


def _performance(cs: list[Check], profile: ValidationProfile, on_missing: str, top_k, in_topk: bool,
                 rank: int | None) -> RuleResult:
    sev, own = _meta(profile, "performance", "performance")
    tags = ["performance", "thresholds"]
    blocking = [c for c in cs if c.status == "fail"]
    if blocking:
        c = blocking[0]
        reason = (f"{c.metric.split('.')[-1]} missing" if c.value is None else
                  f"{c.metric.split('.')[-1]} is not finite ({c.value})" if c.reason_code.endswith("_not_finite") else
                  f"{c.metric.split('.')[-1]} {'below minimum' if c.kind == 'min' else 'above maximum'} {c.bound}")
        return _result("performance", "fail", sev, own, "performance_thresholds_failed", reason, tags,
                       {"violations": [x.as_dict() for x in blocking], "checks": [x.as_dict() for x in cs]})
    missing = [c for c in cs if c.status == "warn"]
    if missing:
        return _result("performance", "warn" if on_missing != "fail" else "fail", sev, own,
                       "performance_metrics_missing",
                       f"Missing metrics: {', '.join(c.metric.split('.')[-1] for c in missing)}", tags,
                       {"violations": [x.as_dict() for x in missing], "policy_on_missing_metric": on_missing,
                        "checks": [x.as_dict() for x in cs]})
    if top_k is not None and not in_topk:
        reason = f"Rank {rank + 1} outside top_k={top_k.k}" if rank is not None else f"Not selected by top_k={top_k.k}"
        return _result("performance", "fail", sev, own, "performance_rank_outside_top_k", reason, tags + ["top_k"],
                       {"rank": rank, "top_k": top_k.k, "checks": [x.as_dict() for x in cs]})
    return _result("performance", "pass", sev, own, "performance_ok", "Passed thresholds and ranking", tags,
                   {"rank": rank, "top_k": top_k.k if top_k is not None else None, "checks": [x.as_dict() for x in cs]})


def _risk_constraint(profile: ValidationProfile, corr_rule, hyst, corr_blocked, hyst_mode, view: MetricView,
                     previously_active: bool, selection: str, corr_note: str | None) -> RuleResult:
    sev, own = _meta(profile, "risk", "risk_constraint")
    tags = ["risk"]
    details: dict[str, Any] = {"selection": selection}
    if corr_note:
        details["correlation"] = corr_note
    if corr_rule is not None and corr_blocked:
        details["blocked_by"] = [{"strategy_id": s, "correlation": c} for s, c in corr_blocked]
        return _result("risk_constraint", "fail", sev, own, "correlation_constraint_failed",
                       f"Correlation exceeds max {corr_rule.max}", tags, details)
    if hyst is not None and hyst_mode:
        details.update(metric=hyst.metric, previously_active=previously_active, mode=hyst_mode,
                       value=_selection_metric(view, hyst.metric))
        if hyst_mode == "exit":
            return _result("risk_constraint", "fail", sev, own, "hysteresis_exit",
                           f"{hyst.metric} below exit {hyst.exit} for previously active strategy", tags, details)
        return _result("risk_constraint", "fail", sev, own, "hysteresis_not_entered",
                       f"{hyst.metric} below enter {hyst.enter}", tags, details)
    if corr_rule is None and hyst is None:
        return _result("risk_constraint", "pass", "info", own, "risk_constraints_not_configured",
                       "No risk constraints configured", tags, details)
    return _result("risk_constraint", "pass", sev, own, "risk_constraints_ok", "Risk constraints satisfied", tags,
                   details)


def _number_or_none(v: Any) -> float | None:
    """QMTL's ``_as_number``: a finite number, else None."""
    return float(v) if _is_number(v) and math.isfinite(v) else None


def _robustness(view: MetricView, profile: ValidationProfile, ext_checks: list[Check], on_missing: str) -> RuleResult:
    sev, own = _meta(profile, "robustness", "robustness")
    cfg = profile.robustness
    dsr_min = cfg.dsr_min if cfg is not None else None
    gap_max = cfg.cv_sharpe_gap_max if cfg is not None else None
    dsr = _number_or_none(view.value("robustness.deflated_sharpe_ratio"))
    first = _number_or_none(view.value("robustness.sharpe_first_half"))
    second = _number_or_none(view.value("robustness.sharpe_second_half"))
    details: dict[str, Any] = {"deflated_sharpe_ratio": dsr, "sharpe_first_half": first, "sharpe_second_half": second,
                               "cv_sharpe_mean": view.value("robustness.cv_sharpe_mean"),
                               "cv_sharpe_std": view.value("robustness.cv_sharpe_std")}
    status, reasons = "pass", []

    def event(level: str, reason: str) -> None:
        nonlocal status
        reasons.append(reason)
        status = "fail" if level == "fail" else ("warn" if status == "pass" else status)

    if dsr_min is not None:
        if dsr is None:
            event("warn", "dsr_missing")
        elif dsr < dsr_min:
            details["dsr_min"] = dsr_min
            event("fail", "dsr_below_min")
    if gap_max is not None and first is not None and second is not None:
        gap = abs(first - second)
        details["sharpe_gap"] = gap
        if gap > gap_max:
            details["cv_sharpe_gap_max"] = gap_max
            event("fail", "cv_sharpe_gap_exceeds_max")
    for c in ext_checks:                     # this project's extension keys (default view only)
        if c.status in ("fail", "warn"):
            event(c.status, c.reason_code)
    if ext_checks:
        details["checks"] = [c.as_dict() for c in ext_checks]
    return _result("robustness", status, sev, own, reasons[0] if reasons else "robustness_ok",
                   ", ".join(reasons) if reasons else "Robustness checks passed", ["robustness"], details)


__all__ = ["CoreVerdicts", "MetricView", "SAMPLE_KEYS", "Threshold", "check_threshold", "evaluate_core",
           "profile_thresholds", "qmtl_flat_metrics"]
