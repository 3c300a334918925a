"""GarchFitResult: standard errors (robust sandwich and inverse-Hessian), t-statistics and p-values
against arch's ``ARCHModelResult`` on the same scaled data, on simulated GARCH(1,1) series (Gaussian
and Student-t(8) innovations) and on the tracked sample funds (data/sample/returns.csv).

Tolerance: 2% relative on the standard errors. Both compute arch's formulas on the same objective
(Gaussian quasi-likelihood, backcast fixed at the estimation backcast) at the same estimates (arch
is started from the project's estimates, which are at least as good as arch's own fit: checked);
arch differentiates numerically (central differences with steps of about eps**(1/3) times the
parameter), the project analytically, so they differ by the finite-difference error: measured
<= 1e-4 relative for fits away from the bounds, 1.0% for a fit with alpha = 0.006 (arch's steps
reach the bound alpha = 0). arch is fitted on the returns divided by the project's ``scale`` (``rescale=False``), so its
``mu`` and ``omega`` (and their errors) are converted with the Jacobian diag(scale, scale**2, 1, 1)
(the result is in the series' units). Fits on a bound of the parameter space are excluded from the
comparison (no standard asymptotic law; arch's numerical Hessian steps outside the bounds there).
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy import stats

from qmtl_research.errors import InputError
from qmtl_research.volatility import GarchFitResult, GarchVolatility
from test_volatility_garch_refits import simulate_garch

SAMPLE_RETURNS = Path(__file__).resolve().parents[1] / "data" / "sample" / "returns.csv"

SE_RTOL = 0.02


def _sample_funds() -> pd.DataFrame:
    long = pd.read_csv(SAMPLE_RETURNS, parse_dates=["date"])
    return long.pivot(index="date", columns="fund_id", values="return").iloc[:, :6]


def _arch_fits(y: np.ndarray, mean: str, start: np.ndarray):
    """arch's own fit, and its robust and classic fits started from ``start`` (the project's estimates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        am = arch_model(y, mean=mean, vol="GARCH", p=1, q=1, dist="normal", rescale=False)
        opts = dict(disp="off", tol=1e-12, options={"maxiter": 2000})
        return (am.fit(**opts), am.fit(starting_values=start, **opts),
                am.fit(cov_type="classic", starting_values=start, **opts))


PANELS = {"gaussian": lambda: simulate_garch(5, 400, "normal", seed=5),
          "student-t(8)": lambda: simulate_garch(5, 400, "8", seed=11),
          "sample funds": _sample_funds}


@pytest.mark.parametrize("mean", ["Constant", "Zero"])
@pytest.mark.parametrize("panel", list(PANELS))
def test_standard_errors_match_arch(panel, mean):
    returns = PANELS[panel]()
    est = GarchVolatility(mean=mean).fit(returns)
    compared = 0
    for fund, res in est.results_.items():
        assert isinstance(res, GarchFitResult) and res.fund_id == fund
        y = returns[fund].dropna().to_numpy() / res.scale
        units = np.array([res.scale, res.scale ** 2, 1.0, 1.0])[4 - len(res.params):]
        own, robust, classic = _arch_fits(y, mean, res.params.to_numpy() / units)
        assert res.loglik >= own.loglikelihood - 1e-6
        np.testing.assert_allclose(res.loglik, robust.loglikelihood, rtol=0, atol=1e-6)
        if res.on_bound:
            continue
        np.testing.assert_allclose(res.params.to_numpy() / units, robust.params.to_numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(res.std_err.to_numpy() / units, robust.std_err.to_numpy(), rtol=SE_RTOL)
        np.testing.assert_allclose(res.std_err_classic.to_numpy() / units, classic.std_err.to_numpy(), rtol=SE_RTOL)
        np.testing.assert_allclose(res.tvalues.to_numpy(), robust.tvalues.to_numpy(), rtol=SE_RTOL)
        # two-sided normal p-values: compared on the |t| scale (a 1% error in t moves p by far more)
        np.testing.assert_allclose(stats.norm.isf(res.pvalues.to_numpy() / 2), stats.norm.isf(robust.pvalues.to_numpy() / 2),
                                   rtol=SE_RTOL)
        compared += 1
    assert compared >= 3, f"only {compared} interior fits compared"


def test_result_units_summary_and_flags():
    returns = simulate_garch(5, 400, "normal", seed=5)
    est = GarchVolatility().fit(returns)
    params, scale = est.params_, est.scale_
    for fund in est.fitted_funds_:
        res = est.result_(fund)
        s = scale[fund]
        np.testing.assert_allclose(res.params.to_numpy(), params.loc[fund].to_numpy() * [s, s * s, 1, 1])
        assert res.n_obs == 400 and res.converged and res.flags == est.diagnostics_.loc[fund, "flags"]
        assert res.degenerate == (res.flags != "")
        text = res.summary()
        for name in ("mu", "omega", "alpha", "beta"):
            assert f"\n{name} " in text
        assert f"{res.std_err['beta']:.4e}" in text and f"{res.loglik:.4f}" in text
    assert not any(r.on_bound for r in est.results_.values())
    bound = GarchVolatility().fit(_sample_funds()).result_("SYN0006")     # alpha = 0 (arch agrees, above)
    assert bound.on_bound == ("alpha",) and "On a bound: alpha" in bound.summary()
    assert bound.params["alpha"] < 1e-6 and bound.flags.startswith("alpha on its bound 0")
    with pytest.raises(InputError, match="no fit for"):
        est.result_("not-a-fund")
