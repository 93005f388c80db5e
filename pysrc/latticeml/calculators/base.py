"""The calculator protocol: one interface for exact and learned energy models.

A calculator maps a field configuration to an energy and the generalized force conjugate to the field:

* occupations n_i ∈ {0,1} (kinetic Monte Carlo): ``move_energies(state, moves)`` gives ΔE of proposed hops;
* unit spins S_i (LLG): ``compute(spins).forces`` is the exchange field H_i = -∂E/∂S_i (N, 3);
* continuous modes Q_i (Langevin/Brownian): ``compute(Q).forces`` is -∂E/∂Q (N, ...).

Dynamics only talks to this protocol, so an exact calculator (ED, KPM, NEGF) and an ML calculator are
interchangeable. Calculators that keep state (a cached eigen-decomposition, cached rates) are told about
accepted moves through :meth:`Calculator.commit` and about a wholesale new configuration through
:meth:`Calculator.reset`.
"""
from __future__ import annotations

from abc import ABC
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Result", "Calculator", "FIELD_KINDS"]

#: field kinds a calculator can act on
FIELD_KINDS = ("occupation", "spin", "displacement")


@dataclass
class Result:
    """What a calculator returns.

    energy: total energy of the configuration (None if not computed);
    forces: generalized force -∂E/∂field, same leading shape as the field (exchange field for spins);
    extras: anything else (chemical potential, density matrix blocks, timing ...).
    """

    energy: float | None = None
    forces: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Calculator(ABC):
    """Base class; subclasses set ``field_kind`` and implement the methods that their field needs."""

    field_kind: str = ""
    #: plain-dict description of the model (parameters, lattice): stored in run files and model metadata
    metadata: dict

    def compute(self, fields: np.ndarray, *, forces: bool = True) -> Result:  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} does not compute energies/forces")

    def energy(self, fields: np.ndarray) -> float:
        return self.compute(fields, forces=False).energy

    def forces(self, fields: np.ndarray) -> np.ndarray:
        return self.compute(fields, forces=True).forces

    # --- discrete (kMC) part of the protocol --------------------------------------------------
    def reset(self, fields: np.ndarray) -> None:
        """Start from a new configuration (rebuild any cache)."""

    def move_energies(self, fields: np.ndarray, moves: np.ndarray) -> np.ndarray:
        """ΔE of each move (i → j) in ``moves`` (M, 2) applied alone to ``fields``."""
        raise NotImplementedError(f"{type(self).__name__} does not provide move energies")

    def commit(self, fields_after: np.ndarray, move: tuple[int, int]) -> None:
        """The move (i → j) was accepted; ``fields_after`` is the new configuration."""
        self.reset(fields_after)

    def describe(self) -> dict:
        return dict(getattr(self, "metadata", {}), calculator=type(self).__name__)


class ExactMovesMixin:
    """Reference ``move_energies`` by full recomputation of the energy per move (slow; for tests and baselines)."""

    def move_energies(self, fields, moves):
        e0 = self.energy(fields)
        out = np.empty(len(moves))
        for k, (i, j) in enumerate(np.asarray(moves)):
            trial = fields.copy()
            trial[j], trial[i] = trial[i], trial[j]
            out[k] = self.energy(trial) - e0
        return out
