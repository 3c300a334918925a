"""QMTL's five core rules as rule classes: data_currency, sample, performance, risk_constraint,
robustness (QMTL's logic and defaults: :mod:`qmtl_research.validation.core`'s docstring). Each
reads the batch pass (:class:`~qmtl_research.validation.core.CoreBatch`, ``ctx.batch``) for its
run (``ctx.index``); its config is its section of the validation profile (``risk`` for
risk_constraint), whose ``severity`` / ``owner`` override the defaults."""
from __future__ import annotations

import math
from typing import Any, Mapping

from qmtl_research.validation.core import CoreBatch, MetricView, is_number, selection_metric
from qmtl_research.validation.rules import Check, RuleBase, RuleContext, RuleResult
from qmtl_research.validation.thresholds import bounds_config

DataCurrencyConfig = bounds_config("DataCurrencyConfig", "data_currency",
                                   doc="Profile section ``data_currency`` (this project's ``max_lag_days``).")
SampleConfig = bounds_config("SampleConfig", "sample", doc="Profile section ``sample``: sample-depth bounds.")
PerformanceConfig = bounds_config("PerformanceConfig", "performance",
                                  doc="Profile section ``performance``: return bounds.")
RobustnessConfig = bounds_config("RobustnessConfig", "robustness", {
    # QMTL: |sharpe_first_half - sharpe_second_half| above this fails robustness
    "cv_sharpe_gap_max": (float | None, None)},
    doc="Profile section ``robustness``: DSR and the other robustness bounds, and QMTL's "
        "``cv_sharpe_gap_max`` (the largest |first - second half Sharpe|).")
RiskConstraintConfig = bounds_config("RiskConstraintConfig", "risk",
                                     doc="Profile section ``risk``: capacity and incremental risk bounds.")


def _result(rule: str, status: str, severity: str, owner: str, code: str, reason: str, tags: list[str],
            details: dict) -> RuleResult:
    return RuleResult(rule=rule, status=status, severity=severity, owner=owner, reason_code=code, reason=reason,
                      tags=tags, details=details)


class _CoreRule(RuleBase):
    """Shared by the five core rules: the batch pass of the run, and the ``rule_error`` verdict."""

    family = "core"
    scope = "core"

    @staticmethod
    def batch_of(ctx: RuleContext) -> tuple[CoreBatch, int]:
        """The batch pass and the run's position in it."""
        if ctx.batch is None or ctx.index is None:
            raise ValueError("a core rule needs the batch pass (RuleContext.batch and .index): judge runs with "
                             "qmtl_research.validation.engine.evaluate_batch")
        return ctx.batch, ctx.index

    def error_result(self, errs: list[str], on_error: str) -> RuleResult:
        """The rule's verdict when a metric it reads is not a number (``validation.on_error``).

        Parameters
        ----------
        errs : list of str
            The errors (``section.metric: what``).
        on_error : str
            The verdict an error gives (the policy's ``validation.on_error``).

        Returns
        -------
        RuleResult
        """
        return _result(self.name, on_error, self.severity, self.owner, "rule_error", "; ".join(errs), [self.name],
                       {"error": errs})

    def section_error(self, batch: CoreBatch, i: int, section: str) -> RuleResult | None:
        """:meth:`error_result` of run ``i``'s errors in metrics of ``section``; None when there are none.

        Parameters
        ----------
        batch : CoreBatch
            The batch pass.
        i : int
            The run's position in it.
        section : str
            The metric section (``"sample"``, ``"robustness"``).

        Returns
        -------
        RuleResult or None
        """
        errs = [e for e in batch.errors[i] if e.startswith(f"{section}.")]
        return self.error_result(errs, batch.on_error) if errs else None


