"""Metric blocks from the results a run recorded, read through the results contract.

Every section is read with its typed reader (:mod:`qmtl_research.results`), so a renamed or
missing key is an error naming the stage, never a silent ``*_missing``. What each section
gives the rules:

* ``data``: the ``sample`` block (``effective_history_years`` = periods / periods per year)
  and ``diagnostics`` (source, dates, counts);
* ``volatility``: ``models.forecast.{rmse, mse, qlike}.<model>`` (percent units),
  ``models.forecast.best_model`` and ``models.forecast.validated_model`` (the stage-1 config's
  model under validation, which the forecast_error rule judges);
* ``rating``: ``models.rating.{best_kernel, best_accuracy, rule_accuracy, persistence_accuracy,
  margin_vs_rule, margin_vs_persistence}`` (fractions);
* ``volatility`` with fund-level VaR/ES: ``models.var_backtest`` (pooled over funds, the stage-1
  GARCH at 99 %: zone, exceptions, ``es_<test>_p``; every model and level under ``by_model``);
* ``risk``: ``models.var_backtest`` (zone green|yellow|red, and the ES p-values ``es_<test>_p``
  at the backtest's level from risk/es_backtest), the core QMTL blocks of the
  portfolio returns (daily, 252 periods a year), a ``benchmark`` block against the benchmark,
  ``stress.<scenario>`` (portfolio loss, positive fraction) and ``audit_performance`` (the audit
  layer's PerformanceReport in the rules' sign convention: drawdown a positive loss fraction).

A section that was not recorded gives no block: the rules then report ``*_missing``.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from qmtl_research.conventions import TRADING_DAYS_PER_YEAR, WEEKS_PER_YEAR

from qmtl_research.results import DataResults, RatingResults, RiskResults, VolatilityResults
from qmtl_research.validation.metrics import benchmark_block, compute_metric_blocks
from qmtl_research.volatility.names import GARCH

Results = Mapping[tuple[str, str], Any]
PERIODS_PER_YEAR = {"weekly": WEEKS_PER_YEAR, "daily": TRADING_DAYS_PER_YEAR, "monthly": 12}


def data_blocks(data: DataResults) -> dict[str, Any]:
    d = data.description
    ppy = next((v for k, v in PERIODS_PER_YEAR.items() if str(d["frequency"]).startswith(k)), None)
    if ppy is None:
        raise ValueError(f"unknown data frequency {d['frequency']!r} in data/description")
    return {"sample": {"effective_history_years": d["n_periods"] / ppy},
            "diagnostics": {"returns_source": d["source"], "data_start": d["start"], "data_end": d["end"],
                            "n_series": d["n_series"], "periods_per_year": ppy}}


def forecast_block(vol: VolatilityResults) -> dict:
    t2 = vol.table2
    block: dict[str, Any] = {}
    for col in ("RMSE", "MSE", "QLIKE"):
        if col in t2.columns:
            block[col.lower()] = {str(m): float(v) for m, v in t2[col].items()}
    for k in ("best_model", "split", "n_funds", "n_test_points"):
        block[k] = vol.summary[k]
    if vol.summary.get("validated_model") is not None:     # the stage-1 config's model under validation
        block["validated_model"] = vol.summary["validated_model"]
    return block


def rating_block(rating: RatingResults) -> dict:
    s = rating.summary
    block = {k: s.get(k) for k in ("best_kernel", "best_accuracy", "rule_accuracy", "persistence_accuracy",
                                   "winner", "horizon_weeks", "split", "n_samples")}
    best, rule, pers = s.get("best_accuracy"), s.get("rule_accuracy"), s.get("persistence_accuracy")
    block["margin_vs_rule"] = best - rule if best is not None and rule is not None else None
    block["margin_vs_persistence"] = best - pers if best is not None and pers is not None else None
    return block


#: the ES p-values the var_backtest rule can judge (risk.backtests.suite columns)
ES_P_VALUE_KEYS = ("z1_p", "z2_p", "mf_p", "de_u_p", "de_c_p")
#: the fund-level headline of ``models.var_backtest``: the stage-1 GARCH at the Basel 99 % level
FUND_HEADLINE = (GARCH, 0.99)


def _finite(v):
    return None if v is None or (isinstance(v, float) and v != v) else float(v)


def es_block(es_backtest: pd.DataFrame, confidence: float) -> dict:
    """``es_<test>_p`` of the suite row at ``confidence`` (else the highest level) of risk/es_backtest."""
    rows = es_backtest.set_index("level")
    level = confidence if confidence in rows.index else float(rows.index.max())
    row = rows.loc[level]
    return {"es_level": level, **{f"es_{k}": _finite(row.get(k)) for k in ES_P_VALUE_KEYS}}


def fund_var_block(var_backtests: pd.DataFrame) -> dict:
    """``models.var_backtest`` of a fund-rating run: the pooled suite of the stage-1 GARCH at 99 %
    (else the first model and the highest level) as the headline (``zone, exceptions,
    expected_exceptions, es_*_p``) and ``by_model.<model> <level %>`` for every pooled row."""
    pooled = var_backtests[var_backtests["scope"] == "pooled"]
    by = {}
    for _, r in pooled.iterrows():
        by[f"{r['model']} {r['level'] * 100:g}"] = {"zone": r["zone"], "exceptions": int(r["exceptions"]),
                                                    "expected_exceptions": float(r["expected"]),
                                                    "multiplier": float(r["multiplier"]),
                                                    **{f"es_{k}": _finite(r.get(k)) for k in ES_P_VALUE_KEYS}}
    model, level = FUND_HEADLINE
    pick = pooled[(pooled["model"] == model) & (pooled["level"] == level)]
    if pick.empty:
        pick = pooled[pooled["model"] == pooled["model"].iloc[0]].sort_values("level").tail(1)
    r = pick.iloc[0]
    head = by[f"{r['model']} {r['level'] * 100:g}"]
    return {**head, "model": r["model"], "confidence": float(r["level"]), "es_level": float(r["level"]),
            "n": int(r["n"]), "scope": "pooled over funds", "by_model": by}


def audit_performance_block(performance: Mapping[str, Any]) -> dict:
    """The audit layer's PerformanceReport in the rules' conventions (max drawdown as a
    positive loss fraction; alpha annualised; win rate a fraction)."""
    mdd = performance.get("max_drawdown")
    return {"sharpe_ratio": performance.get("sharpe"), "sortino_ratio": performance.get("sortino"),
            "max_drawdown": None if mdd is None else -float(mdd), "win_rate": performance.get("win_rate"),
            "profit_factor": performance.get("profit_factor"), "alpha": performance.get("alpha")}


def risk_blocks(risk: RiskResults) -> dict[str, Any]:
    blocks: dict[str, Any] = {}
    port = risk.portfolio_returns.dropna().sort_index()
    if len(port) > 10:
        blocks.update(compute_metric_blocks(port, periods_per_year=252, source="risk/portfolio_returns"))
        if risk.benchmark_returns is not None and len(risk.benchmark_returns.dropna()) > 10:
            blocks["benchmark"] = benchmark_block(port, risk.benchmark_returns.dropna(), 252)
    blocks["stress"] = {str(k): float(v) for k, v in risk.stress.set_index("scenario")["portfolio_loss"].items()}
    blocks["audit_performance"] = audit_performance_block(risk.performance)
    return blocks


def blocks_from_results(results: Results) -> dict[str, Any]:
    """All metric blocks that follow from recorded results (see the module docstring)."""
    blocks: dict[str, Any] = {}
    models: dict[str, Any] = {}
    if (data := DataResults.read(results)) is not None:
        blocks.update(data_blocks(data))
    if (vol := VolatilityResults.read(results)) is not None:
        models["forecast"] = forecast_block(vol)
        if vol.var_backtests is not None and len(vol.var_backtests):
            models["var_backtest"] = fund_var_block(vol.var_backtests)
    if (rating := RatingResults.read(results)) is not None:
        models["rating"] = rating_block(rating)
    if (risk := RiskResults.read(results)) is not None:
        models["var_backtest"] = dict(risk.backtest)
        if risk.es_backtest is not None and len(risk.es_backtest):
            models["var_backtest"].update(es_block(risk.es_backtest, float(risk.backtest["confidence"])))
        risk_part = risk_blocks(risk)
        # the portfolio's own return series is the better sample evidence for a portfolio
        diag = {**blocks.get("diagnostics", {}), **risk_part.pop("diagnostics", {})}
        blocks.update(risk_part)
        if diag:
            blocks["diagnostics"] = diag
    if models:
        blocks["models"] = models
    return blocks


def benchmark_comparison(blocks: Mapping[str, Any]) -> pd.DataFrame:
    """Model vs benchmark / challengers, one row per comparison (the report's benchmark section).

    ``difference`` is always ``value - reference_value``; ``better`` says which side wins
    (lower error, higher accuracy, higher Sharpe, smaller loss)."""
    rows = []

    def row(comparison, candidate, value, reference, ref_value, higher_is_better):
        diff = None if value is None or ref_value is None else value - ref_value
        better = None if diff is None else ("candidate" if (diff > 0) == higher_is_better and diff != 0 else
                                            "tie" if diff == 0 else "reference")
        rows.append({"comparison": comparison, "candidate": candidate, "value": value, "reference": reference,
                     "reference_value": ref_value, "difference": diff, "better": better})

    fc = (blocks.get("models") or {}).get("forecast") or {}
    rmse = fc.get("rmse") or {}
    if rmse:
        best = min(rmse, key=rmse.get)
        for m, v in sorted(rmse.items(), key=lambda kv: kv[1]):
            if m != best:
                row("stage 1 forecast RMSE (pp of annualised std)", m, v, best, rmse[best], False)
    rt = (blocks.get("models") or {}).get("rating") or {}
    if rt.get("best_accuracy") is not None:
        for ref in ("rule", "persistence"):
            rv = rt.get(f"{ref}_accuracy")
            if rv is not None:
                row("stage 2 accuracy (fraction)", f"SVC {rt.get('best_kernel')}", rt["best_accuracy"],
                    "Regulatory rule" if ref == "rule" else "Persistence", rv, True)
    bm = blocks.get("benchmark") or {}
    ret = blocks.get("returns") or {}
    if bm:
        row("Sharpe (annualised, rf 0)", "portfolio", ret.get("sharpe"), "benchmark", bm.get("sharpe"), True)
        row("max drawdown (loss fraction)", "portfolio", ret.get("max_drawdown"), "benchmark",
            bm.get("max_drawdown"), False)
        row("ES 99% 1-day (loss fraction)", "portfolio", ret.get("es_p01"), "benchmark", bm.get("es_p01"), False)
    return pd.DataFrame(rows, columns=["comparison", "candidate", "value", "reference", "reference_value",
                                       "difference", "better"])
