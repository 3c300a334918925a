"""Input checks shared by the risk engine: fail early, say what and where."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError


def check_confidence(confidence: float, where: str = "confidence") -> float:
    """Return ``confidence`` as float if it lies strictly inside (0, 1).

    Parameters
    ----------
    confidence : float
        Confidence level as a fraction (0.99, not 99).
    where : str
        Where the value came from, named in the error.

    Returns
    -------
    float
        ``confidence``; :class:`~qmtl_research.errors.InputError` when it is not a number in (0, 1).
    """
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise InputError(f"confidence {confidence!r} is not a number", where=where,
                         fix="give a confidence level such as 0.95 or 0.99") from None
    if not (0.0 < c < 1.0) or not np.isfinite(c):
        raise InputError(f"confidence {confidence!r} is outside (0, 1)", where=where,
                         fix="give a confidence level such as 0.95 or 0.99 (a fraction, not a percent)")
    return c


def check_returns(returns, where: str = "returns", min_samples: int = 1) -> np.ndarray:
    """1-d float array of returns: finite, non-empty, at least ``min_samples`` long.

    NaN/inf are refused (never dropped silently); the error names the first bad
    position (its date when ``returns`` is a pandas Series).

    Parameters
    ----------
    returns : array-like, pandas.Series or one-column pandas.DataFrame
        Returns; no unit is assumed or converted.
    where : str
        Where the series came from, named in the error.
    min_samples : int
        Fewest returns accepted.

    Returns
    -------
    numpy.ndarray
        The returns as a 1-d float array; :class:`~qmtl_research.errors.InputError` otherwise.
    """
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise InputError(f"expected one return series, got {returns.shape[1]} columns", where=where,
                             fix="select a column")
        returns = returns.iloc[:, 0]
    arr = np.asarray(returns, dtype=float)
    if arr.ndim != 1:
        raise InputError(f"expected a 1-d return series, got shape {arr.shape}", where=where)
    if arr.size == 0:
        raise InputError("the return series is empty", where=where, fix="provide at least one return")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        label = returns.index[i] if isinstance(returns, pd.Series) else i
        raise InputError(f"{int(bad.sum())} NaN/inf return(s) in the series, first at {label}", where=where,
                         fix="remove or fill missing returns explicitly before computing risk")
    if arr.size < min_samples:
        raise InputError(f"only {arr.size} returns, fewer than the minimum {min_samples}", where=where,
                         fix="use a longer history or lower the minimum sample count")
    return arr


def check_frame(frame: pd.DataFrame, where: str = "returns") -> pd.DataFrame:
    """A returns frame (dates x assets) without NaN/inf and with at least one row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Returns, dates x assets.
    where : str
        Where the frame came from, named in the error.

    Returns
    -------
    pandas.DataFrame
        ``frame`` unchanged; :class:`~qmtl_research.errors.InputError` when empty or not finite.
    """
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError("the returns table is empty", where=where, fix="provide dates and return columns")
    values = frame.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"{int(bad.sum())} NaN/inf return(s), first at {frame.index[r]} column {frame.columns[c]!r}",
                         where=where, fix="remove or fill missing returns explicitly before computing risk")
    return frame
