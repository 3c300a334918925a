"""Executing the notebooks of a run with papermill: parameters checked first, views run in a
shared warm kernel, and a failure stops the others at once.

The notebooks are views of the stored run: most of a kernel's time is its start-up and the
imports of its first cell (pandas, matplotlib, the package). So the notebooks of a run share
:data:`KERNELS` kernels (default 2: the report in one, the stage views one after the other in
the other: one start-up and one import of each package per kernel instead of per notebook), the
kernels side by side, driven by papermill from threads of this process.
Before a kernel runs its next notebook it is put back in the state a fresh kernel is in when a
notebook starts (:mod:`qmtl_research.reporting.kernel_state`: empty namespace, execution count 1,
matplotlib settings, warning filters and random states as they were), so each notebook's
outputs are those it has in a kernel of its own; imported modules stay loaded (that is the gain).
``kernels=len(executions)`` gives every notebook its own kernel, all side by side.

Every kernel is started through a kernel manager that this module tracks, so when one notebook
fails the kernels of its siblings are killed at once (their partial copies are kept; notebooks
not started yet are not started) and the error names the notebook and the cell.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from qmtl_research.errors import ConfigError, NotebookFailed
from qmtl_research.identifiers import check_identifier
from qmtl_research.paths import notebooks_dir

KERNEL = os.environ.get("QMTL_KERNEL", "qmtl-research")
#: kernels the notebooks of a run share (``QMTL_NOTEBOOK_KERNELS``): 2 (one per core of the
#: reference machine): the report in one, the stage views one after the other in the other
KERNELS = int(os.environ.get("QMTL_NOTEBOOK_KERNELS", "2") or 2)


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
    done: threading.Event = field(default_factory=threading.Event)    # finished, failed or stopped


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


def _kernel_manager_for(ex: Execution, lane: list[Execution] | None = None):
    """A kernel-manager class that records the kernels it starts for ``ex`` and the other
    notebooks of its ``lane`` (the notebooks that share the kernel), so they can be killed.

    Kernels talk over IPC sockets in a private temporary folder, not TCP ports: kernels started at
    the same time by several processes (``report all``) cannot race for the same free port."""
    import tempfile
    import uuid

    from jupyter_client.manager import AsyncKernelManager

    def __init__(self, *args, **kwargs):
        AsyncKernelManager.__init__(self, *args, **kwargs)
        self.transport = "ipc"
        self.ip = str(Path(tempfile.mkdtemp(prefix="qmtl-kernel-")) / f"k-{uuid.uuid4().hex[:8]}")
        for member in lane or [ex]:
            member.kernels.append(self)

    async def _async_pre_start_kernel(self, **kw):
        # the kernel's environment: this process's, plus ex.env (the launch kwargs are not saved anywhere)
        kw["env"] = {**(kw.get("env") or os.environ), **ex.env}
        return await AsyncKernelManager._async_pre_start_kernel(self, **kw)

    return type(f"KernelManagerFor_{ex.name}", (AsyncKernelManager,),
                {"__init__": __init__, "_async_pre_start_kernel": _async_pre_start_kernel})


def _kill(ex: Execution) -> None:
    if ex.seconds is None:             # not finished: it is stopped (one that finished keeps its result)
        ex.stopped = True
    for km in ex.kernels:
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


def _shared_kernel_engine():
    """A papermill engine whose notebook client runs in a kernel it may share with other
    notebooks: given a started kernel manager (``km``), it first puts the kernel back in a fresh
    kernel's state (:func:`qmtl_research.reporting.kernel_state.restore`, run silently: no output,
    no execution count), and it closes its own client's channels when done (the kernel stays up).
    Without ``km`` (or a kernel not started yet) it starts the kernel and records that state."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.utils import merge_kwargs, remove_args

    class SharedKernelClient(PapermillNotebookClient):
        def papermill_execute_cells(self):
            # one expression, no name left in the namespace
            prelude = "__import__('qmtl_research.reporting.kernel_state', fromlist=['prepare']).prepare()"
            reply = self.wait_for_reply(self.kc.execute(prelude, silent=True, store_history=False,
                                                         allow_stdin=False))
            if reply is None or reply["content"]["status"] != "ok":
                content = (reply or {}).get("content", {})
                raise RuntimeError(f"the shared kernel could not be reset before the next notebook: "
                                   f"{content.get('ename')}: {content.get('evalue')}")
            super().papermill_execute_cells()

        def execute(self, **kwargs):
            try:
                return super().execute(**kwargs)
            finally:
                if self.kc is not None:
                    self.kc.stop_channels()
                    self.kc = None

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(safe_kwargs, timeout=execution_timeout if execution_timeout else
                                        kwargs.get("timeout"), startup_timeout=start_timeout, kernel_name=kernel_name,
                                        log=logging.getLogger("papermill"), log_output=log_output,
                                        stdout_file=stdout_file, stderr_file=stderr_file)
            return SharedKernelClient(nb_man, **final_kwargs).execute()

    return SharedKernelEngine


