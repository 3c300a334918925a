"""Monte Carlo simulation of holding-period portfolio returns (the seed's
``Engine.MonteCarlo``), with bounded memory and chunk-size-independent results.

Modes
-----
``portfolio_univariate``
    The weighted portfolio return series (constant weights, rebalanced every
    period) is simulated as one series: fast, dependence only through history.
``asset_multivariate``
    Every asset is simulated jointly (cross-asset dependence kept): historical
    = joint row bootstrap (one date drawn for all assets), normal = correlated
    draws ``mu + L z`` (``L`` Cholesky of the sample covariance), t =
    multivariate Student-t ``mu + L z * sqrt(dof / w)`` with one chi-square
    ``w ~ chi2(dof)`` shared by all assets of a draw (so tails co-move), and
    the scale matrix set to ``cov * (dof - 2) / dof`` so the simulated
    covariance equals the sample covariance. Asset returns are aggregated over
    the holding period and combined with the weights held constant over it
    (buy-and-hold within the horizon).

Return type
-----------
``simple``: daily simple returns, holding-period return ``prod(1 + r) - 1``.
``log``: daily log returns ``log1p(r)``, holding-period log return ``sum(r)``;
the reported distribution (mean, VaR, percentiles) is then of *log* returns
(``expm1`` converts to simple). In multivariate log mode assets are summed in
log space, converted to simple returns to apply the weights, and back to log.

Degrees of freedom (method ``t``)
---------------------------------
``dof_method="moments"`` (default): ``dof = 4 + 6 / k`` from the sample excess
kurtosis ``k`` (portfolio series; multivariate: the mean excess kurtosis of
the assets), clipped to [4.05, 200]; ``"mle"``: ``scipy.stats.t.fit``
(multivariate: median of the per-asset fits). A fixed ``t_dof`` skips
estimation.

Randomness and memory
---------------------
``seed = 0`` draws fresh OS entropy (recorded in ``config.entropy`` so the run
can be replayed); any other seed is reproducible. Simulations are generated in
fixed blocks of :data:`RNG_BLOCK` paths; block ``k`` uses its own generator
``default_rng(SeedSequence(entropy, spawn_key=(k,)))``. ``chunk_size`` (rounded
down to whole blocks) decides how many simulated paths (sims x days x assets)
are held in memory at once; the draws of a block never depend on it, so the
result does not either. ``chunk_size >= num_simulations`` is the unchunked run. Only the final holding-period returns (8 bytes per
simulation) are kept, so percentiles are exact.

VaR/CVaR of the simulated distribution use the seed's historical definition
(:func:`qmtl_research.risk.var.historical_var`, convention ``"seed"``);
percentiles use ``numpy.percentile`` (linear interpolation).

Over 400 lines because of its numpy docstrings (the config's and the result's fields each
documented with their units): without docstrings the module is about 300 lines.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from scipy import stats

from qmtl_research.errors import InputError
from qmtl_research.measures import historical_tail
from qmtl_research.risk.input_checks import check_frame
from qmtl_research.risk.var import moments_dof

RNG_BLOCK = 10_000
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
METHOD_LABELS = {"historical": "historical_bootstrap", "normal": "normal", "t": "student_t"}


class MonteCarloConfig(BaseModel):
    """The seed's ``MonteCarloConfig`` (defaults as the seed; see the module docstring).

    Attributes
    ----------
    mode : {"portfolio_univariate", "asset_multivariate"}
        Simulate the weighted portfolio series, or every asset jointly.
    return_type : {"simple", "log"}
        Daily simple returns compounded, or log returns summed, over the holding period.
    num_simulations : int
        Simulated holding periods (>= 1).
    holding_period : int
        Days per simulated path (>= 1).
    confidence_levels : list of float
        VaR/CVaR levels, fractions in (0, 1) (0.95 and 0.99 are always reported too).
    method : {"historical", "normal", "t"}
        Bootstrap of history, normal or Student-t draws.
    lookback_days : int
        Last rows of the returns used as the sample (>= 2).
    seed : int
        0 = fresh OS entropy (recorded), any other value reproducible.
    min_samples : int
        Refuse with fewer sample rows.
    dof_method : {"moments", "mle"}
        How method ``t`` estimates its degrees of freedom.
    t_dof : float or None
        Fixed Student-t degrees of freedom (> 2); skips estimation.
    chunk_size : int
        Simulations held in memory at once (rounded down to whole :data:`RNG_BLOCK` blocks);
        no effect on the results.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["portfolio_univariate", "asset_multivariate"] = "portfolio_univariate"
    return_type: Literal["simple", "log"] = "simple"
    num_simulations: int = Field(10_000, ge=1)
    holding_period: int = Field(5, ge=1, description="days")
    confidence_levels: list[float] = Field(default_factory=lambda: [0.95, 0.99], min_length=1)
    method: Literal["historical", "normal", "t"] = "historical"
    lookback_days: int = Field(200, ge=2)
    seed: int = Field(0, ge=0, description="0 = fresh randomness, else reproducible")
    min_samples: int = Field(30, ge=2, description="fail-closed: refuse with fewer samples")
    dof_method: Literal["moments", "mle"] = "moments"
    t_dof: float | None = Field(None, gt=2.0)
    chunk_size: int = Field(100_000, ge=1, description="simulations held in memory at once (no effect on results)")

    @field_validator("confidence_levels")
    @classmethod
    def _in_unit_interval(cls, v: list[float]) -> list[float]:
        for c in v:
            if not 0.0 < c < 1.0:
                raise ValueError(f"confidence level {c} outside (0, 1)")
        return v


