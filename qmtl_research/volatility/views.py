"""Stage 1's views: the tables and figures of the volatility study, in one home.

``notebooks/volatility.ipynb`` and the Validation Report's section 4
(:func:`qmtl_research.reporting.results_sections.volatility`) both call these functions on
the stage's recorded results (``vol``: :class:`qmtl_research.results.VolatilityResults`, as
``pipeline.view(ctx, "volatility")`` returns it). Tables come back as DataFrames rounded
for display (the digits the report prints: rounding again there changes nothing); figures
come back as matplotlib figures, drawn by :mod:`qmtl_research.volatility.plots`. Forecast
errors are in the stage's units: MSE in %², RMSE in percentage points of annualised
standard deviation, QLIKE unit-free.

Over 400 lines because it holds every table and figure of the stage (one home for the notebook
and the report), each a short function.
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.paper import paper_reference
from qmtl_research.volatility import plots

#: measures of the design comparison shown as integers (counts and ranks), the others to 4 decimals
_INTEGER_MEASURES = ("n_points", "rank RMSE")


def model_names(vol) -> list[str]:
    """The stage-1 models of the run, in the order of Table 2.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    list of str
        Model names (rows of ``vol.table2``).
    """
    return list(vol.table2.index)


def overview(vol) -> pd.DataFrame:
    """The run at a glance: data, design, test period, refits, counts and seed.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        One column ``value`` indexed by item.
    """
    s = vol.summary
    return pd.Series({"data": s["data"], "verdict design": s["split"], "test start": s["test_start"],
                      "test start rule": s["test_start_rule"], "refits": f"{s['refit']} ({s['n_refits']} refit dates)",
                      "funds evaluated": s["n_funds"], "test points (fund-weeks)": s["n_test_points"],
                      "forecast rows (incl. the 'now' origin)": s["n_forecast_rows"], "'now' origin": s["now_origin"],
                      "funds listed as failures": s["n_failures"], "seed": s["seed"]}, name="value").to_frame()


def forecast_errors(vol) -> pd.DataFrame:
    """The paper's Table 2: forecast error by model, with the paper's values beside ours.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Rows = models; MSE (%²), RMSE (percentage points), QLIKE (unit-free) and the same
        prefixed ``paper `` (NaN for a model the paper does not have); 4 decimals.
    """
    return vol.table2.join(paper_reference().table2_frame().add_prefix("paper "), how="left").round(4)


def designs_by_measure(comparison: pd.DataFrame) -> pd.DataFrame:
    """The design comparison turned for reading.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Rows = models, columns ``<measure> (<design>)`` (``volatility/design_comparison``).

    Returns
    -------
    pandas.DataFrame
        Rows = ``<measure> (<design>)`` grouped by measure, columns = models; every cell a
        string: counts and ranks as integers with thousands separators, errors to 4
        decimals, ``n/a`` where missing.
    """
    def measure(col: str) -> str:
        return col.rsplit(" (", 1)[0]
    order = list(dict.fromkeys(measure(c) for c in comparison.columns))
    cols = sorted(comparison.columns, key=lambda c: order.index(measure(c)))
    out = comparison[cols].T.astype(object)
    for label in out.index:
        integer = measure(label) in _INTEGER_MEASURES
        out.loc[label] = [(f"{int(v):,}" if integer else f"{v:.4f}") if pd.notna(v) else "n/a"
                          for v in out.loc[label]]
    out.index.name = "measure (design)"
    out.columns.name = None
    return out


def design_comparison(vol) -> pd.DataFrame:
    """The paper's 4-fold CV beside the walk-forward (:func:`designs_by_measure` of the run's table).

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        See :func:`designs_by_measure`.
    """
    return designs_by_measure(vol.design_comparison)


def loss_robust(vol) -> pd.DataFrame | None:
    """Each loss per model: the mean beside robust summaries and the top fund's share.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        ``volatility/loss_robust`` without its ``note`` column; None for a run recorded
        before it (or an empty table).
    """
    if vol.loss_robust is None or vol.loss_robust.empty:
        return None
    return vol.loss_robust.drop(columns=["note"])


def dominated_losses(vol) -> pd.DataFrame | None:
    """The (loss, model) pairs where one fund makes more than half of the total loss.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``loss``, ``model``, ``note``; None when the run has no ``loss_robust``.
    """
    if vol.loss_robust is None or vol.loss_robust.empty:
        return None
    return vol.loss_robust.loc[vol.loss_robust["dominated"].astype(bool), ["loss", "model", "note"]]


def top_loss_funds(vol, n: int = 3) -> pd.DataFrame | None:
    """The funds contributing most to each model's loss.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.
    n : int, default 3
        Funds per (loss, model) pair.

    Returns
    -------
    pandas.DataFrame or None
        The first ``n`` rows of each (loss, model) group of ``volatility/loss_by_fund``
        (total = sum of the fund's point losses; share of the model's total); None when absent.
    """
    if vol.loss_by_fund is None or vol.loss_by_fund.empty:
        return None
    return vol.loss_by_fund.groupby(["loss", "model"], sort=False).head(n)


def error_by_type(vol) -> pd.DataFrame:
    """The paper's Table 3: error by fund type, with the paper's std and RMSE beside ours.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Rows = fund types; std = mean realised annualised std (%), RMSE in percentage points; 4 decimals.
    """
    paper = paper_reference()
    return vol.table3.join(paper.table3_frame()[["std", "RMSE"]].add_prefix("paper "), how="left").round(4)


def regimes(vol) -> pd.DataFrame:
    """RMSE by volatility regime (the paper's Figure 9 data), 4 decimals.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``volatility/fig9_regimes`` rounded.
    """
    return vol.fig9_regimes.round(4)


def top20(vol) -> pd.DataFrame:
    """The 20 highest realised 1-month vols and each model's error (the paper's Figure 10), 2 decimals.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``volatility/top20`` rounded (percent).
    """
    number = vol.top20.select_dtypes("number").columns
    return vol.top20.round(dict.fromkeys(number, 2))


def dm_tests(vol) -> pd.DataFrame:
    """Diebold-Mariano tests on the weekly cross-sectional mean loss (negative statistic: model_a better).

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``volatility/dm_tests``, 4 decimals.
    """
    return vol.dm_tests.round(4)


def mcs(vol) -> pd.DataFrame:
    """The model confidence set (arch.bootstrap.MCS) of each loss.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``volatility/mcs``, 4 decimals.
    """
    return vol.mcs.round(4)


def challengers(vol, flagged_fits: bool = True) -> pd.DataFrame | None:
    """Every stage-1 model against the model under validation.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.
    flagged_fits : bool, default True
        Keep the ``flagged_fits`` column (count of fits at a bound or with persistence
        >= 0.999). The notebook leaves it out: one GJR fit crosses the 0.999 line under
        another CPU's arithmetic (tests/NOTEBOOKS.md).

    Returns
    -------
    pandas.DataFrame or None
        RMSE, QLIKE, DM statistic (positive = worse than the validated model) and p-value,
        MCS membership, 4 decimals; None for a run recorded before the table or without rows.
    """
    if vol.challengers is None or not len(vol.challengers):
        return None
    out = vol.challengers if flagged_fits else vol.challengers.drop(columns=["flagged_fits"], errors="ignore")
    return out.round(4)


def garch_diagnostics(vol) -> pd.DataFrame:
    """GARCH(1,1) estimations and degenerate fits, one row per count.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        ``volatility/garch_diagnostics_summary``.
    """
    return vol.garch_diagnostics_summary


def garch_fits(vol, n: int = 20) -> pd.DataFrame:
    """The first ``n`` per-fund GARCH(1,1) fits (alpha, beta, persistence to 4 decimals).

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.
    n : int, default 20
        Rows shown.

    Returns
    -------
    pandas.DataFrame
    """
    return vol.garch_diagnostics.head(n).round({"alpha": 4, "beta": 4, "persistence": 4})


def failures(vol) -> pd.DataFrame | None:
    """The funds stage 1 could not process, or None when there are none.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
    """
    return None if vol.failures.empty else vol.failures


def design_comparison_figure(vol):
    """RMSE by model under the walk-forward and the paper's 4-fold CV.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plots.plot_design_comparison(vol.design_comparison)


def error_by_type_figure(vol):
    """Out-of-sample RMSE by fund type and model.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plots.plot_rmse_by_type(vol.table3, model_names(vol))


def regimes_figure(vol):
    """RMSE by regime (the paper's Figure 9).

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plots.plot_regimes(vol.fig9_regimes, model_names(vol))


def forecasts_figure(vol, n_funds: int = 3):
    """Forecasts against the realised target for ``n_funds`` example funds (low, middle, high volatility).

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.
    n_funds : int, default 3
        Example funds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    evaluated = vol.forecasts.dropna(subset=["y"])
    return plots.plot_forecasts(evaluated, plots.pick_example_funds(evaluated, n_funds), model_names(vol))


def mcs_figure(vol):
    """The MCS p-values of each model and loss, with the set's size.

    Parameters
    ----------
    vol : VolatilityResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plots.plot_mcs(vol.mcs, vol.config["mcs_size"])
