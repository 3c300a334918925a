"""Portfolios of the audit layer: weights (validated), and the data they are measured on.

Two sources:

* ``audit_demo`` - the seed's sample portfolio: ten Korean large caps, equal
  weight, on **SYNTHETIC** daily data (labelled so everywhere). The generator
  is deterministic: a market factor plus size/value/momentum factors with
  GARCH(1,1)-type volatility, Student-t shocks, per-stock betas and
  idiosyncratic noise, and stress regimes placed in the historical-scenario
  windows (2008-09..2009-03, 2020-02..2020-03, 2022) so stress replays have
  something to replay. Benchmark: a synthetic "KOSPI" (the market factor).
  Calibrated to look like a Korean large-cap portfolio 2007-2024 (about 3-4 %
  a year, 22 % volatility, a GFC drawdown near 55 %), not to pass any policy.
* ``real`` - skfolio's bundled S&P 500 constituents (20 stocks, adjusted
  close, daily 1990-2022, marked by skfolio "for testing and example
  purposes"), the S&P 500 index as benchmark and skfolio's factor ETFs (MTUM
  QUAL SIZE USMV VLUE, from 2014) as attribution factors. Returns are daily
  simple returns of adjusted closes.

Portfolio returns are ``asset_returns @ weights``: constant weights,
rebalanced every day (documented simplification).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qmtl_research.errors import ConfigError, InputError

WEIGHT_TOLERANCE = 1e-6

#: the seed's sample portfolio (code -> name)
DEMO_STOCKS: dict[str, str] = {
    "005930": "Samsung Electronics (삼성전자)",
    "000660": "SK hynix (SK하이닉스)",
    "035420": "NAVER",
    "035720": "Kakao (카카오)",
    "051910": "LG Chem (LG화학)",
    "006400": "Samsung SDI (삼성SDI)",
    "005380": "Hyundai Motor (현대차)",
    "000270": "Kia (기아)",
    "068270": "Celltrion (셀트리온)",
    "105560": "KB Financial (KB금융)",
}
DEMO_WEIGHTS = {code: 0.10 for code in DEMO_STOCKS}
SKFOLIO_STOCKS = ("AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO", "LLY", "MRK", "MSFT",
                  "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM")
SKFOLIO_FACTORS = ("MTUM", "QUAL", "SIZE", "USMV", "VLUE")


class PortfolioSpec(BaseModel):
    """The ``portfolio:`` block of a strategy file.

    ``weights`` map asset -> fraction of value; they must be finite, sum to 1
    (within 1e-6) and name assets of the data source (checked on load);
    ``equal_weight: true`` with ``assets`` builds equal weights instead.
    """

    model_config = ConfigDict(extra="forbid")

    portfolio_id: str = "main"
    weights: dict[str, float] | None = None
    assets: list[str] | None = None
    equal_weight: bool = False
    allow_short: bool = False
    benchmark: str | None = None
    factors: list[str] | None = None
    portfolio_value: float = Field(100_000_000.0, gt=0, description="currency units, for loss amounts")
    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _weights_ok(self) -> "PortfolioSpec":
        if self.weights is None:
            if not (self.equal_weight and self.assets):
                raise ValueError("give 'weights', or 'equal_weight: true' with 'assets'")
            if len(set(self.assets)) != len(self.assets):
                raise ValueError("'assets' has duplicates")
            self.weights = {a: 1.0 / len(self.assets) for a in self.assets}
        elif self.equal_weight:
            raise ValueError("give either 'weights' or 'equal_weight', not both")
        validate_weights(self.weights, allow_short=self.allow_short)
        return self


def validate_weights(weights: dict[str, float], available=None, *, allow_short: bool = False,
                     where: str = "portfolio.weights") -> pd.Series:
    """Check weights: non-empty, finite, (non-negative unless ``allow_short``),
    sum to 1 within :data:`WEIGHT_TOLERANCE`, assets among ``available``.
    Returns them as a Series; raises :class:`InputError`."""
    if not weights:
        raise InputError("no weights given", where=where)
    w = pd.Series(weights, dtype=float)
    if not np.isfinite(w.to_numpy()).all():
        raise InputError("weights must be finite numbers", where=where)
    if not allow_short and (w < 0).any():
        raise InputError(f"negative weights for {', '.join(w.index[w < 0])}", where=where,
                         fix="set allow_short: true for long-short portfolios")
    total = float(w.sum())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise InputError(f"weights sum to {total:.6f}, not 1", where=where, fix="rescale the weights so they sum to 1")
    if available is not None:
        unknown = sorted(set(w.index) - set(available))
        if unknown:
            raise InputError(f"unknown asset(s): {', '.join(unknown)}", where=where,
                             fix=f"use assets among: {', '.join(sorted(map(str, available)))}")
    return w


def parse_spec(block: dict | None, where: str = "portfolio") -> PortfolioSpec:
    """Validate a strategy's ``portfolio:`` block (pydantic errors -> ConfigError)."""
    if block is None:
        raise ConfigError("the strategy has no 'portfolio' block", where=where,
                          fix="add portfolio: {weights: {...}} or {equal_weight: true, assets: [...]}")
    try:
        return PortfolioSpec(**block)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "portfolio"
        raise ConfigError(f"invalid portfolio: {err['msg']}", where=f"{where}.{loc}".rstrip("."),
                          fix="weights must be finite and sum to 1") from None
    except InputError as exc:
        raise ConfigError(exc.what, where=where, fix=exc.fix) from None


