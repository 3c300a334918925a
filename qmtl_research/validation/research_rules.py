"""This project's ``research_model_rules`` (QMTL does not know them; left out under
``--qmtl-compat``): forecast_error (stage 1), rating_accuracy (stage 2), var_backtest,
benchmark_performance and performance_targets, each with its config class (the key of the same
name under ``research_model_rules``) and its default severity / owner."""
from __future__ import annotations

from typing import Any, ClassVar, Literal, Mapping

from pydantic import Field

from qmtl_research.errors import ConfigError
from qmtl_research.validation.rules import (EPS, BoundsRule, Check, RuleBase, RuleContext, Status, _fmt, bound_check,
                                            missing_check)
from qmtl_research.metric_paths import get_metric
from qmtl_research.validation.thresholds import RuleConfig, bounds_config


class ForecastErrorConfig(RuleConfig):
    """Stage 1: the champion's (the model under validation) forecast error must not exceed the
    **best** challenger's by more than ``max_relative_gap`` (0 = champion at least as good).
    ``champion``: None (default) = the model under validation the run's stage 1 recorded
    (``models.forecast.validated_model``, from ``Stage1Config.validated_model``, its one
    declaration); a name given here must agree with it, else the run is refused (ConfigError).
    ``challengers``: the models to compare with; None (default) = every other stage-1 model the
    run recorded (GARCH, LSTM, naive, EWMA, GJR-GARCH, HAR, ...). Reads volatility/table2."""

    champion: str | None = None
    challengers: list[str] | None = None
    metric: Literal["RMSE", "MSE"] = "RMSE"
    max_relative_gap: float = Field(0.0, ge=0)


class RatingAccuracyConfig(RuleConfig):
    """Stage 2: best SVC accuracy minus the regulatory-rule accuracy >= ``min_margin_vs_rule``
    (fractions). Reads rating/summary."""

    min_margin_vs_rule: float = 0.0
    min_accuracy: float | None = None
    min_margin_vs_persistence: float | None = None


class VarBacktestConfig(RuleConfig):
    """Basel traffic-light zone of the VaR backtest (risk/backtest, or the fund-level backtests of
    volatility/var_backtests): ``pass_zones`` pass, ``warn_zones`` warn, any other zone fails; with
    ``min_es_p_value`` each ES test of ``es_tests`` (Acerbi-Szekely ``z1_p``/``z2_p``,
    McNeil-Frey ``mf_p``, Du-Escanciano ``de_u_p``/``de_c_p``) fails below it."""

    pass_zones: list[Literal["green", "yellow", "red"]] = Field(default_factory=lambda: ["green"])
    warn_zones: list[Literal["green", "yellow", "red"]] = Field(default_factory=lambda: ["yellow"])
    #: ES backtests (``models.var_backtest.es_<test>``): each p-value below ``min_es_p_value`` fails
    min_es_p_value: float | None = Field(None, gt=0, lt=1)
    es_tests: list[Literal["z1_p", "z2_p", "mf_p", "de_u_p", "de_c_p"]] = Field(default_factory=lambda: ["z2_p"])


BenchmarkPerformanceConfig = bounds_config(
    "BenchmarkPerformanceConfig", "benchmark_performance",
    doc="``research_model_rules.benchmark_performance``: bounds on the uplift over the benchmark.")


class PerformanceTargetsConfig(RuleConfig):
    """The audit layer's performance targets (audit seed, "주요 지표 설명"): Sharpe > 1,
    Sortino > 1.5, max drawdown < 20 %, win rate > 50 %, profit factor > 1.5, alpha > 0.

    Reads ``metrics.audit_performance.{sharpe_ratio, sortino_ratio, max_drawdown (positive loss
    fraction), win_rate (fraction), profit_factor, alpha (annualised fraction)}``. The bounds are
    **strict**, as the seed writes them (a value exactly on a target misses it), unlike QMTL's
    inclusive thresholds. Only the keys that are set are checked."""

    sharpe_min: float | None = None
    sortino_min: float | None = None
    max_dd_max: float | None = None
    win_rate_min: float | None = None
    profit_factor_min: float | None = None
    alpha_min: float | None = None

    #: policy key -> (metric path, "min" | "max"); strict bounds
    TARGETS: ClassVar[dict[str, tuple[str, str]]] = {
        "sharpe_min": ("audit_performance.sharpe_ratio", "min"),
        "sortino_min": ("audit_performance.sortino_ratio", "min"),
        "max_dd_max": ("audit_performance.max_drawdown", "max"),
        "win_rate_min": ("audit_performance.win_rate", "min"),
        "profit_factor_min": ("audit_performance.profit_factor", "min"),
        "alpha_min": ("audit_performance.alpha", "min"),
    }

    def targets(self) -> list[tuple[str, str, str, float]]:
        """``[(policy key, metric path, 'min' | 'max', bound)]`` of the targets that are set."""
        return [(k, path, kind, float(getattr(self, k))) for k, (path, kind) in self.TARGETS.items()
                if getattr(self, k) is not None]


