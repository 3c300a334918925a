"""VaR/CVaR: hand-built cases under each convention, closed forms vs scipy."""
import math

import numpy as np
import pytest
from scipy import stats

from qmtl_research.errors import InputError
from qmtl_research.risk.var import (CONVENTIONS, ewma_volatility, filtered_historical_var, historical_var,
                                    moments_dof, normal_var_es, parametric_var, t_var_es, value_at_risk, var_table)

R20 = np.arange(1, 21) / 100 - 0.10          # -0.09, -0.08, ..., 0.10 (shuffled below)


def shuffled():
    return np.random.default_rng(0).permutation(R20)


def test_seed_definition_exact():
    # idx = int(0.05 * 20) = 1 -> VaR = -sorted[1], CVaR = -mean of the 2 worst
    res = historical_var(shuffled(), 0.95)
    assert res.var == pytest.approx(0.08, abs=1e-15)
    assert res.cvar == pytest.approx(0.085, abs=1e-15)
    # floating truncation as in Go: (1 - 0.9) * 20 = 1.9999999999999996 -> idx 1, not 2
    res = historical_var(shuffled(), 0.90)
    assert res.var == pytest.approx(0.08, abs=1e-15) and res.cvar == pytest.approx(0.085, abs=1e-15)
    # 99 % of 20: idx 0 -> the worst
    res = historical_var(shuffled(), 0.99)
    assert res.var == pytest.approx(0.09) and res.cvar == pytest.approx(0.09)


def test_basel_convention():
    assert historical_var(shuffled(), 0.95, "basel").var == pytest.approx(0.09)     # k = ceil(1) = 1
    res = historical_var(shuffled(), 0.90, "basel")                                  # k = ceil(2) = 2
    assert (res.var, res.cvar) == (pytest.approx(0.08), pytest.approx(0.085))
    r = np.linspace(-0.05, 0.05, 250)
    res = historical_var(r, 0.99, "basel")                                          # 3rd worst of 250
    assert res.var == pytest.approx(-np.sort(r)[2]) and res.cvar == pytest.approx(-np.sort(r)[:3].mean())


def test_numpy_conventions_by_hand():
    # position (n - 1) * 0.05 = 0.95 between the worst (-0.09) and the 2nd worst (-0.08)
    assert historical_var(shuffled(), 0.95, "lower").var == pytest.approx(0.09)
    assert historical_var(shuffled(), 0.95, "higher").var == pytest.approx(0.08)
    lin = historical_var(shuffled(), 0.95, "linear")
    assert lin.var == pytest.approx(0.09 - 0.95 * 0.01) and lin.cvar == pytest.approx(0.09)
    assert historical_var(shuffled(), 0.95, "midpoint").var == pytest.approx(0.085)
    for conv in CONVENTIONS:
        res = historical_var(shuffled(), 0.95, conv)
        assert res.cvar >= res.var - 1e-15 and res.convention == conv


def test_bad_inputs():
    with pytest.raises(InputError, match="outside"):
        historical_var(R20, 1.0)
    with pytest.raises(InputError, match="outside"):
        historical_var(R20, 0.0)
    with pytest.raises(InputError, match="NaN"):
        historical_var(np.array([0.01, np.nan, 0.02]), 0.95)
    with pytest.raises(InputError, match="empty"):
        historical_var(np.array([]), 0.95)
    with pytest.raises(InputError, match="unknown VaR convention"):
        historical_var(R20, 0.95, "nope")
    with pytest.raises(InputError, match="unknown VaR method"):
        value_at_risk(R20, 0.95, "nope")


@pytest.mark.parametrize("c", [0.9, 0.95, 0.975, 0.99])
def test_normal_closed_form_vs_scipy(c):
    mu, sd = 0.0004, 0.013
    var, es = normal_var_es(mu, sd, c)
    assert var == pytest.approx(-stats.norm.ppf(1 - c, mu, sd), rel=1e-12)
    q = stats.norm.ppf(1 - c, mu, sd)
    tail_mean = stats.norm.expect(lambda x: x, loc=mu, scale=sd, ub=q, conditional=True)
    assert es == pytest.approx(-tail_mean, rel=1e-8)


