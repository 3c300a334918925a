"""Kupiec, Christoffersen and Basel zones against hand values."""
import math

import numpy as np
import pandas as pd
import pytest

from qmtl_research.errors import InputError
from qmtl_research.risk.backtest import (backtest_var, christoffersen_independence, kupiec_pof,
                                         rolling_var_forecasts, traffic_light, transition_counts, zone_thresholds)
from qmtl_research.risk.var import historical_var


def test_kupiec_zero_exceptions_closed_form():
    lr, p = kupiec_pof(250, 0, 0.99)
    assert lr == pytest.approx(-2 * 250 * math.log(0.99), rel=1e-12)      # 5.0252...
    assert lr == pytest.approx(5.025167926, abs=1e-8)
    assert p == pytest.approx(math.erfc(math.sqrt(lr / 2)), rel=1e-10)     # chi2(1) survival


def test_kupiec_by_hand():
    n, x, p = 250, 7, 0.01
    l0 = (n - x) * math.log(1 - p) + x * math.log(p)
    l1 = (n - x) * math.log(1 - x / n) + x * math.log(x / n)
    lr, pv = kupiec_pof(n, x, 0.99)
    assert lr == pytest.approx(-2 * (l0 - l1), rel=1e-12)
    assert kupiec_pof(250, 2, 0.99)[0] == pytest.approx(0.1084, abs=5e-4)     # x/n = 0.8 %, close to 1 %
    assert kupiec_pof(100, 5, 0.95)[0] == pytest.approx(0.0, abs=1e-12)       # exactly as expected


def test_christoffersen_by_hand():
    # pairs: 00 01 11 10 00 00 01 10 00 -> n00=4 n01=2 n10=2 n11=1; pi0 = pi1 = pi = 1/3 -> LR exactly 0
    hits = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0]
    assert transition_counts(hits) == (4, 2, 2, 1)
    assert christoffersen_independence(hits)[0] == pytest.approx(0.0, abs=1e-12)
    # pairs: 00 00 01 11 10 00 00 00 01 10 00 -> n00=6 n01=2 n10=2 n11=1
    hits = [0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0]
    assert transition_counts(hits) == (6, 2, 2, 1)
    n00, n01, n10, n11 = 6, 2, 2, 1
    pi, pi0, pi1 = 3 / 11, 2 / 8, 1 / 3
    l0 = (n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)
    l1 = n00 * math.log(1 - pi0) + n01 * math.log(pi0) + n10 * math.log(1 - pi1) + n11 * math.log(pi1)
    lr, p = christoffersen_independence(hits)
    assert lr == pytest.approx(-2 * (l0 - l1), rel=1e-12) and lr > 0
    assert p == pytest.approx(math.erfc(math.sqrt(lr / 2)), rel=1e-10)
    # clustered exceptions are punished, no exceptions give LR 0
    assert christoffersen_independence([0] * 50 + [1] * 4 + [0] * 50)[0] > 10
    assert christoffersen_independence([0] * 30)[0] == 0.0


def test_basel_zones_250_days_99():
    zones = [traffic_light(x, 250, 0.99) for x in range(13)]
    assert zones == ["green"] * 5 + ["yellow"] * 5 + ["red"] * 3
    assert zone_thresholds(250, 0.99) == (5, 10)
    y, r = zone_thresholds(500, 0.99)             # scaled by the binomial cdf for other sizes
    assert 5 < y < r and traffic_light(y - 1, 500) == "green" and traffic_light(r, 500) == "red"
    with pytest.raises(InputError):
        traffic_light(3, 250, 1.5)


def test_rolling_forecasts_are_out_of_sample():
    rng = np.random.default_rng(11)
    r = pd.Series(rng.standard_normal(400) * 0.01, index=pd.bdate_range("2020-01-01", periods=400))
    fc = rolling_var_forecasts(r, 0.99, 250)
    assert len(fc) == 150 and fc.index[0] == r.index[250]
    assert fc["var"].iloc[0] == pytest.approx(historical_var(r.iloc[:250], 0.99).var)
    assert fc["var"].iloc[-1] == pytest.approx(historical_var(r.iloc[-251:-1], 0.99).var)
    assert (fc["exception"] == (-fc["return"] > fc["var"])).all()


def test_backtest_summary_keys_and_consistency():
    rng = np.random.default_rng(2)
    r = pd.Series(rng.standard_t(4, 1000) * 0.01, index=pd.bdate_range("2018-01-01", periods=1000))
    for method in ("historical", "normal", "t", "fhs_ewma"):
        res, fc = backtest_var(r, 0.99, 250, method)
        d = res.as_dict()
        for k in ("confidence", "window", "n", "exceptions", "expected_exceptions", "kupiec_lr", "kupiec_p",
                  "christoffersen_lr", "christoffersen_p", "cc_lr", "cc_p", "zone"):
            assert k in d
        assert d["n"] == 750 and d["exceptions"] == int(fc["exception"].sum())
        assert d["cc_lr"] == pytest.approx(d["kupiec_lr"] + d["christoffersen_lr"])
        assert d["zone"] == traffic_light(int(fc["exception"].iloc[-250:].sum()), 250, 0.99)
    with pytest.raises(InputError, match="window"):
        backtest_var(r.iloc[:100], 0.99, 250)
    with pytest.raises(InputError, match="unknown backtest method"):
        backtest_var(r, 0.99, 250, "magic")


def test_vectorised_t_forecasts_equal_the_closed_form_per_window():
    from qmtl_research.risk.var import fit_t, t_var_es

    rng = np.random.default_rng(6)
    r = pd.Series(rng.standard_t(4, 320) * 0.01, index=pd.bdate_range("2020-01-01", periods=320))
    fc = rolling_var_forecasts(r, 0.99, 250, "t")
    for i in (0, 33, 69):
        loc, scale, dof = fit_t(r.iloc[i:i + 250], "moments")
        assert fc["var"].iloc[i] == pytest.approx(t_var_es(loc, scale, dof, 0.99)[0], rel=1e-10)
