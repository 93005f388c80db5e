"""Benchmark ``fk-ml``: ML kinetic Monte Carlo of the Falicov–Kimball model against exact kMC.

* ML kMC on 150×150 (``quick``: 60×60), rejection-free n-fold way with rates cached per f-electron and refreshed
  within R_c of each hop: MC sweeps per second over the first sweeps after a random quench (the most
  expensive ones: acceptance is highest there), hops per second and the projected time of 1000 sweeps at that
  early rate (an upper bound; target ≤ 600 s on 2 cores).
* Per-attempt cost on 30×30 (``quick``: 20×20) of attempt-by-attempt Metropolis (the author algorithm), exact
  (ED + fast rank-2 ΔE, one ``eigh`` per accepted hop) against ML, from the same state with the same seed:
  the speedup per attempt.

The networks come from ``model_dir`` (a directory written by ``latticeml reproduce fig2.4``), else from
``reproduce-out/_models/fk-quick`` or ``fk-full`` when present, else freshly initialised ones (timings barely
depend on the weights, but the acceptance does; the JSON says which was used).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..dynamics import KineticMC, State
from ..dynamics.kmc_fast import NFoldKMC
from ..lattice import square
from ..models.falicov_kimball import n_f_for, random_occupation
from ..reproduce.fk_pipeline import FK_MODEL, FKNetworkSet, exact_calculator

_DEFAULT_DIRS = ("reproduce-out/_models/fk-full", "reproduce-out/_models/fk-quick")


def _network_set(model_dir):
    for d in ([model_dir] if model_dir else list(_DEFAULT_DIRS)):
        if d and (Path(d) / "P4_T0.pt").is_file():
            return FKNetworkSet.load(d, lattice=square(30)), str(d)
    return FKNetworkSet.untrained(), "untrained"


def _per_attempt_seconds(calc, occ, n_attempts: int, seed: int) -> tuple[float, float]:
    """Seconds per attempt and acceptance of ``n_attempts`` Metropolis attempts from ``occ``."""
    stepper = KineticMC(calc, FK_MODEL["T"])
    state = State(occ.copy())
    stepper.prepare(state)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(n_attempts):
        stepper.attempt(state, rng)
    return (time.perf_counter() - start) / n_attempts, stepper.accepted / n_attempts


def run(quick: bool = False, model_dir: str | None = None) -> dict:
    import torch

    net_set, source = _network_set(model_dir)
    L_big, sweeps, L_small, n_attempts = (60, 1, 20, 100) if quick else (150, 1, 30, 400)
    rng = np.random.default_rng(2022)

    lattice = square(L_big)
    calc = net_set.calculator(lattice)
    stepper = NFoldKMC(calc, FK_MODEL["T"], refresh_radius=calc.descriptor.rc, clock="attempts")
    state = State(random_occupation(lattice, n_f_for(lattice), rng))
    start = time.perf_counter()
    stepper.prepare(state)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(sweeps):
        stepper.step(state, rng)
    seconds = time.perf_counter() - start
    events = stepper.summary()["events"]

    small = square(L_small)
    occ = random_occupation(small, n_f_for(small), rng)
    exact_s, exact_acc = _per_attempt_seconds(exact_calculator(small), occ, n_attempts, 7)
    ml_s, ml_acc = _per_attempt_seconds(net_set.calculator(small), occ, n_attempts, 7)
    return {
        "model": source,
        "torch_threads": torch.get_num_threads(),
        "ml_kmc": {"L": L_big, "n_f": int(len(stepper.particles)), "sweeps": sweeps, "seconds": seconds,
                   "setup_seconds": setup, "sweeps_per_second": sweeps / seconds, "hops": events,
                   "hops_per_second": events / seconds,
                   "projected_seconds_1000_sweeps": 1000 * seconds / sweeps,
                   "note": "early sweeps after a random quench (highest acceptance): the projection is an upper "
                           "bound; target 1000 sweeps <= 600 s on 2 cores"},
        "per_attempt": {"L": L_small, "attempts": n_attempts, "exact_seconds": exact_s, "ml_seconds": ml_s,
                        "exact_acceptance": exact_acc, "ml_acceptance": ml_acc,
                        "speedup": exact_s / ml_s},
    }
