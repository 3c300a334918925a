"""A deterministic SYNTHETIC Korean fund universe that mirrors the paper's data.

The paper (2,585 Korean public funds, weekly, 2016-06-24..2022-12-31) used
proprietary data; this generator reproduces its published structure so the
whole pipeline can run anywhere. Every number below is an assumption chosen to
match the paper's Table 1 and Table 3, not an observation.

How a universe is generated (``make_synthetic_universe``):

1. **Dates**: weekly Fridays (W-FRI) from 2016-06-24 to 2022-12-30 (341 weeks).
2. **Market factors**: four standardised factors (domestic equity, overseas
   equity, domestic bond, overseas bond) and a money-market factor, each a
   GARCH(1,1) process (alpha=0.15, beta=0.82 for equities; 0.12/0.85 for bonds)
   driven by correlated Student-t(7) innovations (domestic/overseas equity
   correlation 0.55, equity/bond about -0.1). 52 burn-in weeks are discarded.
3. **COVID-like shock**: in the weeks of 2020-03-01..2020-04-30 the factor shocks
   are scaled (x3 equities, x2 overseas bonds, x1.5 domestic bonds; fund
   tracking noise x1.5), decaying back to x1 after the window with a half-life
   of 6 weeks;
   equities fall in March (-3 unconditional standard deviations a week for
   three weeks) and partly rebound in April (+1.5 a week).
4. **One benchmark per fund type**: a fixed mix of factors (e.g. domestic mixed
   = 0.4 domestic equity + 0.6 domestic bond), rescaled so that its realised
   annualised std over the window equals the type level of Table 3 (percent):
   overseas equity 17.86, domestic equity 21.26, domestic ETF 11.05, overseas
   mixed 9.55, overseas ETF 13.06, domestic mixed 7.49, overseas bond 6.17,
   domestic bond 1.16, MMF 0.0117; plus a drift (``annual_drift_pct``).
5. **Funds**: ``r_i = (1 - beta_i) mu_k + alpha_i + beta_i b_k + te_i z_i`` where
   ``b_k`` is the type benchmark (drift ``mu_k``), ``z_i`` a unit-variance
   GARCH(1,1) tracking noise (x1.5 in the COVID window, decaying after), ``beta_i = rho_i d_i``
   and ``te_i = sqrt(1 - rho_i^2) d_i sigma_k``. ``d_i`` is the fund's
   volatility multiple: stratified lognormal quantiles with mean exactly 1
   inside each type (dispersion ``vol_dispersion``), so type means stay at the
   Table 3 level while grades vary within and across types. ``rho_i`` (the
   correlation with the benchmark) is uniform in the type's range, ``alpha_i``
   normal with an annual information ratio of sd 0.25.
6. **Type shares** (``share``): a rough split of a Korean public-fund universe
   by count (assumption); every type gets at least one fund when
   ``n_funds >= 9`` (largest-remainder allocation). Types are shuffled over ids.
7. **Inception**: 80 % of funds before the window (uniform 2005-01-01..
   2016-06-23; their returns start on 2016-06-24), 20 % inside it but with at
   least 156 weekly returns by 2022-12-30 (the paper's selection). Returns are
   NaN up to and including the inception date.
8. **Settlement**: annual, on the inception anniversary (month, day capped at 28).
9. **Disclosed grade**: the Table 1 grade of the annualised std (ddof=1,
   x sqrt(52)) of the 156 weekly returns up to the fund's 2022 settlement date;
   ``<NA>`` when the fund has fewer than 156 returns by then (its real grade
   would come from its asset class, which is not simulated). About 3 % of the
   graded funds (at least one when n_funds >= 30) keep a deliberately STALE
   grade: the one of their 2021 settlement, chosen among funds whose grade
   changed. Their ids are in ``panel.notes["stale_disclosed_grade"]``.
10. **Daily returns** (``frequency="daily"`` only; the weekly returns above are unchanged): each
    week's log return ``L`` is split over its five business days Monday..Friday as
    ``L / 5 + s (e_j - mean(e))`` with Student-t(7) unit-variance ``e_j`` and
    ``s = sd_i x shock / sqrt(5)`` (``sd_i`` the fund's weekly std, ``shock`` the COVID multiplier
    of step 3), from a separate random stream (``SeedSequence(seed).spawn``). The five days
    compound exactly to the weekly return, so the weekly series IS the W-FRI resample of the
    daily one (``weekly_returns_from_daily_returns``); no holidays are simulated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from qmtl_research.conventions import WEEKS_PER_YEAR
from qmtl_research.grades import GRADE_WINDOW_WEEKS, annualised_std_pct, load_grade_table
from qmtl_research.data.panel import METADATA_COLUMNS, FundPanel
from qmtl_research.errors import InputError

SOURCE = "synthetic Korean fund universe"
DEFAULT_SEED = 20230831
DEFAULT_START = "2016-06-24"
DEFAULT_END = "2022-12-31"
COVID_WINDOW = ("2020-03-01", "2020-04-30")

FACTORS = ("domestic_equity", "overseas_equity", "domestic_bond", "overseas_bond", "money_market")
_FACTOR_CORR = np.array([
    # dEq    oEq    dBd    oBd    mm
    [1.00, 0.55, -0.15, 0.05, 0.0],
    [0.55, 1.00, -0.10, 0.20, 0.0],
    [-0.15, -0.10, 1.00, 0.40, 0.0],
    [0.05, 0.20, 0.40, 1.00, 0.0],
    [0.0, 0.0, 0.0, 0.0, 1.00],
])
_FACTOR_GARCH = np.array([(0.15, 0.82), (0.15, 0.82), (0.12, 0.85), (0.12, 0.85), (0.05, 0.90)])
_FACTOR_COVID_SCALE = np.array([3.0, 3.0, 1.5, 2.0, 1.0])
_T_DOF = 7


@dataclass(frozen=True)
class FundType:
    """One fund type of the paper's Table 3 and how it is simulated."""

    code: str
    name: str                 # English name (metadata ``fund_type``)
    name_ko: str              # Korean name (metadata ``fund_type_ko``)
    vol_pct: float            # Table 3 annualised std, percent
    share: float              # share of funds by count (assumption)
    vol_dispersion: float     # lognormal sigma of the fund volatility multiple
    rho_range: tuple[float, float]  # correlation of fund with its benchmark
    annual_drift_pct: float   # benchmark drift, percent a year
    factor_weights: tuple[float, float, float, float, float]  # on FACTORS

    @property
    def benchmark_id(self) -> str:
        return f"BM_{self.code}"


