"""When stage 1 trains and forecasts: the walk-forward schedule (verdict) and the paper's K-fold CV.

Date grid: the panel's weeks plus **one extra week** after the last, the "now" forecast
origin (its realised target is not observed yet). A forecast for origin ``t`` (the first
week forecast) uses data up to ``t-1`` (its *info date*); its target is the realised
1-month vol of weeks ``t .. t+h-1``. A sample with origin ``t`` uses the returns of weeks
``t-2w+1 .. t+h-1`` (inputs: the ``w`` one-month vols ending at ``t-1``).

* **walk-forward** (:func:`walk_forward_schedule`): forecasts for every origin from the
  test start to the "now" week. Models are (re)estimated at refit dates on data strictly
  before the date (LSTM training samples: last output week before it) and serve the
  origins up to the next refit. ``yearly`` refits: the test start and the first week of
  every later calendar year; ``weekly``: every origin. :func:`retrain_dates`: the dates at which
  a model group is re-estimated when it is not at every refit (``lstm_retrain`` /
  ``challenger_refit`` ``yearly``: the yearly refit dates, a subset of any schedule's).
* **default test start** (:func:`default_test_start`): data-relative, the first week by
  which ``share`` (default half) of the funds have ``min_train_obs`` returns, so any
  universe, ending in any year, has a test period.
* **cv** (:func:`cv_splits`): the paper's K-fold cross-validation over K contiguous blocks
  of forecast origins (no shuffling, sklearn ``KFold``). For each fold GARCH is estimated
  on the returns outside the test block's return span, and training samples whose return
  span overlaps the test block's are purged (``2w+h-2`` origins on each side). Folds other
  than the last train on the future of their test block, so CV measures fit, not
  out-of-time skill.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from qmtl_research.errors import ConfigError, InputError
from qmtl_research.volatility.targets import TARGET_WINDOW


def extended_grid(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The panel's weeks plus the week after the last (the "now" forecast origin).

    Parameters
    ----------
    dates : DatetimeIndex
        The panel's weekly dates.

    Returns
    -------
    DatetimeIndex
    """
    return dates.append(pd.DatetimeIndex([dates[-1] + pd.Timedelta(weeks=1)]))


def first_origin_position(window: int) -> int:
    """Earliest grid position of a forecast origin for a history starting at position 0:
    the ``window`` one-month vols before it need ``2 window - 1`` returns.

    Parameters
    ----------
    window : int
        One-month vols an origin needs before it.

    Returns
    -------
    int
    """
    return 2 * window - 1


def default_test_start(returns: pd.DataFrame, min_train_obs: int, share: float = 0.5) -> pd.Timestamp:
    """First week by which ``share`` of the funds have at least ``min_train_obs`` weekly returns
    before it (a grid week; may be the "now" week after the panel's last).

    Raises :class:`InputError` when too few funds ever have ``min_train_obs`` returns.

    Parameters
    ----------
    returns : DataFrame
        Weekly simple returns, dates x funds.
    min_train_obs : int
        Returns a fund needs before its first estimation.
    share : float
        Share of the funds (0..1).

    Returns
    -------
    Timestamp
    """
    grid = extended_grid(returns.index)
    finite = returns.notna().to_numpy()
    has = finite.any(axis=0)
    first = finite.argmax(axis=0)[has]
    counts = finite.sum(axis=0)[has]
    eligible = np.sort(np.where(counts >= min_train_obs, first + min_train_obs, np.iinfo(np.int64).max))
    k = max(1, int(np.ceil(share * len(eligible)))) if len(eligible) else 0
    if k == 0 or eligible[k - 1] >= len(grid):
        longest = int(counts.max()) if len(counts) else 0
        raise InputError(f"fewer than {share:.0%} of the funds have {min_train_obs} weekly returns "
                         f"(the longest history has {longest})",
                         where="stage 1, default test start (garch.min_train_obs, test_start_share)",
                         fix="give longer histories, lower garch.min_train_obs (>= 75) or test_start_share, "
                             "or set test_start")
    return grid[int(eligible[k - 1])]


