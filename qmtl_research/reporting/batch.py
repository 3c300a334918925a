"""Run several strategies' reports in parallel, each in its own process."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from tqdm import tqdm


def _command(strategy: str, world: str | None, engine: str) -> list[str]:
    exe = shutil.which("qmtl-research") or os.path.join(os.path.dirname(sys.executable), "qmtl-research")
    cmd = [exe, "report", "run", "--strategy", strategy, "--engine", engine, "--quiet"]
    return cmd + (["--world", world] if world else [])


def run_one(strategy: str, world: str | None = None, engine: str = "auto", store_url: str | None = None) -> dict:
    """``qmtl-research report run`` in a child process; returns exit code, time and last line."""
    env = dict(os.environ)
    if store_url:
        env["QMTL_STORE_URL"] = store_url
    t = time.perf_counter()
    proc = subprocess.run(_command(strategy, world, engine), capture_output=True, text=True, env=env, check=False)
    # the command's own summary is on stdout (its errors on stderr); kernels' log lines are noise
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()] or \
            [ln for ln in proc.stderr.splitlines() if ln.strip() and "IPKernelApp" not in ln]
    return {"strategy": strategy, "returncode": proc.returncode, "seconds": time.perf_counter() - t,
            "last_line": lines[-1] if lines else "", "output": proc.stdout + proc.stderr}


def run_many(strategies: list[str], workers: int = 2, scheduler: str = "processes", dask_address: str | None = None,
             engine: str = "auto", store_url: str | None = None, world: str | None = None) -> list[dict]:
    if scheduler not in ("processes", "dask"):
        from qmtl_research.errors import ConfigError

        raise ConfigError(f"unknown scheduler '{scheduler}'", fix="use processes or dask")
    outcomes = []
    bar = tqdm(total=len(strategies), desc="reports", unit="strategy")
    if scheduler == "dask":
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None if dask_address else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        with Client(dask_address or cluster) as client:
            futures = [client.submit(run_one, s, world, engine, store_url, pure=False) for s in strategies]
            for fut in as_completed(futures):
                outcomes.append(fut.result())
                bar.update()
        if cluster is not None:
            cluster.close()
    else:
        from concurrent.futures import ThreadPoolExecutor, as_completed as done

        # threads only wait on child processes: each report runs in its own process
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_one, s, world, engine, store_url) for s in strategies]
            for fut in done(futures):
                outcomes.append(fut.result())
                bar.update()
    bar.close()
    return sorted(outcomes, key=lambda o: strategies.index(o["strategy"]))
