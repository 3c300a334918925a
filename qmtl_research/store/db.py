"""Engine creation and schema versioning."""
from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event, select

from qmtl_research.errors import StoreError
from qmtl_research.paths import default_store_path

#: bump when tables change; ``ensure_schema`` refuses a store newer than the code
SCHEMA_VERSION = 1


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


def ensure_schema(engine: Engine) -> None:
    """Create missing tables and check/record the schema version."""
    from qmtl_research.store import tables  # noqa: F401  (registers core tables)
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
            conn.execute(schema_info.update().values(version=SCHEMA_VERSION))


def _import_extensions() -> None:
    """Tables owned by other layers register on the same metadata when imported."""
    import importlib

    for mod in ("qmtl_research.store.audit_tables",):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
