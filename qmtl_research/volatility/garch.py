"""GARCH(1,1) per fund with ``arch``, without look-ahead, in parallel across funds.

For each fund the returns are divided by their training-sample standard
deviation ``s`` (GARCH is scale-equivariant; this keeps the optimiser well
conditioned for money-market funds whose weekly returns are ~1e-5), the
model ``arch_model(y, mean=..., vol="GARCH", p=1, q=1, dist=...)`` is
estimated on the **estimation sample only** (walk-forward:
``fit(last_obs=...)``, so arch's starting values and variance backcast come
from the training weeks), and arch's ``res.forecast(horizon=4, start=0)``
then runs the recursion over the whole history with those fixed parameters.
So:

* ``cond_vol`` (the series ``r`` fed to the GARCH-LSTM hybrid) at week ``s``
  is arch's one-step variance forecast made at ``s-1`` (the conditional
  volatility of week ``s``), annualised in percent: ``sqrt(h_1) * s * sqrt(52) * 100``;
* ``forecast`` at forecast origin ``t`` (the first week forecast) is made from
  returns up to ``t-1`` with arch's ``forecast(horizon=4)`` at row ``t-1``, and
  mapped to the 1-month target scale as
  ``sqrt(mean(h_1..h_4) * s**2 * 52) * 100`` (see
  :func:`~qmtl_research.volatility.targets.variance_to_target_scale`).

Estimation never sees a test return: walk-forward estimates on returns before
``test_start`` (or, with ``refit_every``, on an expanding window ending before
each refit date). CV folds estimate on the returns outside the test block;
their filter's variance backcast then uses the whole history (CV is not an
out-of-time design anyway).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from arch import arch_model
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from qmtl_research.volatility.config import GarchConfig
from qmtl_research.volatility.targets import WEEKS_PER_YEAR, variance_to_target_scale


@dataclass
class GarchPanelResult:
    """What the GARCH stage yields for a panel.

    Attributes
    ----------
    cond_vol:
        dates x funds: conditional volatility ``r`` (annualised %, data up to the week before).
    forecast:
        dates x funds, indexed by forecast origin ``t``: the 1-month annualised
        std forecast (%) for weeks ``t..t+horizon-1`` made with data up to ``t-1``.
    params:
        one row per fitted fund: estimated parameters (of the last estimation),
        ``scale`` and ``n_train``, ``n_fits``.
    failures:
        ``{"fund_id", "step": "garch", "message"}`` rows for funds that could not be fitted.
    """

    cond_vol: pd.DataFrame
    forecast: pd.DataFrame
    params: pd.DataFrame
    failures: list[dict] = field(default_factory=list)


def _spec(y: np.ndarray, cfg: GarchConfig):
    return arch_model(y, mean=cfg.mean, vol="GARCH", p=1, q=1, dist=cfg.dist, rescale=False)


def fit_garch_fund(fund_id: str, returns: np.ndarray, train_mask: np.ndarray,
                   refit_positions: tuple[int, ...], cfg: GarchConfig, horizon: int = 4) -> dict:
    """Fit one fund; never raises for a bad fund, returns ``ok=False`` with a message instead.

    Parameters
    ----------
    returns:
        The fund's weekly simple returns on the panel's full date grid (NaN
        outside its history).
    train_mask:
        Same length, True where a week may be used for the first estimation.
    refit_positions:
        Positions (on the date grid) of forecast origins at which the model is
        re-estimated on all returns strictly before that position; origins from
        there on use the new parameters. Empty = estimate once.
    """
    n_grid = len(returns)
    out = {"fund_id": fund_id, "ok": False, "message": "", "cond_vol": None, "forecast": None, "params": None}
    finite = np.isfinite(returns)
    if not finite.any():
        out["message"] = "no returns"
        return out
    first, last = np.flatnonzero(finite)[[0, -1]]
    x = returns[first:last + 1]
    mask = train_mask[first:last + 1] & np.isfinite(x)
    train = x[mask]
    scale = float(np.std(train, ddof=1)) if len(train) > 1 else float("nan")
    if len(train) >= 2 and (not np.isfinite(scale) or np.ptp(train) == 0.0):
        out["message"] = "constant training returns: GARCH cannot be estimated"
        return out
    # estimation samples: the training mask first, then expanding windows ending before each refit
    # origin; an estimation sample shorter than min_train_obs is skipped (its origins get no forecast)
    starts = {0, *(p - first for p in refit_positions if first < p <= last)}
    n_mask = int(mask.sum())
    if cfg.late_start and n_mask < cfg.min_train_obs and mask[:n_mask].all() and cfg.min_train_obs < len(x):
        starts.add(cfg.min_train_obs)      # first estimation once min_train_obs returns exist
    starts = sorted(starts)
    samples = [mask] + [np.arange(len(x)) < s for s in starts[1:]]
    usable = [k for k, m in enumerate(samples) if m.sum() >= cfg.min_train_obs]
    if not usable:
        out["message"] = (f"too short a history for GARCH estimation: {len(train)} training returns, "
                          f"at least {cfg.min_train_obs} needed")
        return out
    if not np.isfinite(scale) or scale == 0.0 or len(train) < cfg.min_train_obs:
        scale = float(np.std(x[samples[usable[0]]], ddof=1))
    y = x / scale
    cond = np.full(n_grid, np.nan)
    fcst = np.full(n_grid, np.nan)
    params = None
    for k in usable:
        est = samples[k]
        n_est = int(est.sum())
        prefix = bool(est[:n_est].all())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if prefix:
                    # arch-native out-of-sample set-up: estimate on y[:n_est] (starting values and
                    # variance backcast from those weeks only), forecast the whole history
                    res = _spec(y, cfg).fit(last_obs=n_est, disp="off", show_warning=False)
                else:
                    res = _spec(y[est], cfg).fit(disp="off", show_warning=False)
        except Exception as exc:  # arch raises many kinds; the fund is reported, the panel goes on
            out["message"] = f"GARCH(1,1) estimation failed: {type(exc).__name__}: {exc}"
            return out
        if res.convergence_flag != 0:
            out["message"] = (f"GARCH(1,1) did not converge (optimizer flag {res.convergence_flag}: "
                              f"{res.optimization_result.message})")
            return out
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if prefix:
                fc = res.forecast(horizon=horizon, start=0, reindex=False)
            else:  # CV: non-contiguous estimation sample; filter the whole history with its parameters
                fc = _spec(y, cfg).forecast(res.params, horizon=horizon, start=0, reindex=False)
        variances = fc.variance.to_numpy()           # row i: data up to week i, weeks i+1..i+horizon
        seg_end = starts[k + 1] if k + 1 < len(starts) else len(x) + 1
        # this estimation serves forecast origins [seg_start, seg_end) (all earlier ones for the
        # first estimation); r at week s is the one-step forecast made at s-1
        lo = 0 if k == 0 else starts[k]
        origins = np.arange(max(lo, 1), min(seg_end, len(x) + 1))
        grid_origins = first + origins
        keep = grid_origins < n_grid
        fcst[grid_origins[keep]] = variance_to_target_scale(variances[origins[keep] - 1], scale)
        r_pos = origins[origins < len(x)]
        cond[first + r_pos] = np.sqrt(variances[r_pos - 1, 0]) * scale * math.sqrt(WEEKS_PER_YEAR) * 100.0
        params = res.params
    out.update(ok=True, cond_vol=cond, forecast=fcst,
               params={**{str(k): float(v) for k, v in params.items()}, "scale": scale,
                       "n_train": int(samples[usable[0]].sum()), "n_fits": len(usable),
                       "first_origin": None if np.isnan(fcst).all() else int(np.flatnonzero(np.isfinite(fcst))[0])})
    return out


def _fit_chunk(items, refit_positions, cfg, horizon):
    # one BLAS thread whatever the worker: the optimiser's path (and so the last digits of the
    # estimates) must not depend on the backend or on the number of workers
    with threadpool_limits(limits=1):
        return [fit_garch_fund(fid, r, m, refit_positions, cfg, horizon) for fid, r, m in items]


def fit_garch_panel(returns: pd.DataFrame, train_mask: pd.Series | pd.DataFrame, cfg: GarchConfig,
                    refit_dates=None, horizon: int = 4, progress: bool = True,
                    chunk_size: int | None = None) -> GarchPanelResult:
    """Fit GARCH(1,1) to every fund, in parallel (``cfg.n_jobs`` workers, ``cfg.backend``).

    Parameters
    ----------
    returns:
        dates x funds weekly simple returns (fractions).
    train_mask:
        Boolean Series over dates (or dates x funds frame): the weeks usable for estimation.
    refit_dates:
        Forecast origins at which to re-estimate on an expanding window (walk-forward).
    progress:
        Show a tqdm bar over fund chunks.

    A fund that fails (too few training returns, constant, optimiser error,
    non-convergence) gets a failure row; the others are fitted regardless.
    """
    if isinstance(train_mask, pd.Series):
        mask = np.repeat(train_mask.reindex(returns.index, fill_value=False).to_numpy(bool)[:, None],
                         returns.shape[1], axis=1)
    else:
        mask = train_mask.reindex(index=returns.index, columns=returns.columns, fill_value=False).to_numpy(bool)
    refit_positions = tuple(int(returns.index.get_indexer([pd.Timestamp(d)])[0]) for d in ([] if refit_dates is None else list(refit_dates)))
    if any(p < 0 for p in refit_positions):
        raise ValueError("refit dates must be dates of the returns index")
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    items = [(str(f), values[:, j], mask[:, j]) for j, f in enumerate(returns.columns)]
    n_jobs = cfg.n_jobs
    if chunk_size is None:
        chunk_size = max(1, math.ceil(len(items) / (n_jobs * 8)))
    chunks = [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]

    def run_all():
        if n_jobs == 1 and cfg.backend != "dask":
            return (_fit_chunk(c, refit_positions, cfg, horizon) for c in chunks)
        gen = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_fit_chunk)(c, refit_positions, cfg, horizon) for c in chunks)
        return gen

    results: list[dict] = []
    bar = dict(total=len(chunks), desc="GARCH fits", unit="chunk", disable=not progress)
    if cfg.backend == "dask":
        with _dask_client(n_jobs):
            with parallel_config(backend="dask"):
                for part in tqdm(run_all(), **bar):
                    results.extend(part)
    else:
        with parallel_config(backend=cfg.backend):
            for part in tqdm(run_all(), **bar):
                results.extend(part)
    return _assemble(returns, results)


class _dask_client:
    """The current dask.distributed Client, or a local cluster for the duration of the block."""

    def __init__(self, n_workers: int):
        self.n_workers = n_workers
        self._own = None

    def __enter__(self):
        from distributed import Client, LocalCluster, get_client

        try:
            get_client()
        except ValueError:
            cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            self._own = (Client(cluster), cluster)
        return self

    def __exit__(self, *exc):
        if self._own is not None:
            client, cluster = self._own
            client.close()
            cluster.close()
        return False


def _assemble(returns: pd.DataFrame, results: list[dict]) -> GarchPanelResult:
    ok = [r for r in results if r["ok"]]
    failures = [{"fund_id": r["fund_id"], "step": "garch", "message": r["message"]}
                for r in results if not r["ok"]]
    ids = [r["fund_id"] for r in ok]
    shape = (len(returns.index), len(ok))
    cond = pd.DataFrame(np.column_stack([r["cond_vol"] for r in ok]) if ok else np.empty(shape),
                        index=returns.index, columns=pd.Index(ids, name="fund_id"))
    fcst = pd.DataFrame(np.column_stack([r["forecast"] for r in ok]) if ok else np.empty(shape),
                        index=returns.index, columns=pd.Index(ids, name="fund_id"))
    params = pd.DataFrame([r["params"] for r in ok], index=pd.Index(ids, name="fund_id"))
    return GarchPanelResult(cond_vol=cond, forecast=fcst, params=params, failures=failures)
