"""Daily portfolio snapshots from positions and prices (the seed's DailySnapshot).

``total_value = cash + sum(quantity * price)``; ``weight = value / total_value``
(cash is the rest); ``daily_return = V_t / V_{t-1} - 1`` (0 on the first date);
``cum_return = V_t / V_0 - 1``; a position's ``daily_pnl = q_{t-1} * (p_t - p_{t-1})``
(0 on the first date or when newly bought). One snapshot per date: duplicate
dates are refused.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError


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


def build_snapshots(quantities: pd.DataFrame, prices: pd.DataFrame, cash: pd.Series | float = 0.0
                    ) -> list[DailySnapshot]:
    """Snapshots for every date of ``quantities`` (dates x codes, units held at
    the close) valued at ``prices`` (dates x codes, close prices).

    Raises InputError on duplicate dates, missing prices of held positions,
    negative or non-finite values, or a non-positive total value."""
    for name, frame in (("quantities", quantities), ("prices", prices)):
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError(f"duplicate date {dup} in {name}", where=name, fix="one row per date")
    if quantities.empty:
        raise InputError("no positions", where="quantities")
    codes = list(quantities.columns)
    missing = sorted(set(codes) - set(prices.columns))
    if missing:
        raise InputError(f"no prices for {', '.join(missing)}", where="prices")
    q = quantities.sort_index().astype(float)
    p = prices.reindex(index=q.index, columns=codes).astype(float)
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
                         where="snapshot")
    out = []
    for i, d in enumerate(q.index):
        pos = []
        for j, code in enumerate(codes):
            if q.iat[i, j] == 0:
                continue
            pnl = 0.0 if i == 0 else float(q.iat[i - 1, j] * (p.iat[i, j] - p.iat[i - 1, j])) \
                if np.isfinite(p.iat[i - 1, j]) else 0.0
            pos.append(PositionSnapshot(str(code), float(q.iat[i, j]), float(p.iat[i, j]), float(values[i, j]),
                                        float(values[i, j] / totals[i]), pnl))
        out.append(DailySnapshot(pd.Timestamp(d).date().isoformat(), float(totals[i]), float(cash_s.iat[i]), pos,
                                 0.0 if i == 0 else float(totals[i] / totals[i - 1] - 1.0),
                                 float(totals[i] / totals[0] - 1.0)))
    return out


def snapshots_frame(snapshots: list[DailySnapshot]) -> pd.DataFrame:
    """date, total_value, cash, daily_return, cum_return, n_positions."""
    return pd.DataFrame([{"date": s.date, "total_value": s.total_value, "cash": s.cash,
                          "daily_return": s.daily_return, "cum_return": s.cum_return,
                          "n_positions": len(s.positions)} for s in snapshots])
