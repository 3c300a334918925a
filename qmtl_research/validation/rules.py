"""Validation rules beyond QMTL's five core rules: the extended layers (portfolio, benchmark,
stress, paper_shadow_consistency, live_monitoring; cohort is in the engine) and this project's
``research_model_rules`` (forecast_error, rating_accuracy, var_backtest, benchmark_performance,
performance_targets). The five core rules are :mod:`qmtl_research.validation.core`.

Each rule is a small class with ``checks(metrics, ctx) -> [Check]``; the base class folds the
checks into one :class:`RuleResult`. Status of a check: a bound breached -> ``fail``; a metric
missing -> per ``validation.on_missing_metric`` (``fail`` by default, as in QMTL; reason
``<metric>_missing``); inside the bounds -> ``pass``. Bounds are inclusive, except
``performance_targets`` (strict, as the audit seed states its targets). A rule's status is its
worst check.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping

from pydantic import BaseModel, Field

from qmtl_research.validation.metrics import get_metric
from qmtl_research.validation.policy import (RULE_DEFAULTS, THRESHOLDS, Policy, ValidationProfile,
                                             _Section)

Status = Literal["pass", "warn", "fail"]
_ORDER = {"pass": 0, "warn": 1, "fail": 2}
#: tolerance of the inclusive bounds (absorbs binary floating-point noise only)
EPS = 1e-12


class RuleResult(BaseModel):
    """QMTL's RuleResult."""

    rule: str
    status: Status
    severity: Literal["blocking", "soft", "info"]
    owner: Literal["quant", "risk", "ops"]
    reason_code: str
    reason: str
    tags: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Check:
    """One bound (or other test) inside a rule."""

    key: str
    metric: str
    status: Status
    reason_code: str
    reason: str
    value: Any = None
    bound: float | None = None
    kind: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RuleContext:
    stage: str
    policy: Policy
    profile_name: str
    profile: ValidationProfile
    on_missing_metric: str = "warn"


def _fmt(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def missing_check(key: str, metric: str, on_missing: str, bound: float | None = None, kind: str | None = None) -> Check:
    name = metric.split(".")[-1]
    status: Status = {"fail": "fail", "warn": "warn", "ignore": "pass"}[on_missing]
    code = f"{name}_missing" + ("_ignored" if on_missing == "ignore" else "")
    return Check(key, metric, status, code, f"{metric} is missing (on_missing_metric={on_missing})", None, bound, kind)


def bound_check(metrics: Mapping[str, Any], key: str, metric: str, kind: str, bound: float,
                on_missing: str, strict: bool = False) -> Check:
    """Inclusive bound: ``kind='min'`` passes when value >= bound, ``'max'`` when value <= bound.
    ``strict``: value > bound / value < bound (a value on the bound, up to :data:`EPS`, fails)."""
    value = get_metric(metrics, metric)
    if value is None:
        return missing_check(key, metric, on_missing, bound, kind)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"metric {metric} is not a number: {value!r}")
    name = metric.split(".")[-1]
    if math.isinf(value):          # no gate is passed by an infinite metric (blocking, own reason code)
        return Check(key, metric, "fail", f"{name}_not_finite",
                     f"{metric} is {value} (not a finite number): {key} cannot be checked", value, bound, kind)
    if kind == "min":
        ok = value > bound + EPS if strict else value >= bound - EPS
        code, op = (f"{name}_ok", ">" if strict else ">=") if ok else (f"{name}_below_min", "<=" if strict else "<")
    else:
        ok = value < bound - EPS if strict else value <= bound + EPS
        code, op = (f"{name}_ok", "<" if strict else "<=") if ok else (f"{name}_above_max", ">=" if strict else ">")
    return Check(key, metric, "pass" if ok else "fail", code,
                 f"{metric} {_fmt(value)} {op} {key} {_fmt(bound)}" + (" (strict target)" if strict else ""),
                 value, bound, kind)


def worst(statuses) -> Status:
    return max(statuses, key=_ORDER.__getitem__, default="pass")


