"""Monte Carlo: determinism, seed 0, chunk-size independence, fail-closed, distributions."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qmtl_research.data.portfolio import demo_portfolio
from qmtl_research.errors import InputError
from qmtl_research.risk.montecarlo import PERCENTILES, RNG_BLOCK, make_config, simulate
from qmtl_research.risk.var import historical_var

NUMBERS = ("input_sample_count", "mean_return", "std_dev", "var_95", "var_99", "cvar_95", "cvar_99", "percentiles",
           "var", "cvar")


def numbers(res):
    d = res.as_dict()
    return {k: d[k] for k in NUMBERS}


@pytest.fixture(scope="module")
def demo():
    return demo_portfolio()


@pytest.mark.parametrize("method", ["historical", "normal", "t"])
@pytest.mark.parametrize("mode", ["portfolio_univariate", "asset_multivariate"])
def test_demo_same_seed_identical_seed0_differs(demo, method, mode):
    cfg = make_config(method=method, mode=mode, seed=42, num_simulations=5000)
    a = simulate(demo.asset_returns, demo.weights.to_dict(), cfg)
    b = simulate(demo.asset_returns, demo.weights.to_dict(), cfg)
    assert numbers(a) == numbers(b)
    assert a.run_id != b.run_id and a.run_id.startswith("mc_")
    fresh = make_config(method=method, mode=mode, seed=0, num_simulations=5000)
    c = simulate(demo.asset_returns, demo.weights.to_dict(), fresh)
    d = simulate(demo.asset_returns, demo.weights.to_dict(), fresh)
    assert c.var_95 != d.var_95 and c.config["entropy"] != d.config["entropy"]
    # the recorded entropy replays a seed-0 run exactly
    replay = simulate(demo.asset_returns, demo.weights.to_dict(),
                      make_config(method=method, mode=mode, seed=c.config["entropy"], num_simulations=5000))
    assert replay.var_95 == c.var_95


def test_result_fields_as_the_seed(demo):
    res = simulate(demo.asset_returns, demo.weights.to_dict(), make_config(seed=7), keep_simulations=True)
    assert set(res.percentiles) == set(PERCENTILES)
    assert res.input_sample_count == 200 and res.config["lookback_days"] == 200
    sims = res.simulated
    assert res.var_95 == pytest.approx(historical_var(sims, 0.95).var)
    assert res.cvar_99 == pytest.approx(historical_var(sims, 0.99).cvar)
    assert res.percentiles[50] == pytest.approx(np.percentile(sims, 50))
    assert res.mean_return == pytest.approx(sims.mean()) and res.std_dev == pytest.approx(sims.std(ddof=1))


@pytest.mark.parametrize("method", ["historical", "t"])
def test_chunk_size_does_not_change_result(demo, method):
    n = 3 * RNG_BLOCK + 1234
    kw = dict(method=method, mode="asset_multivariate", seed=5, num_simulations=n)
    small = simulate(demo.asset_returns, None, make_config(chunk_size=RNG_BLOCK, **kw), keep_simulations=True)
    whole = simulate(demo.asset_returns, None, make_config(chunk_size=10 * n, **kw), keep_simulations=True)
    np.testing.assert_array_equal(small.simulated, whole.simulated)


def test_fail_closed_below_min_samples(demo):
    short = demo.asset_returns.iloc[:29]
    with pytest.raises(InputError, match="fail-closed"):
        simulate(short, demo.weights.to_dict(), make_config(seed=1))
    with pytest.raises(InputError, match="fewer than min_samples=300"):
        simulate(demo.asset_returns, None, make_config(seed=1, lookback_days=250, min_samples=300))


def test_bad_config_and_inputs(demo):
    for kw, field in ((dict(method="cauchy"), "method"), (dict(mode="both"), "mode"),
                      (dict(confidence_levels=[1.2]), "confidence_levels"), (dict(num_simulations=0), "num_simulations")):
        with pytest.raises(InputError, match=field):
            make_config(**kw)
    bad = demo.asset_returns.copy()
    bad.iloc[-3, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        simulate(bad, None, make_config(seed=1))
    with pytest.raises(InputError, match="not in the returns"):
        simulate(demo.asset_returns, {"XXXX": 1.0}, make_config(seed=1))


def test_normal_univariate_one_day_matches_closed_form():
    rng = np.random.default_rng(8)
    r = pd.Series(rng.standard_normal(400) * 0.01 + 0.0005)
    res = simulate(r, None, make_config(method="normal", holding_period=1, num_simulations=400_000, seed=3,
                                        lookback_days=400))
    mu, sd = r.mean(), r.std(ddof=1)
    assert res.var_99 == pytest.approx(-(mu + sd * stats.norm.ppf(0.01)), rel=0.01)
    assert res.std_dev == pytest.approx(sd, rel=0.01)


def test_multivariate_t_keeps_covariance_and_tail_dependence():
    rng = np.random.default_rng(4)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]]) * 1e-4
    x = pd.DataFrame(rng.multivariate_normal([0, 0], cov, 2000) * np.sqrt(5 / rng.chisquare(5, (2000, 1))),
                     columns=["a", "b"])
    cfg = make_config(method="t", mode="asset_multivariate", holding_period=1, num_simulations=1,
                      lookback_days=2000, seed=9, t_dof=5.0)
    from qmtl_research.risk.montecarlo import _Sampler
    s = _Sampler(x.to_numpy(), cfg)
    draws = s.draw(np.random.default_rng(1), 300_000)[:, 0, :]
    np.testing.assert_allclose(np.cov(draws, rowvar=False), np.cov(x.to_numpy(), rowvar=False), rtol=0.05)
    # shared chi-square: joint extreme losses much more frequent than under independence
    qa, qb = np.quantile(draws[:, 0], 0.01), np.quantile(draws[:, 1], 0.01)
    assert np.mean((draws[:, 0] < qa) & (draws[:, 1] < qb)) > 0.004


def test_log_returns_aggregate_by_sum():
    r = pd.Series(np.full(50, 0.01))              # constant: every path is the same
    simple = simulate(r, None, make_config(holding_period=5, seed=1, num_simulations=10))
    log = simulate(r, None, make_config(holding_period=5, seed=1, num_simulations=10, return_type="log"))
    assert simple.mean_return == pytest.approx(1.01 ** 5 - 1, rel=1e-12)
    assert log.mean_return == pytest.approx(5 * np.log1p(0.01), rel=1e-12)