FUND_TYPES: tuple[FundType, ...] = (
    FundType("OVS_EQ", "overseas equity", "해외주식형", 17.86, 0.16, 0.25, (0.85, 0.98), 8.0, (0.2, 1.0, 0, 0, 0)),
    FundType("DOM_EQ", "domestic equity", "국내주식형", 21.26, 0.17, 0.25, (0.85, 0.98), 5.0, (1.0, 0, 0, 0, 0)),
    FundType("DOM_ETF", "domestic ETF", "국내ETF", 11.05, 0.14, 0.45, (0.90, 0.995), 4.0, (0.7, 0, 0.3, 0, 0)),
    FundType("OVS_MIX", "overseas mixed", "해외혼합형", 9.55, 0.08, 0.30, (0.75, 0.95), 4.0, (0, 0.5, 0, 0.5, 0)),
    FundType("OVS_ETF", "overseas ETF", "해외ETF", 13.06, 0.08, 0.40, (0.90, 0.995), 6.0, (0, 0.7, 0, 0.3, 0)),
    FundType("DOM_MIX", "domestic mixed", "국내혼합형", 7.49, 0.14, 0.30, (0.75, 0.95), 3.0, (0.4, 0, 0.6, 0, 0)),
    FundType("OVS_BOND", "overseas bond", "해외채권형", 6.17, 0.06, 0.35, (0.60, 0.90), 2.5, (0, 0.1, 0.2, 1.0, 0)),
    FundType("DOM_BOND", "domestic bond", "국내채권형", 1.16, 0.12, 0.50, (0.60, 0.90), 2.0, (0, 0, 1.0, 0, 0)),
    FundType("MMF", "MMF", "MMF", 0.0117, 0.05, 0.50, (0.30, 0.70), 1.4, (0, 0, 0, 0, 1.0)),
)
FUND_TYPE_BY_NAME = {t.name: t for t in FUND_TYPES}

