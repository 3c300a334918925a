"""QMTL's extended validation layers as rules: portfolio, benchmark, stress,
paper_shadow_consistency, live_monitoring (per run) and cohort (the batch), each with its
config class (the top-level policy key of the same name) and its default severity / owner
(QMTL's engine's defaults)."""
from __future__ import annotations

import statistics
from typing import Any, ClassVar, Literal, Mapping

from pydantic import Field

from qmtl_research.validation.rules import (BoundsRule, Check, RuleBase, RuleContext, RuleResult, bound_check, fold,
                                            missing_check)
from qmtl_research.metric_paths import get_metric
from qmtl_research.validation.thresholds import RuleConfig, bounds_config

PortfolioConfig = bounds_config("PortfolioConfig", "portfolio",
                                doc="``portfolio``: bounds on the run's incremental VaR / ES at 99 %.")
BenchmarkConfig = bounds_config("BenchmarkConfig", "benchmark",
                                doc="``benchmark``: bounds on the uplift over the benchmark (Sharpe, drawdown, ES).")
PaperShadowConsistencyConfig = bounds_config(
    "PaperShadowConsistencyConfig", "paper_shadow_consistency",
    {"stages": (list[Literal["backtest", "paper", "live"]], ["paper", "live"])},
    doc="``paper_shadow_consistency``: live vs backtest ratios, applied at ``stages``.")


class StressConfig(RuleConfig):
    """Bounds on stress losses (``metrics.stress.<scenario>``, positive loss fractions)."""

    max_loss: float | None = None
    scenarios: dict[str, float] = Field(default_factory=dict)


class LiveMonitoringConfig(RuleConfig):
    """Bounds on the live period's metrics over ``window_days`` (``metrics.live``)."""

    window_days: Literal[30, 60, 90] = 90
    sharpe_min: float | None = None
    max_dd_max: float | None = None
    es_p01_max: float | None = None
    min_live_vs_backtest_sharpe_ratio: float | None = None
    stages: list[Literal["backtest", "paper", "live"]] = Field(default_factory=lambda: ["live"])


class CohortConfig(RuleConfig):
    """Cohort (the batch evaluated together): size and median Sharpe of the cohort, and the
    share of it failing blocking rules."""

    min_size: int = Field(2, ge=1)
    sharpe_median_min: float | None = None
    max_fail_share: float | None = Field(None, ge=0, le=1)


class PortfolioRule(BoundsRule):
    """Every ``portfolio`` bound (incremental VaR / ES at 99 %, ``metrics.risk``)."""

    name = "portfolio"
    config_class = PortfolioConfig
    default_severity, default_owner = "blocking", "risk"
    tags = ("extended", "portfolio")
    family = "extended"


class BenchmarkRule(BoundsRule):
    """Every ``benchmark`` bound (``metrics.benchmark``)."""

    name = "benchmark"
    config_class = BenchmarkConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("extended", "benchmark")
    family = "extended"


class StressRule(BoundsRule):
    """Stress losses (``metrics.stress.<scenario>``, positive loss fractions) under ``max_loss``
    (every scenario present) and per-scenario limits."""

    name = "stress"
    config_class = StressConfig
    default_severity, default_owner = "blocking", "risk"
    tags = ("extended", "stress")
    family = "extended"

    def bounds(self, ctx: RuleContext) -> list[tuple[str, str, str, float]]:
        """One ``max`` bound per configured scenario."""
        return [(f"scenarios.{s}", f"stress.{s}", "max", v) for s, v in self.config.scenarios.items()]

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        """The scenario limits, then ``max_loss`` on every scenario the run recorded."""
        out = super().checks(metrics, ctx)
        if self.config.max_loss is not None:
            scen = metrics.get("stress") or {}
            if not scen:
                out.append(missing_check("max_loss", "stress", ctx.on_missing_metric, self.config.max_loss, "max"))
            for s in sorted(scen):
                out.append(bound_check(metrics, "max_loss", f"stress.{s}", "max", self.config.max_loss,
                                       ctx.on_missing_metric))
        return out


class PaperShadowConsistencyRule(BoundsRule):
    """Live vs backtest consistency bounds (``metrics.live``), at the configured stages."""

    name = "paper_shadow_consistency"
    config_class = PaperShadowConsistencyConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("extended", "paper")
    family = "extended"


class LiveMonitoringRule(BoundsRule):
    """Live metrics over the configured window (``metrics.live.<metric>_<W>d``)."""

    name = "live_monitoring"
    config_class = LiveMonitoringConfig
    default_severity, default_owner = "blocking", "risk"
    tags = ("extended", "monitoring")
    family = "extended"

    def bounds(self, ctx: RuleContext) -> list[tuple[str, str, str, float]]:
        """The window's bounds that are set."""
        w, c = self.config.window_days, self.config
        spec = [("sharpe_min", f"live.sharpe_{w}d", "min", c.sharpe_min),
                ("max_dd_max", f"live.max_drawdown_{w}d", "max", c.max_dd_max),
                ("es_p01_max", f"live.es_p01_{w}d", "max", c.es_p01_max),
                ("min_live_vs_backtest_sharpe_ratio", "live.live_vs_backtest_sharpe_ratio", "min",
                 c.min_live_vs_backtest_sharpe_ratio)]
        return [(k, p, kind, float(v)) for k, p, kind, v in spec if v is not None]


class CohortRule(RuleBase):
    """The cohort (every run of the batch judged together): at least ``min_size`` runs, median
    Sharpe >= ``sharpe_median_min``, share of runs failing a threshold <= ``max_fail_share``.
    The same result for every run of the batch."""

    name = "cohort"
    config_class = CohortConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("extended", "cohort")
    family = "extended"
    scope = "batch"

    def cohort_checks(self, ctx: RuleContext) -> tuple[list[Check], dict]:
        """The cohort's checks and statistics (size, median Sharpe, fail share) from the batch pass."""
        c, batch, on_missing = self.config, ctx.batch, ctx.on_missing_metric
        runs = batch.runs
        not_candidate = [not x for x in batch.candidates]
        sharpes = [v for r in runs if (v := get_metric(r.metrics, "returns.sharpe")) is not None]
        stats = {"cohort_size": len(runs), "cohort_sharpe_median": statistics.median(sharpes) if sharpes else None,
                 "cohort_fail_share": sum(not_candidate) / len(runs) if runs else None}
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
                             f"{s:.1%} of the cohort fail a threshold (max {c.max_fail_share:.1%})", s,
                             c.max_fail_share, "max"))
        return out, stats

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The cohort's verdict (computed once per batch, in ``ctx.batch.memo``)."""
        memo = ctx.batch.memo
        if self.name not in memo:
            memo[self.name] = self.cohort_checks(ctx)
        checks, stats = memo[self.name]
        return fold(self.name, checks, self.severity, self.owner, list(self.tags), stats)


__all__ = ["BenchmarkConfig", "BenchmarkRule", "CohortConfig", "CohortRule", "LiveMonitoringConfig",
           "LiveMonitoringRule", "PaperShadowConsistencyConfig", "PaperShadowConsistencyRule", "PortfolioConfig",
           "PortfolioRule", "StressConfig", "StressRule"]
