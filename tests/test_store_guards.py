"""Append-only records enforced by the database (store.guards) on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, String, Table, select, text

from qmtl_research.errors import StoreError
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store import guards
from qmtl_research.store.db import ensure_schema
from qmtl_research.store.tables import metadata, schema_info

KEY = RunKey("w1", "s1", "r1")


@pytest.fixture
def store(store_url):
    s = EvaluationStore.open(store_url)
    yield s
    s.engine.dispose()


def _fill(store: EvaluationStore) -> None:
    """One evaluated run with a result, a history revision, events and a report."""
    store.create_run(KEY, stage="backtest")
    store.start_run(KEY)
    store.put_result(KEY, "sec", "x", 1.5)
    store.evaluate_run(KEY, metrics={"returns": {"sharpe": 1.0}}, validation={}, summary={"status": "pass"})
    store.append_history(KEY, "override", {"reason": "r"}, actor="a")
    store.register_report(strategy_id="s1", world_id="w1", version="v0001", run_id="r1", path="reports/x",
                          files={"a": "h"}, manifest={})


def _snapshot(store: EvaluationStore) -> dict[str, list]:
    with store.engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
                for t in guards.PROTECTED}


RAW = [
    ("evaluation_runs", "UPDATE evaluation_runs SET status = 'failed'"),
    ("evaluation_runs", "UPDATE evaluation_runs SET summary = NULL"),
    ("evaluation_runs", "UPDATE evaluation_runs SET status = 'running'"),
    ("evaluation_runs", "DELETE FROM evaluation_runs"),
    ("run_results", "UPDATE run_results SET name = 'y'"),
    ("run_results", "DELETE FROM run_results"),
    ("run_history", "UPDATE run_history SET actor = 'someone else'"),
    ("run_history", "DELETE FROM run_history"),
    ("events", "UPDATE events SET event_type = 'x'"),
    ("events", "DELETE FROM events"),
    ("reports", "UPDATE reports SET path = '/tmp/elsewhere'"),
    ("reports", "DELETE FROM reports"),
]


@pytest.mark.parametrize("table,sql", RAW, ids=[s.split(" SET ")[0].replace(" ", "_") + f"-{i}" for i, (_, s) in enumerate(RAW)])
def test_raw_update_and_delete_are_refused_by_the_database(store, table, sql):
    _fill(store)
    before = _snapshot(store)
    with pytest.raises(Exception, match=f"{table} is append-only"):
        with store.engine.begin() as conn:
            conn.execute(text(sql))
    assert _snapshot(store) == before


def test_the_stores_own_transitions_still_work_and_a_frozen_run_stays_frozen(store):
    store.create_run(KEY)
    store.start_run(KEY)
    store.fail_run(KEY, "boom")                                  # running -> failed
    k2 = RunKey("w1", "s1", "r2")
    store.create_run(k2)
    store.evaluate_run(k2, metrics={}, validation={}, summary={"status": "pass"})   # created -> evaluated
    k3 = RunKey("w1", "s1", "r3")
    store.create_run(k3)
    store.fail_run(k3, "bad input")                              # created -> failed
    assert [r["status"] for r in store.list_runs()] == ["failed", "evaluated", "failed"]
    # a raw update that goes around the store's checks is refused by the triggers
    for sql in ("UPDATE evaluation_runs SET status = 'running' WHERE run_id = 'r1'",
                "UPDATE evaluation_runs SET run_id = 'other' WHERE run_id = 'r2'",
                "UPDATE evaluation_runs SET error = NULL WHERE run_id = 'r3'"):
        with pytest.raises(Exception, match="evaluation_runs is append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(sql))
    # a created run may legitimately move, but not change identity on the way
    k4 = RunKey("w1", "s1", "r4")
    store.create_run(k4)
    with pytest.raises(Exception, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE evaluation_runs SET status = 'running', world_id = 'w9' WHERE run_id = 'r4'"))
    with store.engine.begin() as conn:      # the legitimate move, raw: allowed
        conn.execute(text("UPDATE evaluation_runs SET status = 'running' WHERE run_id = 'r4'"))
    assert store.get_run(k4)["status"] == "running"


def test_a_racing_writer_gets_a_store_error_not_a_database_traceback(store, monkeypatch):
    """Two writers read 'running'; the second update reaches the database after the first froze
    the run: the trigger refuses and the store says so."""
    store.create_run(KEY)
    store.start_run(KEY)
    store.evaluate_run(KEY, metrics={}, validation={}, summary={"status": "pass"})
    from qmtl_research.store import repository

    real_select = repository.select

    def stale_select(*cols):                 # the racing writer still sees 'running'
        q = real_select(*cols)
        if cols and getattr(cols[0], "name", None) == "status":
            return real_select(text("'running' AS status")).select_from(repository.evaluation_runs)
        return q

    monkeypatch.setattr(repository, "select", stale_select)
    # the conditional UPDATE (status still 'running') matches no row, or the trigger refuses it:
    # either way a StoreError that says the run changed, never a database traceback
    with pytest.raises(StoreError, match=r"changed (status )?while"):
        store.fail_run(KEY, "late")
    monkeypatch.undo()
    assert store.get_run(KEY)["status"] == "evaluated"


def test_an_existing_store_without_guards_gets_them_on_open(store_url):
    s = EvaluationStore.open(store_url)
    with s.engine.begin() as conn:      # make it look like a store made before the guards
        for g in guards.PROTECTED.values():
            for name in guards.trigger_sql(g, s.engine.dialect.name):
                conn.execute(text(f"DROP TRIGGER {name}" + (f" ON {g.table}" if s.engine.dialect.name == "postgresql" else "")))
        conn.execute(schema_info.update().values(version=1))
        assert guards.missing_guards(conn)
    s.create_run(KEY)
    with s.engine.begin() as conn:       # unguarded: a raw delete goes through (the state being repaired)
        conn.execute(text("DELETE FROM events"))
    s.engine.dispose()
    s = EvaluationStore.open(store_url)
    with s.engine.connect() as conn:
        assert guards.missing_guards(conn) == []
        assert conn.execute(select(schema_info.c.version)).scalar() >= 2
    with pytest.raises(Exception, match="evaluation_runs is append-only"):
        with s.engine.begin() as conn:
            conn.execute(text("DELETE FROM evaluation_runs"))
    s.engine.dispose()


def test_legacy_approval_triggers_are_replaced_and_opening_twice_changes_nothing(store_url):
    s = EvaluationStore.open(store_url)
    dialect = s.engine.dialect.name
    with s.engine.begin() as conn:
        for name in guards.trigger_sql(guards.PROTECTED["approvals"], dialect):
            conn.execute(text(f"DROP TRIGGER {name}" + (" ON approvals" if dialect == "postgresql" else "")))
        if dialect == "sqlite":
            conn.execute(text("CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals "
                              "BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END"))
    ensure_schema(s.engine)
    with s.engine.begin() as conn:
        names = guards._existing(conn, dialect).get("approvals", set())
        assert names == set(guards.trigger_sql(guards.PROTECTED["approvals"], dialect))
        assert guards.install_guards(conn) == []        # idempotent: nothing left to create
    s.engine.dispose()


def test_a_new_table_is_protected_by_one_declaration(store_url, monkeypatch):
    findings = Table("test_findings_guarded", metadata, Column("id", Integer, primary_key=True),
                     Column("text", String(64)))
    monkeypatch.setitem(guards.PROTECTED, "test_findings_guarded", guards.AppendOnly("test_findings_guarded"))
    try:
        s = EvaluationStore.open(store_url)
        with s.engine.begin() as conn:
            conn.execute(findings.insert().values(id=1, text="a finding"))
        for sql in ("UPDATE test_findings_guarded SET text = 'x'", "DELETE FROM test_findings_guarded"):
            with pytest.raises(Exception, match="test_findings_guarded is append-only"):
                with s.engine.begin() as conn:
                    conn.execute(text(sql))
        with s.engine.connect() as conn:
            assert conn.execute(select(findings.c.text)).scalar() == "a finding"
        findings.drop(s.engine)
        s.engine.dispose()
    finally:
        metadata.remove(findings)


def test_the_update_condition_reads_as_declared():
    g = guards.PROTECTED["evaluation_runs"]
    cond = g.refuse_update_when("sqlite")
    assert "(OLD.status = 'created' AND NEW.status = 'running')" in cond
    assert "(OLD.status = 'evaluated'" not in cond                 # nothing leaves evaluated
    assert "OLD.run_id IS NOT NEW.run_id" in cond
    assert "IS DISTINCT FROM" in g.refuse_update_when("postgresql")
    assert guards.PROTECTED["events"].refuse_update_when("sqlite") is None
