"""Run leases: which process owns a ``created``/``running`` run, so that a run whose process died
(``kill -9``, a crash, a lost machine) is found and closed as failed instead of staying
``running`` forever.

A run's lease is recorded in its ``params`` when it is created (``params["lease"]``: host, pid
and the process's start time, which tells a reused pid apart). :func:`reap` closes every open run
whose lease names a process of *this* host that no longer exists; a run leased on another host
cannot be checked from here and is closed only when it is older than ``older_than``.
``qmtl-research runs reap`` calls it, and so does every report run before it creates its own
(the next writer). A run closed this way keeps the results it recorded before it died: they
belong to a failed run (its ``error`` says how many).
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from qmtl_research.store.repository import EvaluationStore, RunKey, utcnow

OPEN_STATUSES = ("created", "running")
#: the file a failed run leaves in its report version folder (the folder then holds its log)
FAILED_LOG = "FAILED.txt"


def _start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot, /proc/<pid>/stat field 22), or
    None when there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def current_lease(folder: Path | None = None) -> dict:
    """The lease of this process (and the report folder it writes, if any)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _start_ticks(pid),
            "folder": str(folder) if folder else None}


def lease_alive(lease: dict | None) -> bool | None:
    """True: the leasing process still runs; False: it is gone (or its pid now belongs to another
    process); None: it cannot be told from here (another host, or a run without a lease)."""
    if not lease or lease.get("host") != socket.gethostname() or not lease.get("pid"):
        return None
    ticks = _start_ticks(int(lease["pid"]))
    if ticks is None:
        return False
    return lease.get("pid_start") is None or ticks == lease["pid_start"]


def close_folder(folder: str | Path | None, reason: str) -> str | None:
    """Leave no empty or unexplained report folder behind a failed run: an empty version folder is
    removed; one that holds files gets :data:`FAILED_LOG` (why it has no report). Returns what was done."""
    if not folder:
        return None
    path = Path(folder)
    if not path.is_dir():
        return None
    if not any(p.is_file() for p in path.rglob("*")):
        shutil.rmtree(path)
        return f"removed the empty folder {path}"
    (path / FAILED_LOG).write_text(f"This report version has no report: its run failed.\n{reason}\n", encoding="utf-8")
    return f"{path} keeps its partial files and {FAILED_LOG}"


def fail_with_results(store: EvaluationStore, key: RunKey, reason: str) -> str:
    """Close an open run as failed; its error names how many partial results it recorded (they stay,
    frozen, as the results of a failed run). Returns the error stored."""
    from sqlalchemy import func, select

    from qmtl_research.store.tables import run_results

    with store.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(run_results).where(key.where(run_results))).scalar()
    error = reason + (f"; {n} partial result(s) recorded before the failure belong to this failed run" if n else "")
    store.fail_run(key, error)
    return error


@dataclass
class Reaped:
    key: RunKey
    error: str
    folder: str | None


def reap(store: EvaluationStore, *, world_id: str | None = None, strategy_id: str | None = None,
         older_than: dt.timedelta | None = None, now: dt.datetime | None = None,
         actor: str = "qmtl-research runs reap") -> list[Reaped]:
    """Close as failed every open run whose process is gone (see the module docstring)."""
    now = now or utcnow()
    closed = []
    for status in OPEN_STATUSES:
        for r in store.list_runs(world_id, strategy_id, status):
            lease = (r.get("params") or {}).get("lease")
            alive = lease_alive(lease)
            created = r["created_at"] if r["created_at"].tzinfo else r["created_at"].replace(tzinfo=dt.timezone.utc)
            if alive is False:
                why = f"abandoned: its process {lease['pid']} on {lease['host']} is gone (killed or crashed)"
            elif alive is None and older_than is not None and now - created > older_than:
                where = f"on {lease['host']}" if lease else "without a lease"
                why = f"abandoned: open since {created:%Y-%m-%d %H:%M} UTC {where}, older than {older_than}"
            else:
                continue
            key = RunKey(r["world_id"], r["strategy_id"], r["run_id"])
            error = fail_with_results(store, key, f"{why}; closed by {actor}")
            folder = (lease or {}).get("folder")
            close_folder(folder, error)
            closed.append(Reaped(key, error, folder))
    return closed
