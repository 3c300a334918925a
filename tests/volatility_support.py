"""Helpers of the volatility tests: synthetic forecast rows with a known truth."""
from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_predictions(n_weeks: int, n_funds: int, seed: int, models: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """Weekly forecast rows (fund_id, date, y and two models) of ``n_funds`` funds over ``n_weeks`` weeks.

    Parameters
    ----------
    n_weeks, n_funds : int
        The weeks (Fridays from 2019-01-04) and the funds F0, F1, ...
    seed : int
        Seed of the generator: the same arguments give the same rows.
    models : tuple of two str
        Column names of the two forecasts: the first is ``y`` times lognormal noise (mean 0, sd 0.2),
        the second is biased and noisier (mean 0.1, sd 0.35).

    Returns
    -------
    pandas.DataFrame
        One row per fund and week, ``y`` the realised value (lognormal around e^2.5).
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2019-01-04", periods=n_weeks, freq="W-FRI")
    y = np.exp(rng.normal(2.5, 0.4, (n_weeks, n_funds)))
    rows = pd.DataFrame({"fund_id": np.tile([f"F{i}" for i in range(n_funds)], n_weeks),
                         "date": np.repeat(dates, n_funds), "y": y.ravel()})
    good, biased = models
    rows[good] = rows["y"] * np.exp(rng.normal(0, 0.2, len(rows)))
    rows[biased] = rows["y"] * np.exp(rng.normal(0.1, 0.35, len(rows)))
    return rows
