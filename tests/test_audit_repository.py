"""Audit tables: risk report, performance and attribution round trips; unique keys."""
import datetime as dt

import pytest

from qmtl_research.audit import analyze, demo_portfolio, factor_attribution, generate_report, save_report
from qmtl_research.audit.repository import AuditRepository
from qmtl_research.errors import StoreError
from qmtl_research.risk import make_config


def test_risk_report_round_trip(tmp_path):
    repo = AuditRepository.open(f"sqlite:///{tmp_path}/s.sqlite")
    data = demo_portfolio()
    rep = generate_report(data, "2020-03-31", make_config(seed=42, num_simulations=2000))
    assert rep.as_of == "2020-03-31"
    save_report(rep, repo)
    mc = repo.montecarlo(rep.montecarlo.run_id)
    assert mc["var_95"] == pytest.approx(rep.montecarlo.var_95) and mc["config"]["seed"] == 42
    assert mc["run_date"] == dt.date.fromisoformat(rep.montecarlo.run_date)
    assert mc["percentiles"]["50"] == pytest.approx(rep.montecarlo.percentiles[50])
    vs = repo.var_snapshots("demo")
    assert len(vs) == 1 and vs["var_95_amount"].iloc[0] == pytest.approx(vs["var_95"].iloc[0] * 1e8)
    st = repo.stress(rep.montecarlo.run_id)
    assert sorted(st["scenario_name"]) == sorted(rep.stress["scenario"])
    with pytest.raises(StoreError):        # same date and portfolio: VaR snapshot is unique
        repo.save_var_snapshot("2020-03-31", "demo", 0.01, 0.02, 0.02, 0.03, 1e8)
    with pytest.raises(StoreError):        # Monte Carlo run ids are unique
        repo.save_montecarlo(rep.montecarlo)


def test_performance_and_attribution_rows(tmp_path):
    repo = AuditRepository.open(f"sqlite:///{tmp_path}/s.sqlite")
    data = demo_portfolio()
    perf = analyze(data.portfolio_returns, data.benchmark_returns, "1Y")
    repo.save_performance(perf, "demo")
    row = repo.performance_reports("demo")[0]
    assert row["period"] == "1Y" and row["sharpe"] == pytest.approx(perf.sharpe)
    assert row["report_data"]["beta"] == pytest.approx(perf.beta)
    att = factor_attribution(data.portfolio_returns, data.factor_returns)
    assert repo.save_attribution(att.table, "ALL", "demo") == len(att.table)
    back = repo.attributions("demo")
    assert back["contribution"].sum() == pytest.approx(att.total)