_LATE_INCEPTION_SHARE = 0.20
_STALE_SHARE = 0.03
_BURN_IN = 52
_SHOCK_HALF_LIFE_WEEKS = 6.0
_NOISE_COVID_SCALE = 1.5


def weekly_fridays(start: str = DEFAULT_START, end: str = DEFAULT_END) -> pd.DatetimeIndex:
    """Week-ending Fridays (W-FRI) in ``[start, end]``, named ``date``."""
    return pd.date_range(start, end, freq="W-FRI", name="date").as_unit("us")


def _allocate_types(n_funds: int) -> np.ndarray:
    """Fund count per type by largest remainder of ``share``; >= 1 each if n >= 9."""
    shares = np.array([t.share for t in FUND_TYPES])
    k = len(FUND_TYPES)
    base = np.ones(k, dtype=int) if n_funds >= k else np.zeros(k, dtype=int)
    rest = n_funds - base.sum()
    raw = shares / shares.sum() * rest
    counts = base + np.floor(raw).astype(int)
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    counts[order[: n_funds - counts.sum()]] += 1
    return counts


def _student_t(rng: np.random.Generator, shape) -> np.ndarray:
    """Unit-variance Student-t(7) draws."""
    return rng.standard_t(_T_DOF, size=shape) / np.sqrt(_T_DOF / (_T_DOF - 2))


