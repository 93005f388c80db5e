"""Spin-texture observables on the periodic triangular lattice (chapter 3, spec §6).

* :func:`structure_factor`: S(q) = (1/N) |Σ_i S_i e^{iq·r_i}|² (summed over x, y, z) on every allowed momentum, by a
  2-D FFT over the (n1, n2) image; Σ_q S(q) = Σ_i |S_i|² (= N for unit spins, Parseval).
* :func:`structure_factor_path`: the cut Γ(0,0) → K(4π/3,0) → M(2π,0) along q_y = 0, grid points (2k, k).
* :func:`peak_order`: 𝓜 = mean of S(k) over grid points within 0.1 of each of the six ±Q_η, averaged over the six.
* :func:`characteristic_length`: width Δk = Σ S|k - k_p| / Σ S over |k - k_p| < |Q|/2 (k_p the nearest peak) and
  L = 2π/Δk (the text's formula is a width, spec §12.7).
* :func:`triangle_chirality`, :func:`skyrmion_charge`: χ_Δ = S_i·(S_j×S_k) on the 2N counter-clockwise triangles,
  solid angles 2 atan2(χ, 1 + S_i·S_j + S_j·S_k + S_k·S_i) and Q_top = Σ Ω_Δ/4π (integer on a torus).
* :func:`transverse_component`, :func:`parallel_component`: H_⊥ = H - (H·S)S and (H·S).
"""
from __future__ import annotations

import numpy as np

from ..models.sd import ORDERING_VECTORS, check_triangular, fold_to_bz, momentum_grid

__all__ = ["structure_factor", "structure_factor_path", "peak_order", "characteristic_length",
           "triangle_chirality", "triangle_solid_angles", "skyrmion_charge", "transverse_component",
           "parallel_component", "bz_momenta", "bz_hexagon", "peak_momenta", "peak_fwhm", "grid_step"]


def _images(lattice, spins):
    spins = np.asarray(spins, dtype=float)
    return lattice.to_image(spins.reshape(lattice.N, -1))


def structure_factor(lattice, spins: np.ndarray) -> np.ndarray:
    """S(q) on the (L1, L2) momentum grid of :func:`latticeml.models.sd.momentum_grid` (index (m, n)).

    ``spins`` may be (N, 3) or a batch (B, N, 3); a batch returns the mean over snapshots (the ⟨…⟩ of Eq. 3.20).
    """
    spins = np.asarray(spins, dtype=float)
    batch = spins.reshape((-1, lattice.N, spins.shape[-1]))
    img = batch.reshape((batch.shape[0],) + tuple(lattice.shape) + (batch.shape[-1],))
    amp = np.fft.fft2(img, axes=(1, 2))
    return (np.abs(amp) ** 2).sum(-1).mean(0) / lattice.N


def bz_momenta(lattice) -> np.ndarray:
    """Grid momenta folded into the first Brillouin zone, (L1, L2, 2)."""
    return fold_to_bz(momentum_grid(*lattice.shape))


def bz_hexagon() -> np.ndarray:
    """Corners (4π/3)(cos kπ/3, sin kπ/3) of the first-BZ hexagon, (7, 2) (closed polygon)."""
    ang = np.arange(7) * np.pi / 3
    return 4 * np.pi / 3 * np.stack([np.cos(ang), np.sin(ang)], axis=1)


def peak_momenta() -> np.ndarray:
    """The six ordering vectors ±Q_η, (6, 2)."""
    return np.concatenate([ORDERING_VECTORS, -ORDERING_VECTORS])


