"""Executing the notebooks of a run with papermill: parameters checked first, views run side by
side in their own processes, and a failure stops the others at once.

Each notebook runs as ``python -m papermill`` in a child process (its own kernel), so a failing
notebook can stop its siblings immediately (they are terminated, and their partial copies are
kept, marked as stopped) and the error names the notebook and the cell.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from qmtl_research.errors import ConfigError, NotebookFailed
from qmtl_research.paths import notebooks_dir

KERNEL = os.environ.get("QMTL_KERNEL", "qmtl-research")


def notebook_path(name: str) -> Path:
    src = notebooks_dir() / f"{name}.ipynb"
    if not src.is_file():
        raise ConfigError(f"notebook '{name}' does not exist", where=str(src),
                          fix="check the strategy's notebooks list")
    return src


def notebook_parameters(name: str) -> dict[str, dict]:
    """The parameters cell of ``notebooks/<name>.ipynb`` as papermill reads it
    (name -> {inferred_type_name, default, help})."""
    import papermill as pm

    return pm.inspect_notebook(str(notebook_path(name)))


def check_parameters(name: str, given: dict, where: str) -> None:
    """Every parameter in ``given`` must be a parameter of the notebook (ConfigError naming ``where``)."""
    known = notebook_parameters(name)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"notebook '{name}' has no parameter(s) {unknown}", where=where,
                          fix=f"its parameters are: {', '.join(known)}")


@dataclass
class Execution:
    name: str
    out_path: Path
    parameters: dict
    proc: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float | None = None
    stderr_path: Path | None = None


def _failed_cell(out_path: Path) -> tuple[int | None, str]:
    """(cell index, 'ename: evalue') of the first cell with an error output in an executed copy."""
    try:
        nb = json.loads(out_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "the notebook could not be read back"
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return i, f"{out.get('ename')}: {out.get('evalue')}"
    return None, "no cell error recorded"


def _start(ex: Execution, env: dict) -> None:
    params_file = Path(tempfile.mkstemp(prefix=f"{ex.name}-", suffix=".yaml")[1])
    params_file.write_text(yaml.safe_dump(ex.parameters), encoding="utf-8")
    ex.stderr_path = ex.out_path.with_suffix(".log")
    cmd = [sys.executable, "-m", "papermill", str(notebook_path(ex.name)), str(ex.out_path), "-f", str(params_file),
           "-k", KERNEL, "--cwd", str(notebooks_dir()), "--no-progress-bar", "--no-log-output"]
    ex.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(ex.stderr_path, "w"), env=env)
    ex.started = time.perf_counter()


def execute_all(executions: list[Execution], echo=print, max_parallel: int | None = None) -> dict[str, float]:
    """Run the notebooks side by side (at most ``max_parallel`` at once, default all); on the first
    failure, terminate the others and raise :class:`NotebookFailed` naming notebook and cell.
    Returns the seconds each notebook took."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    pending = list(executions)
    running: list[Execution] = []
    limit = max_parallel or len(executions)
    timings: dict[str, float] = {}
    try:
        while pending or running:
            while pending and len(running) < limit:
                ex = pending.pop(0)
                echo(f"  notebook {ex.name}.ipynb -> {ex.out_path.name}")
                _start(ex, env)
                running.append(ex)
            time.sleep(0.05)
            for ex in list(running):
                rc = ex.proc.poll()
                if rc is None:
                    continue
                running.remove(ex)
                ex.seconds = time.perf_counter() - ex.started
                timings[ex.name] = ex.seconds
                if rc != 0:
                    cell, error = _failed_cell(ex.out_path)
                    stopped = [o.name for o in running]
                    for other in running:
                        other.proc.terminate()
                    for other in running:
                        other.proc.wait(timeout=30)
                    running.clear()
                    log = ex.stderr_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                    detail = error if cell is not None else (log[-1] if log else f"papermill exit {rc}")
                    raise NotebookFailed(
                        f"notebook '{ex.name}' failed" + (f" in cell {cell}" if cell is not None else "")
                        + f": {detail}" + (f" (stopped: {', '.join(stopped)})" if stopped else ""),
                        where=f"{ex.out_path} (partially executed copy)",
                        fix="open that copy to see the traceback; fix the input or parameters and run again")
    finally:
        for ex in running:
            if ex.proc and ex.proc.poll() is None:
                ex.proc.kill()
    return timings
