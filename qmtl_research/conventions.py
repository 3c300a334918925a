"""The conventions every number in this project follows (printed in reports' appendix).

One home: measures refer to these names in their docstrings, and the report's
appendix prints this table, so a reader knows units, annualisation and signs.
"""
from __future__ import annotations

import pandas as pd

WEEKS_PER_YEAR = 52
TRADING_DAYS_PER_YEAR = 252

CONVENTIONS: list[tuple[str, str]] = [
    ("returns", "Simple returns as fractions (0.01 = +1 %); weekly series end on Friday (W-FRI)."),
    ("annualised std (fund grades, stage 1)", "Sample std (ddof = 1) of weekly simple returns x sqrt(52), in percent."),
    ("1-month volatility (stage-1 target)", "Annualised std of the last 4 weekly returns, in percent; forecasts made at t use data up to t-1."),
    ("grade table", "Grade 1 above 25 %; grade k when std <= its upper bound (25, 15, 10, 5, 0.5 % for grades 2..6)."),
    ("Sharpe ratio (validation metrics)", "Mean / std (ddof = 1) of periodic returns x sqrt(periods per year: 252 daily, 52 weekly); risk-free 0 unless stated."),
    ("max drawdown", "Largest peak-to-trough fall of the compounded equity curve: a POSITIVE fraction in validation metrics (QMTL: 0.25 = -25 %); NEGATIVE in the audit PerformanceReport (the seed's and empyrical's sign)."),
    ("performance (audit layer)", "252 periods a year for daily data; annual return = CAGR; Sortino downside deviation against 0 excess return; information ratio annualised."),
    ("stage-1 GARCH forecasts", "Variance forecasts h1..h4 of the next 4 weekly returns mapped to the EXPECTED value of the target (sample std, ddof = 1, of 4 returns) for Gaussian returns with those variances: E[S] = 2 sqrt(2/pi) R_G(l1, l2, l3) / sqrt(3), l = eigenvalues of D^1/2 (I - 11'/4) D^1/2, D = diag(h) (= c4(4) = 0.921 x sqrt(h) for equal variances), x sqrt(52) x 100 (percent), times the fat-tail factor E[sd(z1..z4)] / E[sd(Z1..Z4)] for iid unit-variance Student-t(nu) z against standard normal Z (seeded Monte Carlo, common random numbers; 1 for Gaussian; 0.979 for nu = 8, 0.956 for nu = 5), nu fitted by maximum likelihood (grid 2.5..100, inf) to the fund's standardised residuals of the estimation sample. The root-mean sqrt(mean(h) x 52) would be about 8.5 % too high. Parameters re-estimated at each walk-forward refit on returns before it."),
    ("stage-1 walk-forward", "Test period from the first week by which half of the funds have 104 weekly returns (data-relative; or as configured); refits yearly (test start, then the first week of each year) or weekly, warm-started; a row's model was fitted on data strictly before its fit date; the origin after the last week is the 'now' forecast."),
    ("QLIKE (stage 1)", "s2/h - log(s2/h) - 1 with s2 = squared realised 1-month vol (unbiased for the month's variance) and h = (f / c4(4))^2 the variance implied by the forecast f of the expected sample std (unit-free, 0 = perfect); points with zero realised vol or a non-positive forecast are left out for every model."),
    ("forecast comparison tests (stage 1)", "On the weekly cross-sectional mean loss: Diebold-Mariano (statsmodels, HAC lags h-1 = 3, Harvey adjustment, t p-values); model confidence set (arch MCS, method R, stationary bootstrap, block sqrt(weeks), seeded, size 10 %)."),
    ("blended std (stage 2)", "sqrt(((156 - h) s^2 + h f^2) / 156): s = std of the 156 - h known weeks, f = the 1-month forecast for the h remaining weeks (percent)."),
    ("VaR / CVaR (risk report, audit layer)", "Losses as POSITIVE fractions of value, one period; historical VaR with the audit seed's convention 'seed': idx = int((1 - c) n) of ascending returns, VaR = -r[idx], CVaR = mean loss of the idx + 1 worst (qmtl_research.risk.var.historical_var)."),
    ("VaR / ES (validation rules: returns.var_p01, es_p01)", "The same risk-engine function with the convention 'linear': VaR = -numpy.quantile(r, 0.01) (linear interpolation), ES = mean loss of the returns at or below that quantile; daily, positive loss fractions."),
    ("VaR 97.5 % (stage-2 feature)", "The same function, convention 'linear', on the weekly returns of the known part of the grading window, in percent (positive = loss)."),
    ("Basel traffic light", "250-day window, 99 % VaR: green 0-4, yellow 5-9, red >= 10 exceptions."),
    ("error metrics", "MSE in squared percentage points, RMSE in percentage points of annualised std."),
    ("accuracy", "Share of fund-settlements whose predicted grade equals the label (0..1)."),
]


def conventions_table() -> pd.DataFrame:
    return pd.DataFrame(CONVENTIONS, columns=["quantity", "convention"]).set_index("quantity")


def money(v) -> str:
    """A currency amount with thousands separators and no decimals (``30,000,000``).

    Parameters
    ----------
    v : float or None
        Amount in the portfolio's currency.

    Returns
    -------
    str
        ``n/a`` for None or NaN.
    """
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return f"{float(v):,.0f}"