def resolve_test_start(dates: pd.DatetimeIndex, test_start, window: int, horizon: int) -> int:
    """Grid position of an explicit ``test_start`` (a week of the panel or the week after it),
    checked to leave training samples before it.

    Parameters
    ----------
    dates : DatetimeIndex
        The panel's weekly dates.
    test_start : date-like
        The requested first test origin.
    window, horizon : int
        Inputs and outputs per sample.

    Returns
    -------
    int
    """
    grid = extended_grid(dates)
    try:
        ts = pd.Timestamp(test_start)
    except (TypeError, ValueError):
        raise ConfigError(f"test_start {test_start!r} is not a date", where="stage 1 config, test_start",
                          fix="use YYYY-MM-DD, or leave it empty for the data-relative default") from None
    pos = int(grid.searchsorted(ts))
    if pos >= len(grid) or grid[pos] != ts:
        raise ConfigError(f"test_start {ts.date()} is not a week of the panel "
                          f"({grid[0].date()} .. {grid[-1].date()}, Fridays)", where="stage 1 config, test_start",
                          fix="choose a Friday inside the panel (or the week after its last), or leave it empty")
    if pos - horizon + 1 <= first_origin_position(window):
        raise ConfigError(f"test_start {ts.date()} leaves no training samples (the panel starts "
                          f"{grid[0].date()})", where="stage 1 config, test_start",
                          fix="choose a later test_start or leave it empty for the data-relative default")
    return pos


@dataclass(frozen=True)
class WalkForwardSchedule:
    """Test origins and refit dates on the extended grid (dates = the panel's weeks + 1).

    Attributes
    ----------
    grid : DatetimeIndex
        The panel's weeks plus the week after the last.
    test_start : Timestamp
        The first test origin.
    refit_dates : DatetimeIndex
        The scheduled refits (increasing; the first is ``test_start``).
    refit : {"yearly", "weekly"}
        Refit frequency.
    test_start_rule : str
        How ``test_start`` was chosen (explicit or data-relative), for the report.
    """

    grid: pd.DatetimeIndex
    test_start: pd.Timestamp
    refit_dates: pd.DatetimeIndex
    refit: str
    test_start_rule: str

    @property
    def origins(self) -> pd.DatetimeIndex:
        """The test origins (grid dates from ``test_start`` on).

        Returns
        -------
        DatetimeIndex
        """
        return self.grid[self.grid >= self.test_start]

    def fit_date_of(self, origins) -> pd.DatetimeIndex:
        """The scheduled refit in force at each origin (the latest refit date <= origin).

        Parameters
        ----------
        origins : sequence of date-like
            Test origins.

        Returns
        -------
        DatetimeIndex
        """
        pos = self.refit_dates.searchsorted(pd.DatetimeIndex(origins), side="right") - 1
        return self.refit_dates[pos]

    def name(self) -> str:
        """The design's label in tables (test start and refit frequency).

        Returns
        -------
        str
        """
        return f"walk_forward (test from {self.test_start.date()}, {self.refit} refits)"


def walk_forward_schedule(returns: pd.DataFrame, test_start=None, refit: str = "yearly",
                          window: int = TARGET_WINDOW, horizon: int = TARGET_WINDOW, min_train_obs: int = 104, share: float = 0.5) -> WalkForwardSchedule:
    """The walk-forward schedule: ``test_start`` (explicit, validated; None = data-relative
    :func:`default_test_start`) and the refit dates (``yearly`` | ``weekly``).

    Parameters
    ----------
    returns : DataFrame
        Weekly simple returns, dates x funds.
    test_start : date-like, optional
        First test origin (None: data-relative).
    refit : {"yearly", "weekly"}
        Refit frequency.
    window, horizon : int
        Inputs and outputs per sample.
    min_train_obs : int
        Returns a fund needs before its first estimation.
    share : float
        Share of the funds for the data-relative start.

    Returns
    -------
    WalkForwardSchedule
    """
    grid = extended_grid(returns.index)
    if test_start is None:
        ts = default_test_start(returns, min_train_obs, share)
        pos = max(int(grid.get_loc(ts)), first_origin_position(window) + horizon)
        rule = (f"data-relative: first week by which {share:.0%} of the funds have {min_train_obs} weekly "
                f"returns")
    else:
        pos = resolve_test_start(returns.index, test_start, window, horizon)
        rule = "set in the configuration"
    ts = grid[pos]
    if refit == "weekly":
        refits = grid[pos:]
    elif refit == "yearly":
        refits = _yearly(grid, pos)
    else:
        raise ConfigError(f"unknown refit cadence {refit!r}", where="stage 1 config, refit",
                          fix="use 'yearly' or 'weekly'")
    return WalkForwardSchedule(grid=grid, test_start=ts, refit_dates=pd.DatetimeIndex(refits), refit=refit,
                               test_start_rule=rule)


