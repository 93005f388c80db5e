"""BLAS threads for small dense work.

On few cores, OpenBLAS threads cost more than they gain on the small matrices of lattice-sized problems that
alternate BLAS calls with other work: the idle threads spin-wait after each call, and numpy and scipy each load their
own OpenBLAS pool. Measured on the 2-core development machine (Dec 2026), default threads against one thread:
an exact Falicov-Kimball kMC sweep on 16² 0.53 s vs 0.13 s, 24² 3.0 s vs 1.2 s, 32² equal; an s-d CheFSI LLG step
on 12² 0.064 s vs 0.016 s, 24² 0.40 s vs 0.28 s, 36² equal, 48² 5.2 s vs 7.2 s. The hot loops therefore run under
:func:`one_blas_thread_below` with the crossover measured for them; large dense diagonalisations keep every thread.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path

__all__ = ["limit_threads", "one_blas_thread_below", "blas_pools"]


@functools.lru_cache(maxsize=1)
def _controller():
    """threadpoolctl's controller, built once (a fresh ``threadpool_limits`` scans the loaded libraries, ≈0.4 ms)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a minimal install without threadpoolctl: leave the threads alone
        return None
    import numpy  # noqa: F401  (load both BLAS pools first: the controller sees only libraries already loaded)
    import scipy.linalg  # noqa: F401

    return ThreadpoolController()


def limit_threads(threads: int, user_api: str | None = None):
    """Context limiting the thread pools of ``user_api`` ("blas", "openmp"; None: all) to ``threads``. numpy's and
    scipy's BLAS are loaded before the controller is built, so both pools are limited."""
    controller = _controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=threads, user_api=user_api)


def one_blas_thread_below(dim: int, threshold: int):
    """Context running BLAS on one thread when the matrix dimension ``dim`` is below ``threshold``; else a no-op."""
    return limit_threads(1, "blas") if dim < threshold else contextlib.nullcontext()


def blas_pools() -> list[dict]:
    """The BLAS thread pools loaded in this process (library, API, threads), for ``latticeml info``."""
    controller = _controller()
    if controller is None:
        return []
    return [{"library": lib.internal_api, "threads": lib.num_threads, "file": Path(lib.filepath).name}
            for lib in controller.select(user_api="blas").lib_controllers]
