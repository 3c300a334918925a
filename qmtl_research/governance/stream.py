"""The event-stream consumer (MRM sketch section 6): deep validation, re-judgement and the state view.

A consumer reads the ``events`` log in id order from its stored offset
(:mod:`qmtl_research.store.stream_tables`), handles each event and then, in one transaction,
writes the state-view rows the event touched and moves its offset to the event's id. Delivery
is **at least once**: a consumer killed after an event's effects and before its offset commit
handles that event again on restart. Every effect is therefore idempotent:

* deep validation of a run is keyed by the run (``deep_validation:<world>/<strategy>/<run>``):
  recorded once, whichever of ``evaluation_run_created`` / ``evaluation_run_updated``
  (``change_type: evaluated``) finds the run evaluated first, and never again on replay;
* a re-judgement is keyed by the triggering event's id and the run
  (``rejudgement:<event id>:<run key>``);
* state-view rows are recomputed from the store, so writing one twice writes the same row.

Handlers (QMTL names in brackets):

* ``evaluation_run_created`` [EvaluationRunCreated] and ``evaluation_run_updated`` with
  ``change_type: evaluated``: once the run is evaluated, judge it again **in its cohort** (the
  latest evaluated run of every strategy of its world at its stage, this run in place of its
  strategy's) under the world's current policy: the cohort and extended layers, and the core
  rules as they fall in that batch. Recorded as an ``extended_validation`` revision (which
  emits ``evaluation_run_updated``). A run not yet evaluated is left to its evaluated event.
* ``validation_profile_changed`` [ValidationProfileChanged]: re-judge the runs the profile
  governs (the latest evaluated run of each strategy of the world at that stage) under the
  world's current policy; each run whose last judgement used another ruleset gets a
  ``rejudgement`` revision (the run itself is never rewritten; the revision emits
  ``evaluation_run_updated``).
* every event about a run, a finding or an approval refreshes the state view of its (world,
  strategy); a profile change refreshes every strategy of the world.

A handler that cannot run (e.g. the world's file is gone) raises: the consumer stops with the
error and its offset stays before the event, so nothing is skipped.

Waiting: on PostgreSQL the consumer ``LISTEN``s on :data:`~qmtl_research.store.stream_tables.CHANNEL`
(the events log notifies at commit); on SQLite it polls.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd
from sqlalchemy import select

from qmtl_research.config import load_world
from qmtl_research.errors import InputError
from qmtl_research.identifiers import check_identifier
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store import stream_tables as st
from qmtl_research.store.repository import utcnow
from qmtl_research.store.tables import events
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.policy import policy_of_world
from qmtl_research.governance.runs import latest_runs, record_extended_validation, record_of

#: the consumer that keeps the state view when no name is given
DEFAULT_CONSUMER = "state-view"
#: actor recorded on the consumer's revisions
ACTOR = "event-consumer"
#: test hook: SIGKILL this process after handling the event with this id, before its offset commits
KILL_ENV = "QMTL_EVENTS_KILL_AFTER_EFFECT"
BATCH = 200


@dataclass
class FollowResult:
    """What one :meth:`Consumer.follow` call did."""

    consumer: str
    handled: int = 0
    offset: int = 0
    revisions: list[str] = field(default_factory=list)


def _run_stage(run: dict) -> str:
    return run.get("stage") or "backtest"


def _recorded(store: EvaluationStore, idempotency_key: str) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(select(events.c.id).where(events.c.idempotency_key == idempotency_key)).first() is not None


def deep_validate(store: EvaluationStore, key: RunKey, event_id: int) -> str | None:
    """Deep validation of one evaluated run in its cohort (see the module docstring). Returns
    ``"<run> extended_validation r<n>"``, or None when the run is not evaluated yet or its deep
    validation is already recorded."""
    run = store.get_run(key)
    ikey = f"deep_validation:{key}"
    if run["status"] != "evaluated" or _recorded(store, ikey):
        return None
    world = load_world(key.world_id)
    policy = policy_of_world(world)[0]
    stage = _run_stage(run)
    cohort = [r for r in latest_runs(store, key.world_id, stage=stage) if r["strategy_id"] != key.strategy_id] + [run]
    outcomes = evaluate_batch([record_of(r) for r in cohort], policy, stage, policy_version=world.policy_version)
    mine = outcomes[-1]
    context = {"layer": "deep", "trigger_event": event_id, "cohort": sorted(r["strategy_id"] for r in cohort),
               "policy_version": world.policy_version, "ruleset_hash": mine.ruleset_hash,
               "verdict_in_cohort": mine.status, "recommended_stage": mine.recommended_stage}
    rev = record_extended_validation(store, key, mine.results, actor=ACTOR, context=context,
                                     idempotency_key=ikey)
    return f"{key} extended_validation r{rev}"


def _judged_hash(store: EvaluationStore, key: RunKey, run: dict) -> str | None:
    h = run.get("ruleset_hash")
    for rev in store.history(key):
        if rev["change_type"] == "rejudgement":
            h = (rev["payload"] or {}).get("ruleset_hash")
    return h


def rejudge(store: EvaluationStore, world_id: str, stage: str, event_id: int) -> list[str]:
    """Re-judge the runs of ``world_id`` at ``stage`` under the world's current policy (see the
    module docstring); returns the revisions recorded."""
    world = load_world(world_id)
    policy = policy_of_world(world)[0]
    runs = latest_runs(store, world_id, stage=stage)
    if not runs:
        return []
    out = []
    for run, o in zip(runs, evaluate_batch([record_of(r) for r in runs], policy, stage,
                                           policy_version=world.policy_version)):
        key = RunKey(run["world_id"], run["strategy_id"], run["run_id"])
        previous = _judged_hash(store, key, run)
        if previous == o.ruleset_hash:
            continue
        payload = {"trigger_event": event_id, "stage": stage, "profile": o.profile, "status": o.status,
                   "recommended_stage": o.recommended_stage, "policy_version": world.policy_version,
                   "ruleset_hash": o.ruleset_hash, "previous_ruleset_hash": previous,
                   "previous_status": (run.get("summary") or {}).get("status"),
                   "failing": o.failing()}
        rev = store.append_history(key, "rejudgement", payload, ACTOR,
                                   idempotency_key=f"rejudgement:{event_id}:{key}")
        out.append(f"{key} rejudgement r{rev}")
    return out


def current_verdict(store: EvaluationStore, key: RunKey, run: dict) -> tuple[str | None, str | None, str | None]:
    """(verdict, recommended stage, latest deep-validation status) of a run with its history
    applied: a re-judgement replaces the verdict, an ex-post failure makes it fail for good."""
    s = run.get("summary") or {}
    verdict, stage, deep, failed = s.get("status"), s.get("recommended_stage"), None, False
    for rev in store.history(key):
        p = rev["payload"] or {}
        if rev["change_type"] == "rejudgement":
            verdict, stage = p.get("status"), p.get("recommended_stage")
        elif rev["change_type"] == "ex_post_failure":
            failed = True
        elif rev["change_type"] == "extended_validation":
            deep = p.get("status")
    return ("fail" if failed else verdict), stage, deep


def state_row(store: EvaluationStore, world_id: str, strategy_id: str, event_id: int,
              governance=None) -> dict[str, Any]:
    """The state-view row of (world, strategy), computed from the store (``governance``: the
    loaded governance files, read from ``params/governance`` when None)."""
    from qmtl_research.governance.approvals import current_stage
    from qmtl_research.governance.findings import findings_frame
    from qmtl_research.governance.overrides import overrides_frame
    from qmtl_research.governance.signoff import model_card_of

    now = utcnow()
    evaluated = [r for r in store.list_runs(world_id, strategy_id, status="evaluated")]
    latest = max(evaluated, key=lambda r: (r["evaluated_at"], r["created_at"]), default=None)
    verdict = rec_stage = deep = None
    if latest is not None:
        verdict, rec_stage, deep = current_verdict(store, RunKey(world_id, strategy_id, latest["run_id"]), latest)
    live = [r for r in evaluated if r.get("stage") == "live"]
    live_latest = max(live, key=lambda r: (r["evaluated_at"], r["created_at"]), default=None)
    decay = ((live_latest.get("metrics") or {}).get("live") or {}).get("live_vs_backtest_sharpe_ratio") \
        if live_latest else None
    ov = overrides_frame(store, world_id, strategy_id, now=now)
    due = None
    if len(ov):
        last = ov.sort_values("revision").groupby("run_id").tail(1)
        dues = pd.to_datetime(last.loc[last["status"] == "approved", "review_due"].dropna(), utc=True)
        due = dues.min().to_pydatetime() if len(dues) else None
    reports = store.list_reports(strategy_id=strategy_id, world_id=world_id)
    _, card = model_card_of(strategy_id)
    runs = store.list_runs(world_id, strategy_id)
    return {"world_id": world_id, "strategy_id": strategy_id,
            "risk_tier": (latest or (runs[-1] if runs else {})).get("risk_tier"),
            "owner": card.owner if card is not None else None,
            "lifecycle_stage": current_stage(store, world_id, strategy_id, governance),
            "run_id": latest["run_id"] if latest else None, "run_stage": latest.get("stage") if latest else None,
            "current_verdict": verdict, "recommended_stage": rec_stage,
            "last_validation": latest["evaluated_at"] if latest else None, "next_review_due": due,
            "open_findings": len(findings_frame(store, world_id, strategy_id, status="open")),
            "overrides_due": int(ov["overdue"].sum()) if len(ov) else 0,
            "last_report": reports[-1]["version"] if reports else None,
            "live_decay": None if decay is None else float(decay), "deep_validation": deep,
            "detail": {"runs": len(runs), "evaluated_runs": len(evaluated),
                       "live_run": live_latest["run_id"] if live_latest else None},
            "note": None, "last_event_id": event_id, "updated_at": now}


def _strategies(store: EvaluationStore, world_id: str) -> set[tuple[str, str]]:
    return {(world_id, r["strategy_id"]) for r in store.list_runs(world_id=world_id)}


def handle(store: EvaluationStore, ev: dict[str, Any]) -> tuple[list[str], set[tuple[str, str]]]:
    """Apply one event: (revisions recorded, (world, strategy) pairs whose state changed)."""
    etype, payload = ev["event_type"], ev["payload"] or {}
    revisions: list[str] = []
    if etype in ("evaluation_run_created", "evaluation_run_updated") and ev["run_id"]:
        key = RunKey(ev["world_id"], ev["strategy_id"], ev["run_id"])
        if etype == "evaluation_run_created" or payload.get("change_type") == "evaluated":
            done = deep_validate(store, key, ev["id"])
            revisions += [done] if done else []
        return revisions, {(key.world_id, key.strategy_id)}
    if etype == "validation_profile_changed":
        revisions += rejudge(store, ev["world_id"], payload.get("stage") or "backtest", ev["id"])
        return revisions, _strategies(store, ev["world_id"])
    if ev["world_id"] and ev["strategy_id"]:       # approvals, findings
        return revisions, {(ev["world_id"], ev["strategy_id"])}
    return revisions, set()


class Consumer:
    """A named consumer of the events log (see the module docstring)."""

    def __init__(self, store: EvaluationStore, name: str = DEFAULT_CONSUMER, *, poll_s: float = 1.0,
                 on_event: Callable[[dict, list[str]], None] | None = None):
        check_identifier(name, "consumer", "--consumer")
        if poll_s <= 0:
            raise InputError(f"poll interval {poll_s} is not positive", where="--poll", fix="give seconds > 0")
        self.store, self.name, self.poll_s, self.on_event = store, name, poll_s, on_event
        self._listener = None
        self._governance = None

    @property
    def offset(self) -> int:
        with self.store.engine.connect() as conn:
            return st.get_offset(conn, self.name)

    def pending(self, after: int, limit: int = BATCH) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(events).where(events.c.id > after)
                                                  .order_by(events.c.id).limit(limit)).mappings()]

    def _apply(self, ev: dict[str, Any], result: FollowResult) -> None:
        revisions, touched = handle(self.store, ev)
        rows = [state_row(self.store, w, s, ev["id"], self._governance) for w, s in sorted(touched)]
        if os.environ.get(KILL_ENV) == str(ev["id"]):
            os.kill(os.getpid(), signal.SIGKILL)
        with self.store.engine.begin() as conn:       # state rows and the offset: together or not at all
            for row in rows:
                st.put_state(conn, row)
            st.set_offset(conn, self.name, ev["id"], utcnow())
        result.handled += 1
        result.offset = ev["id"]
        result.revisions += revisions
        if self.on_event is not None:
            self.on_event(ev, revisions)

    def follow(self, once: bool = False, idle_timeout: float | None = None) -> FollowResult:
        """Handle events from the stored offset on. ``once``: stop when none is left; otherwise
        wait for new ones (LISTEN on PostgreSQL, polling on SQLite) until ``idle_timeout``
        seconds pass without one (None: forever)."""
        from qmtl_research.governance.raci import load_governance

        self._governance = load_governance()     # once per call (a long follow sees file changes on restart)
        result = FollowResult(self.name, offset=self.offset)
        idle_since = time.monotonic()
        try:
            if not once:
                self._listen()
            while True:
                batch = self.pending(result.offset)
                for ev in batch:
                    self._apply(ev, result)
                if batch:
                    idle_since = time.monotonic()
                    continue
                left = None if idle_timeout is None else idle_timeout - (time.monotonic() - idle_since)
                if once or (left is not None and left <= 0):
                    return result
                self._wait(self.poll_s if left is None else min(self.poll_s, left))
        finally:
            self._close()

    def _listen(self) -> None:
        if self.store.engine.dialect.name != "postgresql":
            return
        import psycopg

        url = self.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = psycopg.connect(url, autocommit=True)
        self._listener.execute(f"LISTEN {st.CHANNEL}")

    def _wait(self, seconds: float) -> None:
        if self._listener is None:
            time.sleep(seconds)
            return
        for _ in self._listener.notifies(timeout=seconds, stop_after=1):
            pass

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._governance = None


def state_frame(store: EvaluationStore, world_id: str | None = None) -> pd.DataFrame:
    """The state view as a table."""
    cols = [c.name for c in st.state_view.columns]
    return pd.DataFrame(st.read_state(store.engine, world_id), columns=cols)
