"""Report sections of the VaR/ES backtests (outcomes analysis / backtesting evidence).

* :func:`fund_backtests` - fund-rating reports: the one-week VaR/ES of every stage-1 model that
  implies a distribution (volatility/var_*), backtested pooled over funds and per fund;
* :func:`portfolio_es_backtests` - portfolio reports: the ES tests beside the VaR backtest
  (risk/es_backtest).

Tests, statistics and papers: :data:`qmtl_research.risk.backtests.TESTS`.
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.reporting.report_data import ReportData
from qmtl_research.reporting.sections import figure, md, table
from qmtl_research.risk.backtests.suite import ES_P_VALUES, P_VALUES

VAR_P = [k for k in P_VALUES if k not in ES_P_VALUES]


def _label(level: float) -> str:
    return f"{level * 100:g} %"


def suite_tables(rows: pd.DataFrame, keys: list[str], what: str) -> None:
    """Two tables of suite rows (one per row of ``rows``, labelled by ``keys``): the VaR tests
    (exceptions, zone, FRTB multiplier, p-values) and the ES tests (Z1, Z2 and p-values)."""
    if rows.empty:
        return
    lab = rows[keys].astype(str).agg(" ".join, axis=1) if keys else pd.Series("", index=rows.index)
    var = pd.DataFrame({"": lab, "n": rows["n"], "exceptions": rows["exceptions"],
                        "expected": rows["expected"].round(1), "zone": rows["zone"],
                        "multiplier": rows["multiplier"]})
    for k in VAR_P:
        var[P_VALUES[k].replace("Christoffersen", "Chr.")] = rows[k]
    table(var, f"VaR backtests of {what}: exceptions, traffic light and FRTB multiplier, p-values (small = reject "
               "a correct VaR)", index=False)
    if "z2" in rows.columns:
        es = pd.DataFrame({"": lab, "Z1": rows["z1"], "Z2": rows["z2"]})
        for k in ES_P_VALUES:
            es[P_VALUES[k]] = rows[k]
        table(es, f"ES backtests of {what}: Acerbi-Szekely Z1, Z2 (0 under a correct model, negative = risk "
                  "understated) and the p-values of every ES test", index=False)


def fund_backtests(rep: ReportData) -> None:
    vol = rep.volatility
    bt = vol.var_backtests
    s = vol.var_summary or {}
    cfg = s.get("config", {})
    md("One-week VaR and Expected Shortfall of every fund at "
       f"{', '.join(_label(x) for x in s.get('levels', []))}, from each stage-1 model that implies a return "
       "distribution (GARCH with its fitted innovation law; filtered historical simulation on the GARCH "
       f"standardised residuals; EWMA with lambda {cfg.get('ewma_lambda')}; historical simulation over "
       f"{cfg.get('historical_window')} weeks), made at every origin of the walk-forward test period from the "
       "returns before it - out of time exactly like the volatility forecasts - and compared with the fund's "
       "realised weekly return. Pooled rows treat all fund-weeks as one sample (the traffic light by the "
       "binomial scaling of the Basel 250-day table; clustering across funds makes pooled tests reject more "
       "readily than per-fund ones); per-fund results are summarised by the share of funds each test rejects at "
       f"5 %. Acerbi-Szekely p-values come from {cfg.get('n_sims')} paths simulated from each model's predictive "
       f"law (seed {cfg.get('seed')}).")
    pooled = bt[bt["scope"] == "pooled"].reset_index(drop=True)
    suite_tables(pooled.assign(level=pooled["level"].map(_label)), ["model", "level"],
                 "the fund-week forecasts, pooled over funds")
    per = bt[bt["scope"] == "fund"]
    if len(per):
        share = per.groupby(["model", "level"], sort=False)[list(P_VALUES)].agg(lambda p: (p < 0.05).mean())
        share.columns = [P_VALUES[k] for k in share.columns]
        zones = per.groupby(["model", "level"], sort=False)["zone"].value_counts().unstack(fill_value=0)
        zones = zones.reindex(columns=["green", "yellow", "red"], fill_value=0).add_prefix("funds ")
        out = zones.join(share).reset_index()
        out["level"] = out["level"].map(_label)
        table(out, "per fund: funds by traffic-light zone (all their test forecasts) and the share of funds each "
                   "test rejects at 5 %", index=False)
    if vol.var_forecasts is not None and len(vol.var_forecasts):
        from qmtl_research.risk import plots as risk_plots

        level = max(s.get("levels", [0.99]))
        risk_plots.plot_fund_exceedances(vol.var_forecasts, level)
        figure(f"Share of funds whose weekly loss exceeded the one-week VaR {_label(level)}, by week and model; "
               f"the dashed line is the expected {(1 - level) * 100:g} %.")
    nt = vol.var_not_tested
    if nt is not None and len(nt):
        table(nt.groupby(["model", "reason"]).size().rename("rows").reset_index(),
              "fund-weeks (or funds) without a backtested forecast, by model and reason", index=False)


def portfolio_es_backtests(rep: ReportData) -> None:
    rk = rep.risk
    es = rk.es_backtest
    if es is None or es.empty:
        md("> ES backtests: not recorded for this run (recorded before they existed).")
        return
    md(f"The whole VaR/ES backtest suite on the rolling one-day forecasts ({es['method'].iloc[0]}, window "
       f"{int(es['window'].iloc[0])} days) at {', '.join(_label(x) for x in es['level'])}: ES is the matching "
       "CVaR; Acerbi-Szekely p-values by simulation from the window's predictive law "
       f"({rk.config.get('es_backtest_sims', 1000)} paths, seeded), McNeil-Frey by bootstrap, Du-Escanciano "
       "asymptotic.")
    suite_tables(es.assign(level=es["level"].map(_label)), ["level"], "the portfolio's daily forecasts")
