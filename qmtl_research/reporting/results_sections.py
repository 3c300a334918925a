"""Section 4 (Results) of the Validation Report: the paper's tables and figures for the
fund-rating model, VaR / backtests, performance and attribution for portfolios.

Everything is read from the run's recorded results through the typed contract
(:mod:`qmtl_research.results`); figures come from the stages' own plot modules.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from qmtl_research.reporting.report_data import ReportData
from qmtl_research.reporting import sections
from qmtl_research.reporting.sections import _kv, figure, md, money, not_available, table
from qmtl_research.volatility.names import GARCH_LSTM

def loss_concentration(vol) -> None:
    """Each stage-1 loss beside its robust summaries, the losses one fund dominates, and the top
    contributors (``volatility/loss_robust`` and ``loss_by_fund``; nothing for runs recorded before them)."""
    from qmtl_research.volatility import views

    robust = views.loss_robust(vol)
    if robust is None:
        return
    dominated = views.dominated_losses(vol)
    table(robust, "each loss per model: the mean (Table 2) beside the median and 10 % trimmed mean of the point "
                  "losses and the median over funds of their mean loss; top_share = the largest single fund's "
                  "share of the model's total loss (dominated: more than half)", index=False)
    if len(dominated):   # fund ids are data: they go into a table (escaped), never into markdown text
        md(f"> One fund makes more than half of the total loss in {len(dominated)} of {len(robust)} "
           f"(loss, model) pairs: the mean there reflects that fund; read the median and the trimmed mean.")
        table(dominated, "losses dominated by one fund", index=False)
    top = views.top_loss_funds(vol)
    if top is not None:
        table(top, "the three funds contributing most to each model's loss (total = sum of the fund's point "
                   "losses; share of the model's total)", index=False)


def volatility(rep: ReportData) -> None:
    from qmtl_research.volatility import views

    vol = rep.volatility
    if vol is None:
        not_available("Stage 1 (volatility forecasting)")
        return
    s = vol.summary
    md(f"Out-of-time forecasts of the 1-month annualised standard deviation (percent) by the walk-forward design "
       f"(the verdict's): test period from **{s['test_start']}** ({s['test_start_rule']}), models re-estimated "
       f"{s['refit']} on data strictly before each refit date and warm-started from the previous fit; "
       f"{s['n_funds']} funds, {s['n_test_points']:,} test points (fund-weeks). One forecast panel "
       f"({s['n_forecast_rows']:,} rows, up to the 'now' origin {s['now_origin']}) feeds this study, stage 2 "
       "and the early warnings.")
    md(str(s["ordering_text"]))
    table(views.forecast_errors(vol),
          "forecast error by model (the paper's Table 2; MSE in %², RMSE in percentage points, QLIKE unit-free); "
          "the paper's values (its data, 4-fold CV) beside ours")
    loss_concentration(vol)
    table(views.design_comparison(vol),
          "the paper's 4-fold CV beside the walk-forward: the same models (columns) under both designs, each "
          "measure's designs on adjacent rows (CV folds train on the future of their test block)")
    views.design_comparison_figure(vol)
    figure("RMSE by model under the walk-forward and the paper's 4-fold CV.")
    table(views.error_by_type(vol),
          "GARCH-LSTM error by fund type (the paper's Table 3; std = mean realised annualised std, %)")
    views.error_by_type_figure(vol)
    figure("Out-of-sample RMSE by fund type and model (types by mean realised volatility, high to low).")
    views.regimes_figure(vol)
    figure(f"RMSE by regime: funds above and below the average volatility, and "
           f"{s.get('high_vol_regime', 'the high-volatility weeks')} (reproduces the paper's Figure 9).")
    for note in s.get("notes") or []:
        md(f"> {note}")
    table(views.top20(vol), "the 20 highest realised 1-month vols and each model's error (reproduces the paper's "
                            "Figure 10)", digits=2, index=False)
    table(views.dm_tests(vol), "Diebold-Mariano tests (statsmodels, Harvey adjustment, 3 lags) on the weekly "
                               "cross-sectional mean loss; negative statistic: model_a better", index=False)
    table(views.mcs(vol), "model confidence set (arch.bootstrap.MCS): models not significantly worse than the best "
                          f"at size {vol.config.get('mcs_size', 0.1)}", index=False)
    challengers = views.challengers(vol)
    if challengers is not None:
        validated = s.get("validated_model", vol.config.get("validated_model", GARCH_LSTM))
        md(f"Challengers against the model under validation, **{validated}** (best challenger: "
           f"{s.get('best_challenger') or 'none'}): the Diebold-Mariano statistic of each model's weekly loss minus "
           f"{validated}'s (positive = worse than {validated}; HAC variance with 3 lags, Harvey-Leybourne-Newbold "
           "correction) and whether the model belongs to the model confidence set of each loss.")
        table(challengers, f"every stage-1 model against {validated}: RMSE, QLIKE, DM statistic and p-value "
                           "(MSE, QLIKE), MCS membership; per-fund challengers' estimations and flagged ones",
              index=False)
    table(views.garch_diagnostics(vol), "GARCH(1,1) estimations and degenerate fits (persistence >= 0.999, "
                                        "beta = 0 with a large alpha, a parameter on a bound, "
                                        "near-constant returns)", index=False)
    failed = views.failures(vol)
    if failed is not None:
        table(failed, "funds stage 1 could not process", index=False)


def rating(rep: ReportData) -> None:
    from qmtl_research.rating import views

    r = rep.rating
    if r is None:
        not_available("Stage 2 (risk-grade classification)")
        return
    s = r.summary
    best = s["best_kernel"]
    md(f"Grade predictions {s['horizon_weeks']} weeks before the settlement, split **{s['split']}**: "
       f"{s['n_samples']} fund-settlements had a sample at this horizon and {s['n_test_predictions']} of them "
       f"fell in the outer test folds (the first settlement year only trains). Winner: **{s['winner']}**; the "
       f"best kernel's margin vs the regulatory rule is {100 * (s['best_accuracy'] - s['rule_accuracy']):+.1f} "
       "percentage points.")
    if s.get("verdict"):
        md(str(s["verdict"]))
    table(views.accuracy_table(r),
          "accuracy, macro-F1 and share more than one grade off, by approach (the paper's Table 4 + challengers)")
    pivot = views.accuracy_by_horizon(r)
    if pivot is not None:
        table(pivot, "accuracy by horizon (weeks before settlement)")
        views.horizon_figure(r)
        figure("Accuracy of each approach by prediction horizon (weeks before the settlement).")
    labels = views.label_comparison(r)
    if labels is not None:
        table(labels, "accuracy with the computed Table-1 grade and with the grade disclosed in the "
              "prospectus (the paper's target; one label per fund: its latest settlement) as label; the last row "
              "counts the fund-settlements each accuracy is over", index=False)
    scored = views.scored(r)
    if scored is not None:
        extra = int(r.summary.get("n_test_challengers", 0)) - int(s["n_test_predictions"])
        md(f"Table 4 compares the approaches on the {s['n_test_predictions']} test fund-settlements every approach "
           f"scored; the rule and persistence need no benchmark and also score {extra} more (funds without a "
           "benchmark, whose TE/IR/beta the SVCs need):")
        table(scored, "test fund-settlements scored by each approach, and its accuracy on its own rows",
              index=False)
    approx = views.approximation(r)
    if approx is not None:
        md(approx[0])
        table(approx[1], "accuracy of the exact and the approximated SVC on the same folds of a subset "
                         "(fractions; difference = approximated - exact)", index=False)
    table(views.per_grade(r, best), f"per-grade precision and recall of the best kernel ({best})", index=False)
    views.pearson_figure(r)
    figure("Absolute Pearson correlation between the candidate risk indicators and the standard deviation "
           "(the inputs are screened on it; reproduces the paper's Figure 7).")
    kept, dropped = r.config.get("features_kept", []), r.config.get("features_dropped", [])
    md(f"Inputs kept by the screen: {', '.join(kept) or 'none'}; dropped: {', '.join(dropped) or 'none'} "
       "(the paper kept the blended std, Sharpe, TE, IR and VaR, and dropped beta).")
    views.confusion_figure(r)
    figure("Confusion matrix of the best kernel: rows are true grades, columns predicted grades (out-of-sample).")
    ew = r.early_warning
    md(f"Early warning: **{len(ew)}** fund(s) whose predicted grade at the next settlement differs from the current "
       "grade, each scored by the model of the study horizon nearest to its weeks to settlement and warned only when "
       "that horizon's validated accuracy beats persistence (both beside it; most urgent first).")
    if len(r.early_warning_not_scored):
        table(views.not_scored(r), "funds without a warning decision, by reason", index=False)
    if not ew.empty:
        table(views.early_warning(r), "early-warning list (top 15): grades, probability of the predicted grade, "
              "blended std vs the nearest grade boundary (%)", digits=3, index=False)
    grade_calibration(rep)
    grading_schemes(rep)


def grade_calibration(rep: ReportData) -> None:
    """The predictive grade distribution beside the SVC: calibration table and reliability figure."""
    from qmtl_research.rating import views

    r = rep.rating
    info = (r.summary or {}).get("grade_calibration") or {}
    calibration = views.grade_calibration(r)
    if calibration is None:
        if info.get("reason"):
            md(f"Predictive grade distribution: not computed ({info['reason']}).")
        return
    md(f"Predictive grade distribution: P(grade = k) at the settlement from {info.get('n_paths')} simulated "
       f"continuations of each fund's stage-1 GARCH(1,1) (the walk-forward estimation in force at the prediction "
       f"date, {info.get('innovations')} innovations, seed {info.get('seed')}) over the unobserved weeks of the "
       f"grading window, beside the {info.get('svc_kernel')} SVC's Platt probabilities, on the same walk-forward "
       f"test fund-settlements ({info.get('n_skipped', 0)} without a GARCH estimation left out). Better calibrated "
       f"(lower Brier score): **{info.get('better')}**; an early warning may use it, with this table beside it.")
    table(calibration, "calibration of the grade probabilities on the walk-forward test set (Brier: mean "
                       "over samples of the squared distance to the observed grade, summed over grades, 0 "
                       "best; log loss in nats)", digits=4, index=False)
    outlook = r.grade_outlook
    if outlook is not None and not outlook.empty:
        moved = outlook[outlook["predictive_grade"] != outlook["current_grade"]]
        md(f"Predictive outlook: for **{len(moved)}** of {len(outlook)} scored funds the most probable grade at the "
           f"next settlement differs from the current one (P(change) = 1 - P(current grade)); the calibration above "
           f"is its validation.")
        table(views.grade_outlook(r), "predictive outlook (top 15 by P(change)): P(grade = k) at the next settlement",
              digits=3, index=False)
    if views.reliability_figure(r) is not None:
        figure("Reliability of P(grade = k): each (sample, grade) pair binned by its forecast; on the diagonal a "
               "forecast of p comes true a share p of the time.")


def grading_schemes(rep: ReportData) -> None:
    """The scheme in force, every configured scheme, and each fund's grade under each at its latest settlement."""
    from qmtl_research.rating import views
    from qmtl_research.rating.by_scheme import latest_side_by_side

    r = rep.rating
    if r is None or views.schemes(r) is None:
        return
    named = str(r.summary.get("grading", r.schemes.loc[r.schemes["in_force"], "scheme"].iloc[0]))
    md(f"Grading scheme in force: **{named}** (stage 2 predicts its grade; the warnings use its bands). Every "
       "configured scheme grades each fund-settlement side by side (`params/grading/`):")
    table(views.schemes(r), "grading schemes: measure, bands (grade: interval in percent, with "
          "its inclusive side), direction, source and effective date", index=False)
    side = r.scheme_grades
    if side is None or side.empty:
        md("No fund-settlement could be graded under any scheme; see the exclusions below.")
    else:
        table(views.grades_by_scheme(r), "grade (measure, %) under each scheme at each fund's latest settlement "
              "('-': not graded, see the exclusions)", index=False)
        latest = latest_side_by_side(side)
        differ = latest[latest["reason"] != ""]
        n_all = int((side["reason"] != "").sum())
        md(f"{n_all} of {len(side)} fund-settlements have a scheme whose grade differs from its bands applied to "
           f"{named}'s measure (the measure, not the band edges, makes the difference); at the latest settlement:"
           + ("" if len(differ) else " none."))
        if len(differ):
            md("\n".join(f"- **{f}**: {why}" for f, why in zip(differ["fund_id"], differ["reason"])))
    counts = views.scheme_exclusions(r)
    if counts is not None:
        table(counts, "fund-settlements a scheme could not grade, by reason (numbers replaced by #)", index=False)


