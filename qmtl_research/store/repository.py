"""EvaluationStore: the one way the package reads and writes the store."""
from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from qmtl_research.errors import StoreError
from qmtl_research.store.codec import decode, encode, to_jsonable
from qmtl_research.store.db import ensure_schema, make_engine, parse_store_url, resolve_url, sqlite_path, store_unavailable
from qmtl_research.store.guards import is_guard_refusal
from qmtl_research.store.query import select_rows
from qmtl_research.store.tables import evaluation_runs, events, reports, run_history, run_results

RUN_STATUSES = ("created", "running", "evaluated", "failed")
#: rejudgement: the verdict again under a changed validation profile (the event-stream consumer,
#: qmtl_research.governance.stream); the run itself is never rewritten
CHANGE_TYPES = ("override", "ex_post_failure", "extended_validation", "rejudgement")
#: our snake_case event types (stored) -> QMTL's event names (added to exports)
QMTL_EVENT_NAMES = {"evaluation_run_created": "EvaluationRunCreated",
                    "evaluation_run_updated": "EvaluationRunUpdated",
                    "validation_profile_changed": "ValidationProfileChanged"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RunKey:
    """Identity of an EvaluationRun: (world_id, strategy_id, run_id)."""

    world_id: str
    strategy_id: str
    run_id: str

    def where(self, table):
        return and_(table.c.world_id == self.world_id, table.c.strategy_id == self.strategy_id,
                    table.c.run_id == self.run_id)

    def __str__(self) -> str:
        return f"{self.world_id}/{self.strategy_id}/{self.run_id}"


def new_run_id(strategy_id: str, now: dt.datetime | None = None) -> str:
    """``<strategy>-<UTC yyyymmddTHHMMSS>-<6 hex>``: sortable and collision-free."""
    now = now or utcnow()
    return f"{strategy_id}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def event_values(event_type: str, key: RunKey | None, payload: dict, *, idempotency_key: str,
                 world_id: str | None = None) -> dict[str, Any]:
    """The ``events`` row of :meth:`EvaluationStore.emit_event` (for writers that insert events
    inside their own transaction, e.g. :class:`qmtl_research.store.audit_repository.AuditRepository`)."""
    return dict(event_type=event_type, idempotency_key=idempotency_key,
                world_id=key.world_id if key else world_id, strategy_id=key.strategy_id if key else None,
                run_id=key.run_id if key else None, payload=to_jsonable(payload), created_at=utcnow())


def check_writable(url: str | None = None) -> None:
    """Refuse (:class:`StoreError`), before a command computes anything, a store it could not write,
    without creating one: an SQLite file that does not exist yet needs an existing, writable
    folder; an existing store is opened and probed (:meth:`EvaluationStore.require_writable`)."""
    import os

    resolved = resolve_url(url)
    path = sqlite_path(parse_store_url(resolved))
    if path is not None and not path.exists():
        folder = path.resolve().parent
        shown = make_url(resolved).render_as_string(hide_password=True)
        if not folder.is_dir():
            raise StoreError(f"the folder of the SQLite store does not exist: {folder}", where=f"store URL {shown!r}",
                             fix="create the folder, or point QMTL_STORE_URL at an existing one")
        if not os.access(folder, os.W_OK) or "mode=ro" in resolved:
            raise StoreError(f"the SQLite store {path} does not exist and its folder cannot be written",
                             where=f"store URL {shown!r}", fix="point QMTL_STORE_URL at a writable folder")
        return
    EvaluationStore.open(resolved).require_writable()


