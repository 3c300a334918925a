"""Audit tables: one transaction per command run (a failure anywhere leaves nothing), reruns
unchanged or refused before any write, never overwritten; upgrade of a schema-1 store.
Every test runs on SQLite and (marked ``postgres``, with QMTL_TEST_PG_URL) on PostgreSQL."""
import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from _audit_support import counts, engine_of, url  # noqa: F401  (fixture)
from qmtl_research.data.portfolio import demo_portfolio
from qmtl_research.risk.attribution import factor_attribution
from qmtl_research.risk.performance import analyze
from qmtl_research.risk.portfolio_report import generate_report, save_report
from qmtl_research.risk.alerts import check_alerts
from qmtl_research.store.audit_repository import AuditRepository, alert_event_key
from qmtl_research.risk.audit_settings import AuditSettings
from qmtl_research.errors import InputError, StoreError
from qmtl_research.risk import make_config
from qmtl_research.store.db import SCHEMA_VERSION

NOTHING = {"daily_snapshots": 0, "performance_reports": 0, "attributions": 0, "montecarlo_results": 0,
           "var_daily_snapshots": 0, "stress_test_results": 0, "audit_alert": 0}


@pytest.fixture(scope="module")
def demo():
    return demo_portfolio()


def report(demo, seed=42, as_of="2020-03-31"):
    return generate_report(demo, as_of, make_config(seed=seed, num_simulations=2000))