def risk(rep: ReportData) -> None:
    from qmtl_research.risk import views

    rk = rep.risk
    if rk is None:
        not_available("Risk engine (VaR / CVaR, Monte Carlo, stress, backtests)")
        return
    cfg = rk.config
    table(views.var_table(rk), f"1-day VaR and CVaR over the last {cfg['var_lookback']} days (losses as positive "
          f"fractions; historical quantile convention '{cfg['var_convention']}')", index=False)
    _kv(views.montecarlo_rows(rk), f"Monte Carlo simulation ({cfg.get('montecarlo_label', '')}, "
                                   f"{cfg['mc_holding']}-day holding period, {cfg['mc_simulations']:,} paths)")
    if views.montecarlo_figure(rk) is not None:
        figure("Percentiles of the simulated holding-period return; red lines mark minus VaR (95 %, 99 %) and "
               "minus CVaR 99 %.")
    table(views.stress(rk), f"stress scenarios (portfolio loss as a positive fraction; amount in the portfolio's "
                            f"currency, value {money(cfg['portfolio_value'])})", index=False)
    _kv(views.backtest_rows(rk), "VaR backtest (Kupiec POF, Christoffersen, Basel traffic light)")
    views.backtest_figure(rk)
    figure("Daily returns, minus the rolling one-day VaR forecast and the exceptions of the backtest (percent).")
    from qmtl_research.reporting.backtest_sections import portfolio_es_backtests

    portfolio_es_backtests(rep)
    _kv(views.performance_rows(rk), "performance (the audit layer's conventions: maximum drawdown negative)")
    att = views.attribution(rk)
    if att is not None:
        table(att, "factor attribution: exposure x summed factor return; with alpha (daily intercept x days) and "
                   "the residual, the contributions add up to the sum of the daily returns (not the compounded "
                   "return)", index=False)
        views.attribution_figure(rk)
        figure("Contribution of each factor, alpha and the residual to the summed daily returns (percentage points).")
    if rk.alerts is not None:
        md(f"Audit alerts: **{len(rk.alerts)}**." if len(rk.alerts) else "Audit alerts: none.")
        if len(rk.alerts):
            table(views.alerts(rk), "audit alerts (first 20)", index=False)
    views.growth_figure(rk)
    figure("Growth of 1 of the portfolio and its benchmark (compounded daily simple returns, log scale).")


