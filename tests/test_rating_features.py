"""Labels and stage-2 features on hand-built funds."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError
from qmtl_research.rating import measures as M
from qmtl_research.rating.features import build_rating_dataset
from stage1_stub import TrailingStdForecaster
from qmtl_research.grades import load_grade_table
from qmtl_research.rating.labels import compare_disclosed, make_labels, settlement_date

N_WEEKS = 240
DATES = pd.date_range("2018-01-05", periods=N_WEEKS, freq="W-FRI", name="date")
X12 = 0.12 / math.sqrt(52) * math.sqrt(155 / 156)  # alternating +-X12: annualised std exactly 12 %


def hand_panel() -> FundPanel:
    rng = np.random.default_rng(11)
    bench = rng.normal(0.001, 0.02, N_WEEKS)
    alt = np.where(np.arange(N_WEEKS) % 2 == 0, X12, -X12)
    young = rng.normal(0, 0.01, N_WEEKS)
    young[:150] = np.nan
    returns = pd.DataFrame({"ALT": alt, "YOUNG": young,
                            "NOBM": rng.normal(0, 0.01, N_WEEKS),
                            "RND": 0.8 * bench + rng.normal(0, 0.01, N_WEEKS)}, index=DATES)
    meta = pd.DataFrame({
        "name": ["alt", "young", "nobm", "rnd"], "fund_type": ["domestic mixed"] * 4,
        "benchmark": ["BM", "BM", "", "BM"],
        "inception_date": pd.to_datetime(["2017-01-01"] * 4),
        "settlement_month": [6, 6, 6, 2], "settlement_day": [30, 30, 30, 31],
        "disclosed_grade": pd.array([4, pd.NA, pd.NA, pd.NA], dtype="Int64")},
        index=pd.Index(["ALT", "YOUNG", "NOBM", "RND"], name="fund_id"))
    return FundPanel(returns, meta, pd.DataFrame({"BM": bench}, index=DATES), source="hand-built")


class ConstantForecaster:
    """A pluggable stage-1 forecaster answering 20 % for every request (and logging them)."""

    name = "constant 20"

    def __init__(self):
        self.requests = None

    def __call__(self, panel, requests):
        self.requests = requests.copy()
        return requests.assign(forecast_vol_pct=20.0, method="constant")


@pytest.fixture(scope="module")
def table():
    return load_grade_table()


def test_settlement_day_is_clipped_to_the_month():
    assert settlement_date(2021, 2, 31) == pd.Timestamp("2021-02-28")
    assert settlement_date(2020, 2, 31) == pd.Timestamp("2020-02-29")


def test_labels_of_a_hand_built_fund(table):
    labels, excl = make_labels(hand_panel(), table)
    alt = labels[labels["fund_id"] == "ALT"]
    # settlements 2021-06-30 and 2022-06-30 have 156 weeks; 2018..2020 do not
    assert list(alt["settlement_date"]) == [pd.Timestamp("2021-06-30"), pd.Timestamp("2022-06-30")]
    assert list(alt["week_end"]) == [pd.Timestamp("2021-06-25"), pd.Timestamp("2022-06-24")]
    np.testing.assert_allclose(alt["std_pct"], 12.0, rtol=1e-12)
    assert list(alt["grade"]) == [3, 3]
    assert list(alt["disclosed_grade"]) == [4, 4]
    reasons = excl[excl["fund_id"] == "ALT"]
    assert list(reasons["settlement_date"].dt.year) == [2018, 2019, 2020]
    assert reasons["reason"].str.contains("156 needed").all()
    # the young fund is listed, not dropped silently
    young = excl[excl["fund_id"] == "YOUNG"]
    assert len(young) >= 1 and young["reason"].str.contains("observed").any()
    assert "YOUNG" not in set(labels["fund_id"])
    # disclosed vs computed: computed 3, disclosed 4 -> difference -1
    cmp = compare_disclosed(labels)
    assert cmp.set_index("fund_id").loc["ALT", "difference"] == -1


def test_features_against_hand_computation(table):
    panel = hand_panel()
    fc = ConstantForecaster()
    h = 4
    ds = build_rating_dataset(panel, table, horizon=h, forecaster=fc, progress=False)
    row = ds.frame[(ds.frame["fund_id"] == "RND")].iloc[0]
    p = DATES.searchsorted(row["settlement_date"], side="right") - 1
    q = p - h
    assert row["prediction_date"] == DATES[q]
    r = panel.returns["RND"].to_numpy()[p - 155:q + 1]
    b = panel.benchmarks["BM"].to_numpy()[p - 155:q + 1]
    assert len(r) == 156 - h
    sd = np.std(r, ddof=1)
    active = r - b
    assert row["std_known_pct"] == pytest.approx(sd * math.sqrt(52) * 100, rel=1e-12)
    assert row["sharpe"] == pytest.approx(r.mean() / sd * math.sqrt(52), rel=1e-12)
    assert row["tracking_error_pct"] == pytest.approx(np.std(active, ddof=1) * math.sqrt(52) * 100, rel=1e-12)
    assert row["information_ratio"] == pytest.approx(active.mean() / np.std(active, ddof=1) * math.sqrt(52), rel=1e-12)
    assert row["var_975_pct"] == pytest.approx(-np.quantile(r, 0.025) * 100, rel=1e-12)
    assert row["beta"] == pytest.approx(np.cov(r, b)[0, 1] / np.var(b, ddof=1), rel=1e-12)
    s = row["std_known_pct"]
    assert row["forecast_vol_pct"] == 20.0
    assert row["blended_std_pct"] == pytest.approx(math.sqrt(((156 - h) * s ** 2 + h * 400.0) / 156), rel=1e-12)
    assert row["rule_grade"] == table.grade_of(row["blended_std_pct"])
    trailing = panel.returns["RND"].to_numpy()[q - 155:q + 1]
    assert row["persistence_grade"] == table.grade_of(M.annualised_std_pct(trailing))
    full = panel.returns["RND"].to_numpy()[p - 155:p + 1]
    assert row["std_pct"] == pytest.approx(M.annualised_std_pct(full)) and row["grade"] == table.grade_of(row["std_pct"])
    # the forecaster was asked exactly for the samples' (fund, prediction date) pairs
    assert set(map(tuple, fc.requests.to_numpy())) == set(map(tuple, ds.frame[["fund_id", "prediction_date"]].to_numpy()))


def test_missing_benchmark_is_kept_for_the_challengers_excluded_or_an_error(table):
    panel = hand_panel()
    kept = build_rating_dataset(panel, table, horizon=4, forecaster=ConstantForecaster(), progress=False)
    nobm = kept.frame[kept.frame["fund_id"] == "NOBM"]
    assert len(nobm) and nobm[["tracking_error_pct", "information_ratio", "beta"]].isna().all().all()
    assert nobm[["std_known_pct", "sharpe", "var_975_pct", "blended_std_pct", "persistence_grade"]].notna().all().all()
    from qmtl_research.rating.evaluation import make_approaches, usable_rows
    ap = make_approaches(table, ["blended_std_pct", "tracking_error_pct"], ["RBF"])
    rows = kept.frame["fund_id"] == "NOBM"
    assert not usable_rows(kept.frame, ap["RBF"])[rows].any()
    assert usable_rows(kept.frame, ap["Regulatory rule"])[rows].all() and usable_rows(kept.frame, ap["Persistence"])[rows].all()
    ds = build_rating_dataset(panel, table, horizon=4, forecaster=ConstantForecaster(), progress=False,
                              missing_benchmark="exclude")
    assert "NOBM" not in set(ds.frame["fund_id"])
    nobm = ds.exclusions[ds.exclusions["fund_id"] == "NOBM"]
    assert nobm["reason"].str.contains("benchmark").any()
    with pytest.raises(InputError, match="benchmark") as exc:
        build_rating_dataset(panel, table, horizon=4, forecaster=ConstantForecaster(),
                             missing_benchmark="error", progress=False)
    assert "NOBM" in str(exc.value)


def test_long_horizons_need_longer_histories(table):
    panel = hand_panel()
    ds52 = build_rating_dataset(panel, table, horizon=52, forecaster=ConstantForecaster(), progress=False)
    # 2021-06-30 settlement: 156 + 52 weeks before it are not available (data starts 2018-01-05)
    alt = ds52.frame[ds52.frame["fund_id"] == "ALT"]
    assert list(alt["settlement_date"]) == [pd.Timestamp("2022-06-30")]
    assert ds52.exclusions["reason"].str.contains("208 observed weeks").any()
    with pytest.raises(InputError, match="horizon"):
        build_rating_dataset(panel, table, horizon=0, forecaster=ConstantForecaster(), progress=False)


