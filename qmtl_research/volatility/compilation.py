"""The one home of the JAX persistent compilation cache (the GARCH kernels and the Keras LSTMs)."""
from __future__ import annotations

import os

JIT_CACHE_MIN_COMPILE_SECONDS = 0.2   # programs that compile faster than this are not cached


def enable_jax_compilation_cache() -> None:
    """Keep compiled XLA programs in the project's ``.cache/jax`` (a persistent cache: the first
    process compiles, later ones load; the programs are the same, so the numbers are too).

    Does nothing when a cache directory is already configured (``JAX_COMPILATION_CACHE_DIR`` in
    the environment, or an earlier call / the user's own ``jax.config``). Idempotent.

    Returns
    -------
    None
    """
    import jax

    from qmtl_research.paths import cache_dir

    if jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", JIT_CACHE_MIN_COMPILE_SECONDS)