class EvaluationStore:
    """Append-only store of evaluation runs and everything hanging off them.

    Use :meth:`open` (``QMTL_STORE_URL`` or the default SQLite file)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        try:
            ensure_schema(engine)
        except DBAPIError as exc:
            raise store_unavailable(exc, engine.url) from None

    @classmethod
    def open(cls, url: str | None = None) -> "EvaluationStore":
        return cls(make_engine(url))

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def require_writable(self) -> None:
        """Refuse (:class:`StoreError`) a store that cannot be written (a read-only SQLite file or
        ``mode=ro`` URI, a read-only PostgreSQL session): a real write, rolled back. Writers call it
        before they compute or create anything, so that nothing is computed for nothing."""
        from qmtl_research.store.tables import schema_info

        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    conn.execute(update(schema_info).values(version=schema_info.c.version))
                finally:
                    trans.rollback()
        except DBAPIError as exc:
            raise store_unavailable(exc, self.engine.url, "the Evaluation Store is read-only") from None

    # ------------------------------------------------------------------ runs
    def create_run(self, key: RunKey, *, stage: str | None = None, risk_tier: str | None = None,
                   model_card_version: str | None = None, policy_version: str | None = None,
                   params: dict | None = None, data_fingerprint: str | None = None) -> RunKey:
        row = dict(world_id=key.world_id, strategy_id=key.strategy_id, run_id=key.run_id,
                   status="created", stage=stage, risk_tier=risk_tier,
                   model_card_version=model_card_version, policy_version=policy_version,
                   params=to_jsonable(params or {}), data_fingerprint=data_fingerprint,
                   created_at=utcnow())
        try:
            # the run and its evaluation_run_created event: one transaction (both or neither)
            with self.engine.begin() as conn:
                conn.execute(insert(evaluation_runs).values(**row))
                conn.execute(insert(events).values(**event_values(
                    "evaluation_run_created", key, {"stage": stage, "model_card_version": model_card_version},
                    idempotency_key=f"evaluation_run_created:{key}")))
        except IntegrityError:
            raise StoreError(f"run {key} already exists", fix="use a new run_id (runs are never overwritten)") from None
        return key

    def get_run(self, key: RunKey) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(evaluation_runs).where(key.where(evaluation_runs))).mappings().first()
        if row is None:
            raise StoreError(f"no run {key} in the store", where=self.url,
                             fix="list runs with `qmtl-research runs list`")
        return dict(row)

    def list_runs(self, world_id: str | None = None, strategy_id: str | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
        return select_rows(self.engine, evaluation_runs, order_by="created_at", world_id=world_id,
                           strategy_id=strategy_id, status=status)

    def _set_status(self, key: RunKey, allowed_from: Iterable[str], *, event: dict | None = None, **values) -> None:
        """Move the run to ``values['status']`` from one of ``allowed_from``; with ``event``
        (the keyword arguments of :func:`event_values`), insert that event in the **same
        transaction**: the status change and its event are stored together or not at all."""
        with self.engine.begin() as conn:
            current = conn.execute(select(evaluation_runs.c.status).where(key.where(evaluation_runs))).scalar()
            if current is None:
                raise StoreError(f"no run {key} in the store", where=self.url)
            if current not in allowed_from:
                raise StoreError(f"run {key} is '{current}' and cannot become '{values.get('status')}'",
                                 fix="evaluated runs are immutable: append history or re-evaluate under a new run_id")
            try:
                changed = conn.execute(update(evaluation_runs).where(and_(key.where(evaluation_runs),
                                                                          evaluation_runs.c.status == current))
                                       .values(**values)).rowcount
            except DBAPIError as exc:       # the database's own guard (store.guards): another writer won
                if not is_guard_refusal(exc):
                    raise
                raise StoreError(f"run {key} changed while this update was prepared; the database refused "
                                 f"'{current}' -> '{values.get('status')}'", where=self.url,
                                 fix="evaluated runs are immutable: append history or re-evaluate under a new run_id"
                                 ) from None
            if changed != 1:   # another writer changed the status between the read and the update
                raise StoreError(f"run {key} changed status while this writer updated it",
                                 fix="read the run again (`qmtl-research runs show`) before changing it")
            if event is not None:
                conn.execute(insert(events).values(**event_values(key=key, **event)))

    def start_run(self, key: RunKey) -> None:
        self._set_status(key, ("created",), status="running")

    def fail_run(self, key: RunKey, error: str) -> None:
        self._set_status(key, ("created", "running"), status="failed", error=error)

    def evaluate_run(self, key: RunKey, *, metrics: dict, validation: dict, summary: dict,
                     policy_version: str | None = None, ruleset_hash: str | None = None) -> None:
        """Store the verdict; the run is frozen afterwards. Emits ``evaluation_run_updated``
        (``change_type: evaluated``, revision 0, the verdict's status, recommended stage, policy
        version and ruleset hash; idempotency key ``evaluation_run_updated:<key>:evaluated``)."""
        values = dict(status="evaluated", metrics=to_jsonable(metrics), validation=to_jsonable(validation),
                      summary=to_jsonable(summary), evaluated_at=utcnow())
        if policy_version is not None:
            values["policy_version"] = policy_version
        if ruleset_hash is not None:
            values["ruleset_hash"] = ruleset_hash
        s = summary or {}
        event = dict(event_type="evaluation_run_updated",
                     payload={"change_type": "evaluated", "revision": 0, "status": s.get("status"),
                              "recommended_stage": s.get("recommended_stage"), "policy_version": policy_version,
                              "ruleset_hash": ruleset_hash},
                     idempotency_key=f"evaluation_run_updated:{key}:evaluated")
        try:
            # verdict and its event in one transaction: a failure between them leaves neither
            self._set_status(key, ("created", "running"), event=event, **values)
        except IntegrityError:
            raise StoreError(f"the evaluation event of run {key} is already recorded; the verdict was not stored",
                             where=self.url, fix="a run is evaluated once: re-evaluate under a new run_id") from None

    # --------------------------------------------------------------- results
    def put_result(self, key: RunKey, section: str, name: str, value: Any) -> None:
        """Record a named result (DataFrame, Series or JSON-able value); write-once."""
        status = self.get_run(key)["status"]
        if status in ("evaluated", "failed"):
            raise StoreError(f"run {key} is {status}; its results are frozen",
                             fix="record results before the validation step evaluates the run")
        kind, payload = encode(value)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(run_results).values(
                    world_id=key.world_id, strategy_id=key.strategy_id, run_id=key.run_id,
                    section=section, name=name, kind=kind, payload=payload, created_at=utcnow()))
        except IntegrityError:
            raise StoreError(f"result {section}/{name} already recorded for run {key}",
                             fix="results are write-once; use another name or a new run") from None

    def put_results(self, key: RunKey, section: str, items: Iterable[tuple[str, Any]]) -> None:
        """Record several results of one section in **one transaction**: all or nothing
        (write-once, like :meth:`put_result`)."""
        status = self.get_run(key)["status"]
        if status in ("evaluated", "failed"):
            raise StoreError(f"run {key} is {status}; its results are frozen",
                             fix="record results before the validation step evaluates the run")
        rows = []
        for name, value in items:
            kind, payload = encode(value)
            rows.append(dict(world_id=key.world_id, strategy_id=key.strategy_id, run_id=key.run_id,
                             section=section, name=name, kind=kind, payload=payload, created_at=utcnow()))
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(run_results), rows)
        except IntegrityError:
            raise StoreError(f"results of section '{section}' are already recorded for run {key}",
                             fix="results are write-once; a stage records its section once per run") from None

    def get_results(self, key: RunKey, section: str | None = None) -> dict[tuple[str, str], Any]:
        q = select(run_results).where(key.where(run_results))
        if section:
            q = q.where(run_results.c.section == section)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(run_results.c.id)).mappings().all()
        return {(r["section"], r["name"]): decode(r["kind"], r["payload"]) for r in rows}

    def get_result(self, key: RunKey, section: str, name: str, default: Any = KeyError) -> Any:
        res = self.get_results(key, section).get((section, name), default)
        if res is KeyError:
            raise StoreError(f"no result {section}/{name} for run {key}",
                             fix="run the notebook that records it (see the strategy's notebooks list)")
        return res

    # --------------------------------------------------------------- history
    def append_history(self, key: RunKey, change_type: str, payload: dict, actor: str | None = None,
                       idempotency_key: str | None = None) -> int:
        """Append a revision (override | ex_post_failure | extended_validation); returns its number.

        With an ``idempotency_key`` already seen, nothing is written and the revision
        recorded the first time is returned."""
        if change_type not in CHANGE_TYPES:
            raise StoreError(f"unknown change_type '{change_type}'", fix=f"use one of {', '.join(CHANGE_TYPES)}")
        self.get_run(key)
        if idempotency_key:
            with self.engine.connect() as conn:
                seen = conn.execute(select(events.c.payload).where(events.c.idempotency_key == idempotency_key)).first()
            if seen is not None:
                return int(seen.payload.get("revision", 0))
        # the revision and its evaluation_run_updated event: one transaction (both or neither)
        try:
            return self._append_history(key, change_type, payload, actor, idempotency_key)
        except IntegrityError:
            if idempotency_key:    # a concurrent writer stored the same change first: nothing written here
                with self.engine.connect() as conn:
                    seen = conn.execute(select(events.c.payload)
                                        .where(events.c.idempotency_key == idempotency_key)).first()
                if seen is not None:
                    return int(seen.payload.get("revision", 0))
            raise StoreError(f"another revision of run {key} was appended at the same time; nothing was written",
                             where=self.url, fix="run the command again") from None

    def _append_history(self, key: RunKey, change_type: str, payload: dict, actor: str | None,
                        idempotency_key: str | None) -> int:
        with self.engine.begin() as conn:
            last = conn.execute(select(func.max(run_history.c.revision)).where(key.where(run_history))).scalar()
            revision = (last or 0) + 1
            conn.execute(insert(run_history).values(
                world_id=key.world_id, strategy_id=key.strategy_id, run_id=key.run_id, revision=revision,
                change_type=change_type, actor=actor, payload=to_jsonable(payload), created_at=utcnow()))
            conn.execute(insert(events).values(**event_values(
                "evaluation_run_updated", key, {"change_type": change_type, "revision": revision, **to_jsonable(payload)},
                idempotency_key=idempotency_key or f"evaluation_run_updated:{key}:{revision}")))
        return revision

    def history(self, key: RunKey) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_history).where(key.where(run_history))
                                .order_by(run_history.c.revision)).mappings().all()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------- events
    def emit_event(self, event_type: str, key: RunKey | None, payload: dict, *, idempotency_key: str,
                   world_id: str | None = None) -> bool:
        """Append an event about a run (``key``) or, with ``key=None, world_id=...``, about a
        world; returns False (and writes nothing) when the idempotency key was seen before."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(events).values(**event_values(event_type, key, payload,
                                                                  idempotency_key=idempotency_key, world_id=world_id)))
            return True
        except IntegrityError:
            return False

    def events(self, event_type: str | None = None, world_id: str | None = None,
               strategy_id: str | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        return select_rows(self.engine, events, order_by="id", at_least={"created_at": since},
                           event_type=event_type, world_id=world_id, strategy_id=strategy_id)

    def export_events_jsonl(self, **filters) -> Iterator[str]:
        """One JSON object per event (keys sorted): the stored fields plus ``qmtl_event_type``,
        QMTL's name of the event (EvaluationRunCreated, EvaluationRunUpdated,
        ValidationProfileChanged)."""
        for ev in self.events(**filters):
            row = dict(to_jsonable(ev), qmtl_event_type=QMTL_EVENT_NAMES.get(ev["event_type"]))
            yield json.dumps(row, sort_keys=True, ensure_ascii=False)

    # --------------------------------------------------------------- reports
    def register_report(self, *, strategy_id: str, world_id: str, version: str, run_id: str, path: str,
                        files: dict[str, str], manifest: dict) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(reports).values(
                    strategy_id=strategy_id, world_id=world_id, version=version, run_id=run_id, path=path,
                    files=files, manifest=to_jsonable(manifest), created_at=utcnow()))
        except IntegrityError:
            raise StoreError(f"report {strategy_id}/{world_id}/{version} is already registered",
                             fix="versions are never overwritten; render a new version") from None

    def list_reports(self, strategy_id: str | None = None, world_id: str | None = None) -> list[dict[str, Any]]:
        return select_rows(self.engine, reports, order_by="id", strategy_id=strategy_id, world_id=world_id)

    def results_frame(self, key: RunKey) -> pd.DataFrame:
        """Index of what a run recorded: section, name, kind."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_results.c.section, run_results.c.name, run_results.c.kind)
                                .where(key.where(run_results)).order_by(run_results.c.id)).all()
        return pd.DataFrame(rows, columns=["section", "name", "kind"])
