"""Early warnings issued and checked out of time on a universe where a model beats persistence:
funds whose volatility trends (grades drift every year), walk-forward at 52 weeks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stage1_stub import TrailingStdForecaster

from qmtl_research.data.panel import FundPanel
from qmtl_research.rating import load_rating_settings, run_rating_study
from qmtl_research.rating.early_warning import warning_backtest
from qmtl_research.rating.evaluation import PERSISTENCE, RULE


def trend_panel(n: int = 40, seed: int = 0) -> FundPanel:
    """Weekly returns with a known truth: fund i's volatility is base_i x exp(k_i x years), k_i in +-0.6."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2008-01-04", "2022-12-30", freq="W-FRI", name="date")
    yrs = (weeks - weeks[0]).days.to_numpy() / 365.25
    m = rng.normal(0, 1, len(weeks))
    base = np.exp(rng.uniform(np.log(0.3), np.log(40), n)) / 100 / np.sqrt(52)
    k = rng.uniform(-0.6, 0.6, n)
    sig = base[None, :] * np.exp(k[None, :] * yrs[:, None])
    r = sig * (0.6 * m[:, None] + 0.8 * rng.standard_normal((len(weeks), n)))
    ids = [f"T{i:02d}" for i in range(n)]
    ret = pd.DataFrame(r, index=weeks, columns=pd.Index(ids, name="fund_id", dtype="str"))
    meta = pd.DataFrame({"name": ids, "fund_type": "trend", "benchmark": "MKT",
                         "inception_date": pd.DatetimeIndex([weeks[0] - pd.Timedelta(days=7)] * n),
                         "settlement_month": 12, "settlement_day": 31,
                         "disclosed_grade": pd.array([pd.NA] * n, dtype="Int64")},
                        index=pd.Index(ids, name="fund_id", dtype="str"))
    bench = pd.DataFrame({"MKT": 0.02 / np.sqrt(52) * m}, index=weeks)
    bench.columns = pd.Index(["MKT"], name="benchmark", dtype="str")
    return FundPanel(ret, meta, bench, source="trend test", synthetic=True)


@pytest.fixture(scope="module")
def study():
    st = load_rating_settings(horizon_weeks=52, horizons=[52], kernels=["Linear"], param_grid={"C": [1.0]},
                              inner_folds=2)
    return run_rating_study(trend_panel(), st, seed=1, forecaster=TrailingStdForecaster(), progress=False)


def test_a_model_beats_persistence_and_its_warnings_are_checked_out_of_time(study):
    assert study.table4.loc[RULE, "accuracy"] > study.table4.loc[PERSISTENCE, "accuracy"]
    folds, warnings = warning_backtest(study)
    assert not folds["issued"].iloc[0] and "no earlier" in folds["note"].iloc[0]   # nothing to validate on
    issued = folds[folds["issued"]]
    assert len(issued) >= 5 and issued["n_warnings"].sum() > 0
    frame = study.default.dataset.frame
    for _, f in issued.iterrows():
        assert f["kernel"] == RULE   # on this universe the rule validates better than the kernel
        # recompute from the samples: warnings = rule grade != grade at the prediction date
        rows = frame[frame["settlement_date"].dt.year == f["settlement_year"]]
        warn = rows["rule_grade"] != rows["persistence_grade"]
        assert f["n_warnings"] == int(warn.sum())
        assert f["n_warnings_right"] == int((warn & (rows["rule_grade"] == rows["grade"])).sum())
        assert f["n_changes"] == int((rows["grade"] != rows["persistence_grade"]).sum())
        # gating used only earlier years: the rule's and persistence's accuracy before this year
        before = frame[(frame["settlement_date"].dt.year < f["settlement_year"])
                       & (frame["settlement_date"].dt.year >= folds["settlement_year"].iloc[0])]
        assert f["prior_accuracy"] == pytest.approx((before["rule_grade"] == before["grade"]).mean())
        assert f["prior_persistence_accuracy"] == pytest.approx((before["persistence_grade"] == before["grade"]).mean())
    assert len(warnings) == issued["n_warnings"].sum()
    assert warnings["right"].sum() == issued["n_warnings_right"].sum()
    # warnings are informative: right more often than not
    assert warnings["right"].mean() > 0.5
