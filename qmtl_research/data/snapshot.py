"""Daily portfolio snapshots from positions and prices (the seed's DailySnapshot).

Definitions (values in the portfolio's currency, returns as fractions):

* a position's ``value = quantity * price``; ``total_value = cash + sum(values)``;
  ``weight = value / total_value`` (cash is the rest; weights sum to ``1 - cash/total``);
* ``daily_return = V_t / V_prev - 1`` against the previous snapshot: the previous date
  of the same batch, or for the batch's first date the ``previous`` snapshot (the last
  one stored for the portfolio); 0 when there is none (the first snapshot ever).
  As in the seed, deposits and withdrawals are not separated from returns;
* ``cum_return = (1 + cum_prev) * (1 + daily_return) - 1``, i.e. ``V_t / V_first - 1``
  over the portfolio's whole stored history;
* a position's ``daily_pnl = q_prev * (p_t - p_prev)`` (0 when it was not held on the
  previous snapshot).

One snapshot per date: duplicate dates (or assets within a date) are refused.

The positions file
------------------
CSV (UTF-8, header line) or Parquet (suffix ``.parquet``/``.pq``), one row per date
and asset; headers are matched stripped and lower-cased (full schema in
``data/README.md``)::

    date,asset,quantity,price,cash
    2024-01-02,005930,10,70000,300000
    2024-01-02,000660,0,130000,
    2024-01-03,005930,10,71000,-224000

* ``date`` (``YYYY-MM-DD``): the snapshot date (holdings at that day's close);
  several dates give one snapshot each;
* ``asset`` (text, kept as written, e.g. ``005930`` with its leading zeros);
* ``quantity`` (number >= 0): units held; 0 lists an asset without holding it;
* ``price`` (number > 0): the close price; may be empty (or the column absent) when
  ``--prices`` gives it;
* ``cash`` (optional column): cash at that date's close (may be negative); give it on
  one row of the date (others empty) or the same number on each; missing = 0.

The optional prices file has the columns ``date, asset, price`` (same rules). A price
given in both files must agree.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError

POSITION_COLUMNS = ("date", "asset", "quantity", "price", "cash")
PRICE_COLUMNS = ("date", "asset", "price")
_SCHEMA = "positions files: date, asset, quantity, price[, cash] (see data/README.md)"
DEMO_BUY_DATE = "2024-01-02"
DEMO_SNAPSHOT_DAYS = 20
DEMO_START_PRICE = 10_000.0


@dataclass
class PositionSnapshot:
    code: str
    quantity: float
    price: float
    value: float
    weight: float
    daily_pnl: float = 0.0


@dataclass
class DailySnapshot:
    date: str
    total_value: float
    cash: float
    positions: list[PositionSnapshot] = field(default_factory=list)
    daily_return: float = 0.0
    cum_return: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Positions:
    """Holdings by date: ``quantities`` and ``prices`` (dates x assets; NaN = no price),
    ``cash`` per date, and where they came from."""

    quantities: pd.DataFrame
    prices: pd.DataFrame
    cash: pd.Series
    source: str
    synthetic: bool = False

    def on(self, date) -> "Positions":
        """Only the snapshot date ``date`` (InputError when the positions have no such date)."""
        d = pd.Timestamp(date)
        if d not in self.quantities.index:
            have = self.quantities.index
            raise InputError(f"no positions dated {d.date()} in {self.source}", where="--date",
                             fix=f"use a date of the positions ({have[0].date()}..{have[-1].date()}, "
                                 f"{len(have)} dates)")
        return Positions(self.quantities.loc[[d]], self.prices.loc[[d]], self.cash.loc[[d]], self.source,
                         self.synthetic)


# ---------------------------------------------------------------- building
def build_snapshots(quantities: pd.DataFrame, prices: pd.DataFrame, cash: pd.Series | float = 0.0,
                    previous: DailySnapshot | None = None) -> list[DailySnapshot]:
    """Snapshots for every date of ``quantities`` (dates x codes, units held at the close)
    valued at ``prices`` (dates x codes, close prices), chained to ``previous`` (the last
    stored snapshot, dated before the first date) when given. See the module docstring.

    Raises InputError on duplicate dates, missing prices of held positions, negative or
    non-finite values, a non-positive total value, or a ``previous`` not before the dates."""
    for name, frame in (("quantities", quantities), ("prices", prices)):
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError(f"duplicate date {dup} in {name}", where=name, fix="one row per date")
    if quantities.empty:
        raise InputError("no positions", where="quantities")
    codes = list(quantities.columns)
    missing = sorted(set(codes) - set(prices.columns))
    if missing:
        raise InputError(f"no prices for {', '.join(map(str, missing))}", where="prices")
    q = quantities.sort_index().astype(float)
    p = prices.reindex(index=q.index, columns=codes).astype(float)
    if (q.to_numpy() < 0).any() or not np.isfinite(q.to_numpy()).all():
        r, c = np.argwhere((q.to_numpy() < 0) | ~np.isfinite(q.to_numpy()))[0]
        raise InputError(f"quantity {q.iat[r, c]} of {codes[c]} on {q.index[r].date()} is not a number >= 0",
                         where="quantities", fix="quantities are units held (short positions are not supported)")
    held_no_price = (q.to_numpy() != 0) & ~np.isfinite(p.to_numpy())
    if held_no_price.any():
        r, c = np.argwhere(held_no_price)[0]
        raise InputError(f"no price for held position {codes[c]} on {q.index[r].date()}", where="prices")
    cash_s = cash.reindex(q.index).astype(float) if isinstance(cash, pd.Series) else pd.Series(float(cash), q.index)
    if not np.isfinite(cash_s.to_numpy()).all():
        raise InputError("cash missing on some dates", where="cash")
    values = (q * p.fillna(0.0)).to_numpy()
    totals = values.sum(axis=1) + cash_s.to_numpy()
    if (totals <= 0).any():
        raise InputError(f"non-positive portfolio value on {q.index[int(np.argmax(totals <= 0))].date()}",
                         where="snapshot", fix="total value = cash + quantity x price must be > 0")
    prev_q: dict[str, float] = {}
    prev_p: dict[str, float] = {}
    if previous is not None:
        if pd.Timestamp(previous.date) >= q.index[0]:
            raise InputError(f"the previous snapshot ({previous.date}) is not before the first date "
                             f"({q.index[0].date()})", where="previous snapshot",
                             fix="pass the last snapshot dated before the new ones")
        prev_q = {pos.code: pos.quantity for pos in previous.positions}
        prev_p = {pos.code: pos.price for pos in previous.positions}
        prev_total, prev_cum = float(previous.total_value), float(previous.cum_return)
    out = []
    for i, d in enumerate(q.index):
        pos = []
        for j, code in enumerate(codes):
            if q.iat[i, j] == 0:
                continue
            if i > 0:
                pq, pp = q.iat[i - 1, j], p.iat[i - 1, j]
            else:
                pq, pp = prev_q.get(str(code), 0.0), prev_p.get(str(code), np.nan)
            pnl = float(pq * (p.iat[i, j] - pp)) if pq and np.isfinite(pp) else 0.0
            pos.append(PositionSnapshot(str(code), float(q.iat[i, j]), float(p.iat[i, j]), float(values[i, j]),
                                        float(values[i, j] / totals[i]), pnl))
        if i > 0:
            daily = float(totals[i] / totals[i - 1] - 1.0)
            cum = float((1.0 + out[-1].cum_return) * (1.0 + daily) - 1.0)
        elif previous is not None:
            daily = float(totals[0] / prev_total - 1.0)
            cum = float((1.0 + prev_cum) * (1.0 + daily) - 1.0)
        else:
            daily, cum = 0.0, 0.0
        out.append(DailySnapshot(pd.Timestamp(d).date().isoformat(), float(totals[i]), float(cash_s.iat[i]), pos,
                                 daily, cum))
    return out


def snapshots_frame(snapshots: list[DailySnapshot]) -> pd.DataFrame:
    """date, total_value, cash, daily_return, cum_return, n_positions."""
    return pd.DataFrame([{"date": s.date, "total_value": s.total_value, "cash": s.cash,
                          "daily_return": s.daily_return, "cum_return": s.cum_return,
                          "n_positions": len(s.positions)} for s in snapshots],
                        columns=["date", "total_value", "cash", "daily_return", "cum_return", "n_positions"])


def snapshot_returns(snapshots: list[DailySnapshot]) -> pd.Series:
    """The snapshots' daily returns as a Series on a DatetimeIndex."""
    return pd.Series([s.daily_return for s in snapshots],
                     index=pd.DatetimeIndex([pd.Timestamp(s.date) for s in snapshots], name="date"), dtype=float)


