"""Daily data first-class: daily NAV/return files resampled to W-FRI weeks (checked against a
hand resample), the daily series kept, bad daily files refused, `data resample`, and the
synthetic and real daily series compounding to their weekly ones."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import invoke

from qmtl_research.config import UniverseConfig
from qmtl_research.data.loaders import load_panel, load_returns
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.data.universe import load_universe
from qmtl_research.errors import InputError
from qmtl_research.paths import data_dir

SAMPLE = data_dir() / "sample" / "daily"


def _hand_weekly_from_navs(navs: pd.DataFrame) -> pd.DataFrame:
    """Last NAV of each Saturday..Friday week, labelled by its Friday, then NAV ratios (no pandas resample)."""
    out = {}
    for fid, g in navs.groupby("fund_id", sort=False):
        d = pd.to_datetime(g["date"])
        friday = d + pd.to_timedelta((4 - d.dt.day_of_week) % 7, "D")
        last = g.assign(friday=friday.to_numpy()).groupby("friday")["nav"].last()
        out[fid] = last / last.shift(1) - 1
    return pd.DataFrame(out)


def test_daily_navs_give_the_hand_resampled_weeks_and_keep_the_days():
    navs = pd.read_csv(SAMPLE / "navs.csv")
    panel = load_panel(SAMPLE / "navs.csv", SAMPLE / "funds.csv", SAMPLE / "benchmarks.csv",
                       frequency="daily")
    ref = _hand_weekly_from_navs(navs).reindex(panel.returns.index)
    np.testing.assert_allclose(panel.returns.to_numpy(), ref[panel.fund_ids].to_numpy(), rtol=0, atol=1e-14)
    assert panel.frequency == "daily" and "W-FRI" in panel.notes["resampled"]
    f1 = navs[navs["fund_id"] == "F001"]["nav"].to_numpy()
    np.testing.assert_allclose(panel.daily_of("F001").to_numpy(), f1[1:] / f1[:-1] - 1, atol=1e-15)
    # the holiday 2022-08-15 (a Monday) is absent: no row, not a zero
    assert pd.Timestamp("2022-08-15") not in panel.daily.index
    # the MMF starts later: its daily series starts after its inception
    assert panel.daily_of("F003").index[0] > pd.Timestamp("2022-09-15")
    # benchmarks: daily returns compounded to weeks by hand
    b = pd.read_csv(SAMPLE / "benchmarks.csv")
    eq = b[b["benchmark"] == "EQ_INDEX"]
    d = pd.to_datetime(eq["date"])
    friday = d + pd.to_timedelta((4 - d.dt.day_of_week) % 7, "D")
    hand = (1 + eq["return"]).groupby(friday.to_numpy()).prod() - 1
    np.testing.assert_allclose(panel.benchmarks["EQ_INDEX"].dropna().to_numpy(),
                               hand.reindex(panel.benchmarks["EQ_INDEX"].dropna().index).to_numpy(), atol=1e-14)


def test_daily_returns_are_compounded_within_the_week(tmp_path):
    rows = [("2024-01-01", "A", 0.01), ("2024-01-02", "A", -0.02), ("2024-01-05", "A", 0.03),
            ("2024-01-08", "A", 0.005), ("2024-01-12", "A", -0.01)]
    p = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["date", "fund_id", "return"]).to_csv(p, index=False)
    weekly, facts = load_returns(p, "daily")
    assert list(weekly.index.strftime("%Y-%m-%d")) == ["2024-01-05", "2024-01-12"]
    assert weekly["A"].iloc[0] == pytest.approx(1.01 * 0.98 * 1.03 - 1, abs=1e-15)
    assert weekly["A"].iloc[1] == pytest.approx(1.005 * 0.99 - 1, abs=1e-15)
    assert len(facts["daily"]) == 5


@pytest.mark.parametrize("rows, match, where", [
    ([("2024-01-02", "A", 0.01), ("2024-01-02", "A", 0.02)], "duplicate date 2024-01-02 for fund A", "line 3"),
    ([("2024-01-02", "A", 0.01), ("2024-01-26", "A", 0.02)], "gap in the daily history of fund A", "line 3"),
    ([("2024-01-03", "A", 0.01), ("2024-01-02", "A", 0.02)], "not increasing", "line 3"),
    ([("2024-01-02", "A", 0.01), ("2024-01-03", "A", -1.5)], "loss of 100 %", "line 3"),
])
def test_bad_daily_files_are_refused_with_the_line(tmp_path, rows, match, where):
    p = tmp_path / "d.csv"
    pd.DataFrame(rows, columns=["date", "fund_id", "return"]).to_csv(p, index=False)
    with pytest.raises(InputError, match=match) as exc:
        load_returns(p, "daily")
    assert where in str(exc.value)


def test_a_strategy_universe_with_frequency_daily_loads_the_files():
    cfg = UniverseConfig(source="file", frequency="daily", returns_path=str(SAMPLE / "navs.csv"),
                         funds_path=str(SAMPLE / "funds.csv"), benchmarks_path=str(SAMPLE / "benchmarks.csv"))
    panel = load_universe(cfg)
    assert panel.daily is not None and panel.returns.shape[1] == 3
    with pytest.raises(InputError, match="is a Monday"):   # the same files read as weekly are refused
        load_universe(cfg.model_copy(update={"frequency": "weekly"}))


def test_resample_cli_writes_the_weekly_file_and_never_overwrites(tmp_path):
    out = tmp_path / "weekly.csv"
    res = invoke("data", "resample", "--input", SAMPLE / "navs.csv", "--out", out)
    assert res.returncode == 0, res.stderr
    weekly = pd.read_csv(out)
    assert list(weekly.columns) == ["date", "fund_id", "return"]
    ref = _hand_weekly_from_navs(pd.read_csv(SAMPLE / "navs.csv"))
    got = weekly.pivot(index="date", columns="fund_id", values="return")
    got.index = pd.to_datetime(got.index)
    np.testing.assert_allclose(got.to_numpy(), ref.reindex(got.index)[got.columns].to_numpy(), atol=1e-15)
    before = out.read_bytes()
    res = invoke("data", "resample", "--input", SAMPLE / "navs.csv", "--out", out)
    assert res.returncode == 2 and "exists" in res.stderr and out.read_bytes() == before


def test_synthetic_daily_compounds_exactly_to_the_unchanged_weekly_returns():
    weekly = make_synthetic_universe(30, seed=11)
    daily = make_synthetic_universe(30, seed=11, frequency="daily")
    pd.testing.assert_frame_equal(weekly.returns, daily.returns)
    assert set(daily.daily.index.day_of_week) == {0, 1, 2, 3, 4}
    growth = (1 + daily.daily).groupby(daily.daily.index + pd.to_timedelta(4 - daily.daily.index.day_of_week, "D")).prod(min_count=1)
    np.testing.assert_allclose(growth.to_numpy() - 1, daily.returns.to_numpy(), atol=1e-12)
    again = make_synthetic_universe(30, seed=11, frequency="daily")
    pd.testing.assert_frame_equal(daily.daily, again.daily)
