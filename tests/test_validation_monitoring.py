"""Live monitoring windows and demotion candidates, against direct computations."""
import numpy as np
import pandas as pd
import pytest

from qmtl_research.validation.metrics import max_drawdown, sharpe_ratio, var_es
from qmtl_research.governance.monitoring import demotion_candidates, live_block, split_periods


@pytest.fixture
def series():
    idx = pd.bdate_range("2023-01-02", periods=400)
    rng = np.random.default_rng(11)
    return pd.Series(np.r_[rng.normal(0.001, 0.01, 300), rng.normal(-0.0005, 0.012, 100)], index=idx)


def test_split_and_windows(series):
    start = series.index[300]
    bt, live = split_periods(series, start)
    assert len(bt) == 300 and len(live) == 100 and live.index[0] == start
    b = live_block(series, start)
    last = live.index[-1]
    w30 = live[live.index > last - pd.Timedelta(days=30)]
    assert b["sharpe_30d"] == pytest.approx(sharpe_ratio(w30, periods_per_year=252))
    assert b["max_drawdown_30d"] == pytest.approx(max_drawdown(w30))
    assert b["es_p01_30d"] == pytest.approx(var_es(w30, 0.01)[1])
    assert b["live_vs_backtest_sharpe_ratio"] == pytest.approx(sharpe_ratio(live, periods_per_year=252) / sharpe_ratio(bt, periods_per_year=252))
    assert b["max_drawdown_ratio"] == pytest.approx(max_drawdown(live) / max_drawdown(bt))
    assert len(series[series.index > last - pd.Timedelta(days=90)]) > len(w30)


def test_demotion_candidates():
    blocks = {"keep": {"live_vs_backtest_sharpe_ratio": 0.5, "sharpe_90d": 0.0, "max_drawdown_ratio": 1.5},
              "decay": {"live_vs_backtest_sharpe_ratio": 0.49, "sharpe_90d": 0.3, "max_drawdown_ratio": 1.0},
              "deep": {"live_vs_backtest_sharpe_ratio": 0.9, "sharpe_90d": -0.01, "max_drawdown_ratio": 1.51}}
    f = demotion_candidates(blocks).set_index("strategy_id")
    assert not f.loc["keep", "demotion_candidate"]
    assert f.loc["decay", "demotion_candidate"] and "live/backtest Sharpe" in f.loc["decay", "reasons"]
    assert f.loc["deep", "reasons"].count(";") == 1


def test_live_block_in_metric_blocks_and_cli(series, tmp_path):
    from typer.testing import CliRunner

    from qmtl_research.cli import app
    from qmtl_research.validation.metrics import compute_metric_blocks

    start = series.index[300]
    blocks = compute_metric_blocks(series, periods_per_year=252, live_start=start)
    assert blocks["live"] == live_block(series, start)
    f = tmp_path / "r.csv"
    idx = pd.bdate_range("2023-01-02", periods=600)
    head = series.iloc[:300].tolist()
    frame = pd.DataFrame({"steady": head * 2, "decay": head + [-abs(x) for x in head]}, index=idx)
    frame.rename_axis("date").to_csv(f)
    live_start = idx[300].date().isoformat()
    res = CliRunner().invoke(app, ["runs", "monitor", "--returns", str(f), "--live-start", live_start])
    assert res.exit_code == 1 and "sharpe_90d" in res.output
    lines = {ln.split()[0]: ln.split()[1] for ln in res.output.splitlines() if ln.strip().startswith(("steady ", "decay "))
             and ln.split()[1] in ("True", "False")}
    assert lines == {"steady": "False", "decay": "True"}
    assert live_block(frame["steady"], live_start)["live_vs_backtest_sharpe_ratio"] == pytest.approx(1.0)
