"""qmtl-research: notebook-first model-risk research.

Importing the package fixes the runtime defaults the whole project relies on,
before any heavy library is imported:

* ``KERAS_BACKEND`` defaults to ``jax`` (keras reads it on its first import);
* keras, matplotlib and jupyter caches default to the ignored, project-local
  ``.cache/`` folder when the package runs from a checkout;
* XLA's CPU backend exposes one device per available core (at most
  :data:`MAX_HOST_DEVICES`) through ``XLA_FLAGS``: the GARCH(1,1) kernels spread their
  chunks of funds over them (XLA runs one program at a time per device). Ignored when
  jax was imported first; a device count already in ``XLA_FLAGS`` is kept.

Explicit environment variables always win (``os.environ.setdefault``).
"""
from __future__ import annotations

import os as _os

from qmtl_research.paths import project_root as _project_root

__version__ = "0.1.0"

_os.environ.setdefault("KERAS_BACKEND", "jax")
_os.environ.setdefault("JAX_PLATFORMS", "cpu")
_cache = _project_root() / ".cache"
_os.environ.setdefault("KERAS_HOME", str(_cache / "keras"))
_os.environ.setdefault("MPLCONFIGDIR", str(_cache / "matplotlib"))
_os.environ.setdefault("JUPYTER_RUNTIME_DIR", str(_cache / "jupyter" / "runtime"))

MAX_HOST_DEVICES = 8
_DEVICE_FLAG = "--xla_force_host_platform_device_count"
if _DEVICE_FLAG not in _os.environ.get("XLA_FLAGS", ""):
    _cores = len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else (_os.cpu_count() or 1)
    _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "")
                                + f" {_DEVICE_FLAG}={max(1, min(MAX_HOST_DEVICES, _cores))}").strip()

__all__ = ["MAX_HOST_DEVICES", "__version__"]
