"""Fast exact energy changes of Falicov-Kimball hops from the current eigen-decomposition (spec ch2 §8).

A hop i → j of an f-electron changes the single-particle matrix by the rank-2 term h' = h + U (e_j e_jᵀ − e_i e_iᵀ).
With h = Σ_m ε_m ψ_m ψ_mᵀ known, the spectral change is carried by the 2×2 determinant

.. math::

    D(z) = \\frac{\\det(h' - z)}{\\det(h - z)} = (1 + U G_{jj})(1 - U G_{ii}) + U^2 G_{ij}^2,
    \\qquad G_{ab}(z) = \\sum_m \\frac{\\psi_m(a)\\psi_m(b)}{\\varepsilon_m - z},

which costs O(N) per complex energy z and needs no eigenvalue of h'. The Fermi function is replaced by Ozaki's
continued-fraction pole expansion f(x) = 1/2 − Σ_p R_p [1/(x − iζ_p) + 1/(x + iζ_p)], exact to 1e-15 on the whole
spectrum with a few dozen poles (:func:`fermi_poles`). Contour integration around the real axis then gives, with
z_p = μ + iζ_p T and Tr h' = Tr h,

* ΔN(μ) = 2T Σ_p R_p Re[(ln D)'(z_p)],
* ΔE(μ) = Σ ε' f' − Σ ε f = 2T Σ_p R_p Re[z_p (ln D)'(z_p)],
* ΔΩ(μ) = −2T Σ_p R_p ln|D(z_p)|,

all exact at fixed μ. The fixed-N quantities need the new chemical potential μ' = μ + δ of each hop. Main path:
with the poles at the current μ, shared by all hops, G(z_p + δ) = Σ_k δ^k Σ_m w_m/(ε_m − z_p)^{k+1}, so ln D and
the three pole sums are power series in δ (order K = 8, exact to ~1e-11 for |δ| ≤ 0.03·πT, which covers hops
on lattices of a few hundred sites and up at T = 0.05); Halley steps on the polynomial N_old(μ + δ) + ΔN(δ) = N_c
then cost O(K) each. Fallback (larger shifts, small lattices): a safeguarded Halley iteration with poles placed at each
hop's own μ inside a bracket from interlacing (ε_{m−1} ≤ ε'_m ≤ ε_{m+1} for one positive and one negative rank-1
term), the energies Taylor-extrapolated over the last tiny step. Cost per hop: O(K·P·N) in one real matrix product
(P ≈ 30 poles at T = 0.05), against O(N³) for a fresh diagonalization; what depends on the spectrum alone (μ,
poles, resolvent powers, the old spectrum's N(μ + δ) and E(μ + δ) series) is built once per configuration by
:class:`FKMoveEnergies` and shared by every hop tried before the next acceptance.
Degenerate spectra (the clean square lattice) need no deflation: every z_p lies at distance ≥ πT from the real axis.
The result equals full diagonalization to ~1e-12 (tests: 1e-9); T > 0 is required.

References: T. Ozaki, Phys. Rev. B 75, 035123 (2007) (continued-fraction representation of the Fermi function).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.linalg
from scipy.special import expit

from .ed import chemical_potential, eigh

__all__ = ["fermi_poles", "n_poles_for", "fk_move_energies", "FKMoveEnergies", "update_eigh_after_move", "ENERGY_KINDS"]

#: fixed-N energies a move can be scored by: band energy Σ ε f (author default) or free energy Ω + μN
ENERGY_KINDS = ("internal", "free")
_MOVES_PER_BATCH = 16  # bounds the (moves, poles, N) complex work arrays to a few tens of MB
_SERIES_ORDER = 8  # K: order in δ = μ' − μ of the shared-pole series
_SERIES_RADIUS = 0.03  # |δ|/(πT) up to which that series is exact: (K+1)·0.03^K ≈ 6e-12
_TAYLOR_STEP = 1e-4  # last Halley step (in units of T) below which μ' and the energies are Taylor-extrapolated
_MAX_ITER = 200


@lru_cache(maxsize=32)
def fermi_poles(n_poles: int) -> tuple[np.ndarray, np.ndarray]:
    """Ozaki continued-fraction poles ζ_p > 0 and residues R_p of 1/(e^x + 1) = 1/2 − Σ_p 2 R_p x/(x² + ζ_p²).

    The poles are the inverse positive eigenvalues of the 2P×2P tridiagonal matrix with off-diagonal
    b_m = 1/(2√((2m−1)(2m+1))); R_p = |v_p(1)|²/(4λ_p²). Accurate to ~1e-14 for |x| ≲ P²/4
    (see :func:`n_poles_for`).
    """
    m = np.arange(1, 2 * n_poles)
    offdiag = 1.0 / (2.0 * np.sqrt((2 * m - 1) * (2 * m + 1)))
    lam, vec = scipy.linalg.eigh_tridiagonal(np.zeros(2 * n_poles), offdiag)
    positive = lam > 0
    lam, vec = lam[positive], vec[:, positive]
    return 1.0 / lam, vec[0] ** 2 / (4.0 * lam ** 2)


def n_poles_for(x_max: float) -> int:
    """Number of continued-fraction poles that keep the Fermi expansion exact (≲1e-14) for |x| ≤ ``x_max``."""
    # measured: the fewest poles for 1e-14 are 10, 27, 63, 199 at x_max = 20, 170, 1000, 1e4, i.e. ≈ 2√x_max
    return int(np.ceil(2.0 * np.sqrt(max(x_max, 1.0)))) + 4


def _resolvent_powers(eps_c, z, n_powers: int) -> np.ndarray:
    """1/(ε_m − z_bp)^{k+1} for k = 0..n_powers−1: (B, n_powers, P, N) complex, built in place, for poles z (B, P)."""
    R = np.empty((z.shape[0], n_powers, z.shape[1], len(eps_c)), complex)
    r = R[:, 0]
    np.subtract(eps_c, z[:, :, None], out=r)
    np.reciprocal(r, out=r)
    for k in range(1, n_powers):
        np.multiply(R[:, k - 1], r, out=R[:, k])
    return R


def _resolvent_moments(eps_c, weights, zeta, n_powers: int = 4) -> np.ndarray:
    """Σ_m w_m/(ε_m − z_p)^k for k = 1..n_powers, every move and pole: (n_powers, M, P, 3).

    eps_c: levels as complex (avoids a mixed-type cast per call); weights (M, N, 3); zeta: (P,) poles shared by
    all moves (one matrix product for the batch) or (M, P). The powers are built in place in one work array.
    """
    shared = zeta.ndim == 1
    z = zeta[None] if shared else zeta
    B, P = z.shape
    N = len(eps_c)
    R = _resolvent_powers(eps_c, z, n_powers)
    if shared:
        M = weights.shape[0]
        w = weights.transpose(1, 0, 2).reshape(N, 3 * M)
        return (R[0].reshape(n_powers * P, N) @ w).reshape(n_powers, P, M, 3).transpose(0, 2, 1, 3)
    return np.matmul(R.reshape(B, n_powers * P, N), weights).reshape(B, n_powers, P, 3).transpose(1, 0, 2, 3)


def _pole_terms(eps_c, weights, U, zeta, pole_weight) -> np.ndarray:
    """Change of (N, E, Ω) and of the first two μ-derivatives of N and E at fixed μ, for a batch of hops.

    weights (M, N, 3): ψ_m(j)², ψ_m(i)², ψ_m(i)ψ_m(j) per move; zeta: (P,) poles shared by all moves or (M, P);
    pole_weight (P,): 2T R_p. Returns (7, M): ΔN, ΔN', ΔN'', ΔE, ΔE', ΔE'', ΔΩ (primes: d/dμ).
    """
    moments = _resolvent_moments(eps_c, weights, zeta)
    zeta = np.broadcast_to(zeta, moments.shape[1:3])
    # d^k G/dz^k = k! Σ_m w_m/(ε_m − z)^{k+1}, for the pairs (jj, ii, ij)
    (a, b, c), (a1, b1, c1), (a2, b2, c2), (a3, b3, c3) = (
        np.moveaxis(factor * m, -1, 0) for factor, m in zip((1.0, 1.0, 2.0, 6.0), moments))
    UU = U * U
    pa, mb = 1.0 + U * a, 1.0 - U * b
    det = pa * mb + UU * c * c
    d1 = U * (a1 * mb - b1 * pa) + 2 * UU * c * c1
    d2 = U * (a2 * mb - b2 * pa) - 2 * UU * a1 * b1 + 2 * UU * (c1 * c1 + c * c2)
    d3 = U * (a3 * mb - b3 * pa) - 3 * UU * (a2 * b1 + a1 * b2) + 2 * UU * (3 * c1 * c2 + c * c3)
    # first three derivatives of ln D
    l1 = d1 / det
    q2 = d2 / det
    l2 = q2 - l1 * l1
    l3 = d3 / det - 3 * l1 * q2 + 2 * l1 ** 3
    fields = (l1, l2, l3, zeta * l1, l1 + zeta * l2, 2 * l2 + zeta * l3)
    return np.array([np.real(x) @ pole_weight for x in fields] + [-np.log(np.abs(det)) @ pole_weight])


def _series_mul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Product of power series in δ (coefficients along axis 0), truncated to the length of ``x``."""
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.result_type(x, y))
    for j in range(len(x)):
        out[j:] += x[j] * y[:len(x) - j]
    return out


