"""Pearson screen of the candidate indicators (paper Figure 7).

The paper keeps the indicators whose absolute Pearson correlation with the
standard deviation exceeds 0.1 ("below 0.1 is read as almost no correlation");
beta (|r| = 0.042) was dropped. Here the reference is ``std_known_pct``, the
annualised std of the part of the grading window known at the prediction date,
so the screen uses no label information and can run on all samples without
leaking the target. The blended std (stage-1 output) is always kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qmtl_research.errors import InputError
from qmtl_research.rating.features import CANDIDATE_FEATURES

REFERENCE = "std_known_pct"
ALWAYS_KEPT = ("blended_std_pct",)


@dataclass(frozen=True)
class ScreenResult:
    """The input screen on the Pearson correlation with the reference std.

    ``correlations``: signed Pearson matrix of the reference and the candidates;
    ``with_reference``: Series of r with the reference; ``selected``: kept inputs in
    candidate order; ``dropped``: the others; ``threshold``: on |r|.

    Attributes
    ----------
    correlations : pandas.DataFrame
        Signed Pearson matrix.
    with_reference : pandas.Series
        r of each candidate with the reference.
    selected, dropped : list of str
        Kept and dropped inputs.
    threshold : float
        The threshold on |r|.
    """

    correlations: pd.DataFrame
    with_reference: pd.Series
    selected: list[str]
    dropped: list[str]
    threshold: float


def pearson_screen(frame: pd.DataFrame, threshold: float = 0.1,
                   candidates: list[str] | None = None, reference: str = REFERENCE) -> ScreenResult:
    """Pearson correlations (``DataFrame.corr``) and the inputs that pass ``|r| > threshold``.

    Parameters
    ----------
    frame : DataFrame with the reference and candidate columns (stage-2 samples).
    threshold : float
        Minimum absolute correlation with the reference (0.1 as in the paper).
    """
    candidates = list(candidates or CANDIDATE_FEATURES)
    missing = [c for c in [reference, *candidates] if c not in frame.columns]
    if missing:
        raise InputError(f"Pearson screen: columns {missing} are missing", where="pearson_screen(frame)",
                         fix="pass the frame of build_rating_dataset")
    if len(frame) < 3:
        raise InputError(f"Pearson screen needs at least 3 samples, got {len(frame)}",
                         where="pearson_screen(frame)", fix="use more funds or settlement dates")
    corr = frame[[reference, *candidates]].astype(float).corr(method="pearson")
    r = corr[reference].drop(reference)
    selected = [c for c in candidates if c in ALWAYS_KEPT or abs(r[c]) > threshold]
    dropped = [c for c in candidates if c not in selected]
    return ScreenResult(corr, r, selected, dropped, threshold)
