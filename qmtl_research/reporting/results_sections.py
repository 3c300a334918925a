"""Section 4 (Results) of the Validation Report: the paper's tables and figures for the
fund-rating model, VaR / backtests, performance and attribution for portfolios.
Everything is drawn from results recorded in the store for the run."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qmtl_research.paper import paper_reference
from qmtl_research.reporting.report_data import ReportData
from qmtl_research.reporting.sections import _kv, figure, md, not_available, table


EARLY_WARNING_COLUMNS = ["fund_id", "fund_type", "current_grade", "predicted_grade", "probability",
                         "blended_std_pct", "boundary_pct", "next_settlement", "days_to_settlement", "urgency"]


def volatility(rep: ReportData) -> None:
    t2 = rep.frame("volatility", "table2")
    if t2 is None:
        not_available("Stage 1 (volatility forecasting)")
        return
    s = rep.get("volatility", "summary") or {}
    md(f"Out-of-sample forecasts of the 1-month annualised standard deviation (percent), "
       f"split **{s.get('split', 'n/a')}**, {s.get('n_funds', 'n/a')} funds, "
       f"{s.get('n_test_points', 'n/a')} test points; the paper's values (its data, 2,585 Korean funds) beside ours.")
    if s.get("ordering_text"):
        md(str(s["ordering_text"]))
    paper = paper_reference()
    t2p = t2.join(paper.table2_frame().add_prefix("paper "), how="left")
    table(t2p, "forecast error by model (the paper's Table 2; MSE in %², RMSE in percentage points)")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    t2["RMSE"].sort_values().plot.barh(ax=ax, color="#1f3b5c")
    ax.set_xlabel("RMSE (percentage points of annualised std)")
    ax.set_ylabel("")
    ax.set_title("Stage 1 forecast error by model")
    figure('RMSE of the 1-month annualised volatility forecasts by model (lower is better).')
    t3 = rep.frame("volatility", "table3")
    if t3 is not None:
        t3p = t3.join(paper.table3_frame()[["std", "RMSE"]].add_prefix("paper "), how="left")
        table(t3p, "GARCH-LSTM error by fund type (the paper's Table 3; std = mean annualised std, %)")
    f9 = rep.frame("volatility", "fig9_regimes")
    if f9 is not None:
        models = [m for m in t2.index if m in f9.columns]
        ax = f9[models].plot.bar(figsize=(8, 3.2), rot=0)
        ax.set_ylabel("RMSE (%)")
        ax.set_xlabel("")
        ax.set_title("Forecast error by regime (the paper's Figure 9)")
        figure("RMSE by regime: funds above and below the average volatility, and the COVID window March-April 2020 (the paper's Figure 9).")
    top = rep.frame("volatility", "top20")
    if top is not None:
        table(top, "the 20 highest-volatility fund-dates (the paper's Figure 10)", digits=2, index=False)
    dm = rep.frame("volatility", "dm_tests")
    if dm is not None:
        table(dm, "Diebold-Mariano tests (squared-error loss; negative statistic: model_a better)", index=False)
    fails = rep.frame("volatility", "failures")
    if fails is not None and not fails.empty:
        table(fails, "funds stage 1 could not process", index=False)


def rating(rep: ReportData) -> None:
    t4 = rep.frame("rating", "table4")
    if t4 is None:
        not_available("Stage 2 (risk-grade classification)")
        return
    s = rep.get("rating", "summary") or {}
    best = s.get("best_kernel")
    md(f"Grade predictions at settlement minus {s.get('horizon_weeks', 'n/a')} weeks, split **{s.get('split', 'n/a')}**, "
       f"{s.get('n_samples', 'n/a')} fund-settlements. Winner here: **{s.get('winner', 'n/a')}** "
       f"(best kernel's margin vs the regulatory rule {s.get('margin_vs_rule', float('nan')):+.4f}).")
    if s.get("verdict"):
        md(str(s["verdict"]))
    t4p = t4.join(paper_reference().table4_series(), how="left")
    table(t4p, "accuracy, macro-F1 and share more than one grade off, by approach (the paper's Table 4 + challengers)")
    hz = rep.frame("rating", "horizons")
    if hz is not None and not hz.empty:
        pivot = hz.pivot_table(index="approach", columns="horizon_weeks", values="accuracy")
        pivot.columns = [f"h = {c} weeks" for c in pivot.columns]
        pivot.index.name = "approach"
        table(pivot, "accuracy by horizon (weeks before settlement)")
    per_grade = rep.frame("rating", "per_grade")
    if per_grade is not None and best is not None and "approach" in per_grade:
        table(per_grade[per_grade["approach"] == best].drop(columns="approach"),
              f"per-grade precision and recall of the best kernel ({best})", index=False)
    pearson = rep.frame("rating", "pearson")
    if pearson is not None:
        num = pearson.select_dtypes("number")
        if num.shape[0] == num.shape[1] and num.shape[0] > 1:
            fig, ax = plt.subplots(figsize=(5.5, 4.2))
            sns.heatmap(num.abs(), annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, ax=ax, cbar=False)
            ax.set_title("|Pearson r| of risk indicators (the paper's Figure 7)")
            figure("Absolute Pearson correlation between the candidate risk indicators and the standard deviation (the paper's Figure 7); inputs are screened on it.")
        else:
            table(pearson, "Pearson screen (the paper's Figure 7)")
    conf = rep.frame("rating", "confusion")
    if conf is not None and best is not None and {"approach", "true_grade", "predicted_grade", "count"} <= set(conf.columns):
        m = conf[conf["approach"] == best].pivot_table(index="true_grade", columns="predicted_grade",
                                                      values="count", aggfunc="sum", fill_value=0)
        fig, ax = plt.subplots(figsize=(4.5, 3.6))
        sns.heatmap(m, annot=True, fmt="g", cmap="Greens", cbar=False, ax=ax)
        ax.set_title(f"Confusion matrix — {best}")
        ax.set_xlabel("predicted grade")
        ax.set_ylabel("true grade")
        figure('Confusion matrix of the best kernel: rows are true grades, columns predicted grades (out-of-sample).')
    ew = rep.frame("rating", "early_warning")
    if ew is not None:
        md(f"Early warning: **{len(ew)}** fund(s) whose predicted grade at the next settlement differs "
           "from the current grade (most urgent first; the full list is exported as CSV in the run folder).")
        if not ew.empty:
            cols = [c for c in EARLY_WARNING_COLUMNS if c in ew.columns]
            table(ew[cols].head(15), "early-warning list (top 15): grades, probability of the "
                  "predicted grade, blended std vs the nearest grade boundary (%)", digits=3, index=False)


def risk(rep: ReportData) -> None:
    vt = rep.frame("risk", "var_table")
    if vt is None:
        not_available("Risk engine (VaR / CVaR, Monte Carlo, stress, backtests)")
        return
    table(vt, "VaR and CVaR (losses as positive fractions)")
    mc = rep.get("risk", "montecarlo")
    if isinstance(mc, dict):
        rows = [(k, mc.get(k)) for k in ("input_sample_count", "mean_return", "std_dev", "var_95", "var_99",
                                         "cvar_95", "cvar_99") if k in mc]
        _kv(rows, "Monte Carlo simulation")
        pct = mc.get("percentiles")
        if isinstance(pct, dict) and pct:
            ser = pd.Series({int(k): v for k, v in pct.items()}).sort_index()
            fig, ax = plt.subplots(figsize=(7, 2.8))
            ax.plot(ser.index, ser.values * 100, marker="o", color="#1f3b5c")
            for lvl, key in ((95, "var_95"), (99, "var_99")):
                if mc.get(key) is not None:
                    ax.axhline(-mc[key] * 100, ls="--", lw=1, color="#b03030")
                    ax.text(99, -mc[key] * 100, f" VaR {lvl}%", va="bottom", ha="right", fontsize=7, color="#b03030")
            ax.set_xlabel("percentile")
            ax.set_ylabel("holding-period return (%)")
            ax.set_title("Monte Carlo return distribution (percentiles)")
            figure('Percentiles of the simulated holding-period return; dashed lines mark minus VaR at 95 % and 99 %.')
    st = rep.frame("risk", "stress")
    if st is not None:
        table(st, "stress scenarios (portfolio loss, positive = loss)", index=False)
    bt = rep.get("risk", "backtest")
    if isinstance(bt, dict):
        _kv(list(bt.items()), "VaR backtest (Kupiec POF, Christoffersen, Basel traffic light)")
    perf = rep.get("risk", "performance")
    if isinstance(perf, dict):
        _kv([(k, v) for k, v in perf.items() if not isinstance(v, (dict, list))], "performance")
    attr = rep.frame("risk", "attribution")
    if attr is not None:
        table(attr, "factor attribution (contributions add up to the total return)")
    pr = rep.get("risk", "portfolio_returns")
    if isinstance(pr, pd.DataFrame) and not pr.empty:
        ser = pr.iloc[:, 0]
        cum = (1 + ser).cumprod() - 1
        fig, ax = plt.subplots(figsize=(8, 2.8))
        ax.plot(cum.index, cum.values * 100, label="portfolio", color="#1f3b5c")
        br = rep.get("risk", "benchmark_returns")
        if isinstance(br, pd.DataFrame) and not br.empty:
            bc = (1 + br.iloc[:, 0]).cumprod() - 1
            ax.plot(bc.index, bc.values * 100, label="benchmark", color="#999999")
        ax.set_ylabel("cumulative return (%)")
        ax.set_title("Cumulative return")
        ax.legend()
        figure('Cumulative simple return of the portfolio and its benchmark (percent).')


def recorded_results(rep: ReportData) -> None:
    """Index of every recorded result, so nothing the run produced is hidden."""
    if not rep.results:
        return
    rows = [{"section": s, "name": n, "type": "table" if isinstance(v, pd.DataFrame) else type(v).__name__}
            for (s, n), v in rep.results.items()]
    table(pd.DataFrame(rows), "every result recorded for this run", index=False)