def _series_log(d: np.ndarray) -> np.ndarray:
    """ln of a power series with d_0 ≠ 0: k L_k d_0 = k d_k − Σ_{j=1}^{k−1} j L_j d_{k−j}."""
    out = np.empty_like(d)
    out[0] = np.log(d[0])
    for k in range(1, len(d)):
        j = np.arange(1, k).reshape((-1,) + (1,) * (d.ndim - 1))
        out[k] = (d[k] - np.sum(j * out[1:k] * d[k - 1:0:-1], axis=0) / k) / d[0]
    return out


def _shifted_pole_polynomials(S, U, z, pole_weight):
    """ΔN, ΔE, ΔΩ of each hop as polynomials in the shift δ of μ from the shared poles z (P,).

    G(z + δ) = Σ_k δ^k Σ_m w_m/(ε_m − z)^{k+1}: ``S`` (K+1, M, P, 3) holds those sums (k = 0..K) for the pairs
    (jj, ii, ij) of every hop. With these series, ln D(z_p + δ) is a power series (exact up to O((|δ|/πT)^{K+1}),
    K = _SERIES_ORDER), and the pole sums become polynomials. Returns coefficient arrays (degree + 1, M), lowest
    order first, for ΔN (degree K−1), ΔE (K−1) and ΔΩ (K).
    """
    a, b, c = S[..., 0], S[..., 1], S[..., 2]
    pa, mb = U * a, -U * b
    pa[0] += 1.0
    mb[0] += 1.0
    log_det = _series_log(_series_mul(pa, mb) + U * U * _series_mul(c, c))
    order = np.arange(1, len(log_det)).reshape(-1, 1, 1)
    d_log = order * log_det[1:]  # (ln D)'(z + δ), degree K−1
    energy = z * d_log
    energy[1:] += d_log[:-1]
    return np.real(d_log) @ pole_weight, np.real(energy) @ pole_weight, -np.real(log_det) @ pole_weight


