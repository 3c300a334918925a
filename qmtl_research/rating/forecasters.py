"""Stage-1 volatility forecasts as a pluggable input of stage 2.

A *forecaster* is any callable::

    forecaster(panel, requests) -> DataFrame[fund_id, prediction_date, forecast_vol_pct, method]

``requests`` is a DataFrame with columns ``fund_id`` and ``prediction_date`` (a
week-end of ``panel``). For each request the forecaster may use the fund's
weekly returns **up to and including** ``prediction_date`` and returns the
forecast annualised std (percent, x sqrt(52)) of the fund's next ``steps`` (4 =
one month) weekly returns. ``method`` says how each number was produced.

Implementations here:

* :class:`GarchForecaster` - GARCH(1,1) with constant mean from ``arch``, refitted for
  every request on the data available at the prediction date (default stage 1 of
  this package; the paper's GARCH benchmark).
* :class:`EwmaForecaster` - RiskMetrics EWMA variance (lambda 0.94); no fitting, fast
  (used for paper-scale benchmarks).
* :class:`VolatilityModelForecaster` - the stage-1 models of :mod:`qmtl_research.volatility`
  (GARCH-LSTM as in the paper, LSTM, Naive), re-trained per prediction year on data
  before that year (``volatility.forecast_for_rating``).

:func:`make_forecaster` builds one from the ``stage1_model`` name.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.rating.measures import PERIODS_PER_YEAR

Forecaster = Callable[[FundPanel, pd.DataFrame], pd.DataFrame]
FORECAST_COLUMNS = ["fund_id", "prediction_date", "forecast_vol_pct", "method"]


def _check_requests(panel: FundPanel, requests: pd.DataFrame) -> None:
    missing = {"fund_id", "prediction_date"} - set(requests.columns)
    if missing:
        raise InputError(f"forecast requests lack columns {sorted(missing)}",
                         where="forecaster(panel, requests)",
                         fix="pass a DataFrame with fund_id and prediction_date")
    unknown = sorted(set(requests["fund_id"]) - set(panel.fund_ids))
    if unknown:
        raise InputError(f"forecast requested for funds not in the panel: {unknown[:5]}",
                         where="forecaster(panel, requests)", fix="request only the panel's funds")


def _ewma_vol_pct(hist: np.ndarray, lam: float) -> float:
    """RiskMetrics one-step EWMA std (zero mean), annualised percent; seeded with the
    sample variance of the first 4 observations."""
    var = float(np.mean(hist[:4] ** 2))
    for r in hist:
        var = lam * var + (1.0 - lam) * r * r
    return float(np.sqrt(var * PERIODS_PER_YEAR) * 100.0)


class EwmaForecaster:
    """RiskMetrics EWMA forecast: ``v_t = lam * v_{t-1} + (1 - lam) * r_t^2`` (zero mean),
    flat over the ``steps`` ahead, annualised ``sqrt(52 v) * 100`` percent.

    Parameters
    ----------
    lam : float
        Decay (0.94 = RiskMetrics weekly/daily convention).
    """

    name = "EWMA"

    def __init__(self, lam: float = 0.94, steps: int = 4):
        if not 0 < lam < 1:
            raise ConfigError(f"EWMA lambda must be in (0, 1), got {lam}", where="EwmaForecaster(lam)")
        self.lam = lam
        self.steps = steps

    def __call__(self, panel: FundPanel, requests: pd.DataFrame) -> pd.DataFrame:
        _check_requests(panel, requests)
        out = []
        for fund, grp in requests.groupby("fund_id", sort=False):
            col = panel.returns[fund]
            r2 = (col.dropna() ** 2)
            seed = float(r2.iloc[:4].mean())
            # v_t = lam v_{t-1} + (1-lam) r_t^2, v_{-1} = seed
            v = r2.ewm(alpha=1 - self.lam, adjust=False).mean()
            # ewm(adjust=False) starts at v_0 = r_0^2; correct for the seed: add lam^(t+1) (seed - r_0^2)
            t = np.arange(len(v))
            v = v + (self.lam ** (t + 1)) * (seed - float(r2.iloc[0]))
            vals = v.reindex(grp["prediction_date"]).to_numpy(dtype=float)
            out.append(pd.DataFrame({"fund_id": fund, "prediction_date": grp["prediction_date"].to_numpy(),
                                     "forecast_vol_pct": np.sqrt(vals * PERIODS_PER_YEAR) * 100.0,
                                     "method": "ewma"}))
        return pd.concat(out, ignore_index=True)[FORECAST_COLUMNS] if out else pd.DataFrame(columns=FORECAST_COLUMNS)


def _garch_one(hist: np.ndarray, steps: int, lam: float) -> tuple[float, str]:
    from arch import arch_model

    sd = float(np.std(hist, ddof=1))
    if sd == 0.0:
        return 0.0, "constant returns (zero std)"
    x = (hist - hist.mean()) / sd  # GARCH is scale-equivariant: fit on unit-std data, rescale
    model = arch_model(x, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-convergence is checked explicitly below
        res = model.fit(disp="off", show_warning=False)
    if res.convergence_flag != 0:
        return _ewma_vol_pct(hist, lam), f"ewma fallback: GARCH optimiser flag {res.convergence_flag}"
    var = res.forecast(horizon=steps, reindex=False).variance.to_numpy()[-1]
    return float(np.sqrt(np.mean(var)) * sd * np.sqrt(PERIODS_PER_YEAR) * 100.0), "garch"


def _garch_fund(fund: str, hist_full: pd.Series, dates: list, steps: int, min_history: int,
                fit_window: int | None, lam: float) -> list[tuple]:
    rows = []
    for d in dates:
        hist = hist_full.loc[:d].to_numpy(dtype=float)
        hist = hist[np.isfinite(hist)]
        if fit_window:
            hist = hist[-fit_window:]
        if len(hist) < min_history:
            raise InputError(f"fund {fund} has {len(hist)} weeks before {d.date()}, the GARCH "
                             f"forecaster needs {min_history}", where=f"fund {fund}",
                             fix="exclude the fund or lower min_history")
        val, method = _garch_one(hist, steps, lam)
        rows.append((fund, d, val, method))
    return rows


class GarchForecaster:
    """GARCH(1,1) (``arch``, zero mean after demeaning, normal errors) refitted at every
    prediction date on the returns available then; forecast = annualised std of the mean
    forecast variance over the next ``steps`` weeks, percent.

    Returns are demeaned and scaled to unit std before fitting (GARCH is
    scale-equivariant; this keeps the optimiser well-conditioned for
    near-riskless funds) and the forecast is scaled back. When the optimiser
    does not converge the EWMA forecast is used and ``method`` says so.

    Parameters
    ----------
    steps : int
        Weeks ahead (4 = the paper's one month).
    min_history : int
        Minimum weeks of returns for a fit (InputError below).
    fit_window : int or None
        Use only the last ``fit_window`` weeks (None = all available).
    n_jobs : int
        joblib workers (funds are split across them).
    progress : bool
        tqdm progress bar.
    """

    name = "GARCH"

    def __init__(self, steps: int = 4, min_history: int = 52, fit_window: int | None = None,
                 n_jobs: int = 1, progress: bool = True, fallback_lam: float = 0.94):
        self.steps = steps
        self.min_history = min_history
        self.fit_window = fit_window
        self.n_jobs = n_jobs
        self.progress = progress
        self.fallback_lam = fallback_lam

    def __call__(self, panel: FundPanel, requests: pd.DataFrame) -> pd.DataFrame:
        _check_requests(panel, requests)
        groups = [(f, g["prediction_date"].tolist()) for f, g in requests.groupby("fund_id", sort=False)]
        jobs = (delayed(_garch_fund)(f, panel.returns[f], ds, self.steps, self.min_history,
                                     self.fit_window, self.fallback_lam) for f, ds in groups)
        parts = Parallel(n_jobs=self.n_jobs)(
            tqdm(jobs, total=len(groups), desc="GARCH(1,1) stage-1 forecasts", disable=not self.progress))
        rows = [r for part in parts for r in part]
        return pd.DataFrame(rows, columns=FORECAST_COLUMNS)


class VolatilityModelForecaster:
    """A stage-1 model of :mod:`qmtl_research.volatility` (``GARCH-LSTM`` - the paper's
    choice -, ``LSTM``, ``GARCH`` or ``Naive``) as a stage-2 forecaster.

    Delegates to :func:`qmtl_research.volatility.forecast_for_rating`, which re-trains
    the stage-1 model per calendar year of the prediction dates on data before that
    year and answers every request from returns up to its prediction date; requests
    it cannot answer come back as NaN with the reason in ``method`` (stage 2 lists
    them as exclusions).

    Parameters
    ----------
    model : {"GARCH-LSTM", "LSTM", "GARCH", "Naive"}
    seed : int
        Stage-1 seed (same seed, same forecasts).
    config : Stage1Config, optional
        Stage-1 hyper-parameters (default ``Stage1Config()``).
    """

    def __init__(self, model: str = "GARCH-LSTM", seed: int = 42, progress: bool = True, config=None):
        self.model = model
        self.name = model
        self.seed = seed
        self.progress = progress
        self.config = config

    MODELS = ("GARCH-LSTM", "LSTM", "GARCH", "Naive")

    def __call__(self, panel: FundPanel, requests: pd.DataFrame) -> pd.DataFrame:
        _check_requests(panel, requests)
        if self.model not in self.MODELS:
            raise ConfigError(f"unknown stage1_model {self.model!r}", where="stage1_model",
                              fix=f"use EWMA or one of {list(self.MODELS)} (GARCH = this package's refits)")
        try:
            from qmtl_research.volatility import forecast_for_rating
        except ImportError as exc:
            raise ConfigError(f"stage1_model {self.model!r} needs qmtl_research.volatility.forecast_for_rating, "
                              f"which cannot be imported ({exc})", where="stage1_model",
                              fix="use stage1_model GARCH or EWMA") from None
        return forecast_for_rating(self.model, panel, requests, seed=self.seed, progress=self.progress,
                                   config=self.config)


OWN_FORECASTERS = {"GARCH": GarchForecaster, "EWMA": EwmaForecaster}


def make_forecaster(stage1_model: str = "GARCH", *, seed: int = 42, progress: bool = True,
                    n_jobs: int = 1) -> Forecaster:
    """Forecaster for a ``stage1_model`` name: ``GARCH`` / ``EWMA`` (this package's
    per-request refits / RiskMetrics) or a model of :mod:`qmtl_research.volatility`
    (``GARCH-LSTM``, ``LSTM``, ``Naive``)."""
    key = stage1_model.upper()
    if key == "GARCH":
        return GarchForecaster(progress=progress, n_jobs=n_jobs)
    if key == "EWMA":
        return EwmaForecaster()
    return VolatilityModelForecaster(stage1_model, seed=seed, progress=progress)
