"""The innovation law of GARCH fits and the fat-tail map to the expected 1-month target (issue #20
item 2): the Student-t pieces against scipy and simulation, and the forecast bias by simulation
under a known truth (small version; the full one, 400 series x 400 weeks, in ``make bench``)."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from qmtl_research.volatility import GarchVolatility
from qmtl_research.volatility.innovations import DF_GRID, fit_student_t_df, student_t_loglik, tail_factor
from qmtl_research.volatility.targets import realized_vol

sys.path.insert(0, str(Path(__file__).parent))
from test_volatility_garch_refits import simulate_garch  # noqa: E402


def test_student_t_loglik_equals_scipy():
    z = np.random.default_rng(0).standard_normal((50, 3)) * 1.3
    mask = np.ones_like(z, dtype=bool)
    mask[40:, 1] = False
    for nu in (3.0, 8.0):
        ref = [stats.t.logpdf(z[mask[:, j], j], nu, scale=math.sqrt((nu - 2) / nu)).sum() for j in range(3)]
        np.testing.assert_allclose(student_t_loglik(z, mask, nu), ref, rtol=1e-12)
    np.testing.assert_allclose(student_t_loglik(z, mask, math.inf),
                               [stats.norm.logpdf(z[mask[:, j], j]).sum() for j in range(3)], rtol=1e-12)


def test_fit_student_t_df_recovers_the_law():
    rng = np.random.default_rng(1)
    n = 20_000
    z = np.column_stack([rng.standard_t(nu, n) / math.sqrt(nu / (nu - 2)) for nu in (4.0, 8.0)]
                        + [rng.standard_normal(n)])
    nu_hat = fit_student_t_df(z, np.ones_like(z, dtype=bool))
    assert 3.5 <= nu_hat[0] <= 5.0 and 7.0 <= nu_hat[1] <= 10.0 and nu_hat[2] >= 50
    assert set(nu_hat) <= set(DF_GRID)


def test_tail_factor_against_an_independent_simulation():
    rng = np.random.default_rng(99)
    m = 400_000
    c4 = math.sqrt(2 / 3) * math.gamma(2) / math.gamma(1.5)        # E sd of 4 standard normals
    for nu in (5.0, 8.0):
        t = rng.standard_t(nu, (m, 4)) / math.sqrt(nu / (nu - 2))
        assert tail_factor(nu) == pytest.approx(t.std(axis=1, ddof=1).mean() / c4, abs=3e-3)
    assert tail_factor(math.inf) == 1.0
    assert tail_factor(5.0) < tail_factor(8.0) < tail_factor(30.0) < 1.0
    with pytest.raises(ValueError):
        tail_factor(2.0)


def forecast_bias(dist: str, innovations: str, n_series: int = 300, n_weeks: int = 300, fit_weeks: int = 200,
                  seed: int = 11) -> tuple[float, float]:
    """Mean (forecast - realised 1-month target) in percentage points over the out-of-sample origins
    of simulated GARCH(1,1) series (alpha 0.08, beta 0.90), and its standard error (per-series means,
    independent series)."""
    returns = simulate_garch(n_series, n_weeks, dist, seed)
    est = GarchVolatility(innovations=innovations).fit(returns.iloc[:fit_weeks])
    err = (est.predict(returns) - realized_vol(returns, 4).shift(-4)).iloc[fit_weeks:]
    per_series = err.mean(axis=0)
    return float(per_series.mean()), float(per_series.std(ddof=1) / math.sqrt(len(per_series)))


@pytest.mark.parametrize("dist", ["normal", "8", "5"])
def test_forecast_bias_within_two_standard_errors(dist):
    bias, se = forecast_bias(dist, "student-t")
    assert abs(bias) <= 2 * se, f"bias {bias:+.3f} pp, SE {se:.3f}"

