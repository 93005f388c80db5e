"""Ensembles of independent runs (many seeds, data generation) behind one executor interface.

``run_ensemble(fn, kwargs_list)`` calls ``fn(**kwargs)`` for every entry and returns the results in order:
in a local process pool by default (spawned processes, so it is safe with threads, torch and Julia), or on a Dask
cluster when a scheduler address is given.
"""
from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import LatticeMLError

__all__ = ["run_ensemble", "simulate_seeds", "EXECUTORS"]

EXECUTORS = ("local", "dask", "serial")


def run_ensemble(fn: Callable[..., Any], kwargs_list: Sequence[dict], executor: str = "local",
                 scheduler: str | None = None, workers: int | None = None) -> list:
    """Call ``fn(**kwargs)`` for each dict in ``kwargs_list``; return the results in the same order.

    Parameters
    ----------
    fn : callable
        Must be importable by name (a module-level function) so worker processes can load it.
    kwargs_list : sequence of dict
        One keyword-argument dict per run (e.g. ``[{"seed": s} for s in range(16)]``).
    executor : {"local", "dask", "serial"}
        ``local``: process pool with the spawn start method; ``dask``: ``distributed.Client(scheduler)``
        (implied when ``scheduler`` is given); ``serial``: in this process, one after the other (debugging).
    scheduler : str, optional
        Address of a Dask scheduler, e.g. ``"tcp://10.0.0.1:8786"``.
    workers : int, optional
        Local processes (default: ``os.cpu_count()``, at most the number of runs).

    An exception raised by a run is re-raised here (the first one, in submission order).
    """
    kwargs_list = list(kwargs_list)
    if scheduler is not None:
        executor = "dask"
    if executor not in EXECUTORS:
        raise LatticeMLError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if not kwargs_list:
        return []
    if executor == "serial":
        return [fn(**kw) for kw in kwargs_list]
    if executor == "dask":
        return _run_dask(fn, kwargs_list, scheduler)
    n = min(workers or os.cpu_count() or 1, len(kwargs_list))
    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(fn, **kw) for kw in kwargs_list]
            return [f.result() for f in futures]
    except BrokenProcessPool:
        # the usual cause in a user's script: spawned workers re-import the main module, which starts workers again
        raise LatticeMLError("a worker process died before finishing its run: in a script, call this under "
                             "`if __name__ == \"__main__\":` (spawned workers re-import the script); else it was killed "
                             "(memory?), or use workers=1") from None


def simulate_seeds(config_path, out_dir, seeds: Sequence[int], **executor) -> list[Path]:
    """Run the config at ``config_path`` once per seed into ``out_dir/seed-XXXX`` (one run directory each).

    ``executor`` takes the keyword arguments of :func:`run_ensemble` (``executor``, ``scheduler``, ``workers``).
    Returns the run directories in the order of ``seeds``.
    """
    repeated = sorted(s for s, n in Counter(int(s) for s in seeds).items() if n > 1)
    if repeated:  # two runs would write one folder (in parallel: a file-lock error from HDF5)
        raise LatticeMLError(f"seeds {repeated} appear more than once; give each seed once")
    runs = [Path(out_dir) / f"seed-{int(seed):04d}" for seed in seeds]
    jobs = [{"config_path": str(config_path), "out_dir": str(run), "quiet": True, "seed": int(seed)}
            for run, seed in zip(runs, seeds)]
    run_ensemble(_simulate_quietly, jobs, **executor)
    return runs


def _simulate_quietly(**kwargs) -> None:
    # a module-level function (workers import it by name); returns nothing so no state is shipped back
    from .io.run import simulate

    simulate(**kwargs)


def _run_dask(fn, kwargs_list, scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise LatticeMLError("the dask executor needs dask.distributed: pip install 'latticeml[dask]'") from None
    if scheduler is None:
        raise LatticeMLError("the dask executor needs a scheduler address, e.g. scheduler='tcp://host:8786'")
    with Client(scheduler) as client:
        futures = [client.submit(fn, pure=False, **kw) for kw in kwargs_list]
        return client.gather(futures)