def _yearly(grid: pd.DatetimeIndex, pos: int) -> pd.DatetimeIndex:
    """The yearly dates from grid position ``pos``: that week and the first week of each later year."""
    ts = grid[pos]
    later = grid[pos + 1:]
    years = later[later.year > ts.year]
    firsts = years.to_series().groupby(years.year).min()
    return pd.DatetimeIndex([ts, *firsts.tolist()])


def retrain_dates(schedule: WalkForwardSchedule, frequency: str = "refit") -> pd.DatetimeIndex:
    """The walk-forward dates at which a model group is re-estimated (``Stage1Config.lstm_retrain`` for the
    LSTMs, ``challenger_refit`` for the per-fund challengers).

    Parameters
    ----------
    schedule : WalkForwardSchedule
        The walk-forward schedule.
    frequency : {"refit", "yearly"}
        ``refit``: every refit date; ``yearly``: the test start and the first week of each later
        year (the refit dates of a yearly schedule; a subset of any schedule's refit dates).

    Returns
    -------
    DatetimeIndex
        Increasing dates of ``schedule.refit_dates``.
    """
    if frequency == "refit":
        return schedule.refit_dates
    if frequency == "yearly":
        return _yearly(schedule.grid, int(schedule.grid.get_loc(schedule.test_start)))
    raise ConfigError(f"unknown re-estimation frequency {frequency!r}",
                      where="stage 1 config, lstm_retrain / challenger_refit",
                      fix="use 'refit' or 'yearly'")


@dataclass(frozen=True)
class Split:
    """One CV fold on the panel's weekly grid.

    Attributes
    ----------
    name : str
        The fold's label.
    garch_mask : Series of bool
        Dates -> the returns usable for GARCH estimation in this fold.
    train_origins, test_origins : DatetimeIndex
        Origins of the (purged) training samples and of the test block.
    """

    name: str
    garch_mask: pd.Series        # dates -> bool: returns usable for GARCH estimation
    train_origins: pd.DatetimeIndex
    test_origins: pd.DatetimeIndex

    def select(self, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The training and test rows of ``samples`` for this fold.

        Parameters
        ----------
        samples : DataFrame
            Sample table with an ``origin`` column.

        Returns
        -------
        train, test : DataFrame
        """
        train = samples.loc[samples["origin"].isin(self.train_origins)]
        test = samples.loc[samples["origin"].isin(self.test_origins)]
        return train, test


def _origins(dates: pd.DatetimeIndex, window: int, horizon: int) -> np.ndarray:
    """Positions of origins with a full sample (inputs and outputs) inside the panel."""
    return np.arange(window, len(dates) - horizon + 1)


def cv_splits(dates: pd.DatetimeIndex, folds: int = 4, window: int = TARGET_WINDOW,
              horizon: int = TARGET_WINDOW) -> list[Split]:
    """K contiguous time blocks of origins; purged training samples; GARCH masks per fold.

    Parameters
    ----------
    dates : DatetimeIndex
        The panel's weekly dates.
    folds : int
        Number of blocks.
    window, horizon : int
        Inputs and outputs per sample.

    Returns
    -------
    list of Split
    """
    origins = _origins(dates, window, horizon)
    if len(origins) < folds * 4:
        raise InputError(f"{len(origins)} forecast origins are too few for {folds}-fold CV",
                         where="stage 1, cv", fix="use fewer folds, cv: false, or a longer panel")
    purge = 2 * window + horizon - 2
    out = []
    for k, (_, test_idx) in enumerate(KFold(n_splits=folds, shuffle=False).split(origins)):
        test = origins[test_idx]
        lo, hi = test.min(), test.max()
        train = origins[(origins < lo - purge) | (origins > hi + purge)]
        grid = np.arange(len(dates))
        mask = ~((grid >= lo - 2 * window + 1) & (grid <= hi + horizon - 1))
        out.append(Split(f"cv fold {k + 1}/{folds}", pd.Series(mask, index=dates), dates[train], dates[test]))
    return out