# ------------------------------------------------------------------ files
def _numbers(values: pd.Series, src, field: str, assets: pd.Series, *, required: bool) -> pd.Series:
    """Numeric column; empty cells are NaN unless ``required``; text, NaN literals and inf are errors."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype(float)
        blank = num.isna()
    else:
        text = values.astype("str").str.strip()
        blank = text == ""
        num = pd.to_numeric(text.where(~blank), errors="coerce").astype(float)
        bad = num.isna() & ~blank
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"non-numeric {field} {str(values.iloc[i])!r}",
                             where=src.at(values.index[i], field, assets.iloc[i], "asset"),
                             fix=f"write {field} as a plain decimal number")
    inf = ~blank & ~np.isfinite(num.fillna(0.0))
    if inf.any():
        i = int(np.flatnonzero(inf.to_numpy())[0])
        raise InputError(f"infinite {field}", where=src.at(values.index[i], field, assets.iloc[i], "asset"),
                         fix=f"write the real {field}")
    if required and blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError(f"missing {field}", where=src.at(values.index[i], field, assets.iloc[i], "asset"),
                         fix=f"every row needs a {field}")
    return num


def _long_table(path: str | Path, what: str, required: tuple[str, ...], allowed: tuple[str, ...]):
    from qmtl_research.data import checks as v
    from qmtl_research.data.loaders import read_table

    df, src = read_table(path, what)
    v.check_columns(df, required, src, what, fix=f"{_SCHEMA}")
    extra = [c for c in df.columns if c not in allowed]
    if extra:
        raise InputError(f"{what} has unknown column(s) {', '.join(repr(c) for c in extra)}",
                         where=f"{src.path}, header" + (" (line 1)" if src.is_csv else ""),
                         fix=f"use only the columns {', '.join(allowed)}")
    v.check_not_empty(df, src, what)
    assets = v.check_keys(df.assign(asset=df["asset"].astype(str)), "asset", src)
    dates = v.parse_dates(df["date"], src, "date", assets, key="asset")
    pairs = pd.DataFrame({"date": dates.to_numpy(), "asset": assets.to_numpy()}, index=df.index)
    dup = pairs.duplicated(keep=False)
    if dup.any():
        rows = pairs.index[dup & (pairs["date"] == pairs.loc[dup].iloc[0]["date"])
                           & (pairs["asset"] == pairs.loc[dup].iloc[0]["asset"])]
        a, d = pairs.loc[rows[0], "asset"], pd.Timestamp(pairs.loc[rows[0], "date"]).date()
        raise InputError(f"asset {a} appears twice on {d} ({src.position(rows[0])} and {src.position(rows[1])})",
                         where=src.at(rows[1], "asset", a, "asset"), fix="one row per date and asset")
    return df, src, dates, assets


def read_prices(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A long prices file (``date, asset, price``) as a dates x assets frame, and the file position
    of each ``(date, asset)`` for messages."""
    df, src, dates, assets = _long_table(path, "prices file", PRICE_COLUMNS, PRICE_COLUMNS)
    price = _numbers(df["price"], src, "price", assets, required=True)
    _positive(price, src, "price", assets)
    frame = pd.DataFrame({"date": dates.to_numpy(), "asset": assets.to_numpy(), "price": price.to_numpy()})
    where = {(pd.Timestamp(d), a): src.at(i, "price", a, "asset") for d, a, i in zip(dates, assets, df.index)}
    return frame.pivot(index="date", columns="asset", values="price"), where