def fold(name: str, checks: list[Check], severity: str, owner: str, tags: list[str],
         extra: dict | None = None) -> RuleResult:
    """One RuleResult from checks: worst status; reason of the first fail (else first warn)."""
    status = worst(c.status for c in checks)
    lead = next((c for c in checks if c.status == status and status != "pass"), None)
    if lead is None:  # all pass: surface an ignored missing metric rather than hide it
        lead = next((c for c in checks if c.reason_code.endswith("_missing_ignored")), None)
    if lead is None:
        code = f"{name}_ok" if checks else f"{name}_no_checks"
        reason = f"{len(checks)} check(s) within bounds" if checks else "no bounds configured"
    else:
        code = lead.reason_code
        reason = "; ".join(c.reason for c in checks if c.status != "pass" or c is lead)
    details = {"checks": [c.as_dict() for c in checks], **(extra or {})}
    return RuleResult(rule=name, status=status, severity=severity, owner=owner, reason_code=code,
                      reason=reason, tags=tags, details=details)


class Rule:
    """Base rule. ``name`` keys RuleResults; severity/owner come from the policy section or
    QMTL's defaults (:data:`RULE_DEFAULTS`)."""

    name: str = "rule"
    tags: tuple[str, ...] = ()

    def __init__(self, config: _Section | None = None, name: str | None = None):
        self.config = config
        if name:
            self.name = name
        sev, own = RULE_DEFAULTS[self.name]
        self.severity = (config.severity if config is not None and config.severity else sev)
        self.owner = (config.owner if config is not None and config.owner else own)

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:  # pragma: no cover
        raise NotImplementedError

    def result(self, checks: list[Check], extra: dict | None = None) -> RuleResult:
        return fold(self.name, checks, self.severity, self.owner, list(self.tags), extra)

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        return self.result(self.checks(metrics, ctx))


class BoundsRule(Rule):
    """Every bound a policy section sets (see :data:`~qmtl_research.validation.policy.THRESHOLDS`)."""

    def __init__(self, name: str, section: str, config: _Section, tags: tuple[str, ...] = ()):
        super().__init__(config, name)
        self.section = section
        self.tags = tags

    def bounds(self, ctx: RuleContext) -> list[tuple[str, str, str, float]]:
        return self.config.thresholds(self.section)

    def checks(self, metrics, ctx):
        return [bound_check(metrics, key, path, kind, bound, ctx.on_missing_metric)
                for key, path, kind, bound in self.bounds(ctx)]


class StressRule(BoundsRule):
    """Stress losses (``metrics.stress.<scenario>``, positive loss fractions) under ``max_loss``
    (every scenario present) and per-scenario limits."""

    def __init__(self, config):
        super().__init__("stress", "stress", config, ("extended", "stress"))

    def bounds(self, ctx):
        return [(f"scenarios.{s}", f"stress.{s}", "max", v) for s, v in self.config.scenarios.items()]

    def checks(self, metrics, ctx):
        out = super().checks(metrics, ctx)
        if self.config.max_loss is not None:
            scen = metrics.get("stress") or {}
            if not scen:
                out.append(missing_check("max_loss", "stress", ctx.on_missing_metric, self.config.max_loss, "max"))
            for s in sorted(scen):
                out.append(bound_check(metrics, "max_loss", f"stress.{s}", "max", self.config.max_loss,
                                       ctx.on_missing_metric))
        return out


class LiveMonitoringRule(BoundsRule):
    """Live metrics over the configured window (``metrics.live.<metric>_<W>d``)."""

    def __init__(self, config):
        super().__init__("live_monitoring", "live_monitoring", config, ("extended", "monitoring"))

    def bounds(self, ctx):
        w, c = self.config.window_days, self.config
        spec = [("sharpe_min", f"live.sharpe_{w}d", "min", c.sharpe_min),
                ("max_dd_max", f"live.max_drawdown_{w}d", "max", c.max_dd_max),
                ("es_p01_max", f"live.es_p01_{w}d", "max", c.es_p01_max),
                ("min_live_vs_backtest_sharpe_ratio", "live.live_vs_backtest_sharpe_ratio", "min",
                 c.min_live_vs_backtest_sharpe_ratio)]
        return [(k, p, kind, float(v)) for k, p, kind, v in spec if v is not None]


