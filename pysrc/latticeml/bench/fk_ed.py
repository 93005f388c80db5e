"""Benchmark ``fk-ed``: exact kMC move energies of the Falicov-Kimball model, fast rank-2 update vs re-diagonalization.

On a random 30×30 configuration (U = 2, ρ_c = 0.55, N_f = 169, T = 0.05; ``quick``: 20×20) it measures kMC
attempts per second (one attempt = ΔE of the ≤ 4 hops of one randomly picked f-electron to its empty neighbours)
with ``method="lowrank"`` and with one eigenvalue solve per hop (``method="full"``, timed on a few attempts only),
their ratio (wall clock, and process CPU time, which is less sensitive to other load on a shared machine;
the two methods are timed in alternation), the throughput of the fast method when all allowed hops of the
configuration go in one call (training-data generation), and the largest |ΔE_fast − ΔE_full| over the
configuration's distinct allowed hops (up to 1000). The speedups compare seconds per hop, the unit of work both
methods share.
An accepted hop costs one full ``eigh`` in the fast method (reported as ``commit_seconds``) plus the spectrum-only
set-up of the rank-2 update that every later attempt shares (μ, poles, resolvent powers: ``setup_seconds``; it is
built lazily by the first attempt on a configuration, so the timed attempts include it once).
"""
from __future__ import annotations

import time

import numpy as np

from ..calculators.exact import FalicovKimballCalculator
from ..electrons.lowrank import FKMoveEnergies
from ..lattice import square
from ..models.falicov_kimball import hop_table, n_f_for, random_occupation

_PARAMS = {"U": 2.0, "filling_c": 0.55, "T": 0.05}


def _attempt_moves(occ, hops, rng, n_attempts):
    """Hops of ``n_attempts`` kMC attempts: a random f-electron and its empty neighbours (skipping blocked ones)."""
    particles = np.flatnonzero(occ)
    attempts = []
    while len(attempts) < n_attempts:
        i = rng.choice(particles)
        targets = hops[i][occ[hops[i]] == 0]
        if len(targets):
            attempts.append(np.stack([np.full(len(targets), i), targets], axis=1))
    return attempts


def _seconds(calc, occ, attempts) -> np.ndarray:
    """(wall, process CPU) seconds spent on the move energies of ``attempts``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for moves in attempts:
        calc.move_energies(occ, moves)
    return np.array([time.perf_counter() - wall, time.process_time() - cpu])


def _rates(fast, full, occ, attempts, n_full) -> dict:
    """Attempts and hops per (wall, CPU) second of both calculators, timed in alternation so both see the same load;
    the slow method times the first attempt of each of ``n_full`` chunks (spread over the whole set)."""
    spent_fast, spent_full, hops_full = np.zeros(2), np.zeros(2), 0
    for chunk in np.array_split(np.arange(len(attempts)), n_full):
        spent_full += _seconds(full, occ, [attempts[chunk[0]]])
        hops_full += len(attempts[chunk[0]])
        spent_fast += _seconds(fast, occ, [attempts[c] for c in chunk])
    hops_fast = sum(len(a) for a in attempts)
    return {"attempts_fast": len(attempts) / spent_fast, "attempts_full": n_full / spent_full,
            "hops_fast": hops_fast / spent_fast, "hops_full": hops_full / spent_full, "n_hops_full": hops_full}


def run(quick: bool = False) -> dict:
    L, n_trials, n_fast, n_full = (20, 100, 200, 3) if quick else (30, 1000, 500, 5)
    lattice = square(L)
    rng = np.random.default_rng(2022)
    n_f = n_f_for(lattice)
    occ = random_occupation(lattice, n_f, rng)
    hops = hop_table(lattice)

    fast = FalicovKimballCalculator(lattice, method="lowrank", **_PARAMS)
    full = FalicovKimballCalculator(lattice, method="full", **_PARAMS)
    start = time.perf_counter()
    fast.reset(occ)
    commit_seconds = time.perf_counter() - start
    full.reset(occ)
    start = time.perf_counter()
    FKMoveEnergies(fast._eps, fast._psi, fast.U, fast.n_electrons, fast.T, fast.energy_kind)
    setup_seconds = time.perf_counter() - start

    attempts = _attempt_moves(occ, hops, rng, n_fast)
    rates = _rates(fast, full, occ, attempts, n_full)

    candidates = np.array([(i, j) for i in np.flatnonzero(occ) for j in hops[i] if occ[j] == 0])
    batched_seconds = _seconds(fast, occ, [candidates])[0]  # every allowed hop in one call (data generation)
    moves_per_attempt = float(np.mean([len(m) for m in attempts]))
    trials = candidates[:n_trials]  # distinct hops of this configuration
    dE_fast = fast.move_energies(occ, trials)
    dE_full = full.move_energies(occ, trials)
    return {
        "lattice": f"{L}x{L}",
        "n_f": n_f,
        "n_c": round(fast.n_electrons, 9),
        **_PARAMS,
        "energy_kind": fast.energy_kind,
        "mean_moves_per_attempt": moves_per_attempt,
        "attempts_per_s_fast": rates["attempts_fast"][0],
        "attempts_per_s_full": rates["attempts_full"][0],
        # per hop: the slow method's few attempts need not have the fast set's mean number of hops
        "speedup": rates["hops_fast"][0] / rates["hops_full"][0],
        "speedup_cpu_time": rates["hops_fast"][1] / rates["hops_full"][1],
        "speedup_unit": "hop (move energy)",
        "n_attempts_timed": {"fast": len(attempts), "full": n_full},
        "n_hops_timed": {"fast": int(sum(len(a) for a in attempts)), "full": rates["n_hops_full"]},
        "moves_per_s_fast_batched": len(candidates) / batched_seconds,
        "n_moves_batched": len(candidates),
        "batched_speedup": len(candidates) / batched_seconds / rates["hops_full"][0],
        "max_abs_dE_error": float(np.max(np.abs(dE_fast - dE_full))),
        "std_dE": float(np.std(dE_full)),
        "n_trials": int(len(trials)),
        "commit_seconds": commit_seconds,
        "setup_seconds": setup_seconds,
    }