def _positive(values: pd.Series, src, field: str, assets: pd.Series) -> None:
    bad = values.notna() & (values <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{field} {values.iloc[i]:g} is not positive",
                         where=src.at(values.index[i], field, assets.iloc[i], "asset"),
                         fix=f"a {field} must be > 0 (in the portfolio currency)")


def read_positions(path: str | Path, prices_path: str | Path | None = None) -> Positions:
    """Read and check a positions file (and an optional prices file); see the module docstring.

    Errors (InputError) name the file, line, field and asset."""
    required = ("date", "asset", "quantity")
    df, src, dates, assets = _long_table(path, "positions file", required, POSITION_COLUMNS)
    qty = _numbers(df["quantity"], src, "quantity", assets, required=True)
    neg = qty < 0
    if neg.any():
        i = int(np.flatnonzero(neg.to_numpy())[0])
        raise InputError(f"negative quantity {qty.iloc[i]:g}", where=src.at(df.index[i], "quantity", assets.iloc[i],
                                                                             "asset"),
                         fix="quantities are units held (>= 0); short positions are not supported")
    price = (_numbers(df["price"], src, "price", assets, required=False) if "price" in df.columns
             else pd.Series(np.nan, index=df.index))
    _positive(price, src, "price", assets)
    extra_prices, extra_where = (read_prices(prices_path) if prices_path else (None, {}))
    if extra_prices is not None:
        for k, i in enumerate(df.index):
            d, a = pd.Timestamp(dates.iloc[k]), assets.iloc[k]
            other = extra_prices.at[d, a] if d in extra_prices.index and a in extra_prices.columns else np.nan
            if np.isnan(price.iloc[k]):
                price.iloc[k] = other
            elif np.isfinite(other) and not np.isclose(other, price.iloc[k], rtol=1e-12, atol=0.0):
                raise InputError(f"two prices for {a} on {d.date()}: {price.iloc[k]:g} here, {other:g} in "
                                 f"{extra_where[(d, a)]}", where=src.at(i, "price", a, "asset"),
                                 fix="give each price once, or make the two files agree")
    held_no_price = (qty > 0) & price.isna()
    if held_no_price.any():
        k = int(np.flatnonzero(held_no_price.to_numpy())[0])
        raise InputError(f"no price for {assets.iloc[k]} on {pd.Timestamp(dates.iloc[k]).date()}",
                         where=src.at(df.index[k], "price", assets.iloc[k], "asset"),
                         fix="fill the price column, or give the price in --prices FILE (date, asset, price)")
    cash = pd.Series(0.0, index=pd.DatetimeIndex(sorted(set(dates)), name="date"))
    if "cash" in df.columns:
        c = _numbers(df["cash"], src, "cash", assets, required=False)
        seen: dict = {}
        for k, i in enumerate(df.index):
            if np.isnan(c.iloc[k]):
                continue
            d = pd.Timestamp(dates.iloc[k])
            if d in seen and not np.isclose(seen[d][0], c.iloc[k], rtol=1e-12, atol=0.0):
                raise InputError(f"two different cash amounts on {d.date()}: {seen[d][0]:g} ({seen[d][1]}) and "
                                 f"{c.iloc[k]:g}", where=src.at(i, "cash", assets.iloc[k], "asset"),
                                 fix="give the date's cash on one row (others empty) or the same on every row")
            seen[d] = (float(c.iloc[k]), src.position(i))
            cash.loc[d] = float(c.iloc[k])
    long = pd.DataFrame({"date": dates.to_numpy(), "asset": assets.to_numpy(), "quantity": qty.to_numpy(),
                         "price": price.to_numpy()})
    order = list(dict.fromkeys(assets))               # assets in order of first appearance
    quantities = long.pivot(index="date", columns="asset", values="quantity").reindex(columns=order).fillna(0.0)
    prices = long.pivot(index="date", columns="asset", values="price").reindex(columns=order)
    quantities.index.name = prices.index.name = "date"
    totals = (quantities * prices.fillna(0.0)).sum(axis=1) + cash.reindex(quantities.index)
    if (totals <= 0).any():
        d = totals.index[int(np.argmax((totals <= 0).to_numpy()))]
        raise InputError(f"the portfolio value on {d.date()} is {totals[d]:g} (cash + quantity x price), not > 0",
                         where=f"{src.path}, date {d.date()}", fix="check the quantities, prices and cash of that date")
    return Positions(quantities, prices, cash.reindex(quantities.index), f"positions file {src.path}")