class ForecastErrorRule(RuleBase):
    """Stage 1 (volatility): champion's error <= the best challenger's x (1 + max_relative_gap).
    Reads ``metrics.models.forecast.<metric>.<model>`` (percent units, from volatility/table2);
    the challengers are the configured ones, or every other recorded model (None)."""

    name = "forecast_error"
    config_class = ForecastErrorConfig
    default_severity, default_owner = "blocking", "quant"
    tags = ("model", "stage1", "challenger")

    def champion(self, metrics: Mapping[str, Any]) -> str | None:
        """The model under validation: the run's recorded ``models.forecast.validated_model``
        (stage 1's config), else the policy's ``champion``; None when neither says.

        Raises
        ------
        ConfigError
            The policy's ``champion`` and the run's validated model disagree.
        """
        recorded = get_metric(metrics, "models.forecast.validated_model")
        declared = self.config.champion
        if declared is not None and recorded is not None and declared != recorded:
            raise ConfigError(
                f"the policy's forecast_error champion '{declared}' is not the model stage 1 validated "
                f"('{recorded}', Stage1Config.validated_model)",
                where="policy field research_model_rules.forecast_error.champion",
                fix="remove champion from the policy (the rule then judges the stage-1 config's validated_model) "
                    "or validate that model in stage 1")
        return recorded if recorded is not None else declared

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        """A missing champion / challenger per ``on_missing_metric``, then the comparison with the
        best challenger."""
        c, out, champion = self.config, [], self.champion(metrics)
        base = f"models.forecast.{c.metric.lower()}"
        if champion is None:
            return [missing_check("champion", "models.forecast.validated_model", ctx.on_missing_metric)]
        champ = get_metric(metrics, f"{base}.{champion}")
        if champ is None:
            return [missing_check("champion", f"{base}.{champion}", ctx.on_missing_metric)]
        if c.challengers is None:
            recorded = get_metric(metrics, base) or {}
            names = [m for m in recorded if m != champion]
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
        out.append(Check(f"best challenger {best}", f"{base}.{champion}", "pass" if ok else "fail",
                         "forecast_error_ok" if ok else "forecast_error_above_challenger",
                         f"{champion} {c.metric} {_fmt(champ)} {'<=' if ok else '>'} best challenger {best} "
                         f"{_fmt(values[best])} x (1 + {_fmt(c.max_relative_gap)}) (of {len(values)} challengers: "
                         + ", ".join(f"{m} {_fmt(v)}" for m, v in sorted(values.items(), key=lambda kv: kv[1]))
                         + ")", champ, limit, "max"))
        return out


class RatingAccuracyRule(RuleBase):
    """Stage 2 (rating): accuracy margin over the regulatory rule (and persistence), fractions.
    Reads ``metrics.models.rating`` (from rating/summary)."""

    name = "rating_accuracy"
    config_class = RatingAccuracyConfig
    default_severity, default_owner = "blocking", "quant"
    tags = ("model", "stage2", "benchmark")

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        """The margin over the rule, then accuracy and margin over persistence when set."""
        c, om = self.config, ctx.on_missing_metric
        out = [bound_check(metrics, "min_margin_vs_rule", "models.rating.margin_vs_rule", "min",
                           c.min_margin_vs_rule, om)]
        if c.min_accuracy is not None:
            out.append(bound_check(metrics, "min_accuracy", "models.rating.best_accuracy", "min", c.min_accuracy, om))
        if c.min_margin_vs_persistence is not None:
            out.append(bound_check(metrics, "min_margin_vs_persistence", "models.rating.margin_vs_persistence",
                                   "min", c.min_margin_vs_persistence, om))
        return out


class VarBacktestRule(RuleBase):
    """VaR backtest traffic light (``metrics.models.var_backtest.zone``, from risk/backtest or the
    fund-level volatility/var_backtests) and, with ``min_es_p_value``, the ES backtests'
    p-values (``metrics.models.var_backtest.es_<test>``)."""

    name = "var_backtest"
    config_class = VarBacktestConfig
    default_severity, default_owner = "blocking", "risk"
    tags = ("model", "risk", "backtest")

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        """The zone, then each configured ES test's p-value."""
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


class BenchmarkPerformanceRule(BoundsRule):
    """Every ``benchmark_performance`` bound (``metrics.benchmark``)."""

    name = "benchmark_performance"
    config_class = BenchmarkPerformanceConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("model", "benchmark")


class PerformanceTargetsRule(RuleBase):
    """The audit layer's performance targets on ``metrics.audit_performance`` (strict bounds:
    Sharpe > 1, Sortino > 1.5, max drawdown < 20 %, win rate > 50 %, profit factor > 1.5,
    alpha > 0 in the shipped portfolios policy). Units: ``max_drawdown`` a positive loss
    fraction, ``win_rate`` a fraction, ``alpha`` an annualised fraction. A missing metric (or the
    whole block) -> ``<metric>_missing`` per ``validation.on_missing_metric``."""

    name = "performance_targets"
    config_class = PerformanceTargetsConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("model", "audit", "performance")

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        """One strict bound per target that is set."""
        return [bound_check(metrics, key, path, kind, bound, ctx.on_missing_metric, strict=True)
                for key, path, kind, bound in self.config.targets()]


__all__ = ["BenchmarkPerformanceConfig", "BenchmarkPerformanceRule", "ForecastErrorConfig", "ForecastErrorRule",
           "PerformanceTargetsConfig", "PerformanceTargetsRule", "RatingAccuracyConfig", "RatingAccuracyRule",
           "VarBacktestConfig", "VarBacktestRule"]
