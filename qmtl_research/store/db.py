"""Engine creation and schema versioning."""
from __future__ import annotations

import os
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, select, text

from qmtl_research.errors import StoreError
from qmtl_research.paths import default_store_path

#: bump when tables change; ``ensure_schema`` refuses a store newer than the code and upgrades
#: an older one (missing tables are created; each extension module's ``upgrade(conn, from_version)``).
#: 1: runs, history, results, events, reports, audit tables;
#: 2: audit tables get unique keys, ``attributions.start_date/end_date``, ``var_daily_snapshots.run_id``;
#:    + the append-only ``approvals`` table.
SCHEMA_VERSION = 2

#: modules whose tables register on the shared metadata; each may define ``upgrade(conn, from_version)``
#: and ``install(conn)`` (triggers etc., run on every open after the guards)
EXTENSIONS = ("qmtl_research.store.audit_tables", "qmtl_research.store.approval_tables",
              "qmtl_research.store.finding_tables", "qmtl_research.store.stream_tables")


def resolve_url(url: str | None = None) -> str:
    """``url``, else ``$QMTL_STORE_URL``, else the default SQLite file."""
    url = url or os.environ.get("QMTL_STORE_URL")
    if url:
        return url
    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_engine(url: str | None = None) -> Engine:
    url = resolve_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


@contextmanager
def _schema_lock(engine: Engine):
    """Serialise schema creation between processes (reports run in parallel): a file lock
    beside an SQLite database, an advisory lock on PostgreSQL."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        import fcntl

        from pathlib import Path

        folder = Path(engine.url.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise StoreError(f"the folder of the SQLite store does not exist: {folder}", where=str(engine.url),
                             fix="create the folder, or point QMTL_STORE_URL at an existing one "
                                 "(sqlite:////absolute/path/store.sqlite)")
        with open(f"{engine.url.database}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7205531)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7205531)"))
                conn.commit()
    else:
        yield


def ensure_schema(engine: Engine) -> None:
    """Create missing tables and check/record the schema version (safe under concurrency)."""
    with _schema_lock(engine):
        _ensure_schema(engine)


def _ensure_schema(engine: Engine) -> None:
    from qmtl_research.store import tables  # noqa: F401  (registers core tables)
    from qmtl_research.store.guards import install_guards
    from qmtl_research.store.tables import metadata, schema_info

    _import_extensions()
    metadata.create_all(engine)
    with engine.begin() as conn:
        row = conn.execute(select(schema_info.c.version)).first()
        if row is None:
            conn.execute(schema_info.insert().values(version=SCHEMA_VERSION))
        elif row.version > SCHEMA_VERSION:
            raise StoreError(
                f"the Evaluation Store has schema version {row.version}, newer than this code ({SCHEMA_VERSION})",
                where=str(engine.url), fix="upgrade qmtl-research (git pull && make setup)")
        elif row.version < SCHEMA_VERSION:
            for module in _import_extensions():
                upgrade = getattr(module, "upgrade", None)
                if upgrade is not None:
                    upgrade(conn, row.version)
            conn.execute(schema_info.update().values(version=SCHEMA_VERSION))
        install_guards(conn)      # append-only triggers (store.guards.PROTECTED); an older store gets them too
        for module in _import_extensions():
            install = getattr(module, "install", None)
            if install is not None:
                install(conn)


def _import_extensions() -> list:
    """Tables owned by other layers register on the same metadata when imported; returns the modules."""
    import importlib

    modules = []
    for mod in EXTENSIONS:
        try:
            modules.append(importlib.import_module(mod))
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return modules
