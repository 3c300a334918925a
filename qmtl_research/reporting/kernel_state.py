"""The state a fresh kernel is in when a notebook starts, taken once and restored between the
notebooks that share a kernel (:func:`qmtl_research.reporting.notebooks.execute_all`).

Run inside the kernel (silently, before a notebook's first cell). :func:`snapshot` is taken
before the first notebook: it imports ``matplotlib.pyplot`` first, which switches the kernel to
its inline backend and applies that backend's settings, exactly as a notebook's own first import
of pyplot does in a fresh kernel. :func:`restore` then gives the next notebook

* an empty namespace (IPython's ``%reset -f``; imported modules stay loaded: that is the gain),
  a new history session and execution count 1, so its cells are numbered as in a fresh kernel;
* matplotlib's settings (``rcParams``: a notebook's ``plotting.setup()`` or seaborn theme does not
  leak into the next) and no open figure;
* the warning filters, with every module's record of warnings already shown cleared (a warning
  shown by an earlier notebook is shown again);
* NumPy's and Python's global random states.
"""
from __future__ import annotations

_STATE: dict = {}


def taken() -> bool:
    """Whether :func:`snapshot` ran in this kernel."""
    return bool(_STATE)


def prepare() -> None:
    """Before a notebook: :func:`snapshot` in a fresh kernel, :func:`restore` in a used one."""
    if taken():
        restore()
    else:
        snapshot()


def snapshot() -> None:
    """Record the fresh kernel's state (see the module docstring)."""
    import random
    import warnings

    import matplotlib
    import matplotlib.pyplot  # noqa: F401  (the inline backend applies its settings now)
    import numpy as np

    _STATE.update(rc=matplotlib.rcParams.copy(), filters=list(warnings.filters),
                  np_random=np.random.get_state(), random=random.getstate())


def restore() -> None:
    """Put the kernel back in the recorded state (see the module docstring).

    Raises
    ------
    RuntimeError
        No snapshot was taken in this kernel.
    """
    import random
    import sys
    import warnings

    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython import get_ipython

    if not _STATE:
        raise RuntimeError("kernel_state.restore() before snapshot(): nothing to restore")
    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=True)    # %reset -f, plus a new history session and execution count 1
    plt.close("all")
    matplotlib.rcParams.clear()
    matplotlib.rcParams.update(_STATE["rc"])
    warnings.filters[:] = _STATE["filters"]
    for module in list(sys.modules.values()):
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()
    if hasattr(warnings, "_filters_mutated"):      # CPython: drop the cached filter version
        warnings._filters_mutated()
    np.random.set_state(_STATE["np_random"])
    random.setstate(_STATE["random"])
