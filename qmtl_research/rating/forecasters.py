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
* :class:`VolatilityModelForecaster` - the learned stage-1 models of
  :mod:`qmtl_research.volatility` (GARCH-LSTM as in the paper, LSTM, Naive), re-trained
  per prediction year on data up to the end of the previous year.

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
    """Adapter to a learned stage-1 model of :mod:`qmtl_research.volatility`
    (``GARCH-LSTM`` - the paper's choice -, ``LSTM`` or ``Naive``).

    Requests are grouped by the calendar year of their prediction date. For year
    Y the stage-1 pipeline is re-trained on data up to the last week of year Y-1
    only: GARCH(1,1) per fund (``fit_garch_panel`` with that training mask, then
    filtered with fixed parameters), the sample table (``build_samples``) restricted
    to samples whose outputs end by then, and the model (``make_model``). The
    forecast for a prediction week ``q`` is the model's output for origin ``q + 1``
    (inputs: the 1-month realised vol and GARCH conditional vol of weeks ``q-3..q``),
    i.e. the annualised std (percent) of weeks ``q+1..q+4``. No information after
    year Y-1 informs any forecast of year Y (stage-1 parameters are at most one
    year old). Funds that the stage-1 model cannot serve (e.g. GARCH failure, too
    short a history) get NaN and the reason in ``method``.

    Parameters
    ----------
    model : {"GARCH-LSTM", "LSTM", "Naive"}
    config : Stage1Config, optional
        Stage-1 hyper-parameters (default ``Stage1Config(seed=seed)``).
    """

    LEARNED = ("GARCH-LSTM", "LSTM", "Naive")

    def __init__(self, model: str = "GARCH-LSTM", seed: int = 42, progress: bool = True, config=None):
        self.model = model
        self.name = model
        self.seed = seed
        self.progress = progress
        self.config = config
        self._cache: dict = {}

    def _stage1(self, panel: FundPanel, year: int, cfg):
        from qmtl_research.volatility import build_samples, fit_garch_panel, make_model, realized_vol
        from qmtl_research.volatility.samples import r_columns, sigma_columns, y_columns

        key = (panel.fingerprint(), year)
        if key in self._cache:
            return self._cache[key]
        returns = panel.returns
        cutoff = pd.Timestamp(year=year - 1, month=12, day=31)
        w, h = cfg.window, cfg.horizon
        target = realized_vol(returns, w)
        cond_vol, failures = None, {}
        needs = list(sigma_columns(w))
        if self.model == "GARCH-LSTM":
            mask = pd.Series(returns.index <= cutoff, index=returns.index)
            g = fit_garch_panel(returns, mask, cfg.garch, horizon=h, progress=False)
            cond_vol = g.cond_vol
            failures = {f["fund_id"]: f["message"] for f in g.failures}
            needs += r_columns(w)
        samples = build_samples(target, cond_vol, None, w, h)
        train = samples[(samples["date"] <= cutoff) & samples[needs].notna().all(axis=1)]
        if train.empty:
            raise InputError(f"no stage-1 training samples end by {cutoff.date()} for {self.model}",
                             where=f"prediction year {year}",
                             fix="use a longer history or stage1_model GARCH/EWMA")
        est = make_model(self.model, cfg).fit(train, train[y_columns(h)].to_numpy())
        self._cache[key] = (est, target, cond_vol, failures)
        return self._cache[key]

    def __call__(self, panel: FundPanel, requests: pd.DataFrame) -> pd.DataFrame:
        _check_requests(panel, requests)
        if self.model not in self.LEARNED:
            raise ConfigError(f"unknown stage1_model {self.model!r}", where="stage1_model",
                              fix=f"use GARCH, EWMA or one of {list(self.LEARNED)}")
        from qmtl_research.volatility import Stage1Config
        from qmtl_research.volatility.samples import r_columns, sigma_columns

        cfg = self.config or Stage1Config(seed=self.seed)
        w = cfg.window
        dates = panel.dates
        req = requests[["fund_id", "prediction_date"]].reset_index(drop=True)
        years = pd.DatetimeIndex(req["prediction_date"]).year
        out = []
        for year in tqdm(sorted(set(years)), desc=f"stage-1 {self.model} by year", disable=not self.progress):
            grp = req[years == year]
            est, target, cond_vol, failures = self._stage1(panel, int(year), cfg)
            pos = dates.get_indexer(pd.DatetimeIndex(grp["prediction_date"]))
            if (pos < 0).any():
                raise InputError("prediction dates must be week-ends of the panel", where="forecaster requests")
            funds = grp["fund_id"].to_numpy()
            lags = np.arange(w - 1, -1, -1)  # t-w .. t-1 = q-w+1 .. q
            tcol = target.columns.get_indexer(funds)
            X = pd.DataFrame(target.to_numpy()[pos[:, None] - lags[None, :], tcol[:, None]],
                             columns=sigma_columns(w))
            if cond_vol is not None:
                ccol = cond_vol.columns.get_indexer(funds)
                vals = np.full((len(funds), w), np.nan)
                ok = ccol >= 0
                vals[ok] = cond_vol.to_numpy()[pos[ok, None] - lags[None, :], ccol[ok, None]]
                X[r_columns(w)] = vals
            X.insert(0, "fund_id", funds)
            usable = X.drop(columns="fund_id").notna().all(axis=1).to_numpy() & (pos - w + 1 >= 0)
            pred = np.full(len(X), np.nan)
            if usable.any():
                pred[usable] = est.predict(X.loc[usable])
            method = [self.model if u else f"no {self.model} forecast: " + failures.get(f, "missing inputs")
                      for f, u in zip(funds, usable)]
            out.append(pd.DataFrame({"fund_id": funds, "prediction_date": grp["prediction_date"].to_numpy(),
                                     "forecast_vol_pct": pred, "method": method}))
        return pd.concat(out, ignore_index=True)[FORECAST_COLUMNS]


OWN_FORECASTERS = {"GARCH": GarchForecaster, "EWMA": EwmaForecaster}


def make_forecaster(stage1_model: str = "GARCH", *, seed: int = 42, progress: bool = True,
                    n_jobs: int = 1) -> Forecaster:
    """Forecaster for a ``stage1_model`` name: ``GARCH`` / ``EWMA`` (this package) or a
    model of :mod:`qmtl_research.volatility` (``GARCH-LSTM``, ``LSTM``, ``Naive``)."""
    key = stage1_model.upper()
    if key == "GARCH":
        return GarchForecaster(progress=progress, n_jobs=n_jobs)
    if key == "EWMA":
        return EwmaForecaster()
    return VolatilityModelForecaster(stage1_model, seed=seed, progress=progress)