def _shutdown(km) -> None:
    """Stop a shared kernel (its notebooks are done or were stopped)."""
    from jupyter_core.utils import run_sync

    if km.has_kernel:
        run_sync(km.shutdown_kernel)(now=True)


def execute_all(executions: list[Execution], echo=print, kernels: int | None = None) -> dict[str, float]:
    """Run the notebooks (:func:`start_all`) and wait for them all (:meth:`NotebookRun.join`):
    returns the seconds each notebook took; :class:`NotebookFailed` on the first failure."""
    return start_all(executions, echo=echo, kernels=kernels).join()


class NotebookRun:
    """Notebooks running in their kernels (:func:`start_all`)."""

    def __init__(self, executions: list[Execution], threads: list, failed: list[Execution]):
        self.executions, self._threads, self._failed = executions, threads, failed

    def wait(self, ex: Execution) -> bool:
        """Wait until ``ex`` finished (or was stopped); True when no notebook has failed so far."""
        ex.done.wait()
        return not self._failed

    def stop(self) -> None:
        """Kill every kernel still running and wait for the threads (after a failure elsewhere)."""
        for ex in self.executions:
            _kill(ex)
        for th in self._threads:
            th.join()

    def join(self) -> dict[str, float]:
        """Wait for every notebook. Returns the seconds each took (``nan`` for one stopped before it
        started); on a failure raises :class:`NotebookFailed` naming the notebook and the cell."""
        from papermill.exceptions import PapermillExecutionError

        for th in self._threads:
            th.join()
        executions, failed = self.executions, self._failed
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
        return {ex.name: ex.seconds if ex.seconds is not None else float("nan") for ex in executions}


def start_all(executions: list[Execution], echo=print, kernels: int | None = None) -> NotebookRun:
    """Start the notebooks in ``kernels`` kernels (default :data:`KERNELS`) side by side: the last
    ``kernels - 1`` notebooks in a kernel each, the others one after the other in the first
    kernel, which they share. On the first failure the other kernels are killed and no further
    notebook starts. Returns at once; :meth:`NotebookRun.join` waits (and raises on a failure)."""
    import papermill as pm
    from papermill.engines import papermill_engines

    # papermill logs "Kernel died ..." for the siblings this function stops on purpose; the
    # NotebookFailed raised below says which notebook failed and which were stopped
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    papermill_engines.register("qmtl-shared-kernel", _shared_kernel_engine())
    lock = threading.Lock()
    failed: list[Execution] = []
    n = max(1, min(kernels or KERNELS, len(executions)))
    # the last n-1 notebooks (the report, the longest view and the one rendered, first of them) get
    # a kernel each; the others share the first kernel, one after the other
    lanes = [executions[:len(executions) - n + 1]] + [[ex] for ex in executions[len(executions) - n + 1:]]

    def run(ex: Execution, km) -> None:
        if failed or ex.stopped:
            ex.stopped = True
            ex.done.set()
            return
        echo(f"  notebook {ex.name}.ipynb -> {ex.out_path.name}")
        t = time.perf_counter()
        try:
            pm.execute_notebook(str(notebook_path(ex.name)), str(ex.out_path), parameters=ex.parameters,
                                kernel_name=KERNEL, progress_bar=False, log_output=False, cwd=str(notebooks_dir()),
                                engine_name="qmtl-shared-kernel", km=km)
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
            ex.done.set()

    def lane(members: list[Execution]) -> None:
        # one kernel for the lane: its environment is the first notebook's (the runner gives every
        # notebook of a run the same ``env``; a different one gets a kernel of its own)
        km = _kernel_manager_for(members[0], members)(kernel_name=KERNEL)
        try:
            for ex in members:
                if ex.env == members[0].env:
                    run(ex, km)
                    continue
                own = _kernel_manager_for(ex)(kernel_name=KERNEL)
                try:
                    run(ex, own)
                finally:
                    _shutdown(own)
        finally:
            try:
                _shutdown(km)
            finally:
                for ex in members:       # the kernels' private socket folders (empty once they stopped)
                    for k in ex.kernels:
                        shutil.rmtree(Path(k.ip).parent, ignore_errors=True)

    threads = [threading.Thread(target=lane, args=(members,), daemon=True) for members in lanes]
    for th in threads:
        th.start()
    return NotebookRun(executions, threads, failed)
