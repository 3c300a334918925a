"""The batched GJR-GARCH(1,1) estimator (gjr_batch, issue #20 item 4) against arch: on a sweep of
simulated samples (GJR-GARCH with Gaussian and Student-t(6) innovations, iid series whose optimum
is on a bound, ragged lengths), every fit ends at a log-likelihood >= arch's own fit on the same
sample (``arch_model(..., p=1, o=1, q=1).fit()``) minus 1e-6, inside arch's bounds and constraints;
the reported log-likelihood is arch's at the estimates; a sample's fit does not depend on its batch."""
import warnings

import numpy as np
from arch import arch_model

from qmtl_research.volatility.gjr_batch import fit_gjr_batch
from qmtl_research.volatility.gjr_likelihood import GJRSample


def simulate_gjr(n: int, seed: int, dist: str = "normal", omega=2e-5, alpha=0.05, gamma=0.10, beta=0.85,
                 mu=0.001) -> np.ndarray:
    """Weekly returns (fractions) from a GJR-GARCH(1,1); innovations N(0,1) or unit-variance t(``dist``)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n) if dist == "normal" else rng.standard_t(float(dist), n) / np.sqrt(
        float(dist) / (float(dist) - 2.0))
    h, r = omega / (1 - alpha - gamma / 2 - beta), np.empty(n)
    for t in range(n):
        r[t] = mu + np.sqrt(h) * z[t]
        e = r[t] - mu
        h = omega + (alpha + gamma * (e < 0)) * e * e + beta * h
    return r


def sweep_samples(n_series: int, seed: int = 0) -> list[np.ndarray]:
    """Percent returns: GJR (normal, t(6)) series of 150-400 weeks, one in four iid (no ARCH effect)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_series):
        n = int(rng.integers(150, 401))
        if k % 4 == 3:
            out.append(100 * 0.02 * rng.standard_normal(n))
        else:
            out.append(100 * simulate_gjr(n, seed=1000 * seed + k, dist="normal" if k % 2 else "6"))
    return out


