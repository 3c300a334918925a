"""The Dask client of joblib's ``dask`` backend (stage-1 refits, the stage-2 grid search).

With ``backend: dask`` a parallel step runs its joblib tasks on a dask.distributed cluster:

* the current :class:`distributed.Client` when one exists (e.g. made by a notebook or a test);
* else the scheduler at ``$QMTL_DASK_SCHEDULER`` (``tcp://host:8786``) when it is set;
* else a :class:`distributed.LocalCluster` of ``n_workers`` single-threaded processes, for
  the duration of the step.

Results do not depend on the client: every task is the same function of the same inputs.
"""
from __future__ import annotations

import os

from qmtl_research.errors import ConfigError

SCHEDULER_ENV = "QMTL_DASK_SCHEDULER"


def scheduler_address() -> str | None:
    """``$QMTL_DASK_SCHEDULER`` (a ``tcp://``/``tls://`` address), or None when unset or empty."""
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    if not address:
        return None
    if not address.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise ConfigError(f"{SCHEDULER_ENV}={address!r} is not a Dask scheduler address",
                          where=f"environment variable {SCHEDULER_ENV}",
                          fix="use e.g. tcp://scheduler-host:8786, or unset it for a local cluster")
    return address


class dask_client:
    """Context manager: the current Client, the configured scheduler's, or a local cluster.

    Parameters
    ----------
    n_workers : int
        Workers of the local cluster (only when neither a client nor an address exists).
    """

    def __init__(self, n_workers: int):
        self.n_workers = n_workers
        self._own: tuple = ()

    def __enter__(self) -> "dask_client":
        from distributed import Client, LocalCluster, get_client

        try:
            get_client()
        except ValueError:
            address = scheduler_address()
            if address is not None:
                self._own = (Client(address),)
            else:
                cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                self._own = (Client(cluster), cluster)
        return self

    def __exit__(self, *exc) -> bool:
        for obj in self._own:
            obj.close()
        return False