class DataCurrencyRule(_CoreRule):
    """No numeric metric at all -> ``metrics_missing``; a ``data_currency`` bound missing or
    breached (default view) -> that; else ``data_currency_ok``."""

    name = "data_currency"
    config_class = DataCurrencyConfig
    default_severity, default_owner = "blocking", "ops"
    tags = ("data_currency",)

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on run ``ctx.index`` (QMTL's view: always blocking/ops)."""
        batch, i = self.batch_of(ctx)
        view, on_missing = batch.views[i], batch.on_missing
        dc_checks = batch.section_checks(i, "data_currency")
        sev, own = (self.default_severity, self.default_owner) if batch.qmtl else (self.severity, self.owner)
        tags = list(self.tags)
        details = {"policy_on_missing_metric": on_missing, "checks": [c.as_dict() for c in dc_checks]}
        if view.empty:
            return _result(self.name, "fail" if on_missing == "fail" else "warn",
                           "info" if on_missing == "ignore" else sev, own, "metrics_missing",
                           "No metrics provided for strategy", tags, details)
        missing = [c.metric for c in dc_checks if c.value is None]
        if missing:
            reason = f"Missing metrics: {', '.join(sorted(missing))}"
            if on_missing == "ignore":
                return _result(self.name, "warn", "info", own, "missing_metric_ignored", reason, tags, details)
            return _result(self.name, on_missing, sev, own, "missing_metric", reason, tags, details)
        bad = [c for c in dc_checks if c.status == "fail"]
        if bad:
            return _result(self.name, "fail", sev, own, bad[0].reason_code, "; ".join(c.reason for c in bad),
                           tags, details)
        return _result(self.name, "pass", sev, own, "data_currency_ok", "Required metrics present", tags, details)


class SampleRule(_CoreRule):
    """A sample bound breached or its metric missing -> ``sample_thresholds_failed``; else a
    sample metric > 0 -> ``sample_ok``; else warn ``sample_metrics_missing``."""

    name = "sample"
    config_class = SampleConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("sample",)

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on run ``ctx.index``."""
        batch, i = self.batch_of(ctx)
        if (error := self.section_error(batch, i, "sample")) is not None:
            return error
        sample_checks = batch.section_checks(i, "sample")
        sev, own, tags = self.severity, self.owner, list(self.tags)
        failing = [c for c in sample_checks if c.status == "fail" or c.value is None]   # missing always fails
        if failing:
            return _result(self.name, "fail", sev, own, "sample_thresholds_failed",
                           f"Sample thresholds failed: {', '.join(c.metric.split('.')[-1] for c in failing)}", tags,
                           {"violations": [c.as_dict() for c in failing],
                            "checks": [c.as_dict() for c in sample_checks]})
        values = batch.views[i].sample_values()
        if any(v is not None and v > 0 for v in values.values()):
            return _result(self.name, "pass", sev, own, "sample_ok", "Sample depth present", tags,
                           {"sample_metrics": values, "checks": [c.as_dict() for c in sample_checks]})
        return _result(self.name, "warn", sev, own, "sample_metrics_missing", "No sample metrics found", tags,
                       {"sample_metrics": values, "checks": [c.as_dict() for c in sample_checks]})


class PerformanceRule(_CoreRule):
    """A blocking failure of ANY threshold -> ``performance_thresholds_failed``; else a missing
    metric -> ``performance_metrics_missing``; else outside top_k ->
    ``performance_rank_outside_top_k``; else ``performance_ok``."""

    name = "performance"
    config_class = PerformanceConfig
    default_severity, default_owner = "blocking", "quant"
    tags = ("performance", "thresholds")

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on run ``ctx.index``."""
        batch, i = self.batch_of(ctx)
        if batch.errors[i]:
            return self.error_result(batch.errors[i], batch.on_error)
        cs, on_missing, top_k, rank = batch.checks[i], batch.on_missing, batch.top_k, batch.ranks.get(i)
        sev, own, tags = self.severity, self.owner, list(self.tags)
        blocking = [c for c in cs if c.status == "fail"]
        if blocking:
            c = blocking[0]
            reason = (f"{c.metric.split('.')[-1]} missing" if c.value is None else
                      f"{c.metric.split('.')[-1]} is not finite ({c.value})"
                      if c.reason_code.endswith("_not_finite") else
                      f"{c.metric.split('.')[-1]} {'below minimum' if c.kind == 'min' else 'above maximum'} {c.bound}")
            return _result(self.name, "fail", sev, own, "performance_thresholds_failed", reason, tags,
                           {"violations": [x.as_dict() for x in blocking], "checks": [x.as_dict() for x in cs]})
        missing = [c for c in cs if c.status == "warn"]
        if missing:
            return _result(self.name, "warn" if on_missing != "fail" else "fail", sev, own,
                           "performance_metrics_missing",
                           f"Missing metrics: {', '.join(c.metric.split('.')[-1] for c in missing)}", tags,
                           {"violations": [x.as_dict() for x in missing], "policy_on_missing_metric": on_missing,
                            "checks": [x.as_dict() for x in cs]})
        if top_k is not None and i not in batch.topk_selected:
            reason = (f"Rank {rank + 1} outside top_k={top_k.k}" if rank is not None else
                      f"Not selected by top_k={top_k.k}")
            return _result(self.name, "fail", sev, own, "performance_rank_outside_top_k", reason, tags + ["top_k"],
                           {"rank": rank, "top_k": top_k.k, "checks": [x.as_dict() for x in cs]})
        return _result(self.name, "pass", sev, own, "performance_ok", "Passed thresholds and ranking", tags,
                       {"rank": rank, "top_k": top_k.k if top_k is not None else None,
                        "checks": [x.as_dict() for x in cs]})


class RiskConstraintRule(_CoreRule):
    """Selection's correlation -> ``correlation_constraint_failed``; hysteresis ->
    ``hysteresis_not_entered`` / ``hysteresis_exit``; neither configured -> pass, severity info,
    ``risk_constraints_not_configured``; else ``risk_constraints_ok``."""

    name = "risk_constraint"
    config_class = RiskConstraintConfig
    default_severity, default_owner = "blocking", "risk"
    tags = ("risk",)
    policy_key = "risk"

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on run ``ctx.index``."""
        batch, i = self.batch_of(ctx)
        corr_rule, hyst = batch.correlation, batch.hysteresis
        corr_blocked, hyst_mode, corr_note = batch.corr_blocked.get(i), batch.hyst_blocked.get(i), batch.corr_note.get(i)
        sev, own, tags = self.severity, self.owner, list(self.tags)
        details: dict[str, Any] = {"selection": batch.selection_label(i)}
        if corr_note:
            details["correlation"] = corr_note
        if corr_rule is not None and corr_blocked:
            details["blocked_by"] = [{"strategy_id": s, "correlation": c} for s, c in corr_blocked]
            return _result(self.name, "fail", sev, own, "correlation_constraint_failed",
                           f"Correlation exceeds max {corr_rule.max}", tags, details)
        if hyst is not None and hyst_mode:
            details.update(metric=hyst.metric, previously_active=batch.runs[i].strategy_id in batch.prev_active,
                           mode=hyst_mode, value=selection_metric(batch.views[i], hyst.metric))
            if hyst_mode == "exit":
                return _result(self.name, "fail", sev, own, "hysteresis_exit",
                               f"{hyst.metric} below exit {hyst.exit} for previously active strategy", tags, details)
            return _result(self.name, "fail", sev, own, "hysteresis_not_entered",
                           f"{hyst.metric} below enter {hyst.enter}", tags, details)
        if corr_rule is None and hyst is None:
            return _result(self.name, "pass", "info", own, "risk_constraints_not_configured",
                           "No risk constraints configured", tags, details)
        return _result(self.name, "pass", sev, own, "risk_constraints_ok", "Risk constraints satisfied", tags,
                       details)


def _number_or_none(v: Any) -> float | None:
    """QMTL's ``_as_number``: a finite number, else None."""
    return float(v) if is_number(v) and math.isfinite(v) else None


class RobustnessRule(_CoreRule):
    """DSR missing -> warn ``dsr_missing``; below ``dsr_min`` -> fail ``dsr_below_min``;
    ``|first - second half Sharpe| > cv_sharpe_gap_max`` -> fail ``cv_sharpe_gap_exceeds_max``;
    this project's robustness keys (default view) by their checks; else ``robustness_ok``."""

    name = "robustness"
    config_class = RobustnessConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("robustness",)

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on run ``ctx.index``."""
        batch, i = self.batch_of(ctx)
        if (error := self.section_error(batch, i, "robustness")) is not None:
            return error
        view: MetricView = batch.views[i]
        ext_checks: list[Check] = batch.section_checks(i, "robustness", extension_only=True)
        cfg = self.config
        dsr_min = cfg.dsr_min if cfg is not None else None
        gap_max = cfg.cv_sharpe_gap_max if cfg is not None else None
        dsr = _number_or_none(view.value("robustness.deflated_sharpe_ratio"))
        first = _number_or_none(view.value("robustness.sharpe_first_half"))
        second = _number_or_none(view.value("robustness.sharpe_second_half"))
        details: dict[str, Any] = {"deflated_sharpe_ratio": dsr, "sharpe_first_half": first,
                                   "sharpe_second_half": second,
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
        return _result(self.name, status, self.severity, self.owner, reasons[0] if reasons else "robustness_ok",
                       ", ".join(reasons) if reasons else "Robustness checks passed", list(self.tags), details)


__all__ = ["DataCurrencyConfig", "DataCurrencyRule", "PerformanceConfig", "PerformanceRule", "RiskConstraintConfig",
           "RiskConstraintRule", "RobustnessConfig", "RobustnessRule", "SampleConfig", "SampleRule"]
