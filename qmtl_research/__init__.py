"""qmtl-research: notebook-first model-risk research.

Importing the package fixes the runtime defaults the whole project relies on,
before any heavy library is imported:

* ``KERAS_BACKEND`` defaults to ``jax`` (keras reads it on its first import);
* keras, matplotlib and jupyter caches default to the ignored, project-local
  ``.cache/`` folder when the package runs from a checkout.

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

__all__ = ["__version__"]