def test_risk_report_round_trip_and_reruns(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    rep = report(demo)
    assert rep.as_of == "2020-03-31"
    out = save_report(rep, repo)
    assert out.rows_written == 1 + 1 + len(rep.stress) and out.records[0].status == "stored"
    mc = repo.montecarlo(rep.montecarlo.run_id)
    assert mc["var_95"] == pytest.approx(rep.montecarlo.var_95) and mc["config"]["seed"] == 42
    assert mc["run_date"] == dt.date.fromisoformat(rep.montecarlo.run_date)
    assert mc["percentiles"]["50"] == pytest.approx(rep.montecarlo.percentiles[50])
    vs = repo.var_snapshots("demo")
    assert len(vs) == 1 and vs["var_95_amount"].iloc[0] == pytest.approx(vs["var_95"].iloc[0] * 1e8)
    assert vs["run_id"].iloc[0] == rep.montecarlo.run_id
    st = repo.stress(rep.montecarlo.run_id)
    assert sorted(st["scenario_name"]) == sorted(rep.stress["scenario"])
    stored = counts(url)
    # the rerun: same inputs and seed, a new Monte Carlo run id -> unchanged, nothing written
    again = report(demo)
    assert again.montecarlo.run_id != rep.montecarlo.run_id
    out = save_report(again, repo)
    assert out.unchanged and rep.montecarlo.run_id in out.lines()[0] and counts(url) == stored
    # other numbers for the same portfolio and date: refused, nothing written (no orphan Monte Carlo row)
    with pytest.raises(StoreError, match="already stored .* with different content") as exc:
        save_report(report(demo, seed=7), repo)
    assert "snapshot_date=2020-03-31, portfolio_id=demo" in str(exc.value) and "--date" in exc.value.fix
    assert counts(url) == stored
    assert save_report(report(demo, as_of="2020-04-30"), repo).rows_written == stored["montecarlo_results"] + \
        stored["var_daily_snapshots"] + stored["stress_test_results"]


def test_a_refusal_anywhere_writes_nothing(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    perf = analyze(demo.portfolio_returns, demo.benchmark_returns, "1Y")
    repo.save_performance(perf, "demo")
    att = factor_attribution(demo.portfolio_returns, demo.factor_returns)
    other = analyze(demo.portfolio_returns, None, "1Y")           # same key, other content
    with pytest.raises(StoreError, match="performance report .* different content"):
        with repo.transaction() as tx:
            tx.add_attribution(att, "ALL", "demo")                 # planned first, refused with the rest
            tx.add_performance(other, "demo")
    assert counts(url) == {**NOTHING, "performance_reports": 1}


def test_a_failure_during_the_writes_rolls_everything_back(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    rep = report(demo)
    perf = analyze(demo.portfolio_returns, demo.benchmark_returns, "1Y")
    with pytest.raises(StoreError, match="another writer"):
        with repo.transaction() as tx:                              # both checks pass (nothing stored) ...
            tx.add_performance(perf, "demo")
            tx.add_risk_report(rep)
            tx.add_montecarlo(rep.montecarlo)                       # ... the second insert of the run id fails
    assert counts(url) == NOTHING
    with pytest.raises(RuntimeError):
        with repo.transaction() as tx:
            tx.add_performance(perf, "demo")
            raise RuntimeError("the command failed after planning")
    assert counts(url) == NOTHING


def test_var_snapshot_of_an_older_version_is_refused_up_front(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    repo.save_var_snapshot("2020-03-31", "demo", 0.01, 0.02, 0.02, 0.03, 1e8)   # no Monte Carlo link
    with pytest.raises(StoreError, match="older version"):
        save_report(report(demo), repo)
    assert counts(url) == {**NOTHING, "var_daily_snapshots": 1}


def test_performance_rows_and_reruns(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    perf = analyze(demo.portfolio_returns, demo.benchmark_returns, "1Y")
    assert repo.save_performance(perf, "demo", benchmark_name="KOSPI (synthetic)").rows_written == 1
    row = repo.performance_reports("demo")[0]
    assert row["period"] == "1Y" and row["sharpe"] == pytest.approx(perf.sharpe)
    assert row["start_date"] == dt.date.fromisoformat(perf.start_date)
    assert row["report_data"]["beta"] == pytest.approx(perf.beta)
    assert row["report_data"]["benchmark_name"] == "KOSPI (synthetic)"
    assert repo.save_performance(perf, "demo", benchmark_name="KOSPI (synthetic)").unchanged
    with pytest.raises(StoreError, match="benchmark_name"):
        repo.save_performance(perf, "demo", benchmark_name="S&P 500")
    rf = analyze(demo.portfolio_returns, demo.benchmark_returns, "1Y", risk_free=0.02)
    with pytest.raises(StoreError, match="sharpe: stored"):
        repo.save_performance(rf, "demo", benchmark_name="KOSPI (synthetic)")
    assert repo.save_performance(rf, "demo-rf2", benchmark_name="KOSPI (synthetic)").rows_written == 1
    assert repo.save_performance(analyze(demo.portfolio_returns, None, "3Y"), "demo").rows_written == 1
    assert len(repo.performance_reports("demo")) == 2


def test_attribution_rows_and_reruns(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    att = factor_attribution(demo.portfolio_returns, demo.factor_returns)
    assert repo.save_attribution(att, "ALL", "demo").rows_written == len(att.table)
    back = repo.attributions("demo")
    assert back["contribution"].sum() == pytest.approx(att.total)
    assert set(back["start_date"]) == {dt.date.fromisoformat(att.start_date)}
    assert repo.save_attribution(att, "ALL", "demo").unchanged
    fewer = factor_attribution(demo.portfolio_returns, demo.factor_returns[["MKT"]])
    with pytest.raises(StoreError, match="6 stored rows, 3 new"):
        repo.save_attribution(fewer, "ALL", "demo")
    with pytest.raises(InputError, match="start and end dates"):
        repo.save_attribution(att.table, "ALL", "demo")
    wide = att.table.assign(factor=["a_factor_name_longer_than_twenty"] + list(att.table.factor[1:]))
    with pytest.raises(InputError, match="longer than 20"):
        repo.save_attribution(wide, "ALL", "x", start_date=att.start_date, end_date=att.end_date)
    assert len(repo.attributions("demo")) == len(att.table) and repo.attributions("x").empty


def test_alert_events_are_emitted_once(url, demo):  # noqa: F811
    repo = AuditRepository.open(url)
    r = demo.portfolio_returns.loc["2024"]
    alerts = check_alerts(r, AuditSettings())
    assert len(alerts) > 0
    with repo.transaction() as tx:
        tx.add_alerts(alerts, portfolio_id="demo", source="performance", series_start=r.index[0])
    assert tx.outcome.events_emitted == len(alerts)
    with repo.transaction() as tx:
        tx.add_alerts(alerts, portfolio_id="demo", source="performance", series_start=r.index[0])
    assert tx.outcome.events_emitted == 0 and tx.outcome.events_seen == len(alerts)
    ev = repo.alert_events("demo")
    assert len(ev) == len(alerts) and ev["value"].tolist() == pytest.approx(alerts["value"].tolist())
    first = alerts.iloc[0]
    assert ev["idempotency_key"].iloc[0] == alert_event_key("demo", "performance", first.alert, first.date,
                                                           first.threshold, r.index[0])
    changed = alerts.assign(value=alerts["value"] - 0.01)
    with pytest.raises(StoreError, match="another payload"):
        with repo.transaction() as tx:
            tx.add_alerts(changed, portfolio_id="demo", source="performance", series_start=r.index[0])
    assert len(repo.alert_events()) == len(alerts)


V1_DDL = {
    "sqlite": ("INTEGER PRIMARY KEY AUTOINCREMENT", "JSON"),
    "postgresql": ("SERIAL PRIMARY KEY", "JSONB"),
}


def make_v1_store(url):  # noqa: F811
    """The three audit tables as schema version 1 created them, with a row each."""
    pk, js = V1_DDL["postgresql" if url.startswith("postgresql") else "sqlite"]
    eng = engine_of(url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE schema_info (version INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO schema_info (version) VALUES (1)"))
        conn.execute(text(f"CREATE TABLE performance_reports (id {pk}, portfolio_id VARCHAR(50) NOT NULL DEFAULT "
                          "'main', period VARCHAR(20), start_date DATE, end_date DATE, total_return FLOAT, "
                          f"sharpe FLOAT, max_drawdown FLOAT, win_rate FLOAT, report_data {js}, created_at TIMESTAMP)"))
        conn.execute(text(f"CREATE TABLE attributions (id {pk}, portfolio_id VARCHAR(50) NOT NULL DEFAULT 'main', "
                          "period VARCHAR(20), factor VARCHAR(20), contribution FLOAT, exposure FLOAT, "
                          "created_at TIMESTAMP)"))
        conn.execute(text("CREATE TABLE var_daily_snapshots (snapshot_date DATE NOT NULL, portfolio_id VARCHAR(50) "
                          "NOT NULL DEFAULT 'main', var_95 FLOAT, var_99 FLOAT, cvar_95 FLOAT, cvar_99 FLOAT, "
                          "portfolio_value FLOAT, var_95_amount FLOAT, PRIMARY KEY (snapshot_date, portfolio_id))"))
        conn.execute(text("INSERT INTO attributions (portfolio_id, period, factor, contribution) "
                          "VALUES ('old', 'ALL', 'MKT', 0.1)"))
        conn.execute(text("INSERT INTO var_daily_snapshots (snapshot_date, portfolio_id, var_95, var_99, cvar_95, "
                          "cvar_99, portfolio_value, var_95_amount) VALUES ('2020-03-31', 'demo', 0.01, 0.02, "
                          "0.02, 0.03, 1e8, 1e6)"))
    return eng


def test_upgrade_from_schema_version_1(url, demo):  # noqa: F811
    eng = make_v1_store(url)
    repo = AuditRepository.open(url)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION == 2
        old = conn.execute(text("SELECT portfolio_id, factor, contribution, start_date FROM attributions")).all()
    assert [tuple(r) for r in old] == [("old", "MKT", 0.1, None)]               # old rows kept
    att = factor_attribution(demo.portfolio_returns, demo.factor_returns)
    assert repo.save_attribution(att, "ALL", "demo").rows_written == len(att.table)
    assert repo.save_attribution(att, "ALL", "demo").unchanged
    perf = analyze(demo.portfolio_returns, None, "1Y")
    repo.save_performance(perf, "demo")
    with pytest.raises(IntegrityError):           # the new unique index also guards the upgraded table
        with repo.engine.begin() as conn:
            conn.execute(text("INSERT INTO performance_reports (portfolio_id, period, start_date, end_date) "
                              f"VALUES ('demo', '1Y', '{perf.start_date}', '{perf.end_date}')"))
    with pytest.raises(StoreError, match="older version"):
        save_report(report(demo), repo)
    AuditRepository.open(url)                     # opening again is a no-op
    eng.dispose()


def test_upgrade_refuses_rows_that_break_a_new_key(url):  # noqa: F811
    eng = make_v1_store(url)
    with eng.begin() as conn:
        for _ in range(2):
            conn.execute(text("INSERT INTO performance_reports (portfolio_id, period, start_date, end_date) "
                              "VALUES ('demo', '1Y', '2024-01-01', '2024-12-31')"))
    with pytest.raises(StoreError, match="repeat the key") as exc:
        AuditRepository.open(url)
    assert "performance_reports" in str(exc.value) and "remove the repeated rows" in exc.value.fix
    eng.dispose()


def _save_performance_at_once(args):
    url, barrier_path = args  # noqa: F811
    import time
    from pathlib import Path

    from qmtl_research.data.portfolio import demo_portfolio
    from qmtl_research.risk.performance import analyze
    from qmtl_research.store.audit_repository import AuditRepository
    from qmtl_research.errors import StoreError

    d = demo_portfolio()
    perf = analyze(d.portfolio_returns, d.benchmark_returns, "1Y")
    repo = AuditRepository.open(url)
    Path(barrier_path, f"ready-{time.monotonic_ns()}").touch()
    while len(list(Path(barrier_path).glob("ready-*"))) < 2:
        time.sleep(0.005)
    try:
        return repo.save_performance(perf, "demo").records[0].status
    except StoreError as exc:
        return "refused: another writer" if "another writer" in str(exc) else f"error: {exc}"


@pytest.mark.slow
def test_two_processes_saving_the_same_report(url, tmp_path):  # noqa: F811
    """Both check "nothing stored" at about the same time: the unique key lets one insert win; the
    other reports the row unchanged (it checked after the commit) or is refused as another writer."""
    import multiprocessing as mp

    AuditRepository.open(url)                       # schema first, so both processes only write
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_save_performance_at_once, [(url, str(tmp_path))] * 2)
    assert "stored" in results and set(results) <= {"stored", "unchanged", "refused: another writer"}, results
    assert counts(url)["performance_reports"] == 1
