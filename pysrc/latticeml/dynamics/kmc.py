"""Kinetic Monte Carlo of conserved particles hopping between neighbouring sites (spec ch2 §3)."""
from __future__ import annotations

import numpy as np

from .base import State, Stepper

__all__ = ["KineticMC", "neighbor_hops", "SQUARE_HOP_ORDER"]

from ..models.falicov_kimball import HOP_DIRECTIONS as SQUARE_HOP_ORDER, hop_table  # +x, −y, −x, +y (author order)


def neighbor_hops(lattice) -> np.ndarray:
    """Nearest-neighbour hop targets of every site, (N, z).

    On the square lattice the columns follow :data:`SQUARE_HOP_ORDER`; on other one-atom lattices they follow
    :meth:`Lattice.neighbor_table` of the nearest shell.
    """
    if lattice.name == "square":
        return hop_table(lattice)
    nn = lattice.shells(1.01 * float(np.min(np.linalg.norm(lattice.vectors, axis=1))))[0].distance
    return lattice.neighbor_table(nn * 1.0001)


class KineticMC(Stepper):
    """Metropolis kinetic Monte Carlo of particles (occupations n_i ∈ {0,1}) hopping to empty neighbours.

    One attempt (spec ch2 §3): pick a particle uniformly among the N_f occupied sites; for each direction d of the
    hop table p_d = 0 if the target is occupied, else p_d = (1/z)·min(1, exp(−ΔE_d/T)); draw one r ~ U(0,1) and
    hop in the first direction with r < p_0 + … + p_d, otherwise stay. ΔE comes from
    ``calculator.move_energies(occ, moves)`` for the empty targets only; an accepted hop is reported through
    ``calculator.commit(occ_after, (i, j))``.

    :meth:`step` is one MC sweep (N_f attempts), so ``State.time`` counts MC sweeps (MCS); :meth:`attempt` is one
    attempt. Counters: ``attempts``, ``accepted``, ``blocked`` (the picked particle had no empty neighbour).

    Parameters
    ----------
    calculator : Calculator
        Occupation calculator providing ``move_energies`` and ``commit``.
    T : float
        Temperature of the Metropolis rule (k_B = 1), T ≥ 0.
    hop_table : (N, z) int array, optional
        Target site of each direction; by default :func:`neighbor_hops` of ``calculator.lattice``.
    """

    time_unit = "MCS"

    def __init__(self, calculator, T: float, hop_table: np.ndarray | None = None, backend=None):
        super().__init__(calculator, backend)
        if T < 0:
            raise ValueError(f"KineticMC: temperature T={T} must be >= 0")
        self.T = float(T)
        if hop_table is None:
            if not hasattr(calculator, "lattice"):
                raise ValueError("KineticMC: pass hop_table, the calculator has no .lattice to build it from")
            hop_table = neighbor_hops(calculator.lattice)
        self.hops = np.asarray(hop_table, dtype=np.int64)
        self.particles: np.ndarray | None = None  # occupied sites; set by prepare()
        self.attempts = self.accepted = self.blocked = 0

    def prepare(self, state: State) -> None:
        super().prepare(state)
        self.particles = np.flatnonzero(state.field)

    def attempt(self, state: State, rng: np.random.Generator) -> bool:
        """One hop attempt; returns whether a particle moved. Advances ``state.time`` by 1/N_f."""
        occ = state.field
        n_f = len(self.particles)
        self.attempts += 1
        state.time += 1.0 / n_f
        slot = rng.integers(n_f)
        i = self.particles[slot]
        targets = self.hops[i]
        empty = occ[targets] == 0
        if not empty.any():
            self.blocked += 1
            return False
        dE = np.full(len(targets), np.inf)
        moves = np.stack([np.full(int(empty.sum()), i), targets[empty]], axis=1)
        dE[empty] = self.calculator.move_energies(occ, moves)
        p = self.kernels.metropolis_hop_probabilities(dE, self.T, len(targets))
        d = int(np.searchsorted(np.cumsum(p), rng.random(), side="right"))
        if d == len(targets):
            return False
        j = targets[d]
        occ[i], occ[j] = 0, 1
        self.particles[slot] = j
        self.accepted += 1
        self.calculator.commit(occ, (int(i), int(j)))
        return True

    def step(self, state: State, rng: np.random.Generator) -> None:
        """One MC sweep: N_f attempts; ``state.time`` advances by 1 MCS."""
        if self.particles is None:
            self.prepare(state)
        start = state.time
        for _ in range(len(self.particles)):
            self.attempt(state, rng)
        # the sweep is exactly one unit of time, whatever the rounding of N_f·(1/N_f)
        state.time = start + 1.0
        state.step += 1

    def state_dict(self) -> dict:
        particles = None if self.particles is None else self.particles.copy()
        return {"particles": particles, "attempts": self.attempts, "accepted": self.accepted, "blocked": self.blocked}

    def load_state_dict(self, d: dict) -> None:
        self.particles = None if d["particles"] is None else np.array(d["particles"], dtype=np.int64)
        self.attempts, self.accepted, self.blocked = int(d["attempts"]), int(d["accepted"]), int(d["blocked"])

    def summary(self) -> dict:
        return {"attempts": self.attempts, "accepted": self.accepted, "blocked": self.blocked,
                "acceptance": self.accepted / max(self.attempts, 1)}

    def describe(self) -> dict:
        return {"stepper": "kmc", "T": self.T, "n_directions": int(self.hops.shape[1])}
