"""Append-only records, enforced by the database itself (SQLite and PostgreSQL triggers).

The store's code never rewrites a record; these guards make sure nothing else does either (a
raw ``UPDATE``/``DELETE`` in ``sqlite3`` or ``psql``, another tool, a bug). One registry,
:data:`PROTECTED`, declares every protected table and the only changes allowed to its rows:

* :class:`AppendOnly`: rows are inserted, never updated or deleted (``run_results``,
  ``run_history``, ``events``, ``reports``, ``approvals``, ``findings`` and the audit layer's
  snapshots, performance reports, attributions, Monte Carlo, VaR and stress results);
* :class:`Transitions`: rows are never deleted; an update is allowed only when a ``column``
  moves along one of the declared transitions and the ``frozen`` columns keep their values
  (``evaluation_runs``: ``created -> running -> evaluated | failed``, and ``created ->
  evaluated | failed``; an evaluated or failed run is frozen).

Protecting a new table is one line (another module may call :func:`protect` at import time,
before :func:`install_guards` runs)::

    protect(AppendOnly("findings"))

:func:`install_guards` is called by :func:`qmtl_research.store.db.ensure_schema` every time a
store is opened: it creates the triggers a store lacks (an existing store, whatever its schema
version, gets them on its next open) and replaces those whose definition changed (a trigger's
name carries a hash of its definition). A refused change raises a database error whose message
starts with ``<table> is append-only`` (the store's own writers turn it into a
:class:`qmtl_research.errors.StoreError`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

#: prefix of every guard trigger (and of the PostgreSQL function that raises)
PREFIX = "qmtl_guard"
#: guard triggers of earlier versions, dropped when the registry's take their place
LEGACY_TRIGGERS = {"approvals": ("approvals_no_update", "approvals_no_delete", "approvals_append_only")}


@dataclass(frozen=True)
class AppendOnly:
    """Rows of ``table`` are never updated or deleted."""

    table: str

    def refuse_update_when(self, dialect: str) -> str | None:
        """SQL condition (on OLD/NEW) under which an UPDATE is refused; None: always refused."""
        return None

    @property
    def message(self) -> str:
        return f"{self.table} is append-only: rows are never updated or deleted"


@dataclass(frozen=True)
class Transitions:
    """Rows of ``table`` are never deleted; an UPDATE must move ``column`` along one of
    ``allowed`` (old value, new value) and leave every ``frozen`` column as it was."""

    table: str
    column: str
    allowed: tuple[tuple[str, str], ...]
    frozen: tuple[str, ...] = field(default_factory=tuple)

    def refuse_update_when(self, dialect: str) -> str:
        moves = " OR ".join(f"(OLD.{self.column} = '{a}' AND NEW.{self.column} = '{b}')" for a, b in self.allowed)
        distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
        changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in self.frozen)
        return f"NOT ({moves})" + (f" OR {changed}" if changed else "")

    @property
    def message(self) -> str:
        moves = ", ".join(f"{a}->{b}" for a, b in self.allowed)
        return (f"{self.table} is append-only: rows are never deleted; an update may only move {self.column} "
                f"{moves} (frozen: {', '.join(self.frozen)})")


Guard = AppendOnly | Transitions

#: the protected tables of the Evaluation Store (see the module docstring)
PROTECTED: dict[str, Guard] = {}


def protect(guard: Guard) -> Guard:
    """Declare ``guard`` (replaces an earlier declaration for the same table)."""
    PROTECTED[guard.table] = guard
    return guard


protect(Transitions("evaluation_runs", "status",
                    allowed=(("created", "running"), ("created", "evaluated"), ("created", "failed"),
                             ("running", "evaluated"), ("running", "failed")),
                    frozen=("world_id", "strategy_id", "run_id", "created_at")))
for _table in ("run_results", "run_history", "events", "reports", "approvals", "findings",
               # the audit layer's stored products: "stored rows are never overwritten"
               "daily_snapshots", "performance_reports", "attributions", "montecarlo_results",
               "var_daily_snapshots", "stress_test_results"):
    protect(AppendOnly(_table))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8]


def trigger_sql(guard: Guard, dialect: str) -> dict[str, str]:
    """{trigger name: CREATE statement} of ``guard`` on ``dialect`` (sqlite | postgresql)."""
    out = {}
    for op in ("UPDATE", "DELETE"):
        when = guard.refuse_update_when(dialect) if op == "UPDATE" else None
        msg = guard.message.replace("'", "''")
        name = f"{PREFIX}_{guard.table}_{op.lower()}_{_digest(guard.table, op, when or '', msg)}"
        if dialect == "sqlite":
            cond = f" WHEN {when}" if when else ""
            out[name] = (f"CREATE TRIGGER {name} BEFORE {op} ON {guard.table} FOR EACH ROW{cond} "
                         f"BEGIN SELECT RAISE(ABORT, '{msg}'); END")
        elif dialect == "postgresql":
            cond = f" WHEN ({when})" if when else ""
            out[name] = (f"CREATE TRIGGER {name} BEFORE {op} ON {guard.table} FOR EACH ROW{cond} "
                         f"EXECUTE FUNCTION {PREFIX}_refuse('{msg}')")
    return out


_PG_FUNCTION = (f"CREATE OR REPLACE FUNCTION {PREFIX}_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'raise_exception'; END $$")


def _existing(conn: Connection, dialect: str) -> dict[str, set[str]]:
    """{table: names of the triggers on it}."""
    if dialect == "sqlite":
        rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")).all()
    else:
        rows = conn.execute(text("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE NOT t.tgisinternal AND n.nspname = current_schema()")).all()
    out: dict[str, set[str]] = {}
    for table, name in rows:
        out.setdefault(table, set()).add(name)
    return out


def missing_guards(conn: Connection) -> list[str]:
    """Names of the guard triggers the store lacks (empty: fully guarded)."""
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return []
    have = _existing(conn, dialect)
    return [name for g in PROTECTED.values() for name in trigger_sql(g, dialect)
            if name not in have.get(g.table, set())]


def install_guards(conn: Connection) -> list[str]:
    """Create the missing guard triggers of :data:`PROTECTED` and drop outdated ones (inside the
    caller's transaction); returns the names created. Other dialects: nothing (not guarded)."""
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return []
    have = _existing(conn, dialect)
    created = []
    for guard in PROTECTED.values():
        wanted = trigger_sql(guard, dialect)
        on_table = have.get(guard.table, set())
        stale = [n for n in on_table if (n.startswith(f"{PREFIX}_{guard.table}_") and n not in wanted)
                 or n in LEGACY_TRIGGERS.get(guard.table, ())]
        todo = [n for n in wanted if n not in on_table]
        if not stale and not todo:
            continue
        if dialect == "postgresql":
            conn.execute(text(_PG_FUNCTION))
        for name in stale:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {guard.table}" if dialect == "postgresql" else "")))
        for name in todo:
            conn.execute(text(wanted[name]))
            created.append(name)
    return created


def is_guard_refusal(exc: BaseException) -> bool:
    """True when ``exc`` (a DBAPI / SQLAlchemy error) is a guard trigger's refusal."""
    return "is append-only" in str(getattr(exc, "orig", exc))


__all__ = ["AppendOnly", "PROTECTED", "Transitions", "install_guards", "is_guard_refusal", "missing_guards",
           "protect", "trigger_sql"]