@dataclass(frozen=True)
class PortfolioData:
    """A portfolio and its daily data (simple returns as fractions)."""

    asset_returns: pd.DataFrame
    weights: pd.Series
    benchmark_returns: pd.Series | None
    factor_returns: pd.DataFrame | None
    names: dict[str, str]
    source: str
    synthetic: bool
    portfolio_id: str = "main"
    portfolio_value: float = 100_000_000.0
    notes: dict = field(default_factory=dict)

    @property
    def portfolio_returns(self) -> pd.Series:
        """Daily returns of the constant-weight (daily-rebalanced) portfolio."""
        r = self.asset_returns[list(self.weights.index)].to_numpy() @ self.weights.to_numpy()
        return pd.Series(r, index=self.asset_returns.index, name=self.portfolio_id)

    def label(self) -> str:
        return f"{self.source} ({'SYNTHETIC' if self.synthetic else 'real'} data)"


# ------------------------------------------------------------- synthetic demo
@lru_cache(maxsize=4)
def _demo_frames(start: str, end: str, seed: int):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, end, name="date")
    n = dates.size
    k = 4                                            # market, size, value, momentum
    daily_vol = np.array([0.012, 0.005, 0.004, 0.006])
    drift = np.array([0.0004, 0.00005, 0.00003, 0.00008])   # market ~10 % p.a. before volatility drag
    omega, alpha, beta = 0.03, 0.08, 0.89            # GARCH(1,1) on unit variance
    shocks = rng.standard_t(5, size=(n, k)) / np.sqrt(5 / 3)
    h = np.ones(k)
    f = np.empty((n, k))
    stress = np.zeros(n)
    for a, b, m in (("2008-09-01", "2009-03-31", -0.0025), ("2020-02-15", "2020-03-31", -0.006),
                    ("2022-01-01", "2022-12-31", -0.0009)):
        stress[(dates >= a) & (dates <= b)] = m
    amplify = np.where(stress < 0, 2.5, 1.0)          # market volatility x2.5 in stress windows
    for t in range(n):
        z = shocks[t]
        f[t] = drift + daily_vol * np.sqrt(h) * z
        f[t, 0] = drift[0] + stress[t] + daily_vol[0] * np.sqrt(h[0]) * z[0] * amplify[t]
        h = omega + alpha * z ** 2 * h + beta * h
    factors = pd.DataFrame(f, index=dates, columns=["MKT", "SIZE", "VALUE", "MOMENTUM"])
    codes = list(DEMO_STOCKS)
    betas = np.column_stack([rng.uniform(0.7, 1.4, 10), rng.uniform(-0.5, 0.8, 10),
                             rng.uniform(-0.6, 0.6, 10), rng.uniform(-0.4, 0.7, 10)])
    idio = rng.standard_t(4, size=(n, 10)) / np.sqrt(2) * rng.uniform(0.008, 0.018, 10)
    assets = pd.DataFrame(f @ betas.T + idio, index=dates, columns=codes).clip(lower=-0.3)
    bench = factors["MKT"].rename("KOSPI (synthetic)")
    return assets, bench, factors


