"""A description of the data a run studied: the section ``data`` of the results contract.

* fund panels (weekly): one row per fund type with the number of funds and their history
  lengths in weeks (observed returns: min / median / max);
* portfolios (daily): one row per asset with its weight and number of observed days.
"""
from __future__ import annotations

import pandas as pd

from qmtl_research.results import DataResults


def describe_panel(panel) -> DataResults:
    """:class:`DataResults` of a :class:`~qmtl_research.data.panel.FundPanel`."""
    r = panel.returns
    lengths = r.notna().sum()
    meta = panel.metadata
    types = meta["fund_type"].astype(str).reindex(r.columns).fillna("unknown") if "fund_type" in meta \
        else pd.Series("unknown", index=r.columns)
    comp = (pd.DataFrame({"fund_type": types, "weeks": lengths})
            .groupby("fund_type")["weeks"].agg(n_funds="size", min_weeks="min", median_weeks="median",
                                              max_weeks="max")
            .sort_values("n_funds", ascending=False))
    comp["median_weeks"] = comp["median_weeks"].astype(float)
    disclosed = int(meta["disclosed_grade"].notna().sum()) if "disclosed_grade" in meta else 0
    desc = {"source": panel.source, "synthetic": bool(panel.synthetic), "start": r.index[0].date().isoformat(),
            "end": r.index[-1].date().isoformat(), "n_periods": int(len(r.index)), "n_series": int(r.shape[1]),
            "frequency": "weekly (W-FRI), simple returns", "n_benchmarks": int(panel.benchmarks.shape[1]),
            "n_disclosed_grades": disclosed, "fingerprint": panel.fingerprint()}
    return DataResults(description=desc, composition=comp)


def portfolio_fingerprint(data) -> str:
    """sha256 of a portfolio's asset returns, weights, benchmark and factors."""
    import hashlib

    h = hashlib.sha256()
    for obj in (data.asset_returns, data.weights.to_frame("w"), data.benchmark_returns, data.factor_returns):
        if obj is None:
            h.update(b"none")
            continue
        frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
        h.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
        h.update("|".join(map(str, frame.columns)).encode())
    return h.hexdigest()


def describe_portfolio(data) -> DataResults:
    """:class:`DataResults` of a :class:`~qmtl_research.data.portfolio.PortfolioData`."""
    a = data.asset_returns
    comp = pd.DataFrame({"asset": list(data.weights.index),
                         "name": [data.names.get(x, x) for x in data.weights.index],
                         "weight": data.weights.to_numpy(dtype=float),
                         "days": [int(a[x].notna().sum()) for x in data.weights.index]}).set_index("asset")
    desc = {"source": data.source, "synthetic": bool(data.synthetic), "start": a.index[0].date().isoformat(),
            "end": a.index[-1].date().isoformat(), "n_periods": int(len(a.index)), "n_series": int(len(data.weights)),
            "frequency": "daily (business days), simple returns",
            "benchmark": None if data.benchmark_returns is None else str(data.benchmark_returns.name),
            "factors": [] if data.factor_returns is None else list(map(str, data.factor_returns.columns)),
            "portfolio_value": float(data.portfolio_value), "fingerprint": portfolio_fingerprint(data)}
    return DataResults(description=desc, composition=comp)
