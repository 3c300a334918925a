"""Stage 2's views: the tables and figures of the risk-grade study, in one home.

``notebooks/rating.ipynb`` and the Validation Report's section 4
(:func:`qmtl_research.reporting.results_sections.rating`) both call these functions on the
stage's recorded results (``r``: :class:`qmtl_research.results.RatingResults`, as
``pipeline.view(ctx, "rating")`` returns it). Tables come back as DataFrames rounded for
display (the digits the report prints: rounding again there changes nothing); figures are
drawn by :mod:`qmtl_research.rating.plots`. Accuracies, F1, precision and recall are
fractions in [0, 1]; probabilities too; volatilities and boundaries in percent.

Over 400 lines because it holds every table and figure of stage 2 (one home for the notebook and the
report), each a short function.
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.paper import paper_reference
from qmtl_research.rating import plots
from qmtl_research.rating.by_scheme import latest_side_by_side
from qmtl_research.results import LABEL_COMPARISON_COUNT_ROW

#: the early-warning columns a reader sees (the stored table, ``EARLY_WARNING_COLUMNS``, has more)
EARLY_WARNING_DISPLAY_COLUMNS = ["fund_id", "current_grade", "predicted_grade", "probability", "model_horizon_weeks",
                                 "validated_accuracy", "persistence_accuracy", "blended_std_pct", "boundary_pct",
                                 "next_settlement", "days_to_settlement"]


def _round(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    """The numeric columns rounded to ``digits`` (others untouched)."""
    return frame.round(dict.fromkeys(frame.select_dtypes("number").columns, digits))


def accuracy_table(r) -> pd.DataFrame:
    """The paper's Table 4 plus challengers, with the paper's accuracy beside ours.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Rows = approaches; accuracy, macro-F1, share more than one grade off (fractions), 4 decimals.
    """
    return _round(r.table4.join(paper_reference().table4_series(), how="left"), 4)


def accuracy_by_horizon(r) -> pd.DataFrame | None:
    """Accuracy of each approach by prediction horizon.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Rows = approaches, columns ``h = <weeks> weeks`` (weeks before the settlement),
        accuracy as a fraction; None when no horizon has an accuracy.
    """
    hz = r.horizons.dropna(subset=["accuracy"])
    if hz.empty:
        return None
    pivot = hz.pivot_table(index="approach", columns="horizon_weeks", values="accuracy")
    pivot.columns = [f"h = {c} weeks" for c in pivot.columns]
    return _round(pivot, 4)


def horizon_samples(r) -> pd.DataFrame:
    """Samples and test predictions at each horizon, with the horizon's note.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Columns ``horizon_weeks``, ``n_samples``, ``n_test``, ``note``.
    """
    return r.horizons.drop_duplicates("horizon_weeks")[["horizon_weeks", "n_samples", "n_test", "note"]]


def label_comparison(r) -> pd.DataFrame | None:
    """Accuracy with the computed Table-1 grade and with the disclosed grade as label.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Every cell a string: accuracies (fractions) to 4 decimals, the count row as integers
        with thousands separators; None when too few funds disclose a grade.
    """
    if r.label_comparison is None:
        return None
    labels = r.label_comparison.astype(object)
    counts = labels["approach"] == LABEL_COMPARISON_COUNT_ROW
    labels.loc[counts, labels.columns[1:]] = labels.loc[counts, labels.columns[1:]].map(lambda v: f"{int(v):,}")
    labels.loc[~counts, labels.columns[1:]] = labels.loc[~counts, labels.columns[1:]].map(lambda v: f"{v:.4f}")
    return labels


def scored(r) -> pd.DataFrame | None:
    """Test fund-settlements scored by each approach, when approaches scored different sets.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        ``rating/scored`` (counts and the accuracy on the approach's own rows); None when
        every approach scored the common rows only.
    """
    if r.scored is None or not len(r.scored) or not (r.scored["n_scored"] != r.scored["n_common"]).any():
        return None
    return _round(r.scored, 4)


def approximation(r) -> tuple[str, pd.DataFrame] | None:
    """The kernel approximation's sentence and its accuracy cost (exact vs approximated on a subset).

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    (str, pandas.DataFrame) or None
        Which approaches were approximated and above which training-set size; the table with
        accuracies and their difference as fractions, 4 decimals. None when every SVC was exact.
    """
    info = (r.summary or {}).get("kernel_approximation")
    if not info or r.approximation is None or r.approximation.empty:
        return None
    sentence = (f"{', '.join(info['approaches'])} were fitted on a kernel approximation ({info['method']}; "
                f"{info['n_components']} Nystroem components, seed {info['seed']}) in the {info['fits']} "
                f"outer-fold fit(s) whose training set exceeded {info['above_samples']:,} samples; below that size "
                "every SVC is exact. Its accuracy cost, on a random subset small enough for the exact fit "
                "(same folds for both):")
    return sentence, _round(r.approximation, 4)


def per_grade(r, approach: str | None = None) -> pd.DataFrame:
    """Per-grade precision and recall of one approach.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.
    approach : str, optional
        The approach; None: the best kernel (``summary["best_kernel"]``).

    Returns
    -------
    pandas.DataFrame
        One row per grade; precision and recall as fractions, 4 decimals.
    """
    approach = r.summary["best_kernel"] if approach is None else approach
    return _round(r.per_grade[r.per_grade["approach"] == approach].drop(columns="approach"), 4)


def per_grade_all(r) -> pd.DataFrame:
    """Precision and recall of every approach by grade (rows = grades), 3 decimals.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
    """
    return r.per_grade.pivot(index="grade", columns="approach", values=["precision", "recall"]).round(3)


def screen(r) -> pd.DataFrame:
    """The input screen: each candidate indicator's |Pearson r| with the std and whether it is kept, 3 decimals.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
    """
    return _round(r.screen, 3)


def early_warning(r, top: int | None = 15, all_columns: bool = False) -> pd.DataFrame:
    """The early-warning list, most urgent first.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.
    top : int or None, default 15
        Rows shown (None: all).
    all_columns : bool, default False
        Every column of the stored table instead of the reader's subset.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`EARLY_WARNING_DISPLAY_COLUMNS` present in the table: grades,
        probability of the predicted grade, blended std and the nearest grade boundary
        (percent), 3 decimals.
    """
    ew = r.early_warning
    cols = list(ew.columns) if all_columns else [c for c in EARLY_WARNING_DISPLAY_COLUMNS if c in ew.columns]
    shown = ew[cols] if top is None else ew[cols].head(top)
    return _round(shown, 3)


def not_scored(r) -> pd.DataFrame:
    """Funds without a warning decision, counted by reason.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Columns ``reason`` and ``funds`` (count); empty when every fund was scored.
    """
    return r.early_warning_not_scored.groupby("reason").size().rename("funds").reset_index()


def exclusions(r) -> pd.DataFrame:
    """Fund-settlements left out of the samples, counted by horizon and reason (numbers replaced by N).

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame
        Index (``horizon_weeks``, ``reason``), one column ``count``.
    """
    kind = r.exclusions["reason"].str.replace(r"\d+", "N", regex=True)
    return r.exclusions.assign(reason=kind).groupby(["horizon_weeks", "reason"]).size().rename("count").to_frame()


def grade_calibration(r) -> pd.DataFrame | None:
    """Calibration of the grade probabilities (predictive distribution beside the SVC), 4 decimals.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Brier score (0 best) and log loss (nats) per approach; None when not computed.
    """
    if r.grade_calibration is None or r.grade_calibration.empty:
        return None
    return _round(r.grade_calibration, 4)


def grade_outlook(r, top: int | None = 15) -> pd.DataFrame | None:
    """P(grade = k) at the next settlement for each scored fund, largest P(change) first, 3 decimals.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.
    top : int or None, default 15
        Rows shown (None: all).

    Returns
    -------
    pandas.DataFrame or None
        None when the run has no outlook.
    """
    if r.grade_outlook is None or r.grade_outlook.empty:
        return None
    return _round(r.grade_outlook if top is None else r.grade_outlook.head(top), 3)


def schemes(r) -> pd.DataFrame | None:
    """Every configured grading scheme: measure, bands, direction, source and effective date.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        ``rating/schemes`` without ``in_force``; None for a run without schemes.
    """
    if r.schemes is None or r.schemes.empty:
        return None
    return r.schemes.drop(columns=["in_force"])


def grades_by_scheme(r) -> pd.DataFrame | None:
    """Each fund's grade (and measure, percent) under each scheme at its latest settlement.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``fund_id``, ``settlement_date`` and one per scheme with ``<grade> (<measure>%)``
        or ``-`` (not graded); None when nothing could be graded.
    """
    if r.scheme_grades is None or r.scheme_grades.empty or r.schemes is None:
        return None
    latest = latest_side_by_side(r.scheme_grades)
    shown = latest[["fund_id", "settlement_date"]].copy()
    for sid in r.schemes["scheme"]:
        if f"grade[{sid}]" in latest:
            g, v = latest[f"grade[{sid}]"], latest[f"value[{sid}]"]
            shown[sid] = [("-" if pd.isna(a) else f"{int(a)} ({b:.2f}%)") for a, b in zip(g, v)]
    return shown


def scheme_exclusions(r) -> pd.DataFrame | None:
    """Fund-settlements a scheme could not grade, by reason (numbers replaced by #).

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``scheme``, ``reason``, ``fund-settlements`` (count); None when none.
    """
    ex = r.scheme_exclusions
    if ex is None or not len(ex):
        return None
    return ex.assign(reason=ex["reason"].str.replace(r"[0-9][0-9.\-]*", "#", regex=True)).groupby(
        ["scheme", "reason"]).size().rename("fund-settlements").reset_index()


def pearson_figure(r):
    """|Pearson r| between the candidate indicators and the std, with the screen threshold (Figure 7).

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return plots.pearson_heatmap(r.pearson, float(r.config.get("screen_threshold", 0.1)))


def confusion_figure(r, approaches: list[str] | None = None):
    """Confusion matrices (rows true grades, columns predicted; out-of-sample).

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.
    approaches : list of str, optional
        Approaches drawn; None: the best kernel alone.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if approaches is None:
        return plots.confusion_grid(r.confusion, [r.summary["best_kernel"]], ncols=1)
    return plots.confusion_grid(r.confusion, approaches)


def horizon_figure(r):
    """Accuracy of each approach by prediction horizon.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return plots.accuracy_by_horizon(r.horizons)


def reliability_figure(r):
    """Reliability of P(grade = k), or None when the run has no reliability table.

    Parameters
    ----------
    r : RatingResults
        The stage's recorded results.

    Returns
    -------
    matplotlib.axes.Axes or None
    """
    if r.grade_reliability is None or r.grade_reliability.empty:
        return None
    return plots.reliability_figure(r.grade_reliability)
