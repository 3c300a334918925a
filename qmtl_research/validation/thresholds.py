"""The policy keys that are bounds on a metric, and the base of every rule's config class.

One home for: which policy key bounds which metric (:data:`THRESHOLDS`), which of those keys
QMTL's own engine knows (:data:`QMTL_PROFILE_KEYS`), the order QMTL merges the profile sections
(:data:`PROFILE_SECTIONS`), and :class:`RuleConfig`, the pydantic base of every ``<Rule>Config``
(each rule module declares its own config next to its rule). This module imports nothing of the
validation package, so rule modules and :mod:`qmtl_research.validation.policy` can both use it.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

Severity = Literal["blocking", "soft", "info"]
Owner = Literal["quant", "risk", "ops"]

#: (profile section, policy key) -> (metric path, "min" | "max")
THRESHOLDS: dict[str, dict[str, tuple[str, str]]] = {
    "data_currency": {"max_lag_days": ("diagnostics.data_lag_days", "max")},
    "sample": {"min_effective_years": ("sample.effective_history_years", "min"),
               "min_trades_total": ("sample.n_trades_total", "min"),
               "min_trades_per_year": ("sample.n_trades_per_year", "min"),
               "min_regime_coverage": ("sample.regime_coverage", "min")},
    "performance": {"sharpe_min": ("returns.sharpe", "min"),
                    "max_dd_max": ("returns.max_drawdown", "max"),
                    "gain_to_pain_min": ("returns.gain_to_pain_ratio", "min"),
                    "sortino_min": ("returns.sortino_ratio", "min"),
                    "time_under_water_max": ("returns.time_under_water_ratio", "max"),
                    "var_p01_max": ("returns.var_p01", "max"),
                    "es_p01_max": ("returns.es_p01", "max")},
    "robustness": {"dsr_min": ("robustness.deflated_sharpe_ratio", "min"),
                   "psr_min": ("robustness.probabilistic_sharpe_ratio", "min"),
                   "sharpe_first_half_min": ("robustness.sharpe_first_half", "min"),
                   "sharpe_second_half_min": ("robustness.sharpe_second_half", "min"),
                   "cv_sharpe_mean_min": ("robustness.cv_sharpe_mean", "min"),
                   "cv_sharpe_std_max": ("robustness.cv_sharpe_std", "max")},
    "risk": {"adv_utilization_p95_max": ("risk.adv_utilization_p95", "max"),
             "participation_rate_p95_max": ("risk.participation_rate_p95", "max"),
             "incremental_var_99_max": ("risk.incremental_var_99", "max"),
             "incremental_es_99_max": ("risk.incremental_es_99", "max")},
    # extended layers (top-level policy keys)
    "portfolio": {"incremental_var_99_max": ("risk.incremental_var_99", "max"),
                  "incremental_es_99_max": ("risk.incremental_es_99", "max")},
    "benchmark": {"sharpe_uplift_min": ("benchmark.sharpe_uplift", "min"),
                  "max_dd_improvement_min": ("benchmark.max_drawdown_improvement", "min"),
                  "es_improvement_min": ("benchmark.es_improvement", "min")},
    "paper_shadow_consistency": {"min_sharpe_ratio": ("live.live_vs_backtest_sharpe_ratio", "min"),
                                 "max_dd_ratio_max": ("live.max_drawdown_ratio", "max")},
    "benchmark_performance": {"sharpe_uplift_min": ("benchmark.sharpe_uplift", "min"),
                              "max_dd_improvement_min": ("benchmark.max_drawdown_improvement", "min"),
                              "es_improvement_min": ("benchmark.es_improvement", "min")},
}

#: profile keys QMTL's engine knows (qmtl/services/worldservice/policy_engine.py, ``*Profile``
#: models), in its field order; QMTL keys its thresholds by the metric's leaf name
QMTL_PROFILE_KEYS: dict[str, tuple[str, ...]] = {
    "sample": ("min_effective_years", "min_trades_total"),
    "performance": ("sharpe_min", "max_dd_max", "gain_to_pain_min"),
    "robustness": ("dsr_min",),
    "risk": ("adv_utilization_p95_max", "participation_rate_p95_max"),
}
#: profile sections in the order QMTL merges their thresholds (``ValidationProfile.to_thresholds``);
#: ``data_currency`` (our extension, ``max_lag_days``) comes last
PROFILE_SECTIONS = ("sample", "performance", "robustness", "risk", "data_currency")


class StrictModel(BaseModel):
    """A policy model: unknown keys and values of the wrong type are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RuleConfig(StrictModel):
    """Base of every rule's config class (``<Rule>Config``): the policy section that configures
    the rule. ``severity`` / ``owner`` override the rule's defaults when set."""

    severity: Severity | None = None
    owner: Owner | None = None

    def thresholds(self, section: str) -> list[tuple[str, str, str, float]]:
        """The bounds of this section that are set.

        Parameters
        ----------
        section : str
            Key of :data:`THRESHOLDS` whose bounds this config holds.

        Returns
        -------
        list of tuple
            ``(policy key, metric path, 'min' | 'max', bound)`` in :data:`THRESHOLDS` order.
        """
        out = []
        for key, (path, kind) in THRESHOLDS.get(section, {}).items():
            value = getattr(self, key, None)
            if value is not None:
                out.append((key, path, kind, float(value)))
        return out


def bounds_config(class_name: str, section: str, extra: dict[str, Any] | None = None,
                  doc: str | None = None) -> type[RuleConfig]:
    """A :class:`RuleConfig` with one optional float field per key of ``THRESHOLDS[section]``.

    Parameters
    ----------
    class_name : str
        Name of the new class (``<Rule>Config``).
    section : str
        Key of :data:`THRESHOLDS` listing the bounds.
    extra : dict, optional
        Further fields, as :func:`pydantic.create_model` takes them.
    doc : str, optional
        The class docstring.

    Returns
    -------
    type
        The new config class.
    """
    fields: dict[str, Any] = {key: (float | None, None) for key in THRESHOLDS[section]}
    fields.update(extra or {})
    cls = create_model(class_name, __base__=RuleConfig, **fields)
    cls.__doc__ = doc or f"Bounds of the ``{section}`` section (:data:`THRESHOLDS`)."
    return cls


__all__ = ["Owner", "PROFILE_SECTIONS", "QMTL_PROFILE_KEYS", "RuleConfig", "Severity", "StrictModel", "THRESHOLDS",
           "bounds_config"]
