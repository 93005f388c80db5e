"""Langevin (BAOAB) and overdamped Brownian dynamics of continuous fields Q (displacements, lattice modes)."""
from __future__ import annotations

import numpy as np

from .base import State, Stepper

__all__ = ["Langevin", "Brownian"]


def _check(name: str, dt: float, gamma: float, T: float) -> None:
    if dt <= 0 or gamma <= 0 or T < 0:
        raise ValueError(f"{name}: need dt > 0, gamma > 0, T >= 0 (got dt={dt}, gamma={gamma}, T={T})")


class Langevin(Stepper):
    """Underdamped Langevin dynamics m d²Q/dt² = F(Q) − γ m dQ/dt + noise, by the BAOAB splitting.

    B: p += (Δt/2) F;  A: Q += (Δt/2) p/m;  O: exact Ornstein-Uhlenbeck update of p over Δt;  A;  B.
    Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34: for a harmonic potential the stationary
    distribution of Q is exact at any stable Δt. F = ``calculator.forces(Q)`` = −∂E/∂Q; momenta live in
    ``state.extras["momentum"]`` (zeros if absent). The force at the current Q is cached between steps.

    Parameters
    ----------
    calculator : Calculator
        Displacement calculator.
    dt, gamma, T : float
        Time step (> 0), friction rate γ (> 0) and temperature (≥ 0).
    mass : float
        Mass of every mode (> 0).
    """

    def __init__(self, calculator, dt: float, gamma: float, T: float, mass: float = 1.0, backend=None):
        super().__init__(calculator, backend)
        _check("Langevin", dt, gamma, T)
        if mass <= 0:
            raise ValueError(f"Langevin: mass={mass} must be > 0")
        self.dt, self.gamma, self.T, self.mass = float(dt), float(gamma), float(T), float(mass)
        self._force: np.ndarray | None = None

    def prepare(self, state: State) -> None:
        state.field = np.asarray(state.field, dtype=np.float64)
        super().prepare(state)
        state.extras.setdefault("momentum", np.zeros_like(state.field))
        self._force = self.calculator.forces(state.field)

    def step(self, state: State, rng: np.random.Generator) -> None:
        if self._force is None:
            self.prepare(state)
        half = 0.5 * self.dt
        p = state.extras["momentum"] + half * self._force
        q = state.field + (half / self.mass) * p
        p = self.kernels.langevin_ou(p, self.mass, self.gamma, self.T, self.dt, rng.standard_normal(p.shape))
        q = q + (half / self.mass) * p
        self._force = self.calculator.forces(q)
        state.extras["momentum"] = p + half * self._force
        state.field = q
        state.time += self.dt
        state.step += 1

    def state_dict(self) -> dict:
        return {"force": None if self._force is None else self._force.copy()}

    def load_state_dict(self, d: dict) -> None:
        self._force = d["force"]

    def describe(self) -> dict:
        return {"stepper": "langevin", "dt": self.dt, "gamma": self.gamma, "T": self.T, "mass": self.mass}


class Brownian(Stepper):
    """Overdamped Langevin (Brownian) dynamics γ dQ/dt = F(Q) + noise, ⟨noise noise⟩ = 2γT δ(t−t').

    Euler-Maruyama: Q' = Q + (Δt/γ) F(Q) + sqrt(2TΔt/γ) ξ with F = ``calculator.forces(Q)``.
    """

    def __init__(self, calculator, dt: float, gamma: float, T: float, backend=None):
        super().__init__(calculator, backend)
        _check("Brownian", dt, gamma, T)
        self.dt, self.gamma, self.T = float(dt), float(gamma), float(T)

    def prepare(self, state: State) -> None:
        state.field = np.asarray(state.field, dtype=np.float64)
        super().prepare(state)

    def step(self, state: State, rng: np.random.Generator) -> None:
        q = state.field
        xi = rng.standard_normal(q.shape)
        state.field = self.kernels.brownian_step(q, self.calculator.forces(q), self.gamma, self.T, self.dt, xi)
        state.time += self.dt
        state.step += 1

    def describe(self) -> dict:
        return {"stepper": "brownian", "dt": self.dt, "gamma": self.gamma, "T": self.T}