# ------------------------------------------------------------------- demo
def demo_positions(days: int = DEMO_SNAPSHOT_DAYS, end: str | None = None) -> Positions:
    """The audit demo's holdings (SYNTHETIC): the seed's 10-stock sample portfolio bought at equal
    value (10 % of 100,000,000 KRW each, whole shares, the rest in cash) at the close of
    :data:`DEMO_BUY_DATE` and held. Prices are whole KRW, ``round(10,000 * prod(1 + r))`` of the
    demo's synthetic daily returns from 2007-01-02. The positions cover the last ``days`` business
    days of the demo data up to ``end`` (default its last date, 2024-12-31)."""
    from qmtl_research.data.portfolio import demo_portfolio

    data = demo_portfolio()
    prices = (DEMO_START_PRICE * (1.0 + data.asset_returns[list(data.weights.index)]).cumprod()).round()
    buy = pd.Timestamp(DEMO_BUY_DATE)
    last = pd.Timestamp(end) if end else prices.index[-1]
    held = prices.loc[buy:last]
    if held.empty or last < buy or last > prices.index[-1]:
        raise InputError(f"the demo holds its positions from {buy.date()} to {prices.index[-1].date()}",
                         where="--date", fix=f"use a date from {buy.date()} to {prices.index[-1].date()}")
    p0 = prices.loc[buy]
    qty = np.floor(data.weights * data.portfolio_value / p0)
    cash = float(data.portfolio_value - (qty * p0).sum())
    window = held.iloc[-days:]
    quantities = pd.DataFrame(np.tile(qty.to_numpy(), (len(window), 1)), index=window.index, columns=qty.index)
    return Positions(quantities, window.copy(), pd.Series(cash, index=window.index),
                     "audit demo: seed sample portfolio, synthetic prices", True)
