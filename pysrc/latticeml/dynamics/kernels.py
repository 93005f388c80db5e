"""Time-stepping kernels of the Python backend: arrays in, arrays out, float64.

Steppers call these through :func:`latticeml.backends.get_backend`, so the Julia backend can replace them one by one.
"""
from __future__ import annotations

import numpy as np

__all__ = ["cayley_rotate", "langevin_ou", "brownian_step", "metropolis_hop_probabilities", "cross3"]


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (N, 3) arrays (np.cross costs several times more on small arrays)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def cayley_rotate(spins: np.ndarray, omega: np.ndarray, dt: float) -> np.ndarray:
    """Rotation of every spin by the Cayley transform Cay(u), u = ω_i·dt/2.

    Cay(u)x = [(1 − |u|²)x + 2u×x + 2(u·x)u] / (1 + |u|²) solves x' = x + u×(x + x') exactly: it is the implicit
    midpoint step of dx/dt = ω×x over dt, an orthogonal map, so |S_i| is preserved.

    Parameters
    ----------
    spins, omega : (N, 3) arrays
        Spins S_i and angular velocities ω_i.
    dt : float
        Time step.

    Returns
    -------
    (N, 3) array of rotated spins.
    """
    u = 0.5 * dt * np.asarray(omega, dtype=np.float64)
    x = np.asarray(spins, dtype=np.float64)
    u2 = np.einsum("ij,ij->i", u, u)[:, None]
    ux = np.einsum("ij,ij->i", u, x)[:, None]
    return ((1.0 - u2) * x + 2.0 * cross3(u, x) + 2.0 * ux * u) / (1.0 + u2)


def langevin_ou(p: np.ndarray, mass: float, gamma: float, T: float, dt: float, xi: np.ndarray) -> np.ndarray:
    """Exact Ornstein-Uhlenbeck update of momenta over ``dt`` (the "O" part of BAOAB).

    p' = c·p + sqrt(m T (1 − c²))·ξ with c = exp(−γ dt) and ξ ~ N(0, 1) given by the caller.
    """
    c = np.exp(-gamma * dt)
    return c * p + np.sqrt(mass * T * (1.0 - c * c)) * xi


def brownian_step(q: np.ndarray, force: np.ndarray, gamma: float, T: float, dt: float, xi: np.ndarray) -> np.ndarray:
    """Euler-Maruyama step of overdamped dynamics γ dq/dt = F(q) + noise, ⟨noise noise⟩ = 2γT δ(t − t').

    q' = q + (dt/γ)·F + sqrt(2 T dt / γ)·ξ with ξ ~ N(0, 1) given by the caller.
    """
    return q + (dt / gamma) * force + np.sqrt(2.0 * T * dt / gamma) * xi


def metropolis_hop_probabilities(dE: np.ndarray, T: float, n_directions: int = 4) -> np.ndarray:
    """Probability of each of the hop directions of one kMC attempt: (1/z)·min(1, exp(−ΔE/T)).

    ``dE = +inf`` marks a blocked move (occupied target) and gives 0; at ``T = 0`` only moves with ΔE ≤ 0 are made.
    ``n_directions`` is z, the number of directions proposed (4 on the square lattice, spec ch2 Eq. 2.2).
    """
    dE = np.asarray(dE, dtype=np.float64)
    if T > 0:
        # exp(-max(ΔE, 0)/T) = min(1, exp(-ΔE/T)) without overflow for ΔE < 0
        accept = np.exp(-np.maximum(dE, 0.0) / T)
    else:
        accept = (dE <= 0.0).astype(np.float64)
    return accept / n_directions