def arch_gjr(y: np.ndarray):
    """arch's fit: log-likelihood, parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = arch_model(y, mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="normal", rescale=False).fit(disp="off")
    return float(res.loglikelihood), res.params.to_numpy()


def test_batched_gjr_reaches_arch_on_a_sweep():
    samples = sweep_samples(40)
    fit = fit_gjr_batch([GJRSample.of(y) for y in samples])
    assert fit.converged.all() and fit.within_bounds.all()
    gaps = []
    for j, y in enumerate(samples):
        ll_arch, p_arch = arch_gjr(y)
        _, _, a, g, b = p_arch
        # arch's SLSQP may end a hair outside alpha + gamma/2 + beta <= 1, where its optimum is a few 1e-6 higher
        tol = 1e-6 if a + g / 2 + b <= 1.0 else 1e-5
        gaps.append(fit.loglik[j] - ll_arch + tol)
        # the reported log-likelihood is arch's at the estimates (arch's own computation)
        model = arch_model(y, mean="Constant", vol="GARCH", p=1, o=1, q=1, rescale=False)
        assert abs(model.fix(fit.params[j]).loglikelihood - fit.loglik[j]) < 1e-8
    assert min(gaps) >= 0.0, min(gaps)
    mu, omega, alpha, gamma, beta = fit.params.T
    assert (alpha >= 0).all() and (alpha + gamma >= -1e-12).all() and (alpha + gamma / 2 + beta <= 1 + 1e-12).all()
    assert (beta >= 0).all() and (omega > 0).all()
    # the sweep has fits on a bound (iid series): alpha = gamma = 0 or beta = 0
    assert ((alpha <= 1e-6) & (alpha + gamma <= 1e-6) | (beta <= 1e-6)).any()


def test_batched_gjr_warm_starts_and_batch_independence():
    samples = sweep_samples(12, seed=3)
    full = fit_gjr_batch([GJRSample.of(y) for y in samples])
    part = fit_gjr_batch([GJRSample.of(y) for y in samples[4:7]])
    np.testing.assert_array_equal(part.params, full.params[4:7])
    np.testing.assert_array_equal(part.loglik, full.loglik[4:7])
    # a refit on a longer sample, warm-started from the previous estimates: still >= arch
    longer = [np.concatenate([y, y[:30]]) for y in samples]
    refit = fit_gjr_batch([GJRSample.of(y) for y in longer], warm=full.params)
    for j, y in enumerate(longer):
        ll_arch, p_arch = arch_gjr(y)
        tol = 1e-6 if p_arch[2] + p_arch[3] / 2 + p_arch[4] <= 1.0 else 1e-5
        assert refit.loglik[j] >= ll_arch - tol


def test_batched_gjr_derivatives_against_the_per_sample_likelihood():
    """Log-likelihood and score against gjr_likelihood (arch's objective, lfilter recursions);
    the observed curvature against central differences of that score; the expected information
    against sum 0.5 dh dh' / h^2 + [mu][mu]' / h with dh by central differences of the variances."""
    from qmtl_research.volatility import gjr_batch as GB
    from qmtl_research.volatility.gjr_likelihood import loglik, nll_and_grad, variances

    samples = [GJRSample.of(y) for y in sweep_samples(6, seed=5)]
    p = GB._panel(samples)
    theta = GB._project(p, GB._grid(p, 1)[0])
    theta[:, 0] += 0.05
    ll, score, observed, info = GB._derivatives(p, theta)
    for j, s in enumerate(samples):
        n = len(s.y)
        assert abs(ll[j] - loglik(theta[j], s)) < 1e-9
        np.testing.assert_allclose(score[j], -n * nll_and_grad(theta[j], s)[1], rtol=1e-9, atol=1e-9)
        step = 1e-6 * np.maximum(1.0, np.abs(theta[j]))
        fd_hess, fd_dh = np.empty((5, 5)), np.empty((n, 5))
        for k in range(5):
            up, dn = theta[j].copy(), theta[j].copy()
            up[k] += step[k]
            dn[k] -= step[k]
            fd_hess[:, k] = -n * (nll_and_grad(up, s)[1] - nll_and_grad(dn, s)[1]) / (2 * step[k])
            fd_dh[:, k] = (variances(up, s) - variances(dn, s)) / (2 * step[k])
        scale = np.abs(observed[j]).max()
        np.testing.assert_allclose(-observed[j], fd_hess, rtol=0, atol=1e-5 * scale)
        h = variances(theta[j], s)
        ref_info = 0.5 * (fd_dh / h[:, None] ** 2).T @ fd_dh
        ref_info[0, 0] += np.sum(1.0 / h)
        np.testing.assert_allclose(info[j], ref_info, rtol=0, atol=1e-5 * np.abs(ref_info).max())


def test_batched_gjr_on_a_near_constant_fund_reaches_the_per_fund_estimator():
    """A money-market-like synthetic fund (165 weeks, omega ~ 1e-8 in percent^2): estimated in
    percent units the Newton steps in omega were below the convergence tests' absolute scale and
    stopped 0.33 log-likelihood points short; on the standardised sample it reaches the per-fund
    SLSQP estimator (gjr_likelihood, itself >= arch) and arch."""
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility.challengers import GJRGarchVolatility

    r = make_synthetic_universe(n_funds=20, seed=20230831).returns["SYN0020"].dropna().to_numpy()
    fit = fit_gjr_batch([GJRSample.of(100 * r)])
    per_fund = GJRGarchVolatility().fit(r)
    ll_arch, _ = arch_gjr(100 * r)
    assert fit.converged[0] and fit.within_bounds[0]
    assert fit.params[0, 1] < 1e-7                                  # the case it claims: a tiny omega
    assert fit.loglik[0] >= per_fund.loglik_ - 1e-6
    assert fit.loglik[0] >= ll_arch - 1e-6
