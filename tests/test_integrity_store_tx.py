"""Issue #17 item 7: a status change and its event are one transaction.

A failure injected *between* the two statements (the database refuses the event insert after
the run row was updated) must leave neither: the run keeps its status and no event is stored.
Both engines (SQLite always, PostgreSQL with QMTL_TEST_PG_URL)."""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.tables import evaluation_runs, events, run_history


class Injected(RuntimeError):
    pass


def _fail_on_event_insert(engine):
    """Make the database connection fail on the next ``INSERT INTO events`` (after the other
    statements of the same transaction ran)."""
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            seen.append(statement)
            raise Injected("injected failure between the run update and its event")

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def _counts(store):
    with store.engine.connect() as conn:
        return {"events": conn.execute(select(func.count()).select_from(events)).scalar(),
                "runs": conn.execute(select(func.count()).select_from(evaluation_runs)).scalar(),
                "history": conn.execute(select(func.count()).select_from(run_history)).scalar()}


def test_verdict_and_event_are_one_transaction(store_url):
    store = EvaluationStore.open(store_url)
    key = RunKey("w", "s", "s-1")
    store.create_run(key)
    store.start_run(key)
    before = _counts(store)
    seen, undo = _fail_on_event_insert(store.engine)
    try:
        with pytest.raises(Injected):
            store.evaluate_run(key, metrics={"sharpe": 1.0}, validation={}, summary={"status": "pass"})
    finally:
        undo()
    assert seen, "the injection point was never reached"
    run = store.get_run(key)
    assert run["status"] == "running" and run["summary"] is None and run["evaluated_at"] is None
    assert _counts(store) == before
    assert not store.events("evaluation_run_updated")
    # without the failure, the same call stores both, once
    store.evaluate_run(key, metrics={"sharpe": 1.0}, validation={}, summary={"status": "pass"})
    assert store.get_run(key)["status"] == "evaluated"
    evs = store.events("evaluation_run_updated")
    assert [e["payload"]["change_type"] for e in evs] == ["evaluated"]
    assert evs[0]["payload"]["status"] == "pass"


def test_created_run_and_its_event_are_one_transaction(store_url):
    store = EvaluationStore.open(store_url)
    before = _counts(store)
    seen, undo = _fail_on_event_insert(store.engine)
    try:
        with pytest.raises(Injected):
            store.create_run(RunKey("w", "s", "s-2"))
    finally:
        undo()
    assert seen and _counts(store) == before
    assert store.list_runs() == []


def test_history_revision_and_its_event_are_one_transaction(store_url):
    store = EvaluationStore.open(store_url)
    key = RunKey("w", "s", "s-3")
    store.create_run(key)
    store.evaluate_run(key, metrics={}, validation={}, summary={"status": "fail"})
    before = _counts(store)
    seen, undo = _fail_on_event_insert(store.engine)
    try:
        with pytest.raises(Injected):
            store.append_history(key, "ex_post_failure", {"reason": "x"}, actor="tester")
    finally:
        undo()
    assert seen and _counts(store) == before and store.history(key) == []
    assert store.append_history(key, "ex_post_failure", {"reason": "x"}, actor="tester") == 1
    assert _counts(store) == {**before, "history": 1, "events": before["events"] + 1}


def test_evaluation_event_already_present_refuses_the_verdict(store_url):
    """An ``evaluated`` event for a run that is not evaluated (e.g. written by hand) makes the
    verdict fail as a whole: a clear StoreError, the run unchanged, no second event."""
    from qmtl_research.errors import StoreError

    store = EvaluationStore.open(store_url)
    key = RunKey("w", "s", "s-4")
    store.create_run(key)
    store.emit_event("evaluation_run_updated", key, {"change_type": "evaluated"},
                     idempotency_key=f"evaluation_run_updated:{key}:evaluated")
    before = _counts(store)
    with pytest.raises(StoreError) as err:
        store.evaluate_run(key, metrics={}, validation={}, summary={"status": "pass"})
    assert "already recorded" in str(err.value) and "new run_id" in str(err.value)
    assert store.get_run(key)["status"] == "created" and _counts(store) == before
