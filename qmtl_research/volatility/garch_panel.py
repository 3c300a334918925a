"""Panel scheduling of the GARCH(1,1) estimator: the walk-forward of stage 1 (refit dates, late
starts, warm starts) and the one-shot masked fits of the K-fold CV, in parallel over chunks of
funds (joblib's loky/threading backends or Dask through joblib's dask backend).

Both drive :class:`~qmtl_research.volatility.garch.GarchVolatility` through its public API
(``fit``, ``one_step_variances``, ``target_forecasts``, ``fitted_state``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from tqdm import tqdm

from qmtl_research.parallel import dask_client as _dask_client
from qmtl_research.volatility.garch import GarchVolatility
from qmtl_research.volatility.garch_engine import PARAM_NAMES, _extended
from qmtl_research.volatility.garch_optimizer import _one_blas_thread
from qmtl_research.volatility.targets import ANNUALISE_PCT, TARGET_WINDOW


@dataclass
class GarchPanelResult:
    """GARCH output on a date grid ``dates`` (the panel's weeks plus one extra week).

    Attributes
    ----------
    cond_vol:
        dates x funds: ``r`` of each week (annualised %, data before the week), from the
        estimation in force for that week (weeks before a fund's first estimation:
        that first estimation, in sample).
    forecast:
        dates x funds, indexed by forecast origin ``t``: the 1-month forecast (%) for
        weeks ``t..t+horizon-1`` from returns up to ``t-1`` (NaN where no estimation
        made before ``t`` applies, except in :func:`fit_garch_panel`, which back-fills).
    fit_pos:
        dates x funds (int): grid position of the estimation that produced the row
        (its data end strictly before it); -1 where none.
    params:
        one row per fund and estimation: ``fund_id, fit_date``, ``mu, omega, alpha, beta``,
        ``scale, n_obs, loglik, n_iter, persistence, tail_df, tail_factor, flags, degenerate``.
    failures:
        ``{"fund_id", "step": "garch", "message"}`` rows (with the fit date in the message).
    """

    cond_vol: pd.DataFrame
    forecast: pd.DataFrame
    fit_pos: pd.DataFrame
    params: pd.DataFrame
    failures: list[dict] = field(default_factory=list)


def _estimation_events(first: int, n_ret: int, refit_positions: list[int], min_obs: int, late_start: bool,
                       last_origin: int) -> list[int]:
    """Grid positions at which a fund (first return at ``first``, ``n_ret`` returns) is estimated."""
    if n_ret == 0:
        return []
    eligible = first + min_obs                       # first position with min_obs returns before it
    events = [p for p in refit_positions if p >= eligible]
    if late_start and refit_positions and eligible > refit_positions[0] and eligible <= last_origin \
            and eligible not in events:
        events.append(eligible)
    return sorted(events)


def _param_rows(est: GarchVolatility, funds: list[str], fit_date) -> pd.DataFrame:
    """The estimation table rows of ``funds`` (fitted by ``est``'s last ``fit``)."""
    st = est.fitted_state(funds)
    return pd.DataFrame({"fund_id": funds, "fit_date": [fit_date] * len(funds),
                         **{name: st.theta[:, k] for k, name in enumerate(PARAM_NAMES)},
                         "scale": st.scale, "n_obs": st.n_obs, "loglik": st.loglik,
                         "n_iter": st.n_iter, "persistence": st.persistence,
                         "tail_df": st.tail_df, "tail_factor": st.tail_factor,
                         "flags": st.flags, "degenerate": [f != "" for f in st.flags]})


def _walk_chunk(values: np.ndarray, funds: list[str], refit_positions: list[int], cfg, horizon: int,
                dates: pd.DatetimeIndex) -> dict:
    n_grid = values.shape[0] + 1                     # + the week after the last ("now" origin)
    last_origin = n_grid - 1
    finite = np.isfinite(values)
    first = np.where(finite.any(axis=0), finite.argmax(axis=0), n_grid)
    n_ret = finite.sum(axis=0)
    by_pos: dict[int, list[int]] = {}
    next_event: dict[tuple[int, int], int] = {}
    first_event = np.full(len(funds), -1)
    for j in range(len(funds)):
        ev = _estimation_events(int(first[j]), int(n_ret[j]), refit_positions, cfg.min_train_obs,
                                cfg.late_start, last_origin)
        for k, p in enumerate(ev):
            by_pos.setdefault(p, []).append(j)
            next_event[(j, p)] = ev[k + 1] if k + 1 < len(ev) else n_grid
        if ev:
            first_event[j] = ev[0]
    cond = np.full((n_grid, len(funds)), np.nan)
    fcst = np.full((n_grid, len(funds)), np.nan)
    fpos = np.full((n_grid, len(funds)), -1, dtype=int)
    tables, failures = [], []
    est = GarchVolatility(mean=cfg.mean, min_train_obs=cfg.min_train_obs, horizon=horizon, warm_start=True,
                          max_iter=cfg.max_iter, innovations=cfg.innovations)
    frame = pd.DataFrame(values, index=dates[:-1], columns=funds)
    for pos in sorted(by_pos):
        cols = by_pos[pos]
        now = [funds[j] for j in cols]
        est.fit(frame.iloc[:pos, cols])
        ok = set(est.last_fit_funds_)
        for f in now:
            if f not in ok:
                failures.append({"fund_id": f, "step": "garch",
                                 "message": f"fit {dates[pos].date()}: {est.failures_.get(f, 'not estimated')}"})
        kept = [j for j in cols if funds[j] in ok]
        if not kept:
            continue
        names = [funds[j] for j in kept]
        h = est.one_step_variances(frame.iloc[:, kept])
        r = np.sqrt(h.to_numpy()) * est.fitted_state(names).scale * ANNUALISE_PCT
        end = max(next_event[(j, pos)] for j in kept)
        g = est.target_forecasts(h, slice(pos - 1, end - 1)).to_numpy()       # origins pos .. end-1
        for k, j in enumerate(kept):
            nxt = next_event[(j, pos)]
            lo = 0 if pos == first_event[j] else pos            # back-fill r before the first estimation
            cond[lo:nxt, j] = r[lo:nxt, k]
            fcst[pos:nxt, j] = g[: nxt - pos, k]
            fpos[pos:nxt, j] = pos
        tables.append(_param_rows(est, names, dates[pos]))
        # a fund whose refit failed keeps no forecast for that segment (cond/fcst stay NaN there)
    return {"funds": funds, "cond": cond, "fcst": fcst, "fpos": fpos, "tables": tables, "failures": failures}


PARAM_TABLE_COLUMNS = ["fund_id", "fit_date", *PARAM_NAMES, "scale", "n_obs", "loglik", "n_iter", "persistence",
                       "tail_df", "tail_factor", "flags", "degenerate"]


def _run_chunks(func, chunks, cfg, progress: bool, desc: str) -> list[dict]:
    bar = dict(total=len(chunks), desc=desc, unit="chunk", disable=not progress)
    if cfg.n_jobs == 1 and cfg.backend != "dask":
        return [func(c) for c in tqdm(chunks, **bar)]
    out = []
    if cfg.backend == "dask":
        with _dask_client(cfg.n_jobs), parallel_config(backend="dask"):
            gen = Parallel(n_jobs=cfg.n_jobs, return_as="generator")(delayed(func)(c) for c in chunks)
            out.extend(tqdm(gen, **bar))
    else:
        with parallel_config(backend=cfg.backend):
            gen = Parallel(n_jobs=cfg.n_jobs, return_as="generator")(delayed(func)(c) for c in chunks)
            out.extend(tqdm(gen, **bar))
    return out


def _chunks(n: int, n_jobs: int) -> list[slice]:
    """One chunk per worker (the engine is vectorised over funds: large chunks amortise its
    per-week loop), two per worker when parallel for balance."""
    size = max(1, math.ceil(n / (1 if n_jobs == 1 else 2 * n_jobs)))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _assemble(parts: list[dict], dates: pd.DatetimeIndex) -> GarchPanelResult:
    funds = [f for p in parts for f in p["funds"]]
    cols = pd.Index(funds, name="fund_id")

    def stack(key, dtype=float):
        arr = np.column_stack([p[key] for p in parts]) if parts else np.empty((len(dates), 0), dtype=dtype)
        return pd.DataFrame(arr, index=dates, columns=cols)

    tables = [t for p in parts for t in p["tables"]]
    params = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=PARAM_TABLE_COLUMNS)
    if len(params):
        order = {f: k for k, f in enumerate(funds)}
        params = params.assign(_o=params["fund_id"].map(order)).sort_values(["fit_date", "_o"], kind="stable")
        params = params.drop(columns="_o").reset_index(drop=True)
    return GarchPanelResult(cond_vol=stack("cond"), forecast=stack("fcst"), fit_pos=stack("fpos", int),
                            params=params, failures=[f for p in parts for f in p["failures"]])



def garch_walk_forward(returns: pd.DataFrame, refit_dates, cfg, horizon: int = TARGET_WINDOW,
                       progress: bool = True) -> GarchPanelResult:
    """GARCH(1,1) along a walk-forward schedule, in parallel over chunks of funds.

    Parameters
    ----------
    returns:
        dates x funds weekly simple returns (fractions); the output grid is these dates
        plus the week after the last (the "now" forecast origin).
    refit_dates:
        Forecast origins (dates of the output grid, increasing) at which every fund with
        at least ``cfg.min_train_obs`` returns before the date is (re-)estimated on all its
        returns **strictly before** it, starting from its previous estimates. With
        ``cfg.late_start`` a fund that reaches ``min_train_obs`` returns between two refit
        dates is also estimated then. Each estimation serves the origins up to the fund's
        next estimation.
    cfg:
        :class:`~qmtl_research.volatility.config.GarchConfig` (mean, min_train_obs,
        late_start, n_jobs, backend, max_iter).
    """
    grid = _extended(returns.index)
    positions = [int(p) for p in grid.get_indexer(pd.DatetimeIndex(list(refit_dates)))]
    if any(p < 0 for p in positions) or positions != sorted(set(positions)):
        raise ValueError("refit dates must be increasing dates of the returns index (or the week after it)")
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    funds = [str(f) for f in returns.columns]

    def job(sl):
        with _one_blas_thread():
            return _walk_chunk(values[:, sl], funds[sl], positions, cfg, horizon, grid)

    parts = _run_chunks(job, _chunks(len(funds), cfg.n_jobs), cfg, progress, "GARCH walk-forward")
    return _assemble(parts, grid)


def restricted(result: GarchPanelResult, returns: pd.DataFrame, n_jobs: int = 1) -> GarchPanelResult | None:
    """A walk-forward result on the funds of ``returns``, in their order: what
    :func:`garch_walk_forward` on ``returns`` (same refit dates and settings) gives, without
    re-estimating; None when ``result`` does not cover those funds and weeks.

    A fund's estimations do not depend on the other funds of its chunk (the engine is vectorised
    per fund; ``tests/test_volatility_garch.py`` checks serial = parallel exactly), so the columns
    are taken as they are; the failures are listed in that call's order (chunk, fit date, column).

    Parameters
    ----------
    result : GarchPanelResult
        A :func:`garch_walk_forward` result (e.g. stage 1's, ``Stage1Result.garch_walk``).
    returns : DataFrame
        Weekly simple returns (fractions), dates x funds: the same weeks as ``result``'s returns.
    n_jobs : int
        The settings' ``n_jobs`` (the chunking that orders the failures).

    Returns
    -------
    GarchPanelResult or None
    """
    funds = [str(c) for c in returns.columns]
    if not set(funds) <= set(result.cond_vol.columns) or not result.cond_vol.index.equals(_extended(returns.index)):
        return None
    chunk = {f: k for k, sl in enumerate(_chunks(len(funds), n_jobs)) for f in funds[sl]}
    col = {f: j for j, f in enumerate(funds)}
    failures = sorted((f for f in result.failures if f["fund_id"] in col),
                      key=lambda f: (chunk[f["fund_id"]], f["message"][:15], col[f["fund_id"]]))
    return GarchPanelResult(cond_vol=result.cond_vol[funds], forecast=result.forecast[funds],
                            fit_pos=result.fit_pos[funds], params=result.params[result.params["fund_id"].isin(col)],
                            failures=failures)


def fit_garch_panel(returns: pd.DataFrame, train_mask: pd.Series | pd.DataFrame, cfg, horizon: int = TARGET_WINDOW,
                    progress: bool = True) -> GarchPanelResult:
    """One estimation per fund on the weeks where ``train_mask`` is True (CV folds: the returns
    outside the test block, concatenated), then the filter and forecasts over the whole history
    with those parameters, back-filled to every origin (in sample where the mask covers it).

    With ``cfg.late_start``, a fund with fewer than ``min_train_obs`` masked returns whose mask is
    the start of its history is estimated on its first ``min_train_obs`` returns instead, and gets
    forecasts only from the origin after them. Grid = the returns' dates plus one extra week.

    Parameters
    ----------
    returns : DataFrame
        Weekly simple returns (fractions), dates x funds.
    train_mask : Series or DataFrame of bool
        Estimation weeks (one mask for all funds, or per fund).
    cfg : GarchConfig
        Estimation settings.
    horizon : int
        Weeks in the forecast target.
    progress : bool
        Show a progress bar.

    Returns
    -------
    GarchPanelResult
    """
    grid = _extended(returns.index)
    if isinstance(train_mask, pd.Series):
        mask = np.repeat(train_mask.reindex(returns.index, fill_value=False).to_numpy(bool)[:, None],
                         returns.shape[1], axis=1)
    else:
        mask = train_mask.reindex(index=returns.index, columns=returns.columns, fill_value=False).to_numpy(bool)
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    funds = [str(f) for f in returns.columns]

    def job(sl):
        with _one_blas_thread():
            return _mask_chunk(values[:, sl], mask[:, sl], funds[sl], cfg, horizon, grid)

    parts = _run_chunks(job, _chunks(len(funds), cfg.n_jobs), cfg, progress, "GARCH fits")
    return _assemble(parts, grid)


def _mask_chunk(values, mask, funds, cfg, horizon, grid) -> dict:
    n_grid = values.shape[0] + 1
    finite = np.isfinite(values)
    train = np.where(mask & finite, values, np.nan)
    start_from = np.zeros(len(funds), dtype=int)
    if cfg.late_start:
        for j in range(len(funds)):
            n_masked = int(np.isfinite(train[:, j]).sum())
            if n_masked >= cfg.min_train_obs or finite[:, j].sum() <= cfg.min_train_obs:
                continue
            first = int(finite[:, j].argmax())
            if mask[first:first + n_masked, j].all() and not mask[first + n_masked:, j].any():
                train[:, j] = np.nan
                train[first:first + cfg.min_train_obs, j] = values[first:first + cfg.min_train_obs, j]
                start_from[j] = first + cfg.min_train_obs
    est = GarchVolatility(mean=cfg.mean, min_train_obs=cfg.min_train_obs, horizon=horizon,
                          max_iter=cfg.max_iter, innovations=cfg.innovations).fit(pd.DataFrame(train, index=grid[:-1], columns=funds))
    in_force = set(est.fitted_funds_)
    fitted = [f for f in funds if f in in_force]
    cond = np.full((n_grid, len(funds)), np.nan)
    fcst = np.full((n_grid, len(funds)), np.nan)
    fpos = np.full((n_grid, len(funds)), -1, dtype=int)
    failures = [{"fund_id": f, "step": "garch", "message": est.failures_[f]} for f in funds if f not in fitted]
    tables = []
    if fitted:
        kept = [funds.index(f) for f in fitted]
        frame = pd.DataFrame(values, index=grid[:-1], columns=funds).iloc[:, kept]
        h = est.one_step_variances(frame)
        r = np.sqrt(h.to_numpy()) * est.fitted_state(fitted).scale * ANNUALISE_PCT
        g = est.target_forecasts(h, None).to_numpy()
        for k, j in enumerate(kept):
            cond[:, j] = r[:, k]
            fcst[1:, j] = g[:, k]
            cond[: start_from[j], j] = np.nan          # late start: nothing before the estimation's end
            fcst[: start_from[j], j] = np.nan
            fpos[:, j] = start_from[j]
        table = _param_rows(est, fitted, pd.NaT)
        table["fit_date"] = [grid[start_from[j]] if start_from[j] else pd.NaT for j in kept]
        tables.append(table)
    return {"funds": funds, "cond": cond, "fcst": fcst, "fpos": fpos, "tables": tables, "failures": failures}
