"""joblib's dask backend on a 2-worker LocalCluster: stage-1 refits (the GARCH engine and a series
challenger) and the stage-2 grid search give exactly the serial numbers; the scheduler address
comes from ``$QMTL_DASK_SCHEDULER``."""
import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from qmtl_research.errors import ConfigError  # noqa: E402
from qmtl_research.parallel import SCHEDULER_ENV, dask_client, scheduler_address  # noqa: E402


def _garch_panel(n_funds=4, n=320, seed=1):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2015-01-02", periods=n, freq="W-FRI")
    cols = {}
    for j in range(n_funds):
        omega, alpha, beta = 2e-5, 0.05 + 0.02 * j, 0.85
        h, r = omega / (1 - alpha - beta), np.empty(n)
        for t in range(n):
            r[t] = 0.001 + np.sqrt(h) * rng.standard_normal()
            h = omega + alpha * (r[t] - 0.001) ** 2 + beta * h
        cols[f"F{j}"] = r
    frame = pd.DataFrame(cols, index=idx)
    frame.iloc[:50, 3] = np.nan                                  # a fund that starts later
    return frame


def _grades(n=150, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(n), [-0.8, 0.0, 0.8]) + 1
    return pd.DataFrame(x, columns=["a", "b", "c"]), y


def _n_tasks(cluster) -> int:
    """Task state transitions the cluster's scheduler has made so far (grows when it runs tasks)."""
    return cluster.scheduler.transition_counter


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as c:
        yield c


def test_stage1_refits_on_dask_equal_the_serial_run(cluster):
    from qmtl_research.volatility import GarchConfig, Stage1Config, garch_walk_forward
    from qmtl_research.volatility.series import series_walk_forward

    returns = _garch_panel()
    refits = [returns.index[150], returns.index[230], returns.index[300]]
    serial_cfg = GarchConfig(n_jobs=1)
    dask_cfg = GarchConfig(n_jobs=2, backend="dask")
    serial = garch_walk_forward(returns, refits, serial_cfg, progress=False)
    with distributed.Client(cluster):
        before = _n_tasks(cluster)
        par = garch_walk_forward(returns, refits, dask_cfg, progress=False)
        gjr_par = series_walk_forward("GJR-GARCH", Stage1Config(models=("GJR-GARCH",), garch=dask_cfg),
                                      returns, refits)
        assert _n_tasks(cluster) > before, "the refits did not run on the cluster"
    pd.testing.assert_frame_equal(serial.forecast, par.forecast, check_exact=True)
    pd.testing.assert_frame_equal(serial.cond_vol, par.cond_vol, check_exact=True)
    pd.testing.assert_frame_equal(serial.params, par.params, check_exact=True)
    assert len(serial.params) >= 10 and np.isfinite(serial.forecast.iloc[-1]).all()
    gjr = series_walk_forward("GJR-GARCH", Stage1Config(models=("GJR-GARCH",), garch=serial_cfg), returns, refits)
    pd.testing.assert_frame_equal(gjr.forecast, gjr_par.forecast, check_exact=True)
    pd.testing.assert_frame_equal(gjr.fits, gjr_par.fits, check_exact=True)


def test_stage2_grid_search_on_dask_equals_the_serial_run(cluster, monkeypatch):
    from qmtl_research.rating.models import GradeSVC

    X, y = _grades()
    grid = {"C": [0.1, 1.0, 10.0], "gamma": [0.1, 1.0]}
    serial = GradeSVC("rbf", param_grid=grid, random_state=2).fit(X, y)
    # through $QMTL_DASK_SCHEDULER (no current client): the cluster's address
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    before = _n_tasks(cluster)
    par = GradeSVC("rbf", param_grid=grid, random_state=2, n_jobs=2, backend="dask").fit(X, y)
    assert _n_tasks(cluster) > before, "the grid search did not run on the cluster"
    assert par.best_params_ == serial.best_params_
    np.testing.assert_array_equal(par.predict(X), serial.predict(X))
    np.testing.assert_array_equal(par.search_.cv_results_["mean_test_score"],
                                  serial.search_.cv_results_["mean_test_score"])
    with pytest.raises(ConfigError, match="unknown joblib backend"):
        GradeSVC("rbf", param_grid=grid, backend="spark").fit(X, y)


def test_scheduler_address_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert scheduler_address() is None
    monkeypatch.setenv(SCHEDULER_ENV, " tcp://10.0.0.5:8786 ")
    assert scheduler_address() == "tcp://10.0.0.5:8786"
    monkeypatch.setenv(SCHEDULER_ENV, "10.0.0.5:8786; rm -rf /")
    with pytest.raises(ConfigError, match="not a Dask scheduler address"):
        scheduler_address()
    with pytest.raises(ConfigError):
        with dask_client(2):
            pass


def test_stage_parameters_carry_the_backend():
    from pydantic import ValidationError

    from qmtl_research.pipeline import RatingParams, VolatilityParams, rating_settings, stage1_config

    cfg = stage1_config(VolatilityParams(n_jobs=2, backend="dask"), seed=1)
    assert (cfg.garch.n_jobs, cfg.garch.backend) == (2, "dask")
    assert stage1_config(VolatilityParams(), seed=1).garch.backend == "loky"
    # the grid search's workers are run settings, not rating settings
    assert rating_settings(RatingParams(n_jobs=2, backend="dask")) == rating_settings(RatingParams())
    with pytest.raises(ValidationError):
        RatingParams(backend="spark")


def test_gjr_refits_in_loky_worker_processes_equal_the_serial_run():
    """loky's workers run BLAS on one thread; the serial run did on every core, and SLSQP carried
    the last-digit differences of the multi-threaded products to 1e-4 in the log-likelihood:
    every fit now runs on one BLAS thread wherever it runs."""
    from qmtl_research.volatility import GarchConfig, Stage1Config
    from qmtl_research.volatility.series import series_walk_forward

    returns = _garch_panel()
    refits = [returns.index[150], returns.index[230], returns.index[300]]
    runs = [series_walk_forward("GJR-GARCH", Stage1Config(models=("GJR-GARCH",), garch=GarchConfig(n_jobs=n)),
                                returns, refits) for n in (1, 2)]
    assert len(runs[0].fits) >= 10
    pd.testing.assert_frame_equal(runs[0].forecast, runs[1].forecast, check_exact=True)
    pd.testing.assert_frame_equal(runs[0].fits, runs[1].fits, check_exact=True)
