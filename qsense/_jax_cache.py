"""Persistent JAX compilation cache: compiled kernels survive between processes.

On by default in the user cache directory (``platformdirs.user_cache_dir("qsense")``
or ``$QSENSE_CACHE_DIR``); ``QSENSE_JAX_CACHE=0`` turns it off.
"""

import os
from pathlib import Path


def enable() -> Path | None:
    if os.environ.get("QSENSE_JAX_CACHE", "1") == "0":
        return None
    import jax
    import platformdirs

    root = Path(os.environ.get("QSENSE_CACHE_DIR") or platformdirs.user_cache_dir("qsense"))
    path = root / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


CACHE_DIR = enable()
