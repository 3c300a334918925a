"""A REAL (not synthetic) universe built offline from data shipped inside installed
packages (no network): weekly over the paper's window 2016-06-24..2022-12-31.

What it holds (``build_real_universe``):

* the 20 US stocks of ``skfolio.datasets.load_sp500_dataset()`` (adjusted
  closes) - fund type "US stock", benchmark S&P 500;
* the S&P 500 index itself (``load_sp500_index()``), fund id ``SPX`` - fund
  type "US equity index", no benchmark (it *is* the benchmark);
* the factor ETFs MTUM, QUAL, SIZE, USMV, VLUE (``load_factors_dataset()``) -
  "US equity factor ETF", benchmark S&P 500;
* four CONSTRUCTED lower-volatility portfolios, labelled as such: equity/cash
  blends ``BLEND_60_40``, ``BLEND_40_60``, ``BLEND_20_80``, ``BLEND_02_98``
  (equity share / cash share, rebalanced weekly). The equity leg is the
  equal-weighted portfolio of the 20 stocks; the cash leg earns the Fama-French
  risk-free rate (``arch.data.frenchdata``, one-month T-bill, percent a month,
  turned into a weekly rate ``(1 + RF_m)^(12/52) - 1`` for the month of the
  week's Friday). **The RF series ends in November 2018**; later weeks use its
  last value (0.18 % a month) held constant - an assumption, not data (real
  T-bill rates fell to about 0 in 2020-2021 and rose in 2022). Each blend's
  benchmark is the same blend with the S&P 500 as equity leg (``BM_BLEND_...``),
  so tracking error and information ratio measure the stock selection.

Weekly returns follow :mod:`qmtl_research.data.resample` (W-FRI, last available
close). The data end on Wednesday 2022-12-28, so the last week (labelled
2022-12-30) runs to that close. Inception dates are the first date of each
series in the bundled dataset (not the listing date); settlement is the
calendar year end (31 December) for all; there is no disclosed grade.

With ``daily=True`` the panel also keeps the **daily** simple returns of every series from the
same closes (``panel.daily``, first day = the Monday of the first week), for the daily grading
measures: stocks, index and ETFs are the close-to-close returns (they compound exactly to the
weekly ones); the blends are rebalanced **daily** with the cash leg ``(1 + RF_m)^(12/252) - 1`` a
day (so they compound to returns close to, not equal to, the weekly-rebalanced weekly blends).
skfolio marks its bundled data "for testing and example purposes".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.data.panel import METADATA_COLUMNS, FundPanel
from qmtl_research.data.resample import weekly_returns_from_prices
from qmtl_research.data.checks import validate_panel

SOURCE = "offline real universe (skfolio S&P 500 stocks, index and factor ETFs; Fama-French RF)"
WINDOW_START = "2016-06-24"
WINDOW_END = "2022-12-31"
INDEX_BENCHMARK = "SP500"
BLENDS = ((60, 40), (40, 60), (20, 80), (2, 98))

STOCK_NAMES = {
    "AAPL": "Apple Inc.", "AMD": "Advanced Micro Devices Inc.", "BAC": "Bank of America Corp.",
    "BBY": "Best Buy Co. Inc.", "CVX": "Chevron Corp.", "GE": "General Electric Co.",
    "HD": "The Home Depot Inc.", "JNJ": "Johnson & Johnson", "JPM": "JPMorgan Chase & Co.",
    "KO": "The Coca-Cola Co.", "LLY": "Eli Lilly and Co.", "MRK": "Merck & Co. Inc.",
    "MSFT": "Microsoft Corp.", "PEP": "PepsiCo Inc.", "PFE": "Pfizer Inc.", "PG": "Procter & Gamble Co.",
    "RRC": "Range Resources Corp.", "UNH": "UnitedHealth Group Inc.", "WMT": "Walmart Inc.",
    "XOM": "Exxon Mobil Corp.",
}
ETF_NAMES = {
    "MTUM": "iShares MSCI USA Momentum Factor ETF", "QUAL": "iShares MSCI USA Quality Factor ETF",
    "SIZE": "iShares MSCI USA Size Factor ETF", "USMV": "iShares MSCI USA Min Vol Factor ETF",
    "VLUE": "iShares MSCI USA Value Factor ETF",
}


def monthly_risk_free() -> pd.Series:
    """Fama-French one-month risk-free rate as a fraction a month, indexed by month start."""
    from arch.data import frenchdata

    ff = frenchdata.load()
    index = pd.to_datetime(pd.Index(ff.index.asi8.astype(str)), format="%Y%m")
    return pd.Series(ff["RF"].to_numpy(dtype=float) / 100.0, index=index, name="RF")


def weekly_cash_returns(dates: pd.DatetimeIndex, rf_monthly: pd.Series | None = None) -> pd.Series:
    """Weekly cash return ``(1 + RF_m)^(12/52) - 1`` of the month of each Friday;
    after the last RF month the last value is held constant (documented above)."""
    rf = monthly_risk_free() if rf_monthly is None else rf_monthly
    months = dates.to_period("M").to_timestamp()
    monthly = rf.reindex(rf.index.union(months.unique())).ffill().reindex(months).to_numpy()
    return pd.Series((1.0 + monthly) ** (12.0 / 52.0) - 1.0, index=dates, name="cash")


def _weekly(prices: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    weekly = weekly_returns_from_prices(prices)
    return weekly.loc[start:end]


def _metadata(rows: list[tuple], inception: pd.DatetimeIndex) -> pd.DataFrame:
    """The funds' metadata frame: ``rows`` of ``(fund_id, name, fund_type, benchmark, ...)``, the
    inception dates, settlement on 31 December (assumed: these series have no settlement date)
    and no disclosed grade."""
    ids = [r[0] for r in rows]
    metadata = pd.DataFrame({
        "name": [r[1] for r in rows], "fund_type": [r[2] for r in rows], "benchmark": [r[3] for r in rows],
        "inception_date": inception.as_unit("us"),
        "settlement_month": np.full(len(ids), 12, dtype=np.int64),
        "settlement_day": np.full(len(ids), 31, dtype=np.int64),
        "disclosed_grade": pd.array([pd.NA] * len(ids), dtype="Int64"),
    }, index=pd.Index(ids, name="fund_id", dtype="str"))[list(METADATA_COLUMNS)]
    for c in ("name", "fund_type", "benchmark"):
        metadata[c] = metadata[c].astype("str")
    return metadata


def build_real_universe(start: str = WINDOW_START, end: str = WINDOW_END, daily: bool = False) -> FundPanel:
    """Build the offline real universe (see the module docstring); ``synthetic=False``;
    ``daily`` adds the daily series."""
    from skfolio import datasets

    stocks_px = datasets.load_sp500_dataset()
    index_px = datasets.load_sp500_index()
    etf_px = datasets.load_factors_dataset()
    firsts = {c: stocks_px[c].first_valid_index() for c in stocks_px.columns}
    firsts.update({c: etf_px[c].first_valid_index() for c in etf_px.columns})
    firsts["SPX"] = index_px[INDEX_BENCHMARK].first_valid_index()

    stocks = _weekly(stocks_px, start, end)
    spx = _weekly(index_px, start, end)[INDEX_BENCHMARK]
    etfs = _weekly(etf_px, start, end).reindex(stocks.index)
    dates = stocks.index
    cash = weekly_cash_returns(dates)
    equal_weight = stocks.mean(axis=1)

    funds = {c: stocks[c] for c in stocks.columns}
    funds["SPX"] = spx
    funds.update({c: etfs[c] for c in etfs.columns})
    bench = {INDEX_BENCHMARK: spx}
    meta_rows = []
    for c in stocks.columns:
        meta_rows.append((c, f"{STOCK_NAMES.get(c, c)} ({c})", "US stock", INDEX_BENCHMARK, firsts[c]))
    meta_rows.append(("SPX", "S&P 500 index", "US equity index", "", firsts["SPX"]))
    for c in etfs.columns:
        meta_rows.append((c, f"{ETF_NAMES.get(c, c)} ({c})", "US equity factor ETF", INDEX_BENCHMARK, firsts[c]))
    blend_start = min(firsts[c] for c in stocks.columns)
    for eq, ca in BLENDS:
        fid = f"BLEND_{eq:02d}_{ca:02d}"
        w = eq / 100.0
        funds[fid] = w * equal_weight + (1.0 - w) * cash
        bench[f"BM_{fid}"] = w * spx + (1.0 - w) * cash
        meta_rows.append((fid, f"Equal-weight 20 US stocks / cash {eq}/{ca}, weekly rebalanced (constructed)",
                          f"equity/cash blend {eq}/{ca} (constructed)", f"BM_{fid}", blend_start))

    ids = [r[0] for r in meta_rows]
    returns = pd.DataFrame(funds, index=dates)[ids]
    returns.columns = pd.Index(ids, name="fund_id", dtype="str")
    returns.index = pd.DatetimeIndex(dates, name="date").as_unit("us")
    benchmarks = pd.DataFrame(bench, index=returns.index)
    benchmarks.columns = pd.Index(list(bench), name="benchmark", dtype="str")
    metadata = _metadata(meta_rows, pd.DatetimeIndex([r[4] for r in meta_rows]))
    notes = {
        "window": f"{returns.index[0].date()}..{returns.index[-1].date()}",
        "last_close": str(stocks_px.index[-1].date()),
        "risk_free": "Fama-French RF (arch.data.frenchdata), held at its last value after "
                     f"{monthly_risk_free().index[-1]:%Y-%m}",
        "constructed": [f"BLEND_{eq:02d}_{ca:02d}" for eq, ca in BLENDS],
        "settlement": "31 December for every series (assumption)",
    }
    daily_frame = None
    if daily:
        first_day = returns.index[0] - pd.Timedelta(days=4)
        px = pd.concat([stocks_px, index_px[[INDEX_BENCHMARK]].rename(columns={INDEX_BENCHMARK: "SPX"}), etf_px], axis=1)
        px = px.loc[first_day - pd.Timedelta(days=10):end]
        day_ret = px.pct_change(fill_method=None).loc[first_day:]
        rf = monthly_risk_free()
        months = day_ret.index.to_period("M").to_timestamp()
        rf_m = rf.reindex(rf.index.union(months.unique())).ffill().reindex(months).to_numpy()
        cash_d = pd.Series((1.0 + rf_m) ** (12.0 / 252.0) - 1.0, index=day_ret.index)
        eq_d = day_ret[list(stocks.columns)].mean(axis=1)
        for eq, ca in BLENDS:
            day_ret[f"BLEND_{eq:02d}_{ca:02d}"] = eq / 100 * eq_d + ca / 100 * cash_d
        daily_frame = day_ret[ids]
        daily_frame.columns = pd.Index(ids, name="fund_id", dtype="str")
        daily_frame.index = pd.DatetimeIndex(daily_frame.index, name="date").as_unit("us")
        notes["frequency"] = "daily"
        notes["resampled"] = ("weekly series from the W-FRI closes (qmtl_research.data.resample); daily = close-to-close "
                              "returns of the same closes, blends rebalanced daily")
    panel = FundPanel(returns, metadata, benchmarks, source=SOURCE, synthetic=False, notes=notes, daily=daily_frame)
    return validate_panel(panel, where="real universe")


# ---------------------------------------------------------------- a 20-year universe ending in 2018
US_1999_2018_SOURCE = ("offline real universe 1999-2018 (arch: S&P 500, NASDAQ, WTI crude; Fama-French RF; "
                       "constructed equity/cash blends)")
US_1999_2018_BLENDS = ((80, 20), (60, 40), (30, 70), (10, 90))


def build_us_1999_2018_universe() -> FundPanel:
    """Eight REAL weekly series over 1999-01..2018-12 (about 1,040 weeks), from ``arch.data``:

    * ``SPX`` - S&P 500 (adjusted close), benchmark NASDAQ (a broad US equity proxy: the
      index cannot be its own benchmark);
    * ``NDX`` - NASDAQ composite (adjusted close), benchmark S&P 500;
    * ``WTI`` - WTI crude oil spot (``arch.data.wti``; a commodity), benchmark S&P 500;
    * ``CASH`` - the one-month T-bill (Fama-French RF, ``(1 + RF_m)^(12/52) - 1`` a week; it is
      exactly 0 in long stretches of 2009-2015, so some windows have no variance), benchmark S&P 500;
    * ``BLEND_80_20``, ``BLEND_60_40``, ``BLEND_30_70``, ``BLEND_10_90`` - CONSTRUCTED S&P 500 / cash blends,
      rebalanced weekly, benchmark S&P 500.

    The data end in 2018, before the paper's window: it exercises defaults taken from the data
    (test period, high-volatility regime). Settlement 31 December; no disclosed grade."""
    from arch.data import nasdaq, sp500, wti

    px = pd.DataFrame({"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]})
    oil = wti.load()["DCOILWTICO"].astype(float)
    px["WTI"] = oil.reindex(px.index).ffill()
    weekly = weekly_returns_from_prices(px).loc[:"2018-12-28"].dropna()
    dates = weekly.index
    cash = weekly_cash_returns(dates)
    funds = {"SPX": weekly["SPX"], "NDX": weekly["NDX"], "WTI": weekly["WTI"], "CASH": cash}
    meta = [("SPX", "S&P 500 index (arch.data.sp500)", "US equity index", "NDX"),
            ("NDX", "NASDAQ composite (arch.data.nasdaq)", "US equity index", "SPX"),
            ("WTI", "WTI crude oil spot (arch.data.wti)", "commodity", "SPX"),
            ("CASH", "one-month T-bill (Fama-French RF)", "cash", "SPX")]
    for eq, ca in US_1999_2018_BLENDS:
        fid = f"BLEND_{eq:02d}_{ca:02d}"
        funds[fid] = eq / 100 * weekly["SPX"] + ca / 100 * cash
        meta.append((fid, f"S&P 500 / cash {eq}/{ca}, weekly rebalanced (constructed)",
                     f"equity/cash blend {eq}/{ca} (constructed)", "SPX"))
    ids = [m[0] for m in meta]
    returns = pd.DataFrame(funds, index=dates)[ids]
    returns.columns = pd.Index(ids, name="fund_id", dtype="str")
    returns.index = pd.DatetimeIndex(dates, name="date").as_unit("us")
    benchmarks = returns[["SPX", "NDX"]].copy()
    benchmarks.columns = pd.Index(["SPX", "NDX"], name="benchmark", dtype="str")
    metadata = _metadata(meta, pd.DatetimeIndex([returns.index[0]] * len(ids)))
    notes = {"window": f"{returns.index[0].date()}..{returns.index[-1].date()}",
             "constructed": [f"BLEND_{eq:02d}_{ca:02d}" for eq, ca in US_1999_2018_BLENDS],
             "settlement": "31 December for every series (assumption)"}
    panel = FundPanel(returns, metadata, benchmarks, source=US_1999_2018_SOURCE, synthetic=False, notes=notes)
    return validate_panel(panel, where="US 1999-2018 universe")
