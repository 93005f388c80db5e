"""The spinless Falicov-Kimball model of chapter 2 on the periodic square lattice.

.. math::

    H = -t \\sum_{\\langle ij\\rangle} (c_i^\\dagger c_j + \\mathrm{h.c.}) + U \\sum_i n^f_i c_i^\\dagger c_i,

with classical, immobile f-occupations n^f_i ∈ {0, 1}. For a given f-configuration the itinerant electrons see the
single-particle matrix h[n] = −t·Adj + U·diag(n) (Adj: nearest-neighbour adjacency with periodic images summed).
A hop of an f-electron i → j changes h by U (e_j e_jᵀ − e_i e_iᵀ), a rank-2 update
(:func:`latticeml.electrons.lowrank.fk_move_energies`). Defaults follow spec ch2 §1: t = 1, U = 2, ρ_c = 0.55,
ρ_f = (13/30)² ≈ 0.18778, T = 0.05.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["fk_hamiltonian", "n_f_for", "random_occupation", "hop_table", "RHO_F", "HOP_DIRECTIONS"]

#: f-electron density of all author data sets, (13/30)²
RHO_F = 0.18778
#: cell offset of hop direction d in one kMC attempt (author order, spec §3): 0:+x, 1:−y, 2:−x, 3:+y
HOP_DIRECTIONS = ((1, 0), (0, -1), (-1, 0), (0, 1))


def _check_square(lattice) -> None:
    if lattice.name != "square":
        raise ConfigError("lattice", f"the Falicov-Kimball model is defined on the square lattice, got "
                                     f"{lattice.name!r}; build it with latticeml.lattice.square(L)")


def fk_hamiltonian(lattice, occ, U: float, t: float = 1.0) -> np.ndarray:
    """Dense single-particle matrix h = −t·Adj + U·diag(occ), (N, N), of the c-electrons for f-occupations ``occ``."""
    occ = np.asarray(occ, dtype=float)
    if occ.shape != (lattice.N,):
        raise ConfigError("occupation", f"shape {occ.shape} does not match the lattice ({lattice.N} sites)")
    h = -t * lattice.adjacency(1)
    h[np.diag_indices(lattice.N)] += U * occ
    return h


def n_f_for(lattice, rho_f: float = RHO_F) -> int:
    """Number of f-electrons round(ρ_f N) (spec §1: 169 on 30×30)."""
    if not 0 <= rho_f <= 1:
        raise ConfigError("rho_f", f"f-electron density {rho_f} must lie in [0, 1]")
    return int(round(rho_f * lattice.N))


def random_occupation(lattice, n_f: int, rng) -> np.ndarray:
    """``n_f`` f-electrons placed uniformly at random (the infinite-temperature quench start), int8 (N,)."""
    if not 0 <= n_f <= lattice.N:
        raise ConfigError("n_f", f"{n_f} f-electrons do not fit on {lattice.N} sites")
    occ = np.zeros(lattice.N, dtype=np.int8)
    occ[rng.choice(lattice.N, size=n_f, replace=False)] = 1
    return occ


def hop_table(lattice) -> np.ndarray:
    """Target site of hop direction d from every site, (N, 4) int64, in the author order (spec §3)
    d = 0:+x, 1:−y, 2:−x, 3:+y (:data:`HOP_DIRECTIONS`)."""
    _check_square(lattice)
    return np.stack([lattice.site_index(lattice.cells + np.array(d)) for d in HOP_DIRECTIONS], axis=1)
