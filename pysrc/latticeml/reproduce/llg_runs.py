"""Ensembles of recorded LLG runs that survive a kill: the long stages of the chapter-3 reproductions.

:func:`recorded_llg_runs` runs ``make_run(r) -> (calculator, stepper, state, rng)`` for each run r and records the
spins (and, for exact data, the calculator's field) every ``stride`` steps. With a ``cache`` folder the result is one
npz file named by ``key``, read back on the next call; until then each finished run is kept on its own and a run in
progress checkpoints atomically every ``checkpoint_every`` steps (state, what it recorded so far, the noise generator,
the stepper's and the calculator's state), so a killed job loses at most one interval and the resumed result is bit
for bit the uninterrupted one. Paper-scale stages this protects: exact data on 48² (60 runs × 5,000 steps, 30-80
GPU-hours), the exact quench ensembles of figs 3.8 and 3.14, and the BP-LLG ensemble of fig 3.16 (≈ 14 GPU-hours).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["recorded_llg_runs", "save_npz", "load_npz", "CHECKPOINT_EVERY"]

#: steps between checkpoints of a run in progress (48² exact on a GPU: minutes; on the 2-core CPU: ≈ 20 minutes)
CHECKPOINT_EVERY = 200


def save_npz(path: Path, arrays: dict) -> None:
    """Write atomically: targets running side by side never read a half-written cache file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)


def load_npz(path: Path) -> dict:
    """The arrays of an npz cache file as a dict (read fully, file closed)."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def recorded_llg_runs(make_run: Callable, n_runs: int, steps: int, stride: int, *, fields: bool = False,
                      cache: Path | None = None, key: str | None = None, checkpoint_every: int = CHECKPOINT_EVERY,
                      desc: str = "LLG", workers: int = 1) -> dict:
    """``{"spins"}`` (and ``"fields"`` when ``fields``) of shape (n_runs, steps // stride + 1, N, 3), plus
    ``"steps"``; see the module docstring. ``key`` names the cache file (required with ``cache``).

    ``workers`` > 1 runs the runs in that many local processes (:func:`latticeml.ensemble.run_ensemble`;
    ``make_run`` must then be picklable, e.g. a module-level class): every run has its own seed, so the result is the
    serial one bit for bit.
    """
    from tqdm.auto import tqdm

    if cache is not None:
        if key is None:
            raise ValueError("recorded_llg_runs: a cache needs a key")
        group = Path(cache) / f"{key}.npz"
        if group.is_file():
            return load_npz(group)
        Path(cache).mkdir(parents=True, exist_ok=True)  # the checkpoints go there from the first step
    part = None if cache is None else (lambda r, ext: Path(cache) / f"{key}.run{r}.{ext}")
    todo = [r for r in range(n_runs) if part is None or not part(r, "npz").is_file()]
    done: dict[int, dict] = {}
    if workers > 1 and len(todo) > 1:
        from ..ensemble import run_ensemble

        jobs = [{"make_run": make_run, "r": r, "steps": steps, "stride": stride, "fields": fields,
                 "checkpoint_every": checkpoint_every,
                 "checkpoint": None if part is None else str(part(r, "ckpt")),
                 "store": None if part is None else str(part(r, "npz"))} for r in todo]
        for r, run in zip(todo, run_ensemble(_run_job, jobs, workers=workers)):
            if run is not None:
                done[r] = run
    bar = tqdm(total=n_runs * steps, desc=desc, unit="step", disable=not sys.stderr.isatty())
    runs = []
    for r in range(n_runs):
        if r in done:
            runs.append(done[r])
            bar.update(steps)
        elif part is not None and part(r, "npz").is_file():
            runs.append(load_npz(part(r, "npz")))
            bar.update(steps)
        else:
            runs.append(_run_job(make_run, r, steps, stride, fields, checkpoint_every,
                                 None if part is None else part(r, "ckpt"),
                                 None if part is None else part(r, "npz"), bar=bar, keep=True))
    bar.close()
    out = {name: np.stack([run[name] for run in runs]) for name in runs[0]}
    out["steps"] = np.arange(steps // stride + 1) * stride
    if cache is not None:
        save_npz(group, out)
        for r in range(n_runs):
            part(r, "npz").unlink(missing_ok=True)
    return out


def _run_job(make_run, r: int, steps: int, stride: int, fields: bool, checkpoint_every: int, checkpoint,
             store, bar=None, keep: bool = False) -> dict | None:
    """Run r from ``make_run(r)``; with ``store`` it is written there (and its checkpoint removed) and, in a worker
    process (``keep`` False), only the file comes back."""
    from tqdm.auto import tqdm

    bar = bar if bar is not None else tqdm(disable=True)
    run = _one_run(*make_run(r), steps, stride, fields, checkpoint_every,
                   None if checkpoint is None else Path(checkpoint), bar)
    if store is not None:
        save_npz(Path(store), run)
        Path(checkpoint).unlink(missing_ok=True)
        return run if keep else None
    return run


def _one_run(calc, stepper, state, rng, steps: int, stride: int, fields: bool, checkpoint_every: int,
             checkpoint: Path | None, bar) -> dict:
    """One recorded run, resumed from ``checkpoint`` when it exists (and checkpointed there)."""
    from ..io.checkpoint import load_checkpoint, save_checkpoint

    n_saved = steps // stride + 1
    rec = {name: np.empty((n_saved, *state.field.shape)) for name in (("spins", "fields") if fields else ("spins",))}
    first = 0
    stepper.prepare(state)
    if checkpoint is not None and checkpoint.is_file():
        ck = load_checkpoint(checkpoint)
        first, state = ck["step"], ck["state"]
        for name in rec:
            rec[name][:len(ck[name])] = ck[name]
        rng.bit_generator.state = ck["rng"]
        stepper.load_state_dict(ck["stepper"])
        if ck["calculator"] is not None:
            calc.restore_checkpoint_state(ck["calculator"])
        bar.update(first)
    for step in range(first, steps + 1):
        if checkpoint is not None and step > first and step % checkpoint_every == 0 and step < steps:
            k = step // stride + (step % stride > 0)  # snapshots recorded so far
            save_checkpoint(checkpoint, {
                "step": step, "state": state.copy(), **{name: a[:k] for name, a in rec.items()},
                "rng": rng.bit_generator.state, "stepper": stepper.state_dict(),
                "calculator": calc.checkpoint_state() if hasattr(calc, "checkpoint_state") else None})
        if step % stride == 0:
            rec["spins"][step // stride] = state.field
            if fields:
                rec["fields"][step // stride] = calc.forces(state.field)
        if step < steps:
            stepper.step(state, rng)
            bar.update(1)
    return rec
