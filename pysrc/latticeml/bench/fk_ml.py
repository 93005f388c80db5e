"""Benchmark ``fk-ml``: ML kinetic Monte Carlo of the Falicov–Kimball model against exact kMC.

* ML kMC on 150×150 (``quick``: 60×60) from one random quench: simulated MC sweeps (MCS = N_f attempts, the unit
  of exact kMC) per second over the first sweeps (the most expensive ones: acceptance is highest there) with
  :class:`~latticeml.dynamics.kmc_fast.CachedMetropolisKMC` (attempt-by-attempt Metropolis, rates cached and
  recomputed lazily in conflict-free batches; the stepper of ``reproduce fig2.6``), and, from the same state and
  seed, with the n-fold way :class:`~latticeml.dynamics.kmc_fast.NFoldKMC` (every rate within R_c of a hop
  refreshed eagerly), timed over a fixed number of hops and converted with its hops per sweep. The projected
  time of 1000 sweeps at the early rate is an upper bound (target ≤ 600 s on 2 cores).
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
from ..dynamics.kmc_fast import CachedMetropolisKMC, NFoldKMC
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


def _nfold_sweeps_per_second(calc, occ, n_hops: int, seed: int) -> dict:
    """The n-fold way from ``occ``: seconds per hop over ``n_hops`` hops and hops per MCS (total rate R)."""
    stepper = NFoldKMC(calc, FK_MODEL["T"], refresh_radius=calc.descriptor.rc, clock="attempts")
    state = State(occ.copy())
    stepper.prepare(state)
    rng = np.random.default_rng(seed)
    hops_per_sweep = stepper.summary()["total_rate"]  # Σ p_{i,d}: hops per MCS at this state
    start = time.perf_counter()
    for _ in range(n_hops):
        stepper._hop(state.field, stepper._tree.find(rng.random() * stepper._tree.total))
    per_hop = (time.perf_counter() - start) / n_hops
    return {"hops_timed": n_hops, "seconds_per_hop": per_hop, "hops_per_sweep": hops_per_sweep,
            "refreshed_particles_per_hop": stepper.summary()["refreshed_particles_per_event"],
            "sweeps_per_second": 1.0 / (per_hop * hops_per_sweep)}


def run(quick: bool = False, model_dir: str | None = None) -> dict:
    import torch

    net_set, source = _network_set(model_dir)
    L_big, sweeps, nfold_hops, L_small, n_attempts = (60, 3, 100, 20, 100) if quick else (150, 5, 300, 30, 400)
    rng = np.random.default_rng(2022)

    lattice = square(L_big)
    calc = net_set.calculator(lattice)
    occ0 = random_occupation(lattice, n_f_for(lattice), rng)
    stepper = CachedMetropolisKMC(calc, FK_MODEL["T"], interaction_radius=calc.descriptor.rc)
    state = State(occ0.copy())
    start = time.perf_counter()
    stepper.prepare(state)
    setup = time.perf_counter() - start
    per_sweep = []
    kmc_rng = np.random.default_rng(1)
    for _ in range(sweeps):
        start = time.perf_counter()
        stepper.step(state, kmc_rng)
        per_sweep.append(time.perf_counter() - start)
    seconds = float(np.sum(per_sweep))
    info = stepper.summary()
    nfold = _nfold_sweeps_per_second(calc, occ0, nfold_hops, 1)

    small = square(L_small)
    occ = random_occupation(small, n_f_for(small), rng)
    exact_s, exact_acc = _per_attempt_seconds(exact_calculator(small), occ, n_attempts, 7)
    ml_s, ml_acc = _per_attempt_seconds(net_set.calculator(small), occ, n_attempts, 7)
    return {
        "model": source,
        "torch_threads": torch.get_num_threads(),
        "ml_kmc": {"L": L_big, "n_f": int(len(stepper.particles)), "stepper": "CachedMetropolisKMC",
                   "sweeps": sweeps, "seconds": seconds, "seconds_per_sweep": per_sweep, "setup_seconds": setup,
                   "sweeps_per_second": sweeps / seconds, "hops": info["events"],
                   "acceptance": info["acceptance"], "evaluations_per_attempt": info["evaluations_per_attempt"],
                   "mean_batch": info["mean_batch"], "projected_seconds_1000_sweeps": 1000 * seconds / sweeps,
                   "note": "MCS = N_f attempts (as exact kMC); early sweeps after a random quench (highest "
                           "acceptance): the projection is an upper bound; target 1000 sweeps <= 600 s on 2 cores"},
        "ml_kmc_nfold": dict(nfold, L=L_big, stepper="NFoldKMC (eager refresh within R_c)"),
        "speedup_cached_vs_nfold": (sweeps / seconds) / nfold["sweeps_per_second"],
        "per_attempt": {"L": L_small, "attempts": n_attempts, "exact_seconds": exact_s, "ml_seconds": ml_s,
                        "exact_acceptance": exact_acc, "ml_acceptance": ml_acc,
                        "speedup": exact_s / ml_s},
    }
