"""The validation stage's views: the rule, verdict, metric, benchmark and health tables and the
rule-outcome figure, in one home.

``notebooks/validation.ipynb`` and the Validation Report's section 4
(:mod:`qmtl_research.reporting.sections`: rule results, metrics snapshot, benchmark comparison)
both call these functions on the stage's recorded results (``v``:
:class:`qmtl_research.results.ValidationResults`, as ``pipeline.view(ctx, "validation")``
returns it). Metric values keep the conventions of
:data:`qmtl_research.validation.metrics.SHARPE_CONVENTION` (drawdown, VaR and ES as positive
loss fractions).
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.validation.registry import CORE_RULES

#: the verdict columns shown for imported QMTL runs, in order (those present)
VERDICT_COLUMNS = ("batch", "strategy_id", "status", "recommended_stage", "selected", "failed_rules",
                   "warned_rules", "expected", "agrees")
#: rule status -> colour of the rule-outcome figure
STATUS_COLOURS = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828"}


def core_rules(v) -> pd.DataFrame:
    """The outcomes of QMTL's five core rules (those the profile applies).

    Parameters
    ----------
    v : ValidationResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        The rows of ``validation/rules`` whose rule is a core rule (may be empty).
    """
    return v.rules[v.rules["rule"].isin(CORE_RULES)]


def verdicts(v) -> pd.DataFrame | None:
    """The verdict of every imported QMTL run, the batch shortened to its export file's stem.

    Parameters
    ----------
    v : ValidationResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        :data:`VERDICT_COLUMNS` present; ``batch`` without ``_strategies_runs.json`` /
        ``.json``; None when the run is not a QMTL import.
    """
    if v.verdicts is None or v.verdicts.empty:
        return None
    cols = [c for c in VERDICT_COLUMNS if c in v.verdicts.columns]
    shown = v.verdicts[cols].copy()
    if "batch" in shown:
        # the export file without its suffix (bad_strategies_runs.json -> bad): keeps the table on the page
        shown["batch"] = shown["batch"].astype(str).str.replace(r"(_strategies)?_runs\.json$|\.json$", "", regex=True)
    return shown


def metric_rows(metrics: dict | None) -> pd.DataFrame | None:
    """Every scalar metric of every metric block, one row each.

    Parameters
    ----------
    metrics : dict or None
        Block -> {metric: value} (``validation/metrics`` or the run's recorded metrics).

    Returns
    -------
    pandas.DataFrame or None
        Columns ``block``, ``metric``, ``value`` (nested values left out: they are tables of
        their own); None when there is no scalar metric.
    """
    rows = []
    for block, values in (metrics or {}).items():
        if isinstance(values, dict):
            rows += [(block, k, x) for k, x in values.items() if not isinstance(x, (dict, list))]
    return pd.DataFrame(rows, columns=["block", "metric", "value"]) if rows else None


def benchmark_comparison(v) -> pd.DataFrame | None:
    """The model against its benchmarks and challengers.

    Parameters
    ----------
    v : ValidationResults or None
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        ``difference = value - reference value``; ``better`` names the side that wins (lower
        error or loss, higher accuracy or Sharpe); None when there is none.
    """
    frame = v.benchmark_comparison if v is not None else None
    return None if frame is None or frame.empty else frame


def health(v) -> pd.DataFrame:
    """The run's health indicators, floats to 4 decimals.

    Parameters
    ----------
    v : ValidationResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        One column ``value`` indexed by indicator.
    """
    return pd.Series(v.health).to_frame("value").astype(object).map(
        lambda x: round(x, 4) if isinstance(x, float) else x)


def rule_outcomes_figure(v):
    """Rule outcomes of the run, or for a QMTL import the verdicts of its runs by export file.

    Parameters
    ----------
    v : ValidationResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.figure.Figure
        Bars coloured by status (:data:`STATUS_COLOURS`).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    if v.verdicts is not None:
        counts = v.verdicts.groupby(["batch", "status"]).size().unstack(fill_value=0).reindex(
            columns=["pass", "warn", "fail"], fill_value=0)
        counts.plot.barh(stacked=True, ax=ax, color=[STATUS_COLOURS[c] for c in counts.columns])
        ax.set_xlabel("runs (count)")
        ax.set_ylabel("QMTL export file (batch)")
        ax.set_title("Verdicts of the imported QMTL runs under the world policy")
    else:
        r = v.rules
        ax.barh(r["rule"], [1] * len(r), color=[STATUS_COLOURS[x] for x in r["status"]])
        for i, (st, sev) in enumerate(zip(r["status"], r["severity"])):
            ax.text(0.02, i, f"{st} ({sev})", va="center", color="white", fontweight="bold")
        ax.set_xticks([])
        ax.set_xlabel("rule outcome (colour = status)")
        ax.set_ylabel("rule")
        ax.set_title(f"Rule outcomes: run status {v.summary['status']}")
    fig.tight_layout()
    return fig
