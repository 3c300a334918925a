"""Stage-1 figures (matplotlib); every axis labelled with units."""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from qmtl_research.volatility import names


def pick_example_funds(predictions: pd.DataFrame, n: int = 3) -> list[str]:
    """Funds at the top, middle and bottom of the mean realised vol (deterministic).

    Parameters
    ----------
    predictions : DataFrame
        Stage-1 predictions (one row per fund and origin, one column per model, %).
    n : int
        Funds picked.

    Returns
    -------
    list of str
    """
    means = predictions.groupby("fund_id")["y"].mean().sort_values(kind="mergesort")
    if len(means) <= n:
        return list(means.index)
    pos = np.linspace(len(means) - 1, 0, n).round().astype(int)
    return [means.index[p] for p in pos]


def plot_forecasts(predictions: pd.DataFrame, fund_ids, models, figsize=(8, 2.2)):
    """Realised 1-month vol vs each model's forecast, one panel per fund.

    Parameters
    ----------
    predictions : DataFrame
        Stage-1 predictions (one row per fund and origin, one column per model, %).
    fund_ids : sequence of str
        Funds shown (one panel each).
    models : sequence of str
        Models drawn.
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(len(fund_ids), 1, figsize=(figsize[0], figsize[1] * len(fund_ids)), sharex=True,
                             squeeze=False)
    for ax, fid in zip(axes[:, 0], fund_ids):
        f = predictions.loc[predictions["fund_id"] == fid].sort_values("date")
        ax.plot(f["date"], f["y"], color="black", lw=1.4, label="realised")
        for m in models:
            ax.plot(f["date"], f[m], lw=0.8, label=m)
        ftype = f["fund_type"].iloc[0] if len(f) else ""
        ax.set_title(f"{fid} ({ftype}): 1-month annualised vol, realised vs forecast")
        ax.set_ylabel("annualised std (%)")
    axes[-1, 0].set_xlabel("target week (end of the forecast month)")
    axes[0, 0].legend(ncol=len(models) + 1, loc="upper right")
    return fig


def plot_rmse_by_type(table3: pd.DataFrame, models, figsize=(8, 4)):
    """RMSE per fund type and model (Table 3), types sorted by mean vol.

    Parameters
    ----------
    table3 : DataFrame
        :func:`~qmtl_research.volatility.evaluation.by_fund_type` output.
    models : sequence of str
        Models drawn.
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = {m: ("RMSE" if m == names.GARCH_LSTM else f"RMSE {m}") for m in models}
    cols = {m: c for m, c in cols.items() if c in table3.columns}
    data = table3.sort_values("std", ascending=False)[list(cols.values())]
    data.columns = list(cols)
    ax = data.plot.bar(figsize=figsize, width=0.8)
    ax.set_title("Out-of-sample RMSE by fund type (types by mean realised vol, high to low)")
    ax.set_ylabel("RMSE (percentage points of annualised std)")
    ax.set_xlabel("fund type")
    ax.tick_params(axis="x", rotation=30)
    return ax.figure