def _describe(value) -> str:
    if isinstance(value, pd.DataFrame):
        return f"table {value.shape[0]} x {value.shape[1]}: {', '.join(map(str, list(value.columns)[:6]))}" + \
            (" ..." if value.shape[1] > 6 else "")
    if isinstance(value, dict):
        if isinstance(value.get("artifact"), str):
            # an artifact pointer holds the file's absolute path: print it from the run folder's
            # "artifacts" down (the report names no machine path)
            parts = Path(value["artifact"]).parts
            at = max((i for i, p in enumerate(parts) if p == "artifacts"), default=len(parts) - 1)
            value = {**value, "artifact": "/".join(parts[at:])}
        scalars = [(k, v) for k, v in value.items() if isinstance(v, (int, float, str, bool)) or v is None][:4]
        return "; ".join(f"{k} = {round(v, 4) if isinstance(v, float) else v}" for k, v in scalars) or \
            f"{len(value)} fields"
    return str(value)[:80]


def recorded_results(rep: ReportData) -> None:
    """Index of every recorded result with a short account of its value, so nothing the run
    produced is hidden (the full values are in the Evaluation Store)."""
    if not rep.results:
        return
    rows = [{"section": s, "name": n, "value": _describe(v)} for (s, n), v in rep.results.items()]
    table(pd.DataFrame(rows), "every result recorded for this run (section/name and a summary of its value)",
          index=False)


def _fund_backtests(rep: ReportData) -> None:
    from qmtl_research.reporting.backtest_sections import fund_backtests

    fund_backtests(rep)


def _live(rep: ReportData) -> None:
    from qmtl_research.reporting.live_section import live_monitoring

    live_monitoring(rep)


def section_4(rep: ReportData) -> None:
    """Section 4 (Results), numbered as shown: the stage subsections appear only for the stages
    of the strategy (a portfolio report has no stage 1 or 2, a QMTL import neither)."""
    from qmtl_research.reporting.outline import results_parts

    show = {"rules": sections.rule_results, "volatility": volatility, "fund_backtests": _fund_backtests,
            "rating": rating, "risk": risk, "extended": sections.extended_validation,
            "metrics": sections.metrics_snapshot, "overrides": sections.overrides,
            "benchmark": sections.benchmark_comparison, "live": _live}
    for pid, number, title in results_parts(rep):
        md(f"## {number} {title}")
        show[pid](rep)