def _polyval(coef: np.ndarray, x: np.ndarray, n_derivatives: int = 0) -> np.ndarray:
    """Polynomials (coefficients (degree + 1, M) per move, or (degree + 1,) shared by all; lowest first) at x (M,)
    and their first ``n_derivatives`` derivatives, by one Horner pass: (1 + n_derivatives, M)."""
    out = np.zeros((1 + n_derivatives,) + x.shape)
    for c in coef[::-1]:
        for k in range(n_derivatives, 0, -1):
            out[k] = out[k] * x + out[k - 1]
        out[0] = out[0] * x + c
    for k in range(2, n_derivatives + 1):
        out[k] *= np.prod(np.arange(1, k + 1))
    return out


def _old_spectrum_terms(eps, mu, T, omega: bool) -> np.ndarray:
    """(N, N', N'', E, E', E'', Ω) of the unchanged spectrum at each μ in ``mu`` (M,), primes: d/dμ; (7, M).

    Ω (the costliest row) is left 0 unless ``omega``.
    """
    x = (mu[:, None] - eps[None, :]) / T
    f = expit(x)
    f1 = f * (1.0 - f) / T
    f2 = f1 * (1.0 - 2.0 * f) / T
    grand = -T * np.logaddexp(0.0, x).sum(axis=1) if omega else np.zeros(len(mu))
    return np.array([f.sum(axis=1), f1.sum(axis=1), f2.sum(axis=1), f @ eps, f1 @ eps, f2 @ eps, grand])


