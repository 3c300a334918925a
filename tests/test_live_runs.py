"""Live runs from the pipeline: the shipped real portfolio, live from 2021-01-04 on real data,
judged against its backtest run; figures checked against empyrical and numpy."""
import math

import empyrical
import numpy as np
import pandas as pd
import pytest

from conftest import invoke

from qmtl_research.data.portfolio import load_portfolio
from qmtl_research.config import load_strategy, load_world
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.store import EvaluationStore
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.governance.live import live_returns, record_live_run
from qmtl_research.validation.metrics import compute_metric_blocks
from qmtl_research.validation.policy import policy_of_world
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.governance.runs import store_outcome

SID, WORLD, START = "real-portfolio", "portfolios", pd.Timestamp("2021-01-04")


@pytest.fixture(scope="module")
def returns():
    return load_portfolio(SID).portfolio_returns


@pytest.fixture
def store(tmp_path, returns):
    """A store with the real portfolio's backtest run (metrics of the returns before the live start)."""
    store = EvaluationStore.open(f"sqlite:///{tmp_path}/store.sqlite")
    world = load_world(WORLD)
    metrics = compute_metric_blocks(returns[returns.index < START])
    o = evaluate_batch([RunRecord(SID, "bt-1", metrics, WORLD, "backtest")], policy_of_world(world)[0], "backtest",
                       policy_version=world.policy_version)[0]
    store_outcome(store, o, world_id=WORLD, model_card_version="v1")
    return store


def cfg_owner(cfg):
    from qmtl_research.config import load_model_card

    return load_model_card(cfg.model_card).owner


def test_the_shipped_strategy_declares_a_live_period_on_real_data(returns):
    cfg = load_strategy(SID)
    assert cfg.live is not None and pd.Timestamp(cfg.live.start) == START and not cfg.synthetic
    series, source = live_returns(cfg)
    assert "real" in source and series.index.min() < START < series.index.max()
    assert (series.index >= START).sum() > 400                # two years of live trading days


def test_live_run_figures_match_independent_references(store, returns):
    cfg = load_strategy(SID)
    key = record_live_run(store, cfg, load_world(WORLD), returns, source="test")
    run = store.get_run(key)
    assert run["stage"] == "live" and run["status"] == "evaluated"
    assert run["params"]["backtest_run"] == "bt-1" and run["params"]["live_start"] == "2021-01-04"
    b = run["metrics"]["live"]
    live, bt = returns[returns.index >= START], returns[returns.index < START]
    for w in (30, 60, 90):
        win = live[live.index > live.index[-1] - pd.Timedelta(days=w)]
        assert b[f"sharpe_{w}d"] == pytest.approx(empyrical.sharpe_ratio(win), rel=1e-10)
        assert b[f"max_drawdown_{w}d"] == pytest.approx(-empyrical.max_drawdown(win), rel=1e-10)
        q = np.quantile(win.to_numpy(), 0.01)
        assert b[f"es_p01_{w}d"] == pytest.approx(-win[win <= q].mean(), rel=1e-10)
    ratio = empyrical.sharpe_ratio(live) / empyrical.sharpe_ratio(bt)
    assert b["live_vs_backtest_sharpe_ratio"] == pytest.approx(ratio, rel=1e-10)
    assert b["override_count_90d"] == 0 and b["override_frequency_per_30d"] == 0
    # the demotion decision follows the limits (live/backtest Sharpe >= 0.5, 90-day Sharpe >= 0,
    # live drawdown <= 1.5 x backtest)
    expected = (ratio < 0.5 or b["sharpe_90d"] < 0 or b["max_drawdown_ratio"] > 1.5)
    assert run["params"]["demotion_candidate"] is bool(expected)
    # judged by the world's live_monitoring rule at stage live
    assert "live_monitoring" in run["validation"]["results"]
    # the consumer's state view carries the live decay of the latest live run
    from qmtl_research.governance.stream import Consumer, state_frame

    Consumer(store, "live").follow(once=True)
    row = state_frame(store).set_index("strategy_id").loc[SID]
    assert row["live_decay"] == pytest.approx(ratio, rel=1e-10) and row["run_id"] == key.run_id
    assert row["owner"] == cfg_owner(cfg) and row["detail"]["live_run"] == key.run_id


def test_runs_live_command(tmp_path, store, returns):
    url = str(store.engine.url)
    res = invoke("runs", "live", "--strategy", SID, "--store-url", url)
    live_runs = [r for r in store.list_runs(WORLD, SID) if r["stage"] == "live"]
    assert len(live_runs) == 1
    cand = live_runs[0]["params"]["demotion_candidate"]
    assert res.returncode == (1 if cand else 0), res.stderr
    assert "against backtest run bt-1" in res.stdout and "30d" in res.stdout
    # a returns file with two columns is refused, nothing stored
    bad = tmp_path / "two.csv"
    pd.DataFrame({"date": returns.index[:5].strftime("%Y-%m-%d"), "a": 0.01, "b": 0.02}).to_csv(bad, index=False)
    res = invoke("runs", "live", "--strategy", SID, "--returns", str(bad), "--store-url", url)
    assert res.returncode == 2 and "one column" in res.stderr
    assert len([r for r in store.list_runs(WORLD, SID) if r["stage"] == "live"]) == 1


def test_live_run_refusals(tmp_path, returns):
    empty = EvaluationStore.open(f"sqlite:///{tmp_path}/empty.sqlite")
    cfg = load_strategy(SID)
    with pytest.raises(InputError, match="no evaluated backtest run"):
        record_live_run(empty, cfg, load_world(WORLD), returns, source="test")
    with pytest.raises(InputError, match="before and from the live start"):
        record_live_run(empty, cfg, load_world(WORLD), returns[returns.index >= START], source="test")
    with pytest.raises(ConfigError, match="no live period"):
        record_live_run(empty, load_strategy("demo"), load_world(WORLD), returns, source="test")
    assert empty.list_runs() == [] and not math.isnan(returns.iloc[0])