def _garch_paths(z: np.ndarray, alpha: np.ndarray, beta: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """GARCH(1,1) shocks with unit unconditional variance, vectorised over columns.

    ``u_t = sqrt(h_t) z_t``, ``h_t = (1 - alpha - beta) + alpha u_{t-1}^2 + beta h_{t-1}``,
    output ``e_t = scale_t * u_t``: the shock multiplier scales the output (it
    does not feed the recursion, which would explode). ``z``: (T, N);
    ``scale``: (T, N) or (T, 1).
    """
    T, N = z.shape
    omega = 1.0 - alpha - beta
    h = np.ones(N)
    u_prev = np.zeros(N)
    out = np.empty((T, N))
    for t in range(T):
        h = omega + alpha * u_prev ** 2 + beta * h
        u_prev = np.sqrt(h) * z[t]
        out[t] = scale[t] * u_prev
    return out


def _shock_profile(dates: pd.DatetimeIndex, peak: float) -> np.ndarray:
    """Volatility multiplier: ``peak`` inside the COVID window, decaying back to 1
    afterwards with a half-life of ``_SHOCK_HALF_LIFE_WEEKS``."""
    start, end = pd.Timestamp(COVID_WINDOW[0]), pd.Timestamp(COVID_WINDOW[1])
    weeks_after = np.clip((dates - end).days.to_numpy() / 7.0, 0, None)
    decay = 0.5 ** (weeks_after / _SHOCK_HALF_LIFE_WEEKS)
    return np.where(dates < start, 1.0, 1.0 + (peak - 1.0) * decay)


def _standardise(x: np.ndarray) -> np.ndarray:
    """Columns rescaled to realised std 1 (ddof=1) and mean 0 over the window."""
    return (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)


def _stratified_multiples(n: int, sigma: float) -> np.ndarray:
    """Lognormal volatility multiples at stratified quantiles, mean exactly 1."""
    if n <= 1:
        return np.ones(n)
    q = (np.arange(n) + 0.5) / n
    d = np.exp(sigma * norm.ppf(q))
    return d / d.mean()


def daily_from_weekly(weekly: pd.DataFrame, seed: int, shock: np.ndarray | None = None) -> pd.DataFrame:
    """Daily simple returns (Monday..Friday) that compound exactly to each weekly return (step 10
    of the module docstring). ``weekly``: W-FRI simple returns (NaN before inception);
    ``shock``: per-week volatility multiplier (default 1). Same seed, same days."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    w = weekly.to_numpy(dtype=float)
    T, N = w.shape
    log_w = np.log1p(w)
    sd = np.nanstd(w, axis=0, ddof=1)
    mult = np.ones(T) if shock is None else np.asarray(shock, dtype=float)
    e = _student_t(rng, (T, 5, N))
    e -= e.mean(axis=1, keepdims=True)
    days = log_w[:, None, :] / 5.0 + (mult[:, None, None] * sd[None, None, :] / np.sqrt(5.0)) * e
    offsets = pd.to_timedelta(np.arange(-4, 1), "D")                      # Monday .. Friday
    dates = pd.DatetimeIndex((weekly.index.values[:, None] + offsets.values[None, :]).ravel(), name="date").as_unit("us")
    daily = pd.DataFrame(np.expm1(days.reshape(T * 5, N)), index=dates, columns=weekly.columns)
    return daily


def make_synthetic_universe(n_funds: int = 60, seed: int = DEFAULT_SEED,
                            start: str = DEFAULT_START, end: str = DEFAULT_END,
                            frequency: str = "weekly") -> FundPanel:
    """Generate the synthetic Korean fund universe (see the module docstring).

    Parameters
    ----------
    n_funds : int
        Number of funds (2585 = the paper's scale). Ids ``SYN0001``...
    seed : int
        Seed of ``numpy.random.default_rng``; same seed and arguments give the
        identical panel.
    start, end : str
        Window; weekly returns are dated on the Fridays inside it. The window
        must hold more than 156 weeks (grades need 156 weekly returns).
    frequency : {"weekly", "daily"}
        ``"daily"`` adds ``panel.daily`` (step 10 of the module docstring); the weekly
        returns are the same for both.

    Returns
    -------
    FundPanel
        ``synthetic=True``, source ``"synthetic Korean fund universe"``; weekly
        simple returns (fractions); metadata with the extra column
        ``fund_type_ko``; one benchmark per fund type (``BM_<TYPE>``).
    """
    if frequency not in ("weekly", "daily"):
        raise InputError(f"unknown frequency {frequency!r}", where="make_synthetic_universe(frequency=...)",
                         fix="use weekly or daily")
    if int(n_funds) < 1:
        raise InputError(f"n_funds must be at least 1, got {n_funds}", where="make_synthetic_universe(n_funds=...)",
                         fix="pass a positive number of funds (2585 = paper scale)")
    n_funds = int(n_funds)
    dates = weekly_fridays(start, end)
    if len(dates) <= GRADE_WINDOW_WEEKS:
        raise InputError(f"the window {start}..{end} holds {len(dates)} weeks; at least "
                         f"{GRADE_WINDOW_WEEKS + 1} are needed", where="make_synthetic_universe(start, end)",
                         fix="widen the window")
    rng = np.random.default_rng(seed)
    T_all = len(dates) + _BURN_IN
    covid = (dates >= COVID_WINDOW[0]) & (dates <= COVID_WINDOW[1])

    # --- market factors: correlated t innovations -> GARCH(1,1) with the COVID shock
    chol = np.linalg.cholesky(_FACTOR_CORR)
    z = _student_t(rng, (T_all, len(FACTORS))) @ chol.T
    scale = np.vstack([np.ones((_BURN_IN, len(FACTORS))),
                       np.column_stack([_shock_profile(dates, peak) for peak in _FACTOR_COVID_SCALE])])
    f = _garch_paths(z, _FACTOR_GARCH[:, 0], _FACTOR_GARCH[:, 1], scale)[_BURN_IN:]
    march = np.flatnonzero(covid & (dates.month == 3))[:3]
    april = np.flatnonzero(covid & (dates.month == 4))
    f[march, :2] -= 3.0      # crash: -3 unconditional sd a week for three March weeks
    f[april, :2] += 1.5      # partial rebound in April
    f = _standardise(f)

    # --- one benchmark per type, realised std = Table 3 level
    weights = np.array([t.factor_weights for t in FUND_TYPES], dtype=float)      # (K, F)
    sigma_k = np.array([t.vol_pct for t in FUND_TYPES]) / 100.0 / np.sqrt(52.0)  # weekly
    mu_k = np.array([t.annual_drift_pct for t in FUND_TYPES]) / 100.0 / WEEKS_PER_YEAR
    bench_std = _standardise(f @ weights.T)                                        # (T, K)
    bench = mu_k + sigma_k * bench_std

    # --- funds: type, volatility multiple, correlation, alpha
    counts = _allocate_types(n_funds)
    type_idx = rng.permutation(np.repeat(np.arange(len(FUND_TYPES)), counts))
    d = np.empty(n_funds)
    for k, ftype in enumerate(FUND_TYPES):
        members = np.flatnonzero(type_idx == k)
        d[members] = rng.permutation(_stratified_multiples(len(members), ftype.vol_dispersion))
    lo = np.array([FUND_TYPES[k].rho_range[0] for k in type_idx])
    hi = np.array([FUND_TYPES[k].rho_range[1] for k in type_idx])
    rho = rng.uniform(lo, hi)
    beta = rho * d
    te = np.sqrt(1.0 - rho ** 2) * d * sigma_k[type_idx]
    # weekly alpha; annual IR = 52 alpha / (sqrt(52) te) = sqrt(52) alpha / te has sd 0.25
    alpha = 0.25 * te / np.sqrt(WEEKS_PER_YEAR) * rng.standard_normal(n_funds)

    a_i = rng.uniform(0.05, 0.12, n_funds)
    b_i = np.minimum(rng.uniform(0.80, 0.90, n_funds), 0.97 - a_i)
    zi = _student_t(rng, (T_all, n_funds))
    noise_scale = np.r_[np.ones(_BURN_IN), _shock_profile(dates, _NOISE_COVID_SCALE)][:, None]
    noise = _standardise(_garch_paths(zi, a_i, b_i, noise_scale)[_BURN_IN:])
    returns = ((1.0 - beta) * mu_k[type_idx] + alpha) + beta * bench[:, type_idx] + te * noise

    # --- inception dates (>= 156 weekly returns by the end of the window)
    late = rng.random(n_funds) < _LATE_INCEPTION_SHARE
    early_hi = dates[0] - pd.Timedelta(days=1)
    # funds launched before the window: from 2005 (the default window) or 10 years before an earlier window
    early_lo = min(pd.Timestamp("2005-01-01"), dates[0] - pd.DateOffset(years=10))
    late_lo, late_hi = dates[0], dates[-GRADE_WINDOW_WEEKS] - pd.Timedelta(days=1)
    early_days = rng.integers(0, (early_hi - early_lo).days + 1, n_funds)
    late_days = rng.integers(0, (late_hi - late_lo).days + 1, n_funds)
    inception = np.where(late, (late_lo + pd.to_timedelta(late_days, "D")).values,
                         (early_lo + pd.to_timedelta(early_days, "D")).values)
    inception = pd.DatetimeIndex(inception).as_unit("us")
    returns[dates.values[:, None] <= inception.values[None, :]] = np.nan

    settle_month = inception.month.to_numpy().astype(np.int64)
    settle_day = np.minimum(inception.day.to_numpy(), 28).astype(np.int64)

    # --- disclosed grade at the 2022 settlement; a few stale ones (2021 grade)
    end_year = dates[-1].year
    grade_now = _settlement_grades(returns, dates, end_year, settle_month, settle_day)
    grade_prev = _settlement_grades(returns, dates, end_year - 1, settle_month, settle_day)
    disclosed = grade_now.copy()
    graded = np.flatnonzero(~np.isnan(grade_now))
    n_stale = int(round(_STALE_SHARE * len(graded))) if n_funds >= 30 else 0
    n_stale = max(n_stale, 1) if n_funds >= 30 else 0
    changed = graded[~np.isnan(grade_prev[graded]) & (grade_prev[graded] != grade_now[graded])]
    stale = np.sort(rng.choice(changed, size=min(n_stale, len(changed)), replace=False)) if len(changed) else []
    disclosed[stale] = grade_prev[stale]

    fund_ids = [f"SYN{i + 1:04d}" for i in range(n_funds)]
    types = [FUND_TYPES[k] for k in type_idx]
    metadata = pd.DataFrame({
        "name": [f"Synthetic {t.name} fund {fid[3:]}" for fid, t in zip(fund_ids, types)],
        "fund_type": [t.name for t in types],
        "benchmark": [t.benchmark_id for t in types],
        "inception_date": inception,
        "settlement_month": settle_month,
        "settlement_day": settle_day,
        "disclosed_grade": pd.array(np.where(np.isnan(disclosed), pd.NA, disclosed), dtype="Int64"),
        "fund_type_ko": [t.name_ko for t in types],
    }, index=pd.Index(fund_ids, name="fund_id", dtype="str"))
    metadata = metadata[list(METADATA_COLUMNS) + ["fund_type_ko"]]
    returns_df = pd.DataFrame(returns, index=dates, columns=pd.Index(fund_ids, name="fund_id", dtype="str"))
    bench_df = pd.DataFrame(bench, index=dates,
                            columns=pd.Index([t.benchmark_id for t in FUND_TYPES], name="benchmark", dtype="str"))
    notes = {
        "seed": int(seed),
        "n_funds": n_funds,
        "window": f"{dates[0].date()}..{dates[-1].date()}",
        "stale_disclosed_grade": [fund_ids[i] for i in stale],
        "disclosed_grade_rule": (f"Table 1 grade of the 156 weekly returns up to the {end_year} settlement; "
                                 f"stale ids keep their {end_year - 1} grade; <NA> with < 156 returns"),
        "type_levels_pct": {t.name: t.vol_pct for t in FUND_TYPES},
    }
    daily = None
    if frequency == "daily":
        daily = daily_from_weekly(returns_df, seed, _shock_profile(dates, _NOISE_COVID_SCALE))
        notes["frequency"] = "daily"
        notes["resampled"] = "weekly = the compounded five generated business days of each week (step 10)"
    return FundPanel(returns_df, metadata, bench_df, source=SOURCE, synthetic=True, notes=notes, daily=daily)


def _settlement_grades(returns: np.ndarray, dates: pd.DatetimeIndex, year: int,
                       month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Table 1 grade per fund of the 156 weekly returns up to its settlement in ``year``
    (NaN when any of those 156 is missing or the window starts before the data)."""
    settle = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day})).values
    last = np.searchsorted(dates.values, settle, side="right") - 1          # last date <= settlement
    rows = last[:, None] + np.arange(-GRADE_WINDOW_WEEKS + 1, 1)[None, :]     # (N, 156)
    ok = rows[:, 0] >= 0
    window = returns[np.clip(rows, 0, None), np.arange(returns.shape[1])[:, None]]  # (N, 156)
    std = annualised_std_pct(window, axis=1)
    std[~ok | np.isnan(window).any(axis=1)] = np.nan
    return load_grade_table().grade_of(std)
