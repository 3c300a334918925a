"""Stage-1 figures (matplotlib); every axis labelled with units."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def pick_example_funds(predictions: pd.DataFrame, n: int = 3) -> list[str]:
    """Funds at the top, middle and bottom of the mean realised vol (deterministic)."""
    means = predictions.groupby("fund_id")["y"].mean().sort_values(kind="mergesort")
    if len(means) <= n:
        return list(means.index)
    pos = np.linspace(len(means) - 1, 0, n).round().astype(int)
    return [means.index[p] for p in pos]


def plot_forecasts(predictions: pd.DataFrame, fund_ids, models, figsize=(8, 2.2)):
    """Realised 1-month vol vs each model's forecast, one panel per fund."""
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
    """RMSE per fund type and model (Table 3), types sorted by mean vol."""
    cols = {m: ("RMSE" if m == "GARCH-LSTM" else f"RMSE {m}") for m in models}
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
    """Figure 9: RMSE by regime and model."""
    ax = fig9[[m for m in models if m in fig9.columns]].plot.bar(figsize=figsize, width=0.8)
    ax.set_title("RMSE by regime (Figure 9)")
    ax.set_ylabel("RMSE (percentage points of annualised std)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=0)
    return ax.figure
