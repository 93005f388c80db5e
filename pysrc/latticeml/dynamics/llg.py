"""Landau-Lifshitz-Gilbert dynamics of unit spins, with Langevin noise (spec ch3 §4)."""
from __future__ import annotations

import numpy as np

from .base import State, Stepper
from .kernels import cross3

__all__ = ["LLG"]

_SCHEMES = ("sib", "heun")


class LLG(Stepper):
    """Stochastic LLG in the explicit Landau-Lifshitz form, dS_i/dt = Ω_i × S_i with

        Ω_i = −γ H_i + αγ S_i × H_i − η_i,

    i.e. dS/dt = T_i − α S_i×T_i + S_i×η_i with the torque T_i = γ S_i×H_i (no 1/(1+α²) factor, spec ch3 §4).
    H_i = −∂E/∂S_i comes from ``calculator.forces(spins)`` plus the optional external field ``h_ext``. The noise
    is white with ⟨η_i^a(t) η_j^b(t')⟩ = 2αγT δ_ij δ_ab δ(t−t'), drawn as sqrt(2αγT/Δt)·N(0,1) once per step: the
    damping drift is −αγ times the gradient of E on the sphere, so this strength makes exp(−E/T) stationary.

    Schemes (two field evaluations per step, the same η in both halves, |S_i| = 1 restored after the step):

    * ``"sib"``: semi-implicit scheme SIB of Mentink et al., J. Phys.: Condens. Matter 22, 176001 (2010):
      predictor S̃ = Cay(Ω(S^n)Δt/2) S^n, corrector S^{n+1} = Cay(Ω(S̄)Δt/2) S^n with S̄ = (S^n + S̃)/2;
      each Cayley map is a rotation, so spin length is kept to round-off. Second order for T = 0.
    * ``"heun"``: explicit Heun with renormalisation of the predictor and of the result. Second order for T = 0.

    Parameters
    ----------
    calculator : Calculator
        Spin calculator; ``forces(spins)`` returns the exchange field (N, 3).
    dt : float
        Time step (> 0), in units of (γJS)^-1.
    alpha : float
        Damping (≥ 0).
    T : float
        Temperature of the noise (≥ 0); 0 = deterministic.
    scheme : {"sib", "heun"}
    gamma : float
        Gyromagnetic ratio (> 0).
    h_ext : array (3,) or (N, 3), optional
        External field added to the calculator's field.
    """

    time_unit = "1/(gamma J S)"

    def __init__(self, calculator, dt: float, alpha: float, T: float = 0.0, scheme: str = "sib", gamma: float = 1.0,
                 h_ext=None, backend=None):
        super().__init__(calculator, backend)
        if dt <= 0 or alpha < 0 or T < 0 or gamma <= 0:
            raise ValueError(f"LLG: need dt > 0, alpha >= 0, T >= 0, gamma > 0 (got dt={dt}, alpha={alpha}, T={T}, "
                             f"gamma={gamma})")
        if scheme not in _SCHEMES:
            raise ValueError(f"LLG: scheme {scheme!r} is not one of {_SCHEMES}")
        self.dt, self.alpha, self.T, self.gamma, self.scheme = float(dt), float(alpha), float(T), float(gamma), scheme
        self.h_ext = None if h_ext is None else np.asarray(h_ext, dtype=np.float64)

    def field(self, spins: np.ndarray) -> np.ndarray:
        """Effective field H_i = −∂E/∂S_i (+ h_ext), (N, 3)."""
        h = np.asarray(self.calculator.forces(spins), dtype=np.float64)
        return h if self.h_ext is None else h + self.h_ext

    def omega(self, spins: np.ndarray, h: np.ndarray, eta) -> np.ndarray:
        """Angular velocity Ω = −γH + αγ S×H − η of the rotation form dS/dt = Ω × S."""
        return -self.gamma * h + (self.alpha * self.gamma) * cross3(spins, h) - eta

    def noise(self, shape, rng: np.random.Generator):
        """η of one step, sqrt(2αγT/Δt)·N(0,1) per component (0 and no random draw when αT = 0)."""
        if self.T == 0 or self.alpha == 0:
            return 0.0
        return np.sqrt(2.0 * self.alpha * self.gamma * self.T / self.dt) * rng.standard_normal(shape)

    def step(self, state: State, rng: np.random.Generator) -> None:
        s0 = state.field
        eta = self.noise(s0.shape, rng)
        omega0 = self.omega(s0, self.field(s0), eta)
        if self.scheme == "sib":
            s_pred = self.kernels.cayley_rotate(s0, omega0, self.dt)
            s_mid = 0.5 * (s0 + s_pred)
            s1 = self.kernels.cayley_rotate(s0, self.omega(s_mid, self.field(s_mid), eta), self.dt)
        else:
            rate0 = cross3(omega0, s0)
            s_pred = _normalized(s0 + self.dt * rate0)
            rate1 = cross3(self.omega(s_pred, self.field(s_pred), eta), s_pred)
            s1 = s0 + (0.5 * self.dt) * (rate0 + rate1)
        state.field = _normalized(s1)
        state.time += self.dt
        state.step += 1

    def prepare(self, state: State) -> None:
        state.field = np.asarray(state.field, dtype=np.float64)
        super().prepare(state)

    def describe(self) -> dict:
        return {"stepper": "llg", "dt": self.dt, "alpha": self.alpha, "T": self.T, "scheme": self.scheme,
                "gamma": self.gamma, "h_ext": None if self.h_ext is None else self.h_ext.tolist()}


def _normalized(spins: np.ndarray) -> np.ndarray:
    return spins / np.linalg.norm(spins, axis=1, keepdims=True)
