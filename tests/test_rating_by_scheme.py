"""Grades under every scheme, side by side, against independent recomputations; true exclusion
reasons; settlements after the data's last Friday."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.panel import FundPanel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.grades import load_schemes
from qmtl_research.rating.by_scheme import grades_side_by_side, scheme_grades, schemes_table
from qmtl_research.rating.labels import make_labels


@pytest.fixture(scope="module")
def schemes():
    return load_schemes(["kr-2016", "ucits-srri", "priips-mrm"])


@pytest.fixture(scope="module")
def daily_panel():
    return make_synthetic_universe(12, seed=4, frequency="daily")


@pytest.fixture(scope="module")
def graded(daily_panel, schemes):
    return scheme_grades(daily_panel, schemes)


def _stdev_pct(x, per_year):
    x = list(map(float, x))
    m = sum(x) / len(x)
    return math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1)) * math.sqrt(per_year) * 100


def test_weekly_schemes_match_a_hand_window(daily_panel, graded, schemes):
    g, _ = graded
    for sid, n in (("kr-2016", 156), ("ucits-srri", 260)):
        row = g[g["scheme"] == sid].iloc[-1]
        col = daily_panel.returns[row["fund_id"]]
        last_friday = col.index[col.index <= row["settlement_date"]][-1]
        window = col.loc[:last_friday].iloc[-n:]
        assert window.notna().all() and len(window) == n
        assert row["value_pct"] == pytest.approx(_stdev_pct(window, 52), rel=1e-12)
        assert row["grade"] == schemes[sid].grade_of(row["value_pct"])


def test_priips_vev_matches_the_regulation_by_hand_on_the_dated_window(daily_panel, graded, schemes):
    g, _ = graded
    rows = g[g["scheme"] == "priips-mrm"]
    assert len(rows)
    row = rows.iloc[-1]
    s = row["settlement_date"]
    d = daily_panel.daily[row["fund_id"]].dropna()
    r = d[(d.index > s - pd.DateOffset(years=5)) & (d.index <= s)].to_numpy()
    x = np.log1p(r)
    m = x.mean()
    s2, s3, s4 = ((x - m) ** 2).mean(), ((x - m) ** 3).mean(), ((x - m) ** 4).mean()
    sig = math.sqrt(s2)
    mu1, mu2 = s3 / sig ** 3, s4 / sig ** 4 - 3
    T = schemes["priips-mrm"].measure.holding_period_years
    N = 256 * T
    var = sig * math.sqrt(N) * (-1.96 + 0.474 * mu1 / math.sqrt(N) - 0.0687 * mu2 / N + 0.146 * mu1 ** 2 / N) - 0.5 * sig ** 2 * N
    vev = (math.sqrt(3.842 - 2 * var) - 1.96) / math.sqrt(T) * 100
    assert row["value_pct"] == pytest.approx(vev, rel=1e-10) and row["n_returns"] == len(r)
    # the synthetic daily data start with the panel (2016-06): a 5-year window is short before mid-2021,
    # graded with a note when at least 2 years are observed (the PRIIPs minimum), excluded below that
    assert rows["note"].str.startswith("short history").any()


def test_every_settlement_is_graded_or_listed(daily_panel, graded, schemes):
    from qmtl_research.rating.labels import settlement_dates

    g, e = graded
    for sid in schemes:
        keys = set(zip(g.loc[g["scheme"] == sid, "fund_id"], g.loc[g["scheme"] == sid, "settlement_date"]))
        keys |= set(zip(e.loc[e["scheme"] == sid, "fund_id"], e.loc[e["scheme"] == sid, "settlement_date"]))
        expected = {(f, s) for f in daily_panel.fund_ids for s in settlement_dates(daily_panel, f)}
        assert keys == expected, sid


def test_a_weekly_universe_lists_the_daily_schemes_as_excluded(schemes):
    panel = make_synthetic_universe(6, seed=4)
    g, e = scheme_grades(panel, schemes)
    assert (g["scheme"] != "priips-mrm").all()
    assert e.loc[e["scheme"] == "priips-mrm", "reason"].str.contains("frequency: daily").all()


def test_side_by_side_reason_only_where_the_measure_changes_the_grade(daily_panel, graded, schemes):
    g, _ = graded
    side = grades_side_by_side(daily_panel, g, schemes, "kr-2016")
    assert len(side) == g.groupby(["fund_id", "settlement_date"]).ngroups
    for _, r in side.iterrows():
        v = r["value[kr-2016]"]
        for sid in ("ucits-srri", "priips-mrm"):
            if pd.isna(r[f"grade[{sid}]"]) or pd.isna(v):
                continue
            differs = int(r[f"grade[{sid}]"]) != schemes[sid].grade_of(v)
            assert (f"{sid} class" in r["reason"]) == differs
    assert (side["reason"] != "").any()
    t = schemes_table(schemes, "kr-2016")
    assert t["in_force"].tolist() == [True, False, False] and "[0.5, 5)" in t.loc[2, "bands"]


def _panel(weeks: pd.DatetimeIndex, cols: dict[str, np.ndarray]) -> FundPanel:
    returns = pd.DataFrame(cols, index=weeks)
    returns.columns = pd.Index(list(cols), name="fund_id", dtype="str")
    meta = pd.DataFrame({"name": list(cols), "fund_type": "equity", "benchmark": "",
                         "inception_date": pd.DatetimeIndex([weeks[0] - pd.Timedelta(days=30)] * len(cols)),
                         "settlement_month": 12, "settlement_day": 31,
                         "disclosed_grade": pd.array([pd.NA] * len(cols), dtype="Int64")},
                        index=pd.Index(list(cols), name="fund_id", dtype="str"))
    bench = pd.DataFrame(index=weeks, columns=pd.Index([], name="benchmark", dtype="str"), dtype=float)
    return FundPanel(returns, meta, bench, source="test")


def test_settlement_after_the_last_friday_is_graded_and_exclusions_tell_the_truth():
    weeks = pd.date_range("2016-01-01", "2022-12-30", freq="W-FRI", name="date")
    rng = np.random.default_rng(0)
    alive = rng.normal(0, 0.02, len(weeks))
    ended = alive.copy()
    ended[weeks > "2020-12-31"] = np.nan            # liquidated two years before the data end
    young = alive.copy()
    young[weeks < "2021-01-01"] = np.nan
    panel = _panel(weeks, {"ALIVE": alive, "ENDED": ended, "YOUNG": young})
    labels, excl = make_labels(panel, load_schemes(["kr-2016"])["kr-2016"])
    # 2022-12-31 is a Saturday after the last Friday 2022-12-30: its 156 weeks are all observed
    last = labels[(labels["fund_id"] == "ALIVE") & (labels["settlement_date"] == "2022-12-31")]
    assert len(last) == 1
    assert last["std_pct"].iloc[0] == pytest.approx(_stdev_pct(alive[-156:], 52), rel=1e-12)
    reasons = excl.set_index(["fund_id", "settlement_date"])["reason"]
    assert "last return is dated 2020-12-25" in reasons[("ENDED", pd.Timestamp("2022-12-31"))]
    assert "fund ended" in reasons[("ENDED", pd.Timestamp("2021-12-31"))]
    assert "first return is dated 2021-01-01" in reasons[("YOUNG", pd.Timestamp("2022-12-31"))]
    assert "the data start 2016-01-01" in reasons[("ALIVE", pd.Timestamp("2017-12-31"))]


@pytest.mark.parametrize("builder, settlement, n", [("_real_built", "2022-12-31", 30), ("_us_1999_2018", "2018-12-31", 8)])
def test_real_universes_grade_their_last_settlement(builder, settlement, n):
    from qmtl_research.data import universe

    panel = getattr(universe, builder)()
    table = load_schemes(["kr-2016"])["kr-2016"]
    labels, excl = make_labels(panel, table)
    at = labels[labels["settlement_date"] == settlement]
    assert len(at) == n and not (excl["settlement_date"] == settlement).any()
    # independent recomputation: the 156 weekly returns up to the last Friday, stdlib std
    for _, r in at.iterrows():
        window = panel.returns[r["fund_id"]].iloc[-156:]
        assert r["std_pct"] == pytest.approx(_stdev_pct(window, 52), rel=1e-12)