def structure_factor_path(lattice, sq: np.ndarray):
    """S(q) along Γ(0,0) → K(4π/3,0) → M(2π,0) (the line q_y = 0): grid points (m, n) = (2k, k), k = 0..L/2.

    Returns ``(q_x, values, ticks)`` with ``ticks = {"Γ": 0, "K": 4π/3, "M": 2π}``; needs L1 = L2 even.
    """
    check_triangular(lattice, "the Γ-K-M path")
    L1, L2 = lattice.shape
    if L1 != L2 or L1 % 2:
        raise ValueError(f"the Γ-K-M path needs an even square torus, got shape {lattice.shape}")
    k = np.arange(L1 // 2 + 1)
    return 4 * np.pi * k / L1, np.asarray(sq)[(2 * k) % L1, k % L2], {"Γ": 0.0, "K": 4 * np.pi / 3, "M": 2 * np.pi}


def _distance_to(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Shortest distance between momenta q (..., 2) and p (2,) modulo reciprocal lattice vectors."""
    return np.linalg.norm(fold_to_bz(q - p), axis=-1)


def peak_order(lattice, sq: np.ndarray, radius: float = 0.1, peaks: np.ndarray | None = None) -> float:
    """𝓜 = ⟨S(k)⟩ over grid points with |k - k_p| ≤ ``radius``, averaged over the peaks (default the six ±Q_η).

    A peak with no grid point within ``radius`` uses its nearest grid point.
    """
    q = momentum_grid(*lattice.shape)
    peaks = peak_momenta() if peaks is None else np.atleast_2d(peaks)
    vals = []
    for p in peaks:
        d = _distance_to(q, p)
        mask = d <= max(radius, d.min() + 1e-12)
        vals.append(np.asarray(sq)[mask].mean())
    return float(np.mean(vals))


def characteristic_length(lattice, sq: np.ndarray) -> tuple[float, float]:
    """(Δk, L = 2π/Δk): the S-weighted mean distance to the nearest of the six peaks over |k - k_p| < |Q|/2."""
    q = momentum_grid(*lattice.shape)
    dist = np.min(np.stack([_distance_to(q, p) for p in peak_momenta()]), axis=0)
    mask = dist < np.linalg.norm(ORDERING_VECTORS[0]) / 2
    w = np.asarray(sq)[mask]
    dk = float((w * dist[mask]).sum() / w.sum())
    return dk, (2 * np.pi / dk if dk > 1e-12 else np.inf)


def grid_step(lattice) -> float:
    """Spacing |b|/L of the L×L momentum grid of the triangular lattice."""
    return float(4 * np.pi / (np.sqrt(3) * lattice.shape[0]))


def peak_fwhm(lattice, sq: np.ndarray) -> float:
    """Full width at half maximum of the S(q) peaks at the six ±Q_η, in grid steps |b|/L.

    The mean S over grid points binned by their distance to the nearest peak (bins one grid step wide, the first
    centred on the peak; only |k − k_p| < |Q|/2) gives a radial profile; the FWHM is twice the distance where it,
    linearly interpolated, falls to half its value at the peak. A Bragg peak gives ≈ 1. NaN where |Q|/2 is less
    than one grid step (L < 14: no width can be resolved); the profile's extent if it never halves.
    """
    q = momentum_grid(*lattice.shape)
    step = grid_step(lattice)
    dist = np.min(np.stack([_distance_to(q, p) for p in peak_momenta()]), axis=0).ravel() / step
    keep = dist < np.linalg.norm(ORDERING_VECTORS[0]) / 2 / step
    bins = np.floor(dist[keep] + 0.5).astype(int)
    vals = np.asarray(sq).ravel()[keep]
    centres = np.unique(bins)
    if len(centres) < 2:
        return float("nan")
    profile = np.array([vals[bins == k].mean() for k in centres])
    below = np.flatnonzero(profile <= profile[0] / 2)
    if len(below) == 0:
        return float(2 * centres[-1])
    k = below[0]
    frac = (profile[k - 1] - profile[0] / 2) / (profile[k - 1] - profile[k])
    return float(2 * (centres[k - 1] + frac * (centres[k] - centres[k - 1])))


def _triangles(lattice) -> np.ndarray:
    """Site triples of the 2N elementary triangles, counter-clockwise: up (r, r+a1, r+a2) then down
    (r+a1, r+a1+a2, r+a2). Shape (2N, 3)."""
    check_triangular(lattice, "the skyrmion charge (solid angles of the triangles)")
    c = lattice.cells
    r = lattice.site_index(c)
    a1 = lattice.site_index(c + (1, 0))
    a2 = lattice.site_index(c + (0, 1))
    a12 = lattice.site_index(c + (1, 1))
    return np.concatenate([np.stack([r, a1, a2], 1), np.stack([a1, a12, a2], 1)])


def triangle_chirality(lattice, spins: np.ndarray) -> np.ndarray:
    """Scalar chirality χ_Δ = S_i·(S_j×S_k) of every elementary triangle (up triangles first), (2N,)."""
    t = _triangles(lattice)
    s = np.asarray(spins, dtype=float)
    return np.einsum("ta,ta->t", s[t[:, 0]], np.cross(s[t[:, 1]], s[t[:, 2]]))


def triangle_solid_angles(lattice, spins: np.ndarray) -> np.ndarray:
    """Signed solid angle Ω_Δ = 2 atan2(χ, 1 + S_i·S_j + S_j·S_k + S_k·S_i) of every triangle, (2N,)."""
    t = _triangles(lattice)
    s = np.asarray(spins, dtype=float)
    si, sj, sk = s[t[:, 0]], s[t[:, 1]], s[t[:, 2]]
    chi = np.einsum("ta,ta->t", si, np.cross(sj, sk))
    dots = np.einsum("ta,ta->t", si, sj) + np.einsum("ta,ta->t", sj, sk) + np.einsum("ta,ta->t", sk, si)
    return 2 * np.arctan2(chi, 1 + dots)


def skyrmion_charge(lattice, spins: np.ndarray, *, per_triangle: bool = False):
    """Topological charge Q_top = (1/4π) Σ_Δ Ω_Δ (an integer for unit spins on the torus); with
    ``per_triangle`` the (2N,) densities Ω_Δ/4π instead."""
    dens = triangle_solid_angles(lattice, spins) / (4 * np.pi)
    return dens if per_triangle else float(dens.sum())


def parallel_component(spins: np.ndarray, field: np.ndarray) -> np.ndarray:
    """H·S per site, (N,)."""
    return np.einsum("ia,ia->i", field, spins)


def transverse_component(spins: np.ndarray, field: np.ndarray) -> np.ndarray:
    """H_⊥ = H - (H·S)S, the part of the field that moves unit spins, (N, 3)."""
    return field - parallel_component(spins, field)[:, None] * spins
