"""The driver of per-fund ("series") stage-1 models through the :class:`VolatilityModel` protocol.

:func:`series_walk_forward` estimates a registered ``"series"`` model
(:mod:`~qmtl_research.volatility.registry`) fund by fund on the GARCH engine's schedule
(every refit date at which the fund has ``garch.min_train_obs`` returns before it, plus the
late start), on the fund's returns **strictly before** the date, warm-started from the
fund's previous fit, and fills the 1-month forecasts of the origins up to the fund's next
estimation. :func:`series_masked` is the K-fold CV's counterpart (one estimation on the
weeks of a mask, forecasts for every origin, like
:func:`~qmtl_research.volatility.garch_panel.fit_garch_panel`).

Variance forecasts map to the expected target with
:func:`~qmtl_research.volatility.targets.expected_target_vol` (annualised %, the GARCH map).
A fit that raises is listed in ``failures`` (fund, step = model name, message with the date)
and leaves that segment without forecasts. The shipped EWMA and HAR take a lean path with the same
numbers (:mod:`~qmtl_research.volatility.series_batch`: no model round trip per refit); the refit
dates are the schedule's, or the yearly ones with ``Stage1Config.challenger_refit = "yearly"``
(chosen by :mod:`~qmtl_research.volatility.walkforward`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from qmtl_research.errors import InputError
from qmtl_research.volatility import registry, series_batch
from qmtl_research.volatility.garch_optimizer import _one_blas_thread
from qmtl_research.volatility.garch_panel import _chunks, _estimation_events, _run_chunks
from qmtl_research.volatility.targets import expected_target_vol

FIT_COLUMNS = ["model", "fund_id", "fit_date", "n_obs", "loglik", "params", "flags"]
#: the exceptions a fit may raise on a bad sample (anything else is a bug and propagates)
FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, InputError)


@dataclass
class SeriesPanelResult:
    """A series model's output on the date grid (the panel's weeks plus one).

    Attributes
    ----------
    forecast : DataFrame
        grid x funds: the 1-month forecast (%) for weeks ``t .. t+h-1`` from returns up to ``t-1``.
    fits : DataFrame
        One row per estimation: ``model, fund_id, fit_date, n_obs, loglik, params`` (text),
        ``flags``.
    failures : list of dict
        ``{"fund_id", "step", "message"}``.
    """

    forecast: pd.DataFrame
    fits: pd.DataFrame
    failures: list = field(default_factory=list)


def _segment(values: np.ndarray, j: int) -> tuple[int, np.ndarray]:
    finite = np.isfinite(values[:, j])
    if not finite.any():
        return len(values), np.empty(0)
    first = int(finite.argmax())
    last = len(finite) - 1 - int(finite[::-1].argmax())
    return first, values[first:last + 1, j]


def _targets(model, r: np.ndarray, horizon: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Expected 1-month target (%) for fund-local origins ``lo .. hi - 1`` (default: ``0 .. len(r)``)."""
    v = np.asarray(model.forecast_variance(r, horizon), dtype=float)
    if v.shape != (len(r) + 1, horizon):
        raise InputError(f"forecast_variance returned shape {v.shape}, expected {(len(r) + 1, horizon)}",
                         where=f"{type(model).__name__}.forecast_variance", fix="see the VolatilityModel protocol")
    v = v[lo:hi]
    out = np.full(len(v), np.nan)
    ok = np.isfinite(v).all(axis=1) & (v >= 0).all(axis=1)
    if ok.any():
        out[ok] = expected_target_vol(v[ok])
    return out


def _fit(model, name: str, fund: str, train: np.ndarray, when, failures: list, fits: list) -> bool:
    if len(train) < getattr(model, "min_obs", 1) or np.any(~np.isfinite(train)):
        failures.append({"fund_id": fund, "step": name,
                         "message": f"fit {when}: {len(train)} returns with gaps or fewer than "
                                    f"{getattr(model, 'min_obs', 1)} (the model's minimum)"})
        return False
    try:
        model.fit(train)
    except FIT_ERRORS as exc:
        failures.append({"fund_id": fund, "step": name, "message": f"fit {when}: {exc}"})
        return False
    d = model.diagnostics()
    fits.append({"model": name, "fund_id": fund, "fit_date": when, "n_obs": int(d["n_obs"]),
                 "loglik": float(d["loglik"]),
                 "params": ", ".join(f"{k} {v:.6g}" for k, v in d["params"].items()), "flags": d["flags"]})
    return True


