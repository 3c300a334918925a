"""Figures of stage 2 (paper Figure 7, confusion matrices, accuracy by horizon)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from qmtl_research.plotting import annotated_matrix
from qmtl_research.rating.features import FEATURE_LABELS


def pearson_heatmap(correlations: pd.DataFrame, threshold: float, ax=None):
    """Figure 7: absolute Pearson correlations of the candidate indicators.

    Parameters
    ----------
    correlations : pandas.DataFrame
        Signed Pearson matrix of the reference std and the candidates.
    threshold : float
        Screen threshold on |r| (marked on the figure).
    ax : matplotlib.axes.Axes, optional
        Axes drawn on (a new figure when None).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.0))
    labels = [FEATURE_LABELS.get(c, c) for c in correlations.columns]
    annotated_matrix(ax, correlations.abs().to_numpy(), fmt=".2f", cmap="Blues", vmin=0, vmax=1,
                     xticklabels=labels, yticklabels=labels, colorbar_label="|Pearson r|", fontsize=8)
    ax.set_title(f"|Pearson r| of the risk indicators (screen: |r| with std > {threshold})")
    ax.set_xlabel("indicator")
    ax.set_ylabel("indicator")
    return ax


def confusion_grid(confusion: pd.DataFrame, approaches: list[str], ncols: int = 3):
    """One confusion matrix (counts) per approach, true grade down, predicted across.

    Parameters
    ----------
    confusion : pandas.DataFrame
        Long counts ``approach, true_grade, predicted_grade, count``.
    approaches : list of str
        Approaches drawn, one panel each.
    ncols : int, default 3
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(approaches)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(9, 3.0 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), approaches):
        m = confusion[confusion["approach"] == name].pivot(index="true_grade", columns="predicted_grade",
                                                           values="count")
        annotated_matrix(ax, m.to_numpy(), fmt="d", cmap="Greens", xticklabels=m.columns, yticklabels=m.index,
                         fontsize=7)
        ax.set_title(name)
        ax.set_xlabel("predicted grade")
        ax.set_ylabel("true grade")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle("Confusion matrices on the outer test folds (counts of fund-settlements)")
    return fig


def accuracy_by_horizon(horizons: pd.DataFrame, ax=None):
    """Accuracy of each approach at each horizon (weeks before the settlement).

    Parameters
    ----------
    horizons : pandas.DataFrame
        ``approach, horizon_weeks, accuracy`` (fractions).
    ax : matplotlib.axes.Axes, optional
        Axes drawn on (a new figure when None).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    data = horizons.dropna(subset=["accuracy"])
    sns.barplot(data=data, x="approach", y="accuracy", hue="horizon_weeks", ax=ax, palette="viridis")
    ax.set_ylim(0, 1)
    ax.set_xlabel("approach")
    ax.set_ylabel("accuracy (fraction of fund-settlements)")
    ax.set_title("Grade accuracy by prediction horizon")
    # beside the bars, never on them
    ax.legend(title="horizon (weeks)", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def reliability_figure(reliability: pd.DataFrame, ax=None):
    """Reliability diagram of grade probabilities (one-vs-rest pairs, see
    :func:`qmtl_research.rating.calibration.reliability_table`): mean forecast against observed frequency
    per bin and approach, the diagonal for perfect calibration; marker area grows with the pairs in the bin.

    Parameters
    ----------
    reliability : pandas.DataFrame
        Bins with ``approach``, ``bin_mean_forecast``, ``observed_frequency``, ``n_pairs``.
    ax : matplotlib.axes.Axes, optional
        Axes drawn on (a new figure when None).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, g in reliability.groupby("approach", sort=False):
        size = 12 + 60 * np.sqrt(g["n_pairs"] / g["n_pairs"].max())
        ax.plot(g["bin_mean_forecast"], g["observed_frequency"], marker="o", linewidth=1, markersize=4, label=name)
        ax.scatter(g["bin_mean_forecast"], g["observed_frequency"], s=size, alpha=0.3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast P(grade = k) (bin mean)")
    ax.set_ylabel("observed share with grade k")
    ax.set_title("Reliability of grade probabilities (walk-forward test set)")
    ax.legend(fontsize=8, loc="upper left")
    return ax
