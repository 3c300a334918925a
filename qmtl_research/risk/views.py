"""The risk engine's views (stage ``var``): VaR / CVaR, Monte Carlo, stress, backtest,
performance and attribution tables and figures, in one home.

``notebooks/var.ipynb`` and the Validation Report's section 4
(:func:`qmtl_research.reporting.results_sections.risk`) both call these functions on the
stage's recorded results (``rk``: :class:`qmtl_research.results.RiskResults`, as
``pipeline.view(ctx, "var")`` returns it). Losses (VaR, CVaR, stress) are positive fractions
of the portfolio value; returns are simple daily returns (fractions); figures are drawn by
:mod:`qmtl_research.risk.plots` in percent.
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.conventions import money
from qmtl_research.risk import plots

#: the Monte Carlo fields the report lists, in order
MONTECARLO_FIELDS = ("input_sample_count", "mean_return", "std_dev", "var_95", "var_99", "cvar_95", "cvar_99")


def var_table(rk) -> pd.DataFrame:
    """1-day VaR and CVaR by method and confidence (long form, as recorded).

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``risk/var_table``: losses as positive fractions.
    """
    return rk.var_table


def var_pivot(rk) -> pd.DataFrame:
    """VaR and CVaR with methods as rows and confidences as columns, 5 decimals.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
    """
    return rk.var_table.pivot(index="method", columns="confidence", values=["VaR", "CVaR"]).round(5)


def montecarlo_rows(rk) -> list[tuple[str, object]]:
    """The Monte Carlo summary as (item, value) rows.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    list of (str, value)
        :data:`MONTECARLO_FIELDS` present in ``risk/montecarlo``: the input sample count,
        mean and std of the simulated holding-period return, VaR and CVaR (positive loss
        fractions) at 95 % and 99 %.
    """
    mc = rk.montecarlo
    return [(k, mc.get(k)) for k in MONTECARLO_FIELDS if k in mc]


def montecarlo(rk) -> pd.DataFrame:
    """The Monte Carlo summary with its configuration, one column named after the method, 5 decimals.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Simulations, holding days, input samples, Student-t dof (when estimated), mean,
        std, VaR and CVaR at 95 % and 99 % (fractions).
    """
    mc, cfg = rk.montecarlo, rk.config
    return pd.Series({"simulations": mc["config"]["num_simulations"], "holding days": cfg["mc_holding"],
                      "input samples": mc["input_sample_count"], "Student-t dof": mc["config"].get("estimated_dof"),
                      "mean": mc["mean_return"], "std": mc["std_dev"], "VaR 95": mc["var_95"], "VaR 99": mc["var_99"],
                      "CVaR 95": mc["cvar_95"], "CVaR 99": mc["cvar_99"]},
                     dtype=float).round(5).to_frame(cfg["montecarlo_label"])


def stress(rk) -> pd.DataFrame:
    """The stress scenarios, with the loss amount written in the portfolio's currency.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``risk/stress`` with ``loss_amount`` as text (:func:`~qmtl_research.conventions.money`);
        the portfolio loss is a positive fraction, 4 decimals.
    """
    st = rk.stress.copy()
    st["loss_amount"] = st["loss_amount"].map(money)
    return st.round(dict.fromkeys(st.select_dtypes("number").columns, 4))


def backtest_rows(rk) -> list[tuple[str, object]]:
    """The VaR backtest (Kupiec POF, Christoffersen, Basel traffic light) as (item, value) rows.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    list of (str, value)
        Every field of ``risk/backtest`` (counts, likelihood ratios, p-values, zone).
    """
    return list(rk.backtest.items())


def _item_frame(rows: list[tuple[str, object]], digits: int) -> pd.DataFrame:
    """(item, value) rows as a one-column frame indexed by item, floats rounded."""
    values = [round(v, digits) if isinstance(v, float) else v for _, v in rows]
    return pd.DataFrame({"value": pd.Series(values, index=[k for k, _ in rows], dtype=object)}).rename_axis("item")


def backtest(rk) -> pd.DataFrame:
    """The VaR backtest as an item/value table (floats to 4 decimals); see :func:`backtest_rows`.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
    """
    return _item_frame(backtest_rows(rk), 4)


def performance(rk) -> pd.DataFrame:
    """The performance measures as an item/value table (floats to 4 decimals); see :func:`performance_rows`.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
    """
    return _item_frame(performance_rows(rk), 4)


def performance_rows(rk) -> list[tuple[str, object]]:
    """The performance measures as (item, value) rows (the audit layer's conventions).

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    list of (str, value)
        The scalar fields of ``risk/performance`` (maximum drawdown negative, a fraction).
    """
    return [(k, v) for k, v in rk.performance.items() if not isinstance(v, (dict, list))]


def attribution(rk) -> pd.DataFrame | None:
    """The factor attribution, the factor return blanked on the alpha and residual rows.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Exposure x summed factor return per factor, with alpha and the residual (the
        contributions add up to the sum of the daily returns); None without factor data.
    """
    if rk.attribution is None:
        return None
    att = rk.attribution.copy()
    att.loc[att["factor"].isin(["alpha", "residual"]), "factor_return"] = float("nan")
    return att


def alerts(rk, top: int = 20) -> pd.DataFrame | None:
    """The first ``top`` audit alerts, or None when the run records none.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.
    top : int, default 20
        Rows shown.

    Returns
    -------
    pandas.DataFrame or None
    """
    if rk.alerts is None or not len(rk.alerts):
        return None
    return rk.alerts.head(top)


def montecarlo_figure(rk, label: str | None = None):
    """Percentiles of the simulated holding-period return with minus VaR / CVaR lines, or
    None when the run records no percentiles.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.
    label : str, optional
        Title label; None: the Monte Carlo method's label.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    if not rk.montecarlo.get("percentiles"):
        return None
    cfg = rk.config
    return plots.plot_mc_percentiles(rk.montecarlo, cfg["mc_holding"],
                                     cfg.get("montecarlo_label", "") if label is None else label)


def backtest_figure(rk):
    """Daily returns, minus the rolling one-day VaR forecast and the backtest's exceptions.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plots.plot_backtest(rk.backtest_series, rk.backtest)


def attribution_figure(rk):
    """Contribution of each factor, alpha and the residual, or None without factor data.

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    return None if rk.attribution is None else plots.plot_attribution(rk.attribution)


def growth_figure(rk):
    """Growth of 1 of the portfolio and its benchmark (compounded daily simple returns, log scale).

    Parameters
    ----------
    rk : RiskResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plots.plot_growth(rk.portfolio_returns, rk.benchmark_returns)