def series_walk_forward(name: str, config, returns: pd.DataFrame, refit_dates, progress: bool = False
                        ) -> SeriesPanelResult:
    """Walk-forward forecasts of the series model ``name`` (see the module docstring).

    Parameters
    ----------
    name : str
        A registered model of kind ``"series"``.
    config : Stage1Config
        Horizon, ``garch.min_train_obs`` and ``garch.late_start`` (the shared schedule).
    returns : DataFrame
        dates x funds weekly simple returns (fractions).
    refit_dates : sequence of Timestamp
        The scheduled refit origins (dates of the grid = ``returns.index`` plus one week).
    """
    spec = registry.get(name)
    if spec.kind != "series":
        raise InputError(f"model {name!r} is of kind {spec.kind!r}, not 'series'", where="series_walk_forward",
                         fix="drive it through its own kind")
    grid = returns.index.append(pd.DatetimeIndex([returns.index[-1] + pd.Timedelta(weeks=1)]))
    refit_pos = [int(p) for p in grid.get_indexer(pd.DatetimeIndex(list(refit_dates)))]
    if any(p < 0 for p in refit_pos):
        raise InputError("a refit date is not a week of the returns (or the week after)", where="refit_dates",
                         fix="use the walk-forward schedule's refit dates")
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    funds = [str(c) for c in returns.columns]

    def job(sl):
        with _one_blas_thread():        # the optimisers' last digits must not depend on n_jobs or the backend
            return _walk_funds(spec, config, values[:, sl], funds[sl], refit_pos, grid)

    # funds are independent: chunks in parallel with the GARCH engine's settings (n_jobs, backend)
    parts = _run_chunks(job, _chunks(len(funds), config.garch.n_jobs), config.garch, progress, f"{name} walk-forward")
    out = np.column_stack([p[0] for p in parts]) if parts else np.full((len(grid), 0), np.nan)
    fits = [f for p in parts for f in p[1]]
    failures = [f for p in parts for f in p[2]]
    frame = pd.DataFrame(out, index=grid, columns=pd.Index(funds, name="fund_id"))
    return SeriesPanelResult(frame, pd.DataFrame(fits, columns=FIT_COLUMNS), failures)


def _walk_funds(spec, config, values: np.ndarray, funds: list[str], refit_pos: list[int], grid) -> tuple:
    """One chunk of funds: (forecast grid x funds, fit rows, failures)."""
    n_grid = len(grid)
    out = np.full((n_grid, values.shape[1]), np.nan)
    fits, failures = [], []
    g = config.garch
    for j, fund in enumerate(funds):
        first, r = _segment(values, j)
        events = _estimation_events(first, len(r), refit_pos, g.min_train_obs, g.late_start, n_grid - 1)
        model = spec.build(config, warm_start=True)
        if series_batch.walk_fund(model, spec.name, fund, r, first, events, grid, config.horizon, out[:, j], fits):
            continue                    # EWMA / HAR: the same numbers without a model round trip per refit
        for k, pos in enumerate(events):
            nxt = events[k + 1] if k + 1 < len(events) else n_grid
            if not _fit(model, spec.name, fund, r[: pos - first], grid[pos].date(), failures, fits):
                continue
            hi = min(nxt, first + len(r) + 1)
            out[pos:hi, j] = _targets(model, r, config.horizon, pos - first, hi - first)
    return out, fits, failures


def series_masked(name: str, config, returns: pd.DataFrame, train_mask: pd.Series) -> SeriesPanelResult:
    """One estimation per fund on the weeks where ``train_mask`` is True (a CV fold's training
    returns, concatenated), forecasts for every origin with those parameters; the late start
    of :func:`~qmtl_research.volatility.garch_panel.fit_garch_panel` (a fund whose masked returns are
    the start of its history and fewer than ``min_train_obs`` is estimated on its first
    ``min_train_obs`` returns and forecasts only after them).

    Parameters
    ----------
    name : str
        A registered ``series`` model.
    config : Stage1Config
        Hyper-parameters.
    returns : DataFrame
        Weekly simple returns (fractions), dates x funds.
    train_mask : Series of bool
        The fold's estimation weeks.

    Returns
    -------
    SeriesPanelResult
    """
    spec = registry.get(name)
    grid = returns.index.append(pd.DatetimeIndex([returns.index[-1] + pd.Timedelta(weeks=1)]))
    mask_all = train_mask.reindex(returns.index, fill_value=False).to_numpy(bool)
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    out = np.full((len(grid), values.shape[1]), np.nan)
    fits, failures = [], []
    min_obs = config.garch.min_train_obs
    with _one_blas_thread():            # as the walk-forward: the same fit gives the same digits
        for j in range(values.shape[1]):
            fund = str(returns.columns[j])
            first, r = _segment(values, j)
            mask = mask_all[first:first + len(r)]
            train, start = r[mask], 0
            if config.garch.late_start and len(train) < min_obs < len(r) and mask[:len(train)].all() \
                    and not mask[len(train):].any():
                train, start = r[:min_obs], min_obs
            model = spec.build(config, warm_start=False)
            if not _fit(model, name, fund, train, "cv fold", failures, fits):
                continue
            target = _targets(model, r, config.horizon)
            out[first + start: first + len(r) + 1, j] = target[start:]
    frame = pd.DataFrame(out, index=grid, columns=pd.Index([str(c) for c in returns.columns], name="fund_id"))
    return SeriesPanelResult(frame, pd.DataFrame(fits, columns=FIT_COLUMNS), failures)