class FKMoveEnergies:
    """Exact ΔE of Falicov-Kimball hops from one eigen-decomposition, with the per-configuration work done once.

    Everything that depends on the spectrum alone is computed here, when the configuration changes (one kMC
    acceptance), and reused by every hop attempted before the next one: the chemical potential μ, the reference
    energy, the pole bracket, the resolvent powers 1/(ε_m − z_p)^{k+1} at the shared poles z_p = μ + iζ_p T
    (k ≤ K), and the old spectrum's N, E (and Ω) as power series in the shift δ of μ (the same resolvent powers,
    summed over the levels). A hop then costs one (2(K+1)P × N)·(N × 3) product for its three Green-function series,
    and the fixed-N condition is a polynomial root found by Halley steps on O(K) numbers. Calling the object is
    :func:`fk_move_energies` with the spectrum bound; the kMC calculator keeps one per configuration.

    Parameters: as :func:`fk_move_energies` (``eps``, ``psi``, ``U``, ``n_c``, ``T``, ``energy_kind``).
    """

    def __init__(self, eps, psi, U: float, n_c: float, T: float, energy_kind: str = "internal"):
        if energy_kind not in ENERGY_KINDS:
            raise ValueError(f"energy_kind={energy_kind!r} must be one of {ENERGY_KINDS}")
        if not T > 0:
            raise ValueError(f"fk_move_energies needs a temperature T > 0 (got {T}); use the full "
                             "re-diagonalization (method='full') at T = 0")
        self.eps = np.asarray(eps, dtype=float)
        self.psi = np.asarray(psi)
        if np.iscomplexobj(self.psi):
            raise ValueError("fk_move_energies expects the real eigenvectors of the real symmetric FK matrix")
        self.U, self.n_c, self.T, self.free = float(U), float(n_c), float(T), energy_kind == "free"
        eps, N = self.eps, len(self.eps)
        self.mu0 = mu0 = chemical_potential(eps, n_c, T)
        reference = _old_spectrum_terms(eps, np.array([mu0]), T, omega=self.free)[:, 0]
        self.n0, self.e0, self.f0 = reference[0], reference[3], reference[6] + mu0 * n_c
        # the rank-2 update interlaces the spectra, ε_{m−1} ≤ ε'_m ≤ ε_{m+1}, so μ' lies within a Fermi tail of
        # the old levels k−2 and k+1 around the filling k = ⌊n_c⌋
        k, tail = int(np.floor(n_c)), (60.0 + np.log(N)) * T
        self.lo0 = (eps[k - 2] if k >= 2 else eps[0] - abs(U)) - tail
        self.hi0 = (eps[k + 1] if k + 1 < N else eps[-1] + abs(U)) + tail
        x_max = max(eps[-1] + abs(U) - self.lo0, self.hi0 - eps[0] + abs(U)) / T
        self.poles, residues = fermi_poles(n_poles_for(x_max))
        self.pole_weight = 2.0 * T * residues
        self.radius = _SERIES_RADIUS * np.pi * T
        self._z = z = mu0 + 1j * T * self.poles
        R = _resolvent_powers(eps.astype(complex), z[None], _SERIES_ORDER + 1)[0]  # (K+1, P, N)
        # real GEMM operand: rows (re/im, k, p), columns levels
        self._powers = np.concatenate([R.real, R.imag]).reshape(-1, N)
        # old spectrum: f(ε − μ − δ) = 1/2 − Σ_p w_p Re Σ_k δ^k/(ε − z_p)^{k+1}, so Σ_m f and Σ_m ε_m f are
        # power series in δ; their constant terms are replaced by the exact sums (n0, e0)
        traces = -np.real(np.stack([R.sum(axis=2), R @ eps])) @ self.pole_weight
        self.n_series, self.e_series = traces  # (K+1,) each
        self.n_series[0], self.e_series[0] = self.n0, self.e0

    def __call__(self, occ, moves) -> np.ndarray:
        """ΔE (M,) of the hops ``moves`` (M, 2) from configuration ``occ``; +inf for a blocked hop."""
        occ = np.asarray(occ)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1, 2)
        src, dst = moves[:, 0], moves[:, 1]
        allowed = (occ[src] != 0) & (occ[dst] == 0) & (src != dst)
        out = np.full(len(moves), np.inf)
        idx = np.flatnonzero(allowed)
        for start in range(0, len(idx), _MOVES_PER_BATCH):
            batch = idx[start:start + _MOVES_PER_BATCH]
            pi, pj = self.psi[src[batch]], self.psi[dst[batch]]
            weights = np.stack([pj * pj, pi * pi, pi * pj], axis=-1)
            delta = self._series_energies(weights)
            far = np.isnan(delta)  # μ' too far from μ for the series (small lattices): iterate with exact poles
            if far.any():
                delta[far] = _new_energies(self.eps, weights[far], self.U, self.n_c, self.T, self.mu0, self.lo0,
                                           self.hi0, self.poles, self.pole_weight, self.free) - (
                    self.f0 if self.free else self.e0)
            out[batch] = delta
        return out

    def _moments(self, weights) -> np.ndarray:
        """Σ_m w_m/(ε_m − z_p)^{k+1} for k = 0..K: (K+1, M, P, 3) complex, by one real matrix product."""
        M, N, _ = weights.shape
        K1, P = _SERIES_ORDER + 1, len(self.poles)
        prod = self._powers @ weights.transpose(1, 0, 2).reshape(N, 3 * M)
        prod = prod.reshape(2, K1, P, M, 3)
        return (prod[0] + 1j * prod[1]).transpose(0, 2, 1, 3)

    def _series_energies(self, weights) -> np.ndarray:
        """Energy change of a batch of hops from the shared-pole series; NaN where μ' − μ is too large for it.

        Halley's method on the polynomial N_old(δ) + ΔN(δ) = n_c, converged to machine precision, for
        |δ| ≤ _SERIES_RADIUS·πT (where the series are exact to ~1e-11).
        """
        n_poly, e_poly, omega_poly = _shifted_pole_polynomials(self._moments(weights), self.U, self._z,
                                                               self.pole_weight)
        K1 = _SERIES_ORDER + 1
        g_poly = np.repeat(self.n_series[:, None], weights.shape[0], axis=1)
        g_poly[0] -= self.n_c
        g_poly[:len(n_poly)] += n_poly
        radius, M = self.radius, weights.shape[0]
        shift = np.zeros(M)
        converged = np.zeros(M, dtype=bool)
        previous = np.full(M, np.inf)
        scale = 1.0 + abs(self.mu0)
        for _ in range(_MAX_ITER):  # Halley steps: three evaluations from δ = 0 reach machine precision here
            g, g1, g2 = _polyval(g_poly, shift, 2)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(g1 > 0, -2 * g * g1 / (2 * g1 * g1 - g * g2), np.nan)
            # converged at machine precision, or stalled at the round-off floor of the sums (the steps stop
            # shrinking once below 1e-11, where cubic convergence has already been reached)
            stalled = (np.abs(step) < 1e-11 * scale) & (np.abs(step) >= 0.5 * previous)
            converged = (g == 0) | (np.abs(step) <= 4e-16 * scale) | stalled
            previous = np.abs(step)
            # a root beyond the series radius: leave it to the per-hop fallback instead of iterating on the clip
            escaping = (np.abs(shift) >= radius) & (step * shift > 0)
            if (converged | escaping).all() or not np.isfinite(step).all():
                break
            shift = np.clip(shift + np.where(converged | escaping, 0.0, step), -radius, radius)
        valid = converged & (np.abs(shift) < radius)
        if self.free:
            # F(δ) = Ω_old(δ) + ΔΩ(δ) + (μ + δ) n_c with dΩ_old/dμ = −N_old: Ω_old(δ) − Ω_old(0) = −∫ N_old
            order = np.arange(1, K1 + 1)
            omega_old = np.concatenate([[0.0], -self.n_series / order])
            delta = _polyval(omega_old, shift)[0] + _polyval(omega_poly, shift)[0] + shift * self.n_c
        else:
            e_old = self.e_series.copy()
            e_old[0] = 0.0
            delta = _polyval(e_old, shift)[0] + _polyval(e_poly, shift)[0]
        return np.where(valid, delta, np.nan)