@pytest.mark.parametrize("dof", [3.0, 5.0, 12.0])
@pytest.mark.parametrize("c", [0.95, 0.99])
def test_t_closed_form_vs_scipy(dof, c):
    loc, scale = 0.0003, 0.009
    var, es = t_var_es(loc, scale, dof, c)
    q = stats.t.ppf(1 - c, dof, loc, scale)
    assert var == pytest.approx(-q, rel=1e-12)
    tail_mean = stats.t.expect(lambda x: x, args=(dof,), loc=loc, scale=scale, ub=q, conditional=True)
    assert es == pytest.approx(-tail_mean, rel=1e-7)


def test_parametric_fits():
    r = np.random.default_rng(3).standard_t(5, 3000) * 0.01
    n = parametric_var(r, 0.99, "normal")
    assert n.var == pytest.approx(-(r.mean() + r.std(ddof=1) * stats.norm.ppf(0.01)), rel=1e-12)
    t = parametric_var(r, 0.99, "t", dof_method="mle")
    dof, loc, scale = stats.t.fit(r)
    assert t.var == pytest.approx(-stats.t.ppf(0.01, dof, loc, scale), rel=1e-9)
    fixed = parametric_var(r, 0.99, "t", dof=5.0)           # variance-matched scale
    assert fixed.var == pytest.approx(t_var_es(r.mean(), r.std(ddof=1) * math.sqrt(3 / 5), 5.0, 0.99)[0])
    with pytest.raises(InputError, match="dof"):
        parametric_var(r, 0.99, "t", dof=2.0)
    assert moments_dof(6.0 / (5.0 - 4.0)) == pytest.approx(5.0)
    assert moments_dof(-0.3) == 200.0


def test_ewma_recursion_by_hand():
    r = np.array([0.01, -0.02, 0.015])
    sigma, nxt = ewma_volatility(r, 0.94, init_window=2)
    s2 = [np.mean(r[:2] ** 2)]
    for x in r:
        s2.append(0.94 * s2[-1] + 0.06 * x * x)
    np.testing.assert_allclose(sigma, np.sqrt(s2[:3]), rtol=1e-14)
    assert nxt == pytest.approx(math.sqrt(s2[3]), rel=1e-14)


def test_fhs_and_table():
    r = np.random.default_rng(5).standard_normal(600) * 0.01
    e = filtered_historical_var(r, 0.99, "ewma")
    sigma, nxt = ewma_volatility(r)
    assert e.var == pytest.approx(historical_var(r / sigma * nxt, 0.99).var)
    g = filtered_historical_var(r, 0.99, "garch")
    assert 0 < g.var < g.cvar
    tab = var_table(r, (0.95, 0.99), ("historical", "normal", "t"))
    assert list(tab.columns) == ["method", "confidence", "VaR", "CVaR", "n"] and len(tab) == 6


def test_ewma_one_recursion_for_the_var_and_the_stage1_challenger():
    """One EWMA recursion (volatility.challengers.ewma_variances) serves the RiskMetrics VaR and the
    stage-1 challenger; each keeps its own start. Bitwise equal to the plain loop the VaR used before
    (a + b == b + a in IEEE arithmetic), on a long series, a short one (fewer returns than the
    start window) and a near-constant one."""
    from qmtl_research.volatility.challengers import EWMAVolatility, ewma_backcast, ewma_variances

    rng = np.random.default_rng(11)
    for r in (rng.standard_t(4, 700) * 0.02, np.array([0.01, -0.03]), 1e-9 * rng.standard_normal(200)):
        s2 = [np.mean(r[: min(30, r.size)] ** 2)]
        for x in r:
            s2.append(0.94 * s2[-1] + (1.0 - 0.94) * x ** 2)
        s2 = np.maximum(np.array(s2), 1e-24)
        sigma, nxt = ewma_volatility(r, 0.94)
        np.testing.assert_array_equal(sigma, np.sqrt(s2[:-1]))
        assert nxt == math.sqrt(s2[-1])
    r = rng.standard_normal(300) * 0.01
    model = EWMAVolatility().fit(r)
    np.testing.assert_array_equal(model.variances(r), ewma_variances(r ** 2, 0.94, ewma_backcast(r, 0.94)))
