"""Section 4 (Results) of the Validation Report: the paper's tables and figures for the
fund-rating model, VaR / backtests, performance and attribution for portfolios.
Everything is drawn from results recorded in the store for the run."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qmtl_research.reporting.report_data import ReportData
from qmtl_research.reporting.sections import _kv, md, not_available, table


def volatility(rep: ReportData) -> None:
    t2 = rep.frame("volatility", "table2")
    if t2 is None:
        not_available("Stage 1 (volatility forecasting)")
        return
    s = rep.get("volatility", "summary") or {}
    md(f"Out-of-sample forecasts of the 1-month annualised standard deviation (percent), "
       f"split **{s.get('split', 'n/a')}**, {s.get('n_funds', 'n/a')} funds, "
       f"{s.get('n_test_points', 'n/a')} test points. Paper (Table 2): RMSE GARCH 24.33, LSTM 6.43, GARCH-LSTM 5.75.")
    table(t2, "Table 4.2 — forecast error by model (the paper's Table 2; MSE in %², RMSE in %)")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    t2["RMSE"].sort_values().plot.barh(ax=ax, color="#1f3b5c")
    ax.set_xlabel("RMSE (percentage points of annualised std)")
    ax.set_ylabel("")
    ax.set_title("Stage 1 forecast error by model")
    plt.show()
    t3 = rep.frame("volatility", "table3")
    if t3 is not None:
        table(t3, "Table 4.3 — GARCH-LSTM error by fund type (the paper's Table 3)")
    f9 = rep.frame("volatility", "fig9_regimes")
    if f9 is not None:
        ax = f9.plot.bar(figsize=(8, 3.2), rot=0)
        ax.set_ylabel("RMSE (%)")
        ax.set_xlabel("")
        ax.set_title("Forecast error by regime (the paper's Figure 9)")
        plt.show()
    top = rep.frame("volatility", "top20")
    if top is not None:
        table(top, "Table 4.4 — the 20 highest-volatility fund-dates (the paper's Figure 10)", digits=2, index=False)
    dm = rep.frame("volatility", "dm_tests")
    if dm is not None:
        table(dm, "Table 4.5 — Diebold-Mariano tests (squared-error loss; negative statistic: model_a better)", index=False)
    fails = rep.frame("volatility", "failures")
    if fails is not None and not fails.empty:
        table(fails, "Table 4.6 — funds stage 1 could not process", index=False)


def rating(rep: ReportData) -> None:
    t4 = rep.frame("rating", "table4")
    if t4 is None:
        not_available("Stage 2 (risk-grade classification)")
        return
    s = rep.get("rating", "summary") or {}
    md(f"Grade predictions at settlement minus {s.get('horizon_weeks', 'n/a')} weeks, split **{s.get('split', 'n/a')}**, "
       f"{s.get('n_samples', 'n/a')} fund-settlements. Paper (Table 4): RBF 79.28 %, Sigmoid 61.47 %, "
       f"Linear 66.13 %, Poly 66.15 %. Winner here: **{s.get('winner', 'n/a')}** "
       f"(margin vs regulatory rule {s.get('margin_vs_rule', float('nan')):+.4f}).")
    table(t4, "Table 4.7 — accuracy, macro-F1 and share more than one grade off, by approach (the paper's Table 4 + challengers)")
    hz = rep.frame("rating", "horizons")
    if hz is not None and not hz.empty:
        pivot = hz.pivot_table(index="approach", columns="horizon_weeks", values="accuracy")
        table(pivot, "Table 4.8 — accuracy by horizon (weeks)")
    pearson = rep.frame("rating", "pearson")
    if pearson is not None:
        num = pearson.select_dtypes("number")
        if num.shape[0] == num.shape[1] and num.shape[0] > 1:
            fig, ax = plt.subplots(figsize=(5.5, 4.2))
            sns.heatmap(num.abs(), annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, ax=ax, cbar=False)
            ax.set_title("|Pearson r| of risk indicators (the paper's Figure 7)")
            plt.show()
        else:
            table(pearson, "Table 4.9 — Pearson screen (the paper's Figure 7)")
    conf = rep.frame("rating", "confusion")
    best = s.get("best_kernel")
    if conf is not None and best is not None and {"approach", "true_grade", "predicted_grade", "count"} <= set(conf.columns):
        m = conf[conf["approach"] == best].pivot_table(index="true_grade", columns="predicted_grade",
                                                      values="count", aggfunc="sum", fill_value=0)
        fig, ax = plt.subplots(figsize=(4.5, 3.6))
        sns.heatmap(m, annot=True, fmt="g", cmap="Greens", cbar=False, ax=ax)
        ax.set_title(f"Confusion matrix — {best}")
        ax.set_xlabel("predicted grade")
        ax.set_ylabel("true grade")
        plt.show()
    ew = rep.frame("rating", "early_warning")
    if ew is not None:
        md(f"Early warning: **{len(ew)}** fund(s) whose predicted grade at the next settlement differs "
           "from the current grade (most urgent first; the full list is exported as CSV in the run folder).")
        if not ew.empty:
            table(ew.head(15), "Table 4.10 — early-warning list (top 15)", index=False)


def risk(rep: ReportData) -> None:
    vt = rep.frame("risk", "var_table")
    if vt is None:
        not_available("Risk engine (VaR / CVaR, Monte Carlo, stress, backtests)")
        return
    table(vt, "Table 4.11 — VaR and CVaR (losses as positive fractions)")
    mc = rep.get("risk", "montecarlo")
    if isinstance(mc, dict):
        rows = [(k, mc.get(k)) for k in ("input_sample_count", "mean_return", "std_dev", "var_95", "var_99",
                                         "cvar_95", "cvar_99") if k in mc]
        _kv(rows, "Table 4.12 — Monte Carlo simulation")
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
            plt.show()
    st = rep.frame("risk", "stress")
    if st is not None:
        table(st, "Table 4.13 — stress scenarios (portfolio loss, positive = loss)", index=False)
    bt = rep.get("risk", "backtest")
    if isinstance(bt, dict):
        _kv(list(bt.items()), "Table 4.14 — VaR backtest (Kupiec POF, Christoffersen, Basel traffic light)")
    perf = rep.get("risk", "performance")
    if isinstance(perf, dict):
        _kv([(k, v) for k, v in perf.items() if not isinstance(v, (dict, list))], "Table 4.15 — performance")
    attr = rep.frame("risk", "attribution")
    if attr is not None:
        table(attr, "Table 4.16 — factor attribution (contributions add up to the total return)")
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
        plt.show()


def recorded_results(rep: ReportData) -> None:
    """Index of every recorded result, so nothing the run produced is hidden."""
    if not rep.results:
        return
    rows = [{"section": s, "name": n, "type": "table" if isinstance(v, pd.DataFrame) else type(v).__name__}
            for (s, n), v in rep.results.items()]
    table(pd.DataFrame(rows), "Table A.2 — every result recorded for this run", index=False)