class ForecastErrorRule(Rule):
    """Stage 1 (volatility): champion's error <= the best challenger's x (1 + max_relative_gap).
    Reads ``metrics.models.forecast.<metric>.<model>`` (percent units, from volatility/table2);
    the challengers are the configured ones, or every other recorded model (None)."""

    name = "forecast_error"
    tags = ("model", "stage1", "challenger")

    def checks(self, metrics, ctx):
        c, out = self.config, []
        base = f"models.forecast.{c.metric.lower()}"
        champ = get_metric(metrics, f"{base}.{c.champion}")
        if champ is None:
            return [missing_check("champion", f"{base}.{c.champion}", ctx.on_missing_metric)]
        if c.challengers is None:
            recorded = get_metric(metrics, base) or {}
            names = [m for m in recorded if m != c.champion]
        else:
            names = list(c.challengers)
        values = {}
        for ch in names:
            other = get_metric(metrics, f"{base}.{ch}")
            if other is None:
                out.append(missing_check(f"challenger {ch}", f"{base}.{ch}", ctx.on_missing_metric))
            else:
                values[ch] = other
        if not values:
            return out or [missing_check("challengers", f"{base}.<challenger>", ctx.on_missing_metric)]
        best = min(values, key=values.get)
        limit = values[best] * (1 + c.max_relative_gap)
        ok = champ <= limit + EPS
        out.append(Check(f"best challenger {best}", f"{base}.{c.champion}", "pass" if ok else "fail",
                         "forecast_error_ok" if ok else "forecast_error_above_challenger",
                         f"{c.champion} {c.metric} {_fmt(champ)} {'<=' if ok else '>'} best challenger {best} "
                         f"{_fmt(values[best])} x (1 + {_fmt(c.max_relative_gap)}) (of {len(values)} challengers: "
                         + ", ".join(f"{m} {_fmt(v)}" for m, v in sorted(values.items(), key=lambda kv: kv[1]))
                         + ")", champ, limit, "max"))
        return out


class RatingAccuracyRule(Rule):
    """Stage 2 (rating): accuracy margin over the regulatory rule (and persistence), fractions.
    Reads ``metrics.models.rating`` (from rating/summary)."""

    name = "rating_accuracy"
    tags = ("model", "stage2", "benchmark")

    def checks(self, metrics, ctx):
        c, om = self.config, ctx.on_missing_metric
        out = [bound_check(metrics, "min_margin_vs_rule", "models.rating.margin_vs_rule", "min",
                           c.min_margin_vs_rule, om)]
        if c.min_accuracy is not None:
            out.append(bound_check(metrics, "min_accuracy", "models.rating.best_accuracy", "min", c.min_accuracy, om))
        if c.min_margin_vs_persistence is not None:
            out.append(bound_check(metrics, "min_margin_vs_persistence", "models.rating.margin_vs_persistence",
                                   "min", c.min_margin_vs_persistence, om))
        return out