def plot_regimes(fig9: pd.DataFrame, models, figsize=(8, 4)):
    """Figure 9: RMSE by regime and model (regimes without evaluated points are not in the table).

    Parameters
    ----------
    fig9 : DataFrame
        :func:`~qmtl_research.volatility.evaluation.regimes` table.
    models : sequence of str
        Models drawn.
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    ax = fig9[[m for m in models if m in fig9.columns]].plot.bar(figsize=figsize, width=0.8)
    ax.set_title("RMSE by regime")
    ax.set_ylabel("RMSE (percentage points of annualised std)")
    ax.set_xlabel("")
    # regime names are long ("high-volatility weeks (top 10 % of ...)"): wrap them so they do not overlap
    ax.set_xticks(range(len(fig9.index)), [textwrap.fill(str(r), 24) for r in fig9.index], rotation=0)
    return ax.figure


def plot_design_comparison(comparison: pd.DataFrame, measure: str = "RMSE", figsize=(8, 3.6)):
    """Walk-forward vs K-fold CV: ``measure`` (RMSE or QLIKE) per model and design, from
    ``tables["design_comparison"]``.

    Parameters
    ----------
    comparison : DataFrame
        :func:`~qmtl_research.volatility.evaluation.design_comparison` output.
    measure : {"RMSE", "QLIKE"}
        The measure drawn.
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = [c for c in comparison.columns if c.startswith(f"{measure} (")]
    data = comparison[cols].copy()
    data.columns = [c[len(measure) + 2:-1] for c in cols]
    ax = data.plot.bar(figsize=figsize, width=0.75, rot=0)
    unit = "percentage points of annualised std" if measure == "RMSE" else "unit-free, 0 = perfect"
    ax.set_title(f"{measure} by model: the paper's K-fold CV beside the out-of-time walk-forward")
    ax.set_ylabel(f"{measure} ({unit})")
    ax.set_xlabel("")
    ax.legend(title="design", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never on them
    return ax.figure


def plot_qlike(table2: pd.DataFrame, figsize=(7, 2.8)):
    """QLIKE per model (Table 2's ``QLIKE`` column), lower is better.

    Parameters
    ----------
    table2 : DataFrame
        Table 2 (``QLIKE`` column).
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=figsize)
    table2["QLIKE"].sort_values().plot.barh(ax=ax, color="#1f3b5c")
    ax.set_xlabel("mean QLIKE (unit-free; 0 = forecast variance equals the realised one)")
    ax.set_ylabel("")
    ax.set_title("Stage 1 forecast loss by model (QLIKE, robust to the noisy volatility proxy)")
    return fig


def plot_mcs(mcs: pd.DataFrame, size: float = 0.10, figsize=(8, 3.2)):
    """Model confidence set p-values per model and loss (``tables["mcs"]``); models at or above
    the dashed line (the test size) are in the set.

    Parameters
    ----------
    mcs : DataFrame
        :func:`~qmtl_research.volatility.evaluation.model_confidence_set` output.
    size : float
        MCS size (the p-value line).
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = mcs.pivot_table(index="model", columns="loss", values="mcs_pvalue", sort=False)
    ax = data.plot.bar(figsize=figsize, width=0.75, rot=0)
    ax.axhline(size, color="black", ls="--", lw=1, label=f"size {size:g}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("MCS p-value")
    ax.set_xlabel("")
    ax.set_title("Model confidence set (Hansen-Lunde-Nason; weekly mean losses)")
    ax.legend()
    return ax.figure


def plot_garch_diagnostics(garch_params: pd.DataFrame, figsize=(8, 3.2)):
    """Persistence ``alpha + beta`` of every GARCH estimation, degenerate fits marked (from
    ``Stage1Result.garch_params``).

    Parameters
    ----------
    garch_params : DataFrame
        The GARCH estimation table.
    figsize : tuple of float
        Figure size (inches).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=figsize)
    if garch_params is None or garch_params.empty:
        ax.text(0.5, 0.5, "no GARCH estimations", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    deg = garch_params["degenerate"].astype(bool)
    bins = np.linspace(min(0.0, float(garch_params["persistence"].min())), 1.0, 41)
    ax.hist([garch_params.loc[~deg, "persistence"], garch_params.loc[deg, "persistence"]], bins=bins,
            stacked=True, label=["regular", "degenerate (flagged)"], color=["#1f3b5c", "#c0392b"])
    ax.set_xlabel("persistence alpha + beta")
    ax.set_ylabel("estimations (fund x refit)")
    ax.set_title(f"GARCH(1,1) fits: {int(deg.sum())} of {len(deg)} flagged "
                 "(persistence >= 0.999, beta = 0 with large alpha, or a parameter on a bound)")
    ax.legend()
    return fig
