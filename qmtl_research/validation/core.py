"""The batch pass of QMTL's five core rules: every threshold on every run, then selection, as
QMTL's policy engine computes them (:func:`core_batch`). The five rules themselves are classes
in :mod:`qmtl_research.validation.core_rules` that read this pass. (Over 400 lines because about half is
this docstring, the one place QMTL's core-rule logic and this project's departures are written.)

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
3. **rules** (:mod:`~qmtl_research.validation.core_rules`), always these five, in this order:

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


from qmtl_research.validation.rules import Check
from qmtl_research.metric_paths import get_metric
from qmtl_research.validation.thresholds import PROFILE_SECTIONS, QMTL_PROFILE_KEYS, THRESHOLDS

#: the policy model (:class:`qmtl_research.validation.policy.Policy`, ``ValidationProfile``) is built
#: from the rule registry, so it is not imported here; annotated as ``Any``
Policy = ValidationProfile = Any
#: annotations only: run records (:class:`~qmtl_research.validation.qmtl_runs.RunRecord`) and
#: pandas load with the engine, not with the policy schema that imports the rules
RunRecord = DataFrame = Any

#: leaf names QMTL's sample rule reads (``_SAMPLE_METRIC_KEYS``)
SAMPLE_KEYS = ("n_trades_total", "n_trades_per_year", "num_trades", "effective_history_years", "sample_days")


def qmtl_flat_metrics(blocks: Mapping[str, Any]) -> dict[str, float]:
    """QMTL's flat metric map of a run: numeric leaves (bools excluded) by dotted path and by
    leaf name; the first leaf of a name wins (``policy_diff._extract_metrics`` /
    ``policy_engine._flatten_metrics``).

    Parameters
    ----------
    blocks : mapping
        The run's metric blocks.

    Returns
    -------
    dict
        Dotted path and leaf name -> float.
    """
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
        """Whether ``path`` holds a value."""
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
        return {k: v for k in SAMPLE_KEYS if is_number(v := block.get(k)) and not math.isnan(v)}


def is_number(v: Any) -> bool:
    """A real number (int or float, bools excluded; NaN and infinities included)."""
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
        """The metric's leaf name (QMTL keys its thresholds by it)."""
        return self.metric.split(".")[-1]


