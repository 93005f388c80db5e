"""Classical calculators with analytic energies and forces: Zeeman and Heisenberg spins, harmonic modes.

They have no electrons; they exist to test the dynamics engines against closed-form results and to serve as cheap
models in examples.
"""
from __future__ import annotations

import numpy as np

from .base import Calculator, Result

__all__ = ["ZeemanCalculator", "HeisenbergCalculator", "HarmonicCalculator"]


class ZeemanCalculator(Calculator):
    """Independent unit spins in a uniform field h: E = −Σ_i h·S_i, exchange field H_i = h."""

    field_kind = "spin"

    def __init__(self, field=(0.0, 0.0, 1.0)):
        self.h = np.asarray(field, dtype=np.float64)
        if self.h.shape != (3,):
            raise ValueError(f"ZeemanCalculator: field must be a 3-vector, got shape {self.h.shape}")
        self.metadata = {"model": "zeeman", "field": self.h.tolist()}

    def compute(self, spins, *, forces=True) -> Result:
        spins = np.asarray(spins, dtype=np.float64)
        energy = -float(np.sum(spins @ self.h))
        return Result(energy, np.broadcast_to(self.h, spins.shape).copy() if forces else None)


class HeisenbergCalculator(ZeemanCalculator):
    """Classical Heisenberg spins on a lattice: E = −J Σ_<ij> S_i·S_j − Σ_i h·S_i (nearest-neighbour bonds).

    J > 0 is ferromagnetic. The exchange field is H_i = −∂E/∂S_i = J Σ_{j∈nn(i)} S_j + h.

    Parameters
    ----------
    lattice : Lattice
    J : float
        Exchange constant.
    field : 3-vector
        Uniform external field h.
    shell : int
        Neighbour shell of the bonds (1 = nearest).
    """

    def __init__(self, lattice, J: float = 1.0, field=(0.0, 0.0, 0.0), shell: int = 1):
        super().__init__(field)
        self.lattice = lattice
        self.J = float(J)
        self.adjacency = lattice.adjacency(shell, sparse=True)
        self.metadata = {"model": "heisenberg", "J": self.J, "field": self.h.tolist(), "shell": shell,
                         "lattice": lattice.describe()}

    def compute(self, spins, *, forces=True) -> Result:
        spins = np.asarray(spins, dtype=np.float64)
        neighbour_sum = self.adjacency @ spins
        energy = -0.5 * self.J * float(np.sum(spins * neighbour_sum)) - float(np.sum(spins @ self.h))
        return Result(energy, self.J * neighbour_sum + self.h if forces else None)


class HarmonicCalculator(Calculator):
    """Independent harmonic modes: E = (K/2) Σ Q², force −∂E/∂Q = −K Q (any field shape)."""

    field_kind = "displacement"

    def __init__(self, K: float = 1.0):
        if K <= 0:
            raise ValueError(f"HarmonicCalculator: stiffness K={K} must be > 0")
        self.K = float(K)
        self.metadata = {"model": "harmonic", "K": self.K}

    def compute(self, q, *, forces=True) -> Result:
        q = np.asarray(q, dtype=np.float64)
        return Result(0.5 * self.K * float(np.sum(q * q)), -self.K * q if forces else None)
