"""Engine creation and schema versioning."""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

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


#: the store engines this package supports: URL scheme -> the SQLAlchemy driver it uses
SUPPORTED_SCHEMES = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql+psycopg",
                     "postgresql+psycopg": "postgresql+psycopg"}
URL_FIX = ("set QMTL_STORE_URL (or --store-url) to sqlite:////absolute/path/store.sqlite or "
           "postgresql://user:password@host:port/database")


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (also for a string SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*):[^/]*@", r"\1:***@", url)


def parse_store_url(url: str) -> URL:
    """Parse and check a store URL before anything connects: a supported scheme, and for SQLite a
    file path that is not a directory. Raises :class:`StoreError` (the URL shown masked)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError("the Evaluation Store URL cannot be parsed", where=f"store URL {mask_url(url)!r}",
                         fix=URL_FIX) from None
    if parsed.drivername not in SUPPORTED_SCHEMES:
        raise StoreError(f"unsupported Evaluation Store engine '{parsed.drivername}'",
                         where=f"store URL {mask_url(url)!r}",
                         fix="use SQLite or PostgreSQL: " + URL_FIX)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:") \
            and not parsed.database.startswith("file:"):
        if Path(parsed.database).expanduser().is_dir():
            raise StoreError("the SQLite store path is a directory, not a database file",
                             where=f"store URL {mask_url(url)!r}",
                             fix="name a file inside it, e.g. sqlite:////path/to/dir/store.sqlite")
    return parsed


def sqlite_path(url: URL) -> Path | None:
    """The database file of an SQLite URL (also of a ``sqlite:///file:/path?mode=ro&uri=true`` URI);
    None for PostgreSQL or an in-memory database."""
    database = url.database
    if not url.drivername.startswith("sqlite") or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:"):
        database = database[len("file:"):]
    return Path(database).expanduser()


def _reason(exc: DBAPIError, password: str | None) -> tuple[str, str]:
    """(first line of the driver's message, what to do) for a failed connection."""
    msg = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    if password:
        msg = msg.replace(password, "***")
    low = msg.lower()
    if "refused" in low or "could not translate host" in low or "timeout" in low or "no route" in low:
        fix = "start the database server, or correct the host and port of the store URL"
    elif "password" in low or "role" in low or "authentication" in low:
        fix = "check the user name and password of the store URL"
    elif "database" in low and "does not exist" in low:
        fix = "create the database (createdb <name>) or correct the database name of the store URL"
    elif "readonly" in low or "read-only" in low or "read only" in low:
        fix = "make the store writable (file and folder permissions), or point QMTL_STORE_URL at a writable store"
    elif "unable to open" in low:
        fix = "check that the SQLite file's folder exists and is writable"
    else:
        fix = URL_FIX
    return msg, fix


def store_unavailable(exc: DBAPIError, url: URL, what: str = "cannot open the Evaluation Store") -> StoreError:
    """The :class:`StoreError` for a database error while connecting or probing (URL masked)."""
    msg, fix = _reason(exc, url.password)
    shown = url.set(drivername=url.drivername.replace("+psycopg", "")).render_as_string(hide_password=True)
    return StoreError(f"{what}: {msg}", where=f"store URL {shown!r}", fix=fix)


def make_engine(url: str | None = None) -> Engine:
    url = resolve_url(url)
    parse_store_url(url)
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
    database = sqlite_path(engine.url)          # also an SQLite URI (sqlite:///file:/path?mode=ro&uri=true)
    if database is not None:
        import fcntl

        folder = database.resolve().parent
        if not folder.is_dir():
            raise StoreError(f"the folder of the SQLite store does not exist: {folder}", where=str(engine.url),
                             fix="create the folder, or point QMTL_STORE_URL at an existing one "
                                 "(sqlite:////absolute/path/store.sqlite)")
        with open(f"{database}.lock", "a") as fh:
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