def profile_thresholds(profile: ValidationProfile, qmtl_only: bool = False) -> list[Threshold]:
    """The bounds of a profile in QMTL's order (sample, performance, robustness, risk; then our
    data_currency extension); ``qmtl_only``: the keys QMTL knows.

    Parameters
    ----------
    profile : ValidationProfile
    qmtl_only : bool, default False
        Only the keys QMTL's engine knows (:data:`QMTL_PROFILE_KEYS`).

    Returns
    -------
    list of Threshold
    """
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
    ``*_missing_ignored`` note.

    Parameters
    ----------
    view : MetricView
        The run's metrics.
    t : Threshold
    on_missing : {'fail', 'warn', 'ignore'}
        ``validation.on_missing_metric``.

    Returns
    -------
    Check
        An infinite value fails with ``<leaf>_not_finite`` (a departure from QMTL).

    Raises
    ------
    MetricError
        The metric is present but not a number (default view).
    """
    value = view.value(t.metric)
    if value is None:
        status = {"fail": "fail", "warn": "warn", "ignore": "pass"}[on_missing]
        code = f"{t.leaf}_missing" + ("_ignored" if on_missing == "ignore" else "")
        return Check(t.key, t.metric, status, code, f"{t.metric} is missing (on_missing_metric={on_missing})",
                     None, t.bound, t.kind)
    if not is_number(value):
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
class CoreBatch:
    """The batch pass: each run's threshold checks and metric errors and QMTL's selection.

    Attributes
    ----------
    runs : list of RunRecord
    views : list of MetricView
        How each run's metrics are read.
    thresholds : list of Threshold
        The bounds in force, in QMTL's order.
    checks : list of list of Check
        Per run: one check per threshold (same order), then the non-finite selection checks.
    errors : list of list of str
        Per run: the thresholds whose metric is not a number (``<section>.<key>: ...``).
    candidates : list of bool
        No blocking threshold failure and no error.
    ranks, top_k, topk_selected
        Rank of each candidate by the top_k metric, the top_k config and the runs it kept.
    correlation, corr_blocked, corr_note
        The correlation config, the runs it rejected (with the blocking pairs) and the note when
        no correlations were given.
    hysteresis, hyst_blocked
        The hysteresis config and the runs it rejected (``enter`` | ``exit``).
    selected : list of bool
        What survives selection.
    selected_set : set of int
    prev_active : set of str
    qmtl : bool
    on_missing, on_error : str
        The policy's ``validation`` options.
    memo : dict
        Results a batch rule computes once for the batch (cohort).
    """

    runs: list[RunRecord]
    views: list[MetricView]
    thresholds: list[Threshold]
    checks: list[list[Check]]
    errors: list[list[str]]
    candidates: list[bool]
    ranks: dict[int, int]
    top_k: Any
    topk_selected: set[int]
    correlation: Any
    corr_blocked: dict[int, list[tuple[str, float]]]
    corr_note: dict[int, str]
    hysteresis: Any
    hyst_blocked: dict[int, str]
    selected: list[bool]
    selected_set: set[int]
    prev_active: set[str]
    qmtl: bool
    on_missing: str
    on_error: str
    memo: dict = field(default_factory=dict)

    def section_checks(self, i: int, section: str, extension_only: bool = False) -> list[Check]:
        """Run ``i``'s checks of the thresholds of ``section`` (``extension_only``: the keys QMTL
        does not know)."""
        return [c for t, c in zip(self.thresholds, self.checks[i])
                if t.section == section and not (extension_only and t.qmtl)]

    def selection_label(self, i: int) -> str:
        """Why run ``i`` is or is not selected."""
        return _selection_label(i, self.candidates, self.topk_selected, self.selected_set)


def _pair_correlation(a: RunRecord, b: RunRecord, correlations: DataFrame | None, use_series: bool) -> float | None:
    """Correlation of two runs: the matrix (either orientation) or, in the default view, their
    return series (>= 3 common dates); None when unknown."""
    import pandas as pd

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


def selection_metric(view: MetricView, metric: str) -> Any:
    """Value of a selection metric.

    Parameters
    ----------
    view : MetricView
    metric : str
        ``sharpe`` (read as ``returns.sharpe`` in the default view, the leaf in QMTL's) or a
        dotted path.

    Returns
    -------
    Any
        The value, None when missing.
    """
    if view.qmtl:
        return view.flat.get(metric)
    return view.value(metric if "." in metric else f"returns.{metric}")


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
        val = selection_metric(view, cfg.metric)
        if is_number(val) and math.isinf(val) and all(c.metric != cfg.metric for c in out):
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


def core_batch(runs: list[RunRecord], policy: Policy, profile: ValidationProfile, *, qmtl: bool,
               prev_active: Iterable[str] = (), correlations: DataFrame | None = None) -> CoreBatch:
    """Every threshold on every run of one batch judged under ``profile``, then QMTL's selection
    (module docstring, steps 1 and 2).

    Parameters
    ----------
    runs : list of RunRecord
        The batch (one stage).
    policy : Policy
    profile : ValidationProfile
        The profile judging the batch.
    qmtl : bool
        QMTL's metric view and profile keys only (``--qmtl-compat``).
    prev_active : iterable of str
        Strategy ids active before this batch (hysteresis).
    correlations : DataFrame, optional
        Pairwise correlations, strategy ids as index and columns.

    Returns
    -------
    CoreBatch
        What the five core rules (and the cohort rule) read.
    """
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
            val = selection_metric(views[i], top_k.metric)
            scored.append((i, val if is_number(val) else -math.inf))
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
            val = selection_metric(views[i], hyst.metric)
            if not is_number(val):
                continue                                         # QMTL: dropped without a reason
            if runs[i].strategy_id in prev:
                (still.append(i) if val >= hyst.exit else hyst_blocked.__setitem__(i, "exit"))
            else:
                (still.append(i) if val >= hyst.enter else hyst_blocked.__setitem__(i, "enter"))
        alive = still
    selected = set(alive)

    return CoreBatch(runs=runs, views=views, thresholds=thresholds, checks=checks, errors=errors,
                     candidates=candidates, ranks=ranks, top_k=top_k, topk_selected=topk_selected,
                     correlation=corr_rule, corr_blocked=corr_blocked, corr_note=corr_note, hysteresis=hyst,
                     hyst_blocked=hyst_blocked, selected=[i in selected for i in range(len(runs))],
                     selected_set=selected, prev_active=prev, qmtl=qmtl, on_missing=on_missing, on_error=on_error)


__all__ = ["CoreBatch", "MetricError", "MetricView", "SAMPLE_KEYS", "Threshold", "check_threshold", "core_batch",
           "is_number", "profile_thresholds", "qmtl_flat_metrics", "selection_metric"]