def fk_move_energies(eps, psi, occ, moves, U: float, n_c: float, T: float,
                     energy_kind: str = "internal") -> np.ndarray:
    """Exact ΔE of Falicov-Kimball hops i → j from the current eigen-decomposition, without re-diagonalizing.

    Parameters
    ----------
    eps, psi : ascending eigenvalues (N,) and real eigenvectors (N, N) (ψ_m = psi[:, m]) of the current
        h = −t·Adj + U·diag(occ)
    occ : (N,) current f-occupations (0/1)
    moves : (M, 2) int, hop (i, j) moves the f-electron on site i to site j
    U : f-c interaction
    n_c : number of c-electrons (fixed; 0 < n_c < N)
    T : temperature, > 0
    energy_kind : ``"internal"`` (E = Σ ε f at the μ that keeps Σ f = n_c, author default) or ``"free"``
        (F = Ω + μ n_c)

    Returns
    -------
    dE : (M,) float; +inf for a blocked move (site i empty, site j occupied, or i == j).
    """
    return FKMoveEnergies(eps, psi, U, n_c, T, energy_kind)(occ, moves)


def _new_energies(eps, weights, U, n_c, T, mu0, lo0, hi0, poles, pole_weight, free: bool) -> np.ndarray:
    """New energy (F if ``free`` else E) of every hop in a batch at its own μ' (Σ f' = n_c), (M,).

    Safeguarded Halley iteration on N'(μ) = n_c. The first evaluation uses the current μ (poles shared by the
    batch); once the next step Δ is below _TAYLOR_STEP·T the energies are extrapolated to μ + Δ by second-order
    Taylor series (error O((Δ/T)³) ≲ 1e-13), so one per-hop evaluation after the shared one usually suffices.
    """
    M = weights.shape[0]
    eps_c = eps.astype(complex)
    mu = np.full(M, mu0)
    lo, hi = np.full(M, lo0), np.full(M, hi0)
    energies = np.empty(M)
    active = np.arange(M)
    for it in range(_MAX_ITER):
        zeta = mu0 + 1j * T * poles if it == 0 else mu[active, None] + 1j * T * poles[None, :]
        n, n1, n2, e, e1, e2, omega = _old_spectrum_terms(eps, mu[active], T, free) + _pole_terms(
            eps_c, weights[active], U, zeta, pole_weight)
        m = mu[active]
        g = n - n_c
        lo[active] = np.where(g < 0, m, lo[active])
        hi[active] = np.where(g > 0, m, hi[active])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = np.where(n1 > 0, -2 * g * n1 / (2 * n1 * n1 - g * n2), np.nan)
            step = np.where(np.isfinite(step), step, -g / n1)
        step = np.where(np.isfinite(step), step, 0.5 * (lo[active] + hi[active]) - m)
        small = np.abs(step) <= _TAYLOR_STEP * T
        done = small | (hi[active] - lo[active] <= 4e-16 * (1.0 + np.abs(m)))  # or μ' pinned to machine precision
        last = np.where(small, step, 0.0)
        # E(μ + Δ) by Taylor series; F(μ) = Ω'(μ) + μ n_c has dF/dμ = −g and d²F/dμ² = −N'
        if free:
            energies[active] = omega + m * n_c - last * (g + 0.5 * last * n1)
        else:
            energies[active] = e + last * (e1 + 0.5 * last * e2)
        nxt = m + step
        mu[active] = np.where((nxt > lo[active]) & (nxt < hi[active]), nxt, 0.5 * (lo[active] + hi[active]))
        active = active[~done]
        if len(active) == 0:
            return energies
    raise RuntimeError(f"fk_move_energies: chemical potential not converged after {_MAX_ITER} iterations")


def update_eigh_after_move(h: np.ndarray, move, U: float, eigh=eigh):
    """Apply an accepted hop i → j to the FK matrix ``h`` in place (h_ii −= U, h_jj += U) and re-diagonalize it.

    ``eigh`` is the diagonalizer to use (default :func:`latticeml.electrons.ed.eigh`); returns its result.
    """
    i, j = (int(s) for s in move)
    h[i, i] -= U
    h[j, j] += U
    return eigh(h)
