"""Executing the notebooks of a run with papermill: parameters checked first, views run side by
side, and a failure stops the others at once.

Each notebook runs in its own kernel, driven by papermill from a thread of this process (one
import of papermill for all of them). Every kernel is started through a kernel manager that
this module tracks, so when one notebook fails the kernels of its siblings are killed at once
(their partial copies are kept) and the error names the notebook and the cell.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from qmtl_research.errors import ConfigError, NotebookFailed
from qmtl_research.identifiers import check_identifier
from qmtl_research.paths import notebooks_dir

KERNEL = os.environ.get("QMTL_KERNEL", "qmtl-research")


def notebook_path(name: str) -> Path:
    check_identifier(name, "notebook", where="a strategy's notebooks list")
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
    #: environment variables for the kernel only (e.g. ``QMTL_STORE_URL``): never written into the
    #: executed notebook, unlike ``parameters``, so a store password cannot reach an artefact
    env: dict = field(default_factory=dict)
    seconds: float | None = None
    error: BaseException | None = None
    stopped: bool = False
    kernels: list = field(default_factory=list)


def store_env(store_url: str | None) -> dict[str, str]:
    """Kernel environment (:attr:`Execution.env`) that points the notebooks at ``store_url``
    (empty: they use this process's ``QMTL_STORE_URL`` or the default store)."""
    return {"QMTL_STORE_URL": store_url} if store_url else {}


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


def _kernel_manager_for(ex: Execution):
    """A kernel-manager class that records the kernels it starts for ``ex`` (so they can be killed).

    Kernels talk over IPC sockets in a private temporary folder, not TCP ports: kernels started at
    the same time by several processes (``report all``) cannot race for the same free port."""
    import tempfile
    import uuid

    from jupyter_client.manager import AsyncKernelManager

    def __init__(self, *args, **kwargs):
        AsyncKernelManager.__init__(self, *args, **kwargs)
        self.transport = "ipc"
        self.ip = str(Path(tempfile.mkdtemp(prefix="qmtl-kernel-")) / f"k-{uuid.uuid4().hex[:8]}")
        ex.kernels.append(self)

    async def _async_pre_start_kernel(self, **kw):
        # the kernel's environment: this process's, plus ex.env (the launch kwargs are not saved anywhere)
        kw["env"] = {**(kw.get("env") or os.environ), **ex.env}
        return await AsyncKernelManager._async_pre_start_kernel(self, **kw)

    return type(f"KernelManagerFor_{ex.name}", (AsyncKernelManager,),
                {"__init__": __init__, "_async_pre_start_kernel": _async_pre_start_kernel})


def _kill(ex: Execution) -> None:
    ex.stopped = True
    for km in ex.kernels:
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


def execute_all(executions: list[Execution], echo=print, max_parallel: int | None = None) -> dict[str, float]:
    """Run the notebooks side by side (at most ``max_parallel`` at once, default all); on the first
    failure, kill the other kernels and raise :class:`NotebookFailed` naming notebook and cell.
    Returns the seconds each notebook took."""
    import threading

    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    import logging

    # papermill logs "Kernel died ..." for the siblings this function stops on purpose; the
    # NotebookFailed raised below says which notebook failed and which were stopped
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    lock = threading.Lock()
    failed: list[Execution] = []
    slots = threading.Semaphore(max_parallel or len(executions))

    def run(ex: Execution) -> None:
        with slots:
            if failed:
                ex.stopped = True
                return
            echo(f"  notebook {ex.name}.ipynb -> {ex.out_path.name}")
            t = time.perf_counter()
            try:
                pm.execute_notebook(str(notebook_path(ex.name)), str(ex.out_path), parameters=ex.parameters,
                                    kernel_name=KERNEL, progress_bar=False, log_output=False, cwd=str(notebooks_dir()),
                                    kernel_manager_class=_kernel_manager_for(ex), shutdown_kernel="immediate")
            except BaseException as exc:  # recorded and re-raised by the caller (named, with the cell)
                with lock:
                    if ex.stopped:
                        return
                    ex.error = exc
                    failed.append(ex)
                    for other in executions:
                        if other is not ex:
                            _kill(other)
            finally:
                ex.seconds = time.perf_counter() - t
                for km in ex.kernels:          # the kernel's private socket folder (empty once it stopped)
                    shutil.rmtree(Path(km.ip).parent, ignore_errors=True)

    threads = [threading.Thread(target=run, args=(ex,), daemon=True) for ex in executions]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if failed:
        ex = failed[0]
        stopped = [o.name for o in executions if o.stopped and o is not ex]
        if isinstance(ex.error, PapermillExecutionError):
            where, detail = ex.error.cell_index, f"{ex.error.ename}: {ex.error.evalue}"
        else:
            where, detail = _failed_cell(ex.out_path)
            if where is None:
                detail = f"{type(ex.error).__name__}: {ex.error}"
        raise NotebookFailed(
            f"notebook '{ex.name}' failed" + (f" in cell {where}" if where is not None else "") + f": {detail}"
            + (f" (stopped: {', '.join(stopped)})" if stopped else ""),
            where=f"{ex.out_path} (partially executed copy)",
            fix="open that copy to see the traceback; fix the input or parameters and run again") from None
    return {ex.name: ex.seconds for ex in executions}