def demo_portfolio(start: str = "2007-01-02", end: str = "2024-12-31", seed: int = 20260111,
                   weights: dict[str, float] | None = None, portfolio_value: float = 100_000_000.0
                   ) -> PortfolioData:
    """The seed's 10-stock equal-weight sample portfolio on SYNTHETIC daily data."""
    assets, bench, factors = _demo_frames(start, end, seed)
    w = validate_weights(weights or DEMO_WEIGHTS, assets.columns)
    return PortfolioData(assets.copy(), w, bench.copy(), factors.copy(), dict(DEMO_STOCKS),
                         "audit demo: seed sample portfolio, synthetic daily data", True, "demo",
                         portfolio_value, {"seed": seed, "generator": "qmtl_research.data.portfolio.demo_portfolio"})


# ------------------------------------------------------------------ real data
@lru_cache(maxsize=1)
def _skfolio_frames():
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset, load_sp500_index

    prices = load_sp500_dataset()
    index = load_sp500_index()
    factors = load_factors_dataset()
    to_ret = lambda p: p.sort_index().pct_change().iloc[1:]  # noqa: E731
    assets = to_ret(prices)
    assets.index = pd.DatetimeIndex(assets.index.astype("datetime64[ns]"), name="date")
    bench = to_ret(index)["SP500"].rename("S&P 500")
    bench.index = assets.index if bench.index.equals(prices.index[1:]) else pd.DatetimeIndex(
        bench.index.astype("datetime64[ns]"), name="date")
    fac = to_ret(factors)
    fac.index = pd.DatetimeIndex(fac.index.astype("datetime64[ns]"), name="date")
    return assets, bench, fac


def real_portfolio(weights: dict[str, float] | None = None, start: str | None = "2005-01-03",
                   end: str | None = None, portfolio_id: str = "real",
                   portfolio_value: float = 100_000_000.0) -> PortfolioData:
    """A portfolio of skfolio's 20 real S&P 500 stocks (equal weight by default)
    vs the S&P 500 index, with the factor ETFs for attribution."""
    assets, bench, fac = _skfolio_frames()
    w = validate_weights(weights or {s: 1.0 / len(SKFOLIO_STOCKS) for s in SKFOLIO_STOCKS}, assets.columns)
    sl = slice(pd.Timestamp(start) if start else None, pd.Timestamp(end) if end else None)
    a = assets.loc[sl, list(w.index)]
    if a.shape[0] < 2:
        raise InputError(f"no data between {start} and {end}", where="portfolio.start/end",
                         fix="skfolio's data covers 1990-01-02..2022-12-28")
    return PortfolioData(a.copy(), w, bench.loc[sl].reindex(a.index).copy(), fac.loc[sl].copy(),
                         {s: s for s in w.index}, "skfolio S&P 500 constituents (real, testing/example data)",
                         False, portfolio_id, portfolio_value, {"benchmark": "S&P 500 index (skfolio)"})


def load_portfolio(strategy) -> PortfolioData:
    """The PortfolioData of a strategy (``StrategyConfig`` or its name)."""
    if isinstance(strategy, str):
        from qmtl_research.config import load_strategy
        strategy = load_strategy(strategy)
    where = f"strategy {strategy.strategy_id}: portfolio"
    source = strategy.universe.source
    if source == "audit_demo":
        spec = parse_spec(strategy.portfolio or {"weights": DEMO_WEIGHTS, "portfolio_id": "demo"}, where)
        try:
            return demo_portfolio(start=spec.start or "2007-01-02", end=spec.end or "2024-12-31",
                                  seed=strategy.universe.seed, weights=spec.weights,
                                  portfolio_value=spec.portfolio_value)
        except InputError as exc:
            raise ConfigError(exc.what, where=where, fix=exc.fix) from None
    if source == "real":
        spec = parse_spec(strategy.portfolio, where)
        try:
            return real_portfolio(spec.weights, spec.start or "2005-01-03", spec.end, spec.portfolio_id,
                                  spec.portfolio_value)
        except InputError as exc:
            raise ConfigError(exc.what, where=where, fix=exc.fix) from None
    raise ConfigError(f"universe source {source!r} is not a portfolio source", where=where,
                      fix="use universe.source audit_demo or real with a portfolio block")
