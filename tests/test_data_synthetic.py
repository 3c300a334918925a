"""The synthetic Korean fund universe: determinism, Table 3 levels, COVID shock, grades."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.diagnostic import acorr_ljungbox

from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.data.checks import validate_panel

TABLE3 = {"overseas equity": 17.86, "domestic equity": 21.26, "domestic ETF": 11.05, "overseas mixed": 9.55,
          "overseas ETF": 13.06, "domestic mixed": 7.49, "overseas bond": 6.17, "domestic bond": 1.16, "MMF": 0.0117}


@pytest.fixture(scope="module")
def paper():
    t0 = time.perf_counter()
    panel = make_synthetic_universe(2585)
    return panel, time.perf_counter() - t0


@pytest.fixture(scope="module")
def p300():
    return make_synthetic_universe(300)


def _ann_std_pct(frame: pd.DataFrame) -> pd.Series:
    # independent of qmtl_research.grades: pandas std (ddof=1) x sqrt(52), percent
    return frame.std() * np.sqrt(52) * 100


def _table1(std: float) -> int:
    # Table 1 written out by hand
    if std > 25:
        return 1
    if std > 15:
        return 2
    if std > 10:
        return 3
    if std > 5:
        return 4
    if std > 0.5:
        return 5
    return 6


def test_same_seed_same_panel_different_seed_differs():
    a, b = make_synthetic_universe(60), make_synthetic_universe(60)
    pd.testing.assert_frame_equal(a.returns, b.returns)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)
    pd.testing.assert_frame_equal(a.benchmarks, b.benchmarks)
    assert a.notes == b.notes and a.fingerprint() == b.fingerprint()
    c = make_synthetic_universe(60, seed=1)
    assert not np.allclose(a.returns.fillna(0).to_numpy(), c.returns.fillna(0).to_numpy())
    assert a.fingerprint() != c.fingerprint()


def test_shape_dates_ids_and_labels(paper):
    panel, seconds = paper
    r = panel.returns
    assert r.shape == (341, 2585)
    assert r.index[0] == pd.Timestamp("2016-06-24") and r.index[-1] == pd.Timestamp("2022-12-30")
    assert (r.index.day_of_week == 4).all() and (np.diff(r.index.values) == np.timedelta64(7, "D")).all()
    assert panel.fund_ids[:2] == ["SYN0001", "SYN0002"] and panel.fund_ids[-1] == "SYN2585"
    assert panel.synthetic is True and panel.source == "synthetic Korean fund universe"
    assert set(panel.metadata["fund_type"]) == set(TABLE3)
    assert panel.metadata.loc[panel.metadata.fund_type == "domestic equity", "fund_type_ko"].eq("국내주식형").all()
    assert seconds < 5.0
    validate_panel(panel)


def test_type_volatility_levels_match_table3(paper):
    panel, _ = paper
    std = _ann_std_pct(panel.returns)
    by_type = std.groupby(panel.metadata["fund_type"]).mean()
    for fund_type, level in TABLE3.items():
        assert by_type[fund_type] == pytest.approx(level, rel=0.05), fund_type
    bench = _ann_std_pct(panel.benchmarks)
    for fund_type, level in TABLE3.items():
        bid = panel.metadata.loc[panel.metadata.fund_type == fund_type, "benchmark"].iloc[0]
        assert bench[bid] == pytest.approx(level, rel=1e-9)


def test_type_shares_look_like_a_korean_universe(paper):
    panel, _ = paper
    share = panel.metadata["fund_type"].value_counts(normalize=True)
    assert share["domestic equity"] > share["MMF"] and 0.03 < share.min() and share.max() < 0.25


def test_covid_window_is_more_volatile(paper):
    panel, _ = paper
    r = panel.returns.loc[:, panel.metadata.fund_type != "MMF"]
    covid = (r.index >= "2020-03-01") & (r.index <= "2020-04-30")
    calm = (r.index >= "2019-01-01") & (r.index < "2020-01-01")
    ratio = (r[covid].std() / r[calm].std()).median()
    assert ratio > 2.0
    # equities fall in March 2020 and partly rebound in April (on average over seeds)
    march, april = [], []
    for seed in range(8):
        bench = make_synthetic_universe(9, seed=seed).benchmarks[["BM_DOM_EQ", "BM_OVS_EQ"]]
        march.append((1 + bench.loc["2020-03-01":"2020-03-31"]).prod() - 1)
        april.append((1 + bench.loc["2020-04-01":"2020-04-30"]).prod() - 1)
    assert (pd.concat(march, axis=1).mean(axis=1) < -0.05).all()
    assert (pd.concat(april, axis=1).mean(axis=1) > 0).all()


def _ljung_box_p_squares(x: pd.Series) -> float:
    x = x.dropna()
    return float(acorr_ljungbox((x - x.mean()) ** 2, lags=[4], return_df=True)["lb_pvalue"].iloc[0])


def test_volatility_clustering(p300):
    # Ljung-Box on squared returns: under i.i.d. returns about 5 % of funds reject at 5 %
    r = p300.returns.loc[:, p300.metadata.fund_type != "MMF"]
    full = np.array([_ljung_box_p_squares(r[c]) for c in r.columns])
    assert (full < 0.05).mean() > 0.5
    # also before the COVID shock (GARCH clustering, not only the shock window)
    calm = r.loc[:"2019-12-31", r.loc[:"2019-12-31"].notna().sum() > 100]
    before = np.array([_ljung_box_p_squares(calm[c]) for c in calm.columns])
    assert (before < 0.05).mean() > 0.15


def test_funds_track_their_benchmark(paper):
    panel, _ = paper
    m = panel.metadata
    corr = {fid: panel.returns[fid].corr(panel.benchmarks[m.at[fid, "benchmark"]]) for fid in panel.fund_ids[:400]}
    corr = pd.Series(corr)
    types = m.loc[corr.index, "fund_type"]
    assert corr[types == "domestic equity"].between(0.75, 1.0).all()
    assert corr[types.isin(["domestic ETF", "overseas ETF"])].min() > 0.8
    active = panel.returns[corr.index] - panel.benchmarks[m.loc[corr.index, "benchmark"]].to_numpy()
    te = active.std()
    assert (te > 0).all()
    # information ratios of a plausible size: annual IR = sqrt(52) mean / std of active returns
    ir = np.sqrt(52) * active.mean() / te
    assert ir.abs().median() < 1.0 and ir.std() < 1.0


def test_grades_span_1_to_6_and_vary_within_types(p300):
    m = p300.metadata
    assert set(m["disclosed_grade"].dropna().astype(int)) == {1, 2, 3, 4, 5, 6}
    per_type = m.groupby("fund_type")["disclosed_grade"].nunique()
    assert (per_type[["domestic equity", "domestic ETF", "domestic mixed", "domestic bond"]] >= 2).all()


def test_disclosed_grade_is_table1_at_last_settlement_with_documented_stale_ones(p300):
    r, m = p300.returns, p300.metadata
    stale = set(p300.notes["stale_disclosed_grade"])
    assert 1 <= len(stale) <= 0.06 * len(m)
    for fid in m.index:
        row = m.loc[fid]
        year = 2021 if fid in stale else 2022
        settle = pd.Timestamp(year=year, month=int(row.settlement_month), day=int(row.settlement_day))
        window = r.loc[:settle, fid].iloc[-156:]
        if window.isna().any() or len(window) < 156:
            assert fid not in stale and pd.isna(row.disclosed_grade)
            continue
        assert row.disclosed_grade == _table1(window.std() * np.sqrt(52) * 100), fid
    for fid in stale:   # stale grades differ from the grade at the 2022 settlement
        row = m.loc[fid]
        settle = pd.Timestamp(year=2022, month=int(row.settlement_month), day=int(row.settlement_day))
        now = _table1(r.loc[:settle, fid].iloc[-156:].std() * np.sqrt(52) * 100)
        assert now != row.disclosed_grade


def test_inception_settlement_and_history(p300):
    r, m = p300.returns, p300.metadata
    n_obs = r.notna().sum()
    assert (n_obs >= 156).all()
    first = r.apply(lambda s: s.first_valid_index())
    assert (first > m["inception_date"]).all()
    late = m["inception_date"] >= "2016-06-24"
    assert 0.1 < late.mean() < 0.3 and (first[~late] == r.index[0]).all()
    assert (r.notna().cumsum().diff().fillna(1) <= 1).all().all()
    assert m["settlement_month"].between(1, 12).all() and m["settlement_day"].between(1, 28).all()
    assert (m["settlement_month"] == m["inception_date"].dt.month).all()
    assert (r.min() > -1).all()


def test_small_universes_work():
    one = make_synthetic_universe(1)
    assert one.returns.shape == (341, 1)
    nine = make_synthetic_universe(9)
    assert nine.metadata["fund_type"].nunique() == 9


def test_a_window_before_2005_builds_with_earlier_inceptions():
    from qmtl_research.data.synthetic import make_synthetic_universe

    p = make_synthetic_universe(n_funds=12, seed=3, start="1999-01-01", end="2006-12-31")
    assert p.dates[0] >= pd.Timestamp("1999-01-01") and p.dates[-1] <= pd.Timestamp("2006-12-31")
    assert (p.metadata["inception_date"] >= pd.Timestamp("1989-01-01")).all()
    assert p.returns.notna().sum().min() >= 156