def make_config(**kwargs) -> MonteCarloConfig:
    """:class:`MonteCarloConfig` from keyword arguments; pydantic errors become
    :class:`InputError` naming the field. A run whose results would not fit in the available
    memory is refused here, before any data is loaded (:func:`check_memory`).

    Parameters
    ----------
    **kwargs
        :class:`MonteCarloConfig` fields.

    Returns
    -------
    MonteCarloConfig
    """
    try:
        cfg = MonteCarloConfig(**kwargs)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err["loc"])
        raise InputError(f"invalid Monte Carlo setting {field_name}: {err['msg']}", where=field_name,
                         fix="see `qmtl-research audit montecarlo --help`") from None
    check_memory(cfg)
    return cfg


#: float64 arrays of length ``num_simulations`` alive at once at the peak: the kept holding-period
#: returns, the sorted copy (VaR/CVaR) and numpy.percentile's partitioned copy
RESULT_COPIES = 3


def memory_needed(cfg: MonteCarloConfig, n_assets: int = 1) -> int:
    """Peak bytes of :func:`simulate`: the kept results (:data:`RESULT_COPIES` float64 arrays of
    ``num_simulations``) plus one chunk of paths (``chunk x holding_period x n_assets`` float64).

    Parameters
    ----------
    cfg : MonteCarloConfig
    n_assets : int
        Assets simulated (1 for the univariate mode).

    Returns
    -------
    int
        Bytes.
    """
    chunk = min(cfg.chunk_size, cfg.num_simulations)
    return 8 * (RESULT_COPIES * cfg.num_simulations + chunk * cfg.holding_period * max(n_assets, 1))


