"""Train/test splits of the stage-1 samples: out-of-time walk-forward (default) or K-fold CV.

A sample with origin ``t`` uses the returns of weeks ``t-2w+1 .. t+h-1``
(inputs: the ``w`` one-month vols ending at ``t-1``; outputs: up to ``t+h-1``).

* ``walk_forward``: GARCH is estimated on returns before ``test_start``; the
  LSTMs train on samples whose last output week is before ``test_start``;
  the test samples are those with origin ``>= test_start``. Training is
  strictly before testing.
* ``cv``: the paper's K-fold cross-validation, over K contiguous blocks of
  forecast origins (no shuffling, sklearn ``KFold``). For each fold GARCH is
  estimated on the returns outside the test block's return span, and training
  samples whose return span overlaps the test block's are purged
  (``2w+h-2`` origins on each side). Folds other than the last train on the
  future of their test block, so CV measures fit, not out-of-time skill.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from qmtl_research.errors import InputError


@dataclass(frozen=True)
class Split:
    """One train/test split on the weekly date grid."""

    name: str
    garch_mask: pd.Series        # dates -> bool: returns usable for GARCH estimation
    refit_dates: tuple           # walk-forward re-estimation origins
    train_origins: pd.DatetimeIndex
    test_origins: pd.DatetimeIndex

    def select(self, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        train = samples.loc[samples["origin"].isin(self.train_origins)]
        test = samples.loc[samples["origin"].isin(self.test_origins)]
        return train, test


def _origins(dates: pd.DatetimeIndex, window: int, horizon: int) -> np.ndarray:
    return np.arange(window, len(dates) - horizon + 1)


def walk_forward_split(dates: pd.DatetimeIndex, test_start, window: int = 4, horizon: int = 4,
                       refit_every: int | None = None) -> Split:
    """Single out-of-time split at ``test_start`` (the first test forecast origin)."""
    ts = pd.Timestamp(test_start)
    pos = int(dates.searchsorted(ts))
    origins = _origins(dates, window, horizon)
    if len(origins) == 0 or pos - horizon + 1 <= origins[0]:
        raise InputError(f"test_start {ts.date()} leaves no training samples",
                         where="split=walk_forward, test_start", fix="choose a later test_start")
    if pos > origins[-1]:
        raise InputError(f"test_start {ts.date()} is after the last forecast origin {dates[origins[-1]].date()}",
                         where="split=walk_forward, test_start", fix="choose an earlier test_start")
    train = origins[origins + horizon - 1 < pos]
    test = origins[origins >= pos]
    refits = ()
    if refit_every:
        refits = tuple(dates[p] for p in range(pos + refit_every, origins[-1] + 1, refit_every))
    mask = pd.Series(np.arange(len(dates)) < pos, index=dates)
    return Split(f"walk_forward (test from {dates[pos].date()})", mask, refits,
                 dates[train], dates[test])


def cv_splits(dates: pd.DatetimeIndex, folds: int = 4, window: int = 4, horizon: int = 4) -> list[Split]:
    """K contiguous time blocks of origins; purged training samples; GARCH masks per fold."""
    origins = _origins(dates, window, horizon)
    if len(origins) < folds * 4:
        raise InputError(f"{len(origins)} forecast origins are too few for {folds}-fold CV",
                         where="split=cv", fix="use fewer folds or a longer panel")
    purge = 2 * window + horizon - 2
    out = []
    for k, (_, test_idx) in enumerate(KFold(n_splits=folds, shuffle=False).split(origins)):
        test = origins[test_idx]
        lo, hi = test.min(), test.max()
        train = origins[(origins < lo - purge) | (origins > hi + purge)]
        grid = np.arange(len(dates))
        mask = ~((grid >= lo - 2 * window + 1) & (grid <= hi + horizon - 1))
        out.append(Split(f"cv fold {k + 1}/{folds}", pd.Series(mask, index=dates), (),
                         dates[train], dates[test]))
    return out