class VarBacktestRule(Rule):
    """VaR backtest traffic light (``metrics.models.var_backtest.zone``, from risk/backtest or the
    fund-level volatility/var_backtests) and, with ``min_es_p_value``, the ES backtests'
    p-values (``metrics.models.var_backtest.es_<test>``)."""

    name = "var_backtest"
    tags = ("model", "risk", "backtest")

    def checks(self, metrics, ctx):
        zone = get_metric(metrics, "models.var_backtest.zone")
        if zone is None:
            return [missing_check("zone", "models.var_backtest.zone", ctx.on_missing_metric)]
        status: Status = ("pass" if zone in self.config.pass_zones else
                          "warn" if zone in self.config.warn_zones else "fail")
        exc = get_metric(metrics, "models.var_backtest.exceptions")
        exp = get_metric(metrics, "models.var_backtest.expected_exceptions")
        out = [Check("zone", "models.var_backtest.zone", status, f"var_backtest_zone_{zone}",
                     f"VaR backtest zone {zone} ({_fmt(exc)} exceptions, {_fmt(exp)} expected)", zone)]
        if self.config.min_es_p_value is not None:
            for test in self.config.es_tests:
                path = f"models.var_backtest.es_{test}"
                p = get_metric(metrics, path)
                if p is None:
                    out.append(missing_check(f"es_{test}", path, ctx.on_missing_metric))
                    continue
                ok = p >= self.config.min_es_p_value
                out.append(Check(f"es_{test}", path, "pass" if ok else "fail",
                                 f"es_backtest_{test}_{'ok' if ok else 'rejected'}",
                                 f"ES backtest {test[:-2]} p-value {_fmt(p)} {'>=' if ok else '<'} "
                                 f"{self.config.min_es_p_value}", p, self.config.min_es_p_value, "min"))
        return out


class PerformanceTargetsRule(Rule):
    """The audit layer's performance targets on ``metrics.audit_performance`` (strict bounds:
    Sharpe > 1, Sortino > 1.5, max drawdown < 20 %, win rate > 50 %, profit factor > 1.5,
    alpha > 0 in the shipped portfolios policy). Units: ``max_drawdown`` a positive loss
    fraction, ``win_rate`` a fraction, ``alpha`` an annualised fraction. A missing metric (or the
    whole block) -> ``<metric>_missing`` per ``validation.on_missing_metric``."""

    name = "performance_targets"
    tags = ("model", "audit", "performance")

    def checks(self, metrics, ctx):
        return [bound_check(metrics, key, path, kind, bound, ctx.on_missing_metric, strict=True)
                for key, path, kind, bound in self.config.targets()]


# ------------------------------------------------------------------ building
def build_rules(policy: Policy, profile: ValidationProfile, stage: str, *, research: bool = True) -> list[Rule]:
    """The per-run rules a policy configures for ``stage`` beyond QMTL's five core rules
    (:func:`qmtl_research.validation.core.evaluate_core`; cohort acts on the batch and is
    applied by the engine). ``research=False`` leaves out ``research_model_rules`` (QMTL's
    engine does not know them: ``--qmtl-compat``)."""
    rules: list[Rule] = []
    if policy.portfolio is not None:
        rules.append(BoundsRule("portfolio", "portfolio", policy.portfolio, ("extended", "portfolio")))
    if policy.benchmark is not None:
        rules.append(BoundsRule("benchmark", "benchmark", policy.benchmark, ("extended", "benchmark")))
    if policy.stress is not None:
        rules.append(StressRule(policy.stress))
    ps = policy.paper_shadow_consistency
    if ps is not None and stage in ps.stages:
        rules.append(BoundsRule("paper_shadow_consistency", "paper_shadow_consistency", ps, ("extended", "paper")))
    lm = policy.live_monitoring
    if lm is not None and stage in lm.stages:
        rules.append(LiveMonitoringRule(lm))
    mr = policy.research_model_rules if research else None
    if mr is not None:
        if mr.forecast_error is not None:
            rules.append(ForecastErrorRule(mr.forecast_error))
        if mr.rating_accuracy is not None:
            rules.append(RatingAccuracyRule(mr.rating_accuracy))
        if mr.var_backtest is not None:
            rules.append(VarBacktestRule(mr.var_backtest))
        if mr.benchmark_performance is not None:
            rules.append(BoundsRule("benchmark_performance", "benchmark_performance", mr.benchmark_performance,
                                    ("model", "benchmark")))
        if mr.performance_targets is not None:
            rules.append(PerformanceTargetsRule(mr.performance_targets))
    return rules


__all__ = ["RuleResult", "Check", "RuleContext", "Rule", "BoundsRule", "StressRule", "LiveMonitoringRule",
           "ForecastErrorRule", "RatingAccuracyRule", "VarBacktestRule", "PerformanceTargetsRule", "build_rules", "bound_check",
           "missing_check", "fold", "worst", "THRESHOLDS", "EPS"]