def available_memory() -> int:
    """Bytes of physical memory available now (``MemAvailable`` of /proc/meminfo, else free pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(cfg: MonteCarloConfig, n_assets: int = 1) -> None:
    """Refuse (:class:`InputError`, with the size it would need) a run that cannot fit in memory.

    Parameters
    ----------
    cfg : MonteCarloConfig
    n_assets : int
        Assets simulated (1 for the univariate mode).
    """
    need, have = memory_needed(cfg, n_assets), available_memory()
    if need > have:
        raise InputError(f"{cfg.num_simulations:,} simulations need about {need / 2**30:,.1f} GiB of memory; "
                         f"{have / 2**30:,.1f} GiB is available",
                         where="num_simulations (--simulations)",
                         fix=f"use at most about {int(have / (8 * RESULT_COPIES)):,} simulations "
                             "(percentiles need every simulated return in memory)")


@dataclass
class MonteCarloResult:
    """The seed's ``MonteCarloResult``: losses positive, returns as fractions of
    the holding period (log returns when ``config.return_type == "log"``).

    Attributes
    ----------
    run_id : str
        ``mc_<UTC timestamp>_<random hex>``.
    run_date : str
        ISO date of the run (UTC).
    config : dict
        The config used (without ``chunk_size``), plus ``entropy``, ``estimated_dof`` and ``rng_block``.
    input_sample_count : int
        Sample rows the simulation drew from.
    mean_return, std_dev : float
        Mean and sample standard deviation (ddof=1) of the simulated holding-period returns
        (fractions of the holding period, not annualised).
    var_95, var_99, cvar_95, cvar_99 : float or None
        VaR and CVaR at 95 % and 99 %, positive loss fractions of the holding period.
    percentiles : dict of int to float
        Percentile (1, 5, ..., 99) -> simulated holding-period return (fraction; signed, not a loss).
    decision_snapshot_id : int or None
        The decision snapshot the run is linked to, when any.
    n_assets : int
        Columns of the input returns.
    method_label : str
        ``historical_bootstrap``, ``normal`` or ``student_t``.
    var, cvar : dict of str to float
        Every confidence level (key ``"0.95"``) -> VaR / CVaR, positive loss fractions.
    simulated : numpy.ndarray or None
        The simulated holding-period returns, when asked to keep them.
    """

    run_id: str
    run_date: str
    config: dict
    input_sample_count: int
    mean_return: float
    std_dev: float
    var_95: float | None
    var_99: float | None
    cvar_95: float | None
    cvar_99: float | None
    percentiles: dict[int, float]
    decision_snapshot_id: int | None = None
    n_assets: int = 1
    method_label: str = ""
    var: dict[str, float] = field(default_factory=dict)    # every confidence level, key "0.95"
    cvar: dict[str, float] = field(default_factory=dict)
    simulated: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        """The fields as a plain dict, without ``simulated``."""
        d = asdict(self)
        d.pop("simulated")
        d["percentiles"] = {int(k): float(v) for k, v in self.percentiles.items()}
        return d


def _new_run_id(now: dt.datetime) -> str:
    return f"mc_{now:%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


def _weights_vector(weights, columns) -> np.ndarray:
    w = pd.Series(weights, dtype=float)
    unknown = sorted(set(w.index) - set(columns))
    if unknown:
        raise InputError(f"weights name assets not in the returns: {', '.join(map(str, unknown))}",
                         where="weights", fix=f"use assets among: {', '.join(map(str, columns))}")
    return w.reindex(columns).fillna(0.0).to_numpy()


class _Sampler:
    """Draws one block of daily returns, shape (n, days) or (n, days, assets):
    gross returns ``1 + r`` for ``simple`` (so compounding is a product), log
    returns for ``log``."""

    def __init__(self, sample: np.ndarray, cfg: MonteCarloConfig):
        self.cfg, self.sample = cfg, sample
        self.multi = sample.ndim == 2
        self.dof = None
        self.shift = 1.0 if cfg.return_type == "simple" else 0.0
        self.shifted_sample = sample + self.shift
        if cfg.method == "normal" or cfg.method == "t":
            self.mu = sample.mean(axis=0)
            if self.multi:
                cov = np.atleast_2d(np.cov(sample, rowvar=False, ddof=1))
            else:
                sd = sample.std(ddof=1)
        if cfg.method == "normal":
            if self.multi:
                self.chol = _cholesky(cov)
            else:
                self.sd = sd
        elif cfg.method == "t":
            if not self.multi and cfg.t_dof is None and cfg.dof_method == "mle":
                dof, self.mu, self.sd = stats.t.fit(sample)      # loc/scale/dof jointly
                self.dof = max(float(dof), 2.05)
            else:
                self.dof = float(cfg.t_dof or self._estimate_dof())
                if self.multi:
                    self.chol = _cholesky(cov * (self.dof - 2.0) / self.dof)
                else:
                    self.sd = sd * math.sqrt((self.dof - 2.0) / self.dof)

    def _estimate_dof(self) -> float:
        s = self.sample
        if self.cfg.dof_method == "moments":
            k = stats.kurtosis(s, axis=0, fisher=True, bias=False)
            return moments_dof(float(np.mean(k)))
        if self.multi:
            return float(np.median([max(stats.t.fit(s[:, j])[0], 2.05) for j in range(s.shape[1])]))
        return float(max(stats.t.fit(s)[0], 2.05))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        days, m = self.cfg.holding_period, self.cfg.method
        if m == "historical":
            idx = rng.integers(0, self.sample.shape[0], size=(n, days))
            return self.shifted_sample[idx]
        shape = (n, days, self.sample.shape[1]) if self.multi else (n, days)
        z = rng.standard_normal(shape)
        if self.multi:                                   # correlate: x = z L^T (2-d matmul is fastest)
            x = np.empty_like(z)
            k = shape[2]
            np.matmul(z.reshape(-1, k), self.chol.T, out=x.reshape(-1, k))
            del z
        else:
            x = z
            x *= self.sd
        if m == "t":
            w = rng.chisquare(self.dof, size=(n, days))
            mix = np.sqrt(self.dof / w)
            x *= mix[..., None] if self.multi else mix
        x += self.mu + self.shift
        return x


def _cholesky(cov: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        # singular (e.g. duplicated assets): symmetric square root of the PSD part
        vals, vecs = np.linalg.eigh(cov)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _aggregate(daily: np.ndarray, cfg: MonteCarloConfig, w: np.ndarray | None) -> np.ndarray:
    """Holding-period portfolio returns from a block of daily draws."""
    if cfg.return_type == "simple":                    # daily holds gross returns 1 + r
        per = daily[:, 0].copy()                         # compound day by day: (n,) or (n, assets)
        for k in range(1, daily.shape[1]):
            per *= daily[:, k]
        per -= 1.0
        return per @ w if w is not None else per
    per = daily.sum(axis=1)
    if w is None:
        return per
    return np.log1p(np.expm1(per) @ w)


_BLAS_CONTROLLER = None


def _single_threaded_blas():
    """Small (n x k) @ (k x k) products gain nothing from BLAS threads, and
    oversubscribed cores (parallel notebooks, joblib workers) make threaded BLAS
    10-100x slower; limit BLAS to one thread while simulating (threadpoolctl)."""
    global _BLAS_CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _run_chunks(chunk_starts, blocks_per_chunk, n_blocks, n_sims, entropy, sampler, cfg, w_sim, out) -> None:
    """Fill ``out`` chunk by chunk; block ``b`` always draws from its own generator."""
    for b0 in chunk_starts:
        blocks = range(b0, min(b0 + blocks_per_chunk, n_blocks))
        draws = [sampler.draw(np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(b,))),
                              min((b + 1) * RNG_BLOCK, n_sims) - b * RNG_BLOCK) for b in blocks]
        daily = draws[0] if len(draws) == 1 else np.concatenate(draws)   # one chunk in memory
        del draws
        out[b0 * RNG_BLOCK: b0 * RNG_BLOCK + daily.shape[0]] = _aggregate(daily, cfg, w_sim)
        del daily


def simulate(returns: pd.DataFrame | pd.Series, weights=None, config: MonteCarloConfig | None = None,
             *, keep_simulations: bool = False, now: dt.datetime | None = None, progress: bool = False
             ) -> MonteCarloResult:
    """Run a Monte Carlo simulation of holding-period portfolio returns.

    Parameters
    ----------
    returns : DataFrame (dates x assets) or Series
        Daily **simple** returns (fractions), oldest first; NaN refused. The
        last ``lookback_days`` rows are used.
    weights : mapping asset -> weight, optional
        Portfolio weights (must name columns of ``returns``); equal weights if
        omitted. A Series input is the portfolio itself (weights ignored).
    config : MonteCarloConfig
    keep_simulations : bool
        Keep the simulated holding-period returns in ``result.simulated``.

    Returns
    -------
    MonteCarloResult
        Raises :class:`InputError` (fail-closed) when fewer than
        ``min_samples`` returns are available.
    """
    cfg = config or MonteCarloConfig()
    frame = returns.to_frame("portfolio") if isinstance(returns, pd.Series) else returns
    frame = check_frame(frame.astype(float))
    if isinstance(returns, pd.Series):
        w = np.ones(1)
    elif weights is None:
        w = np.full(frame.shape[1], 1.0 / frame.shape[1])
    else:
        w = _weights_vector(weights, frame.columns)
    window = frame.iloc[-cfg.lookback_days:]
    n_samples = window.shape[0]
    if n_samples < cfg.min_samples:
        raise InputError(f"only {n_samples} return observations, fewer than min_samples={cfg.min_samples}: "
                         "refusing to simulate (fail-closed)", where="Monte Carlo input",
                         fix="provide a longer history or lower --min-samples deliberately")
    check_memory(cfg, frame.shape[1] if cfg.mode == "asset_multivariate" else 1)
    values = window.to_numpy(dtype=float)
    if cfg.mode == "portfolio_univariate":
        sample, w_sim = values @ w, None
    else:
        sample, w_sim = values, w
    if cfg.return_type == "log":
        if np.any(sample <= -1.0):
            raise InputError("a return <= -100 % has no log return", where="Monte Carlo input",
                             fix="use --return-type simple")
        sample = np.log1p(sample)
    sampler = _Sampler(sample, cfg)

    entropy = cfg.seed if cfg.seed != 0 else secrets.randbits(63)
    n_sims = cfg.num_simulations
    out = np.empty(n_sims)
    n_blocks = -(-n_sims // RNG_BLOCK)
    blocks_per_chunk = max(1, cfg.chunk_size // RNG_BLOCK)
    chunk_starts = range(0, n_blocks, blocks_per_chunk)
    if progress:
        from tqdm import tqdm
        chunk_starts = tqdm(chunk_starts, desc="Monte Carlo", unit="chunk")
    with _single_threaded_blas():
        _run_chunks(chunk_starts, blocks_per_chunk, n_blocks, n_sims, entropy, sampler, cfg, w_sim, out)

    srt = np.sort(out)
    var, cvar = {}, {}
    for c in sorted(set(cfg.confidence_levels) | {0.95, 0.99}):
        v, cv = historical_tail(srt, c, "seed")
        var[f"{c:g}"], cvar[f"{c:g}"] = v, cv
    now = now or dt.datetime.now(dt.timezone.utc)
    config_out = cfg.model_dump()
    config_out.pop("chunk_size")
    config_out.update(entropy=int(entropy), estimated_dof=sampler.dof, rng_block=RNG_BLOCK)
    return MonteCarloResult(
        run_id=_new_run_id(now), run_date=now.date().isoformat(), config=config_out,
        input_sample_count=int(n_samples), mean_return=float(out.mean()),
        std_dev=float(out.std(ddof=1)) if n_sims > 1 else 0.0,
        var_95=var["0.95"], var_99=var["0.99"], cvar_95=cvar["0.95"], cvar_99=cvar["0.99"],
        percentiles={p: float(v) for p, v in zip(PERCENTILES, np.percentile(srt, PERCENTILES))},
        n_assets=int(frame.shape[1]), method_label=METHOD_LABELS[cfg.method],
        var=var, cvar=cvar, simulated=out if keep_simulations else None)
