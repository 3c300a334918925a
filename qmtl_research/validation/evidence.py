"""Metric blocks from the results earlier notebooks recorded for the same run.

The contract (section/name) is the project's: volatility/{table2, summary},
rating/{table4, summary}, risk/{backtest, stress, portfolio_returns,
benchmark_returns}. Everything found becomes a block the rules read:

* ``models.forecast.{rmse,mse}.<model>`` (percent units) and ``models.forecast.best_model``;
* ``models.rating.{best_kernel, best_accuracy, rule_accuracy, persistence_accuracy,
  margin_vs_rule, margin_vs_persistence}`` (fractions);
* ``models.var_backtest`` (the risk/backtest dict, zone green|yellow|red);
* the core blocks of the portfolio returns (daily, 252 periods a year) and a
  ``benchmark`` block (Sharpe uplift, drawdown / ES improvement) against the benchmark;
* ``stress.<scenario>`` = portfolio loss (positive fraction).

Absent results give absent blocks: the rules then report ``*_missing``.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from qmtl_research.validation.metrics import benchmark_block, compute_metric_blocks

Results = Mapping[tuple[str, str], Any]


def _series(value: Any) -> pd.Series | None:
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        frame = value
        if "date" in frame.columns:
            frame = frame.set_index("date")
        value = frame.iloc[:, 0]
    s = pd.Series(value).astype(float)
    s.index = pd.DatetimeIndex(pd.to_datetime(s.index))
    return s.dropna().sort_index()


def _frame(value: Any, index: str) -> pd.DataFrame | None:
    if not isinstance(value, pd.DataFrame):
        return None
    return value.set_index(index) if index in value.columns else value


def forecast_block(results: Results) -> dict | None:
    table2 = _frame(results.get(("volatility", "table2")), "model")
    summary = results.get(("volatility", "summary"))
    block: dict[str, Any] = {}
    if table2 is not None:
        for col in ("RMSE", "MSE"):
            if col in table2.columns:
                block[col.lower()] = {str(m): float(v) for m, v in table2[col].items()}
    elif isinstance(summary, dict) and isinstance(summary.get("rmse"), dict):
        block["rmse"] = {str(m): float(v) for m, v in summary["rmse"].items()}
    if isinstance(summary, dict):
        for k in ("best_model", "split", "n_funds", "n_test_points"):
            if k in summary:
                block[k] = summary[k]
    return block or None


def rating_block(results: Results) -> dict | None:
    s = results.get(("rating", "summary"))
    if not isinstance(s, dict):
        return None
    block = {k: s.get(k) for k in ("best_kernel", "best_accuracy", "rule_accuracy", "persistence_accuracy",
                                   "winner", "horizon_weeks", "split", "n_samples")}
    best, rule, pers = s.get("best_accuracy"), s.get("rule_accuracy"), s.get("persistence_accuracy")
    block["margin_vs_rule"] = best - rule if best is not None and rule is not None else None
    block["margin_vs_persistence"] = best - pers if best is not None and pers is not None else None
    return block


def blocks_from_results(results: Results) -> dict[str, Any]:
    """All blocks that follow from recorded results (see the module docstring)."""
    blocks: dict[str, Any] = {}
    models: dict[str, Any] = {}
    if (fb := forecast_block(results)) is not None:
        models["forecast"] = fb
    if (rb := rating_block(results)) is not None:
        models["rating"] = rb
    bt = results.get(("risk", "backtest"))
    if isinstance(bt, dict):
        models["var_backtest"] = dict(bt)
    if models:
        blocks["models"] = models
    port = _series(results.get(("risk", "portfolio_returns")))
    bench = _series(results.get(("risk", "benchmark_returns")))
    if port is not None and len(port) > 10:
        blocks.update(compute_metric_blocks(port, periods_per_year=252, source="risk/portfolio_returns"))
        if bench is not None and len(bench) > 10:
            blocks["benchmark"] = benchmark_block(port, bench, 252)
    stress = _frame(results.get(("risk", "stress")), "scenario")
    if stress is not None and "portfolio_loss" in stress.columns:
        blocks["stress"] = {str(k): float(v) for k, v in stress["portfolio_loss"].items()}
    return blocks


def benchmark_comparison(blocks: Mapping[str, Any]) -> pd.DataFrame:
    """Model vs benchmark / challengers, one row per comparison (for the report's section 7)."""
    rows = []
    fc = (blocks.get("models") or {}).get("forecast") or {}
    rmse = fc.get("rmse") or {}
    if rmse:
        best = min(rmse, key=rmse.get)
        for m, v in sorted(rmse.items(), key=lambda kv: kv[1]):
            rows.append({"comparison": "stage 1 forecast RMSE (% ann. std)", "candidate": m, "value": v,
                         "reference": best, "reference_value": rmse[best], "difference": v - rmse[best]})
    rt = (blocks.get("models") or {}).get("rating") or {}
    if rt.get("best_accuracy") is not None:
        for ref in ("rule", "persistence"):
            rv = rt.get(f"{ref}_accuracy")
            if rv is not None:
                rows.append({"comparison": "stage 2 accuracy (fraction)", "candidate": f"SVC {rt.get('best_kernel')}",
                             "value": rt["best_accuracy"], "reference": "Regulatory rule" if ref == "rule" else "Persistence",
                             "reference_value": rv, "difference": rt["best_accuracy"] - rv})
    bm = blocks.get("benchmark") or {}
    ret = blocks.get("returns") or {}
    if bm:
        for label, mine, ref, diff in (("Sharpe (annualised, rf 0)", ret.get("sharpe"), bm.get("sharpe"), bm.get("sharpe_uplift")),
                                       ("max drawdown (loss fraction)", ret.get("max_drawdown"), bm.get("max_drawdown"), bm.get("max_drawdown_improvement")),
                                       ("ES 99% 1-day (loss fraction)", ret.get("es_p01"), bm.get("es_p01"), bm.get("es_improvement"))):
            rows.append({"comparison": label, "candidate": "portfolio", "value": mine, "reference": "benchmark",
                         "reference_value": ref, "difference": diff})
    return pd.DataFrame(rows, columns=["comparison", "candidate", "value", "reference", "reference_value", "difference"])
