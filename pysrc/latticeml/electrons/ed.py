"""Exact diagonalization kernels: eigen-decomposition, Fermi statistics at fixed μ or fixed N, thermodynamics.

Conventions (k_B = 1): f(ε) = 1/(e^{(ε−μ)/T} + 1); at T = 0 the step θ(μ − ε) with f = 1/2 exactly at ε = μ
(the T → 0 limit of f at fixed μ). Fixed particle number N is imposed through :func:`chemical_potential`
(or :func:`fixed_n_occupations`, which also distributes a fractional filling over a degenerate level at T = 0).

* band (internal) energy E = Σ_n ε_n f_n;
* grand potential Ω = −T Σ_n ln(1 + e^{−(ε_n−μ)/T})  (T = 0: Σ_{ε<μ} (ε − μ));
* free energy F = Ω + μ Σ_n f_n  (at fixed N, F = Ω + μN is the canonical free energy of the band);
* density matrix ρ_pq = Σ_n f_n ψ_n(p) ψ_n(q)^*  (= ⟨c_q† c_p⟩).

Every function takes plain arrays (eigenvalues ``eps`` (n,), eigenvectors ``psi`` (N, n) with ψ_n = psi[:, n]) and
returns arrays; they are the Python reference kernels behind :func:`latticeml.backends.get_backend`.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse
from scipy.special import expit, log_expit

__all__ = ["eigh", "fermi", "chemical_potential", "fixed_n_occupations", "band_energy", "grand_potential",
           "free_energy", "density_matrix", "spin_blocks", "hellmann_feynman", "density_matrix_forces"]

# levels closer than this (relative to the spectral scale) count as degenerate at T = 0
_DEGENERATE_RTOL = 1e-12
# bracket half-width of μ beyond the relevant levels, in units of T: e^{-_FERMI_TAIL} is far below 1e-12 filling
_FERMI_TAIL = 60.0


def eigh(h) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a Hermitian matrix (dense or scipy.sparse): ``eps`` ascending, ``psi[:, n]`` = ψ_n."""
    if scipy.sparse.issparse(h):
        h = h.toarray()
    return scipy.linalg.eigh(np.asarray(h), driver="evd", check_finite=False)


def fermi(eps, mu: float, T: float) -> np.ndarray:
    """Fermi-Dirac occupation f(ε) = 1/(e^{(ε−μ)/T} + 1), overflow-safe; the step θ(μ−ε) (1/2 at ε = μ) at T = 0."""
    eps = np.asarray(eps, dtype=float)
    if T < 0:
        raise ValueError(f"fermi: temperature T={T} must be >= 0")
    if T == 0:
        return np.where(eps < mu, 1.0, np.where(eps > mu, 0.0, 0.5))
    return expit((mu - eps) / T)


def _check_filling(n_target: float, n_levels: int) -> None:
    # an empty or full band has no μ; within 1e-9 of one the filled-shell logic would index past the spectrum
    if not 1e-9 <= n_target <= n_levels - 1e-9:
        raise ValueError(f"particle number n_target={n_target} must lie strictly between 0 and the number of "
                         f"levels {n_levels} (at least 1e-9 from either)")


def _logsumexp(x: np.ndarray) -> float:
    top = np.max(x)
    return float(top + np.log(np.sum(np.exp(x - top))))


def _zero_t_mu(eps: np.ndarray, n_target: float) -> float:
    """T → 0 limit of the fixed-N chemical potential: mid-gap for a filled shell, else the partly filled level."""
    k = int(np.floor(n_target + 1e-12))
    tol = _DEGENERATE_RTOL * max(1.0, float(np.max(np.abs(eps))))
    if abs(n_target - round(n_target)) <= 1e-12 and eps[k] - eps[k - 1] > tol:
        return 0.5 * (eps[k - 1] + eps[k])
    return float(eps[k])


def chemical_potential(eps, n_target: float, T: float) -> float:
    """Chemical potential μ with Σ_n f(ε_n − μ) = ``n_target`` (fixed particle number).

    T > 0: safeguarded Newton on the monotone filling, in a bracket built from the sorted levels around the Fermi
    level, converged to machine precision in μ (filling error below 1e-10 for T ≳ 1e-4); for a filled shell where
    the filling is nearly flat (a gap ≫ T), Brent's method on the log-balance of electrons above and holes below
    the shell, which resolves μ inside the gap. T = 0: the T → 0 limit (mid-gap for a filled shell; otherwise the
    energy of the partly filled, possibly degenerate, level — use :func:`fixed_n_occupations` for its occupations).

    Parameters
    ----------
    eps : (n,) eigenvalues (any order)
    n_target : particle number, 0 < n_target < n
    T : temperature ≥ 0
    """
    eps = np.sort(np.asarray(eps, dtype=float))
    _check_filling(n_target, len(eps))
    if T < 0:
        raise ValueError(f"chemical_potential: temperature T={T} must be >= 0")
    if T == 0:
        return _zero_t_mu(eps, n_target)

    k = int(np.floor(n_target))
    tail = (_FERMI_TAIL + np.log(len(eps))) * T
    lo, hi = eps[max(k - 1, 0)] - tail, eps[min(k, len(eps) - 1)] + tail

    def excess(mu):
        f = expit((mu - eps) / T)
        return float(np.sum(f)) - n_target, float(np.dot(f, 1.0 - f)) / T

    if excess(lo)[0] > 0 or excess(hi)[0] < 0:  # fillings within ~1e-17 of an integer; the whole spectrum brackets
        lo, hi = eps[0] - 800 * T, eps[-1] + 800 * T
    mu = _safeguarded_newton(excess, lo, hi, 0.5 * (eps[max(k - 1, 0)] + eps[min(k, len(eps) - 1)]))
    if abs(n_target - round(n_target)) > 1e-12 or excess(mu)[1] > 1e-2 * len(eps):
        return mu
    # a filled shell across a gap ≫ T: Σ f − k is flat (and underflows to 0) inside the gap, so rounding fixes μ
    # poorly; electrons above the shell = holes below it, in log form, stays steep
    k = int(round(n_target))
    below, above = eps[:k], eps[k:]

    def balance(mu):
        return _logsumexp(log_expit((mu - above) / T)) - _logsumexp(log_expit((below - mu) / T))

    return scipy.optimize.brentq(balance, eps[k - 1] - tail, eps[k] + tail, xtol=1e-300,
                                 rtol=4 * np.finfo(float).eps, maxiter=500)


def _safeguarded_newton(fun, lo: float, hi: float, x: float) -> float:
    """Root of the increasing function ``fun(x) -> (value, slope)`` in [lo, hi]: Newton steps, bisection when a
    step leaves the bracket; stops at machine precision in x."""
    for _ in range(500):
        value, slope = fun(x)
        if value == 0:
            return x
        lo, hi = (x, hi) if value < 0 else (lo, x)
        nxt = x - value / slope if slope > 0 else np.nan
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) <= 4 * np.finfo(float).eps * (1.0 + abs(x)):
            return nxt
        x = nxt
    raise RuntimeError("chemical_potential: root search did not converge")


def fixed_n_occupations(eps, n_target: float, T: float) -> tuple[np.ndarray, float]:
    """Occupations with exactly Σ f = ``n_target`` and the chemical potential: ``(f, mu)``.

    For T > 0 these are the Fermi occupations at :func:`chemical_potential`. At T = 0 the levels below μ are full,
    and the remaining fraction of an electron is shared equally by the (degenerate) level at μ — the T → 0 limit
    of the finite-T occupations.
    """
    eps = np.asarray(eps, dtype=float)
    mu = chemical_potential(eps, n_target, T)
    if T > 0:
        return fermi(eps, mu, T), mu
    tol = _DEGENERATE_RTOL * max(1.0, float(np.max(np.abs(eps))))
    f = (eps < mu - tol).astype(float)
    at_mu = np.abs(eps - mu) <= tol
    if at_mu.any():
        f[at_mu] = (n_target - f.sum()) / at_mu.sum()
    return f, mu


def band_energy(eps, mu: float, T: float) -> float:
    """Band (internal) energy E = Σ_n ε_n f(ε_n − μ)."""
    eps = np.asarray(eps, dtype=float)
    return float(np.dot(eps, fermi(eps, mu, T)))


def grand_potential(eps, mu: float, T: float) -> float:
    """Grand potential Ω = −T Σ_n ln(1 + e^{−(ε_n−μ)/T}) (T = 0: Σ_{ε_n<μ} (ε_n − μ)); overflow-safe."""
    eps = np.asarray(eps, dtype=float)
    if T == 0:
        return float(np.sum(np.minimum(eps - mu, 0.0)))
    return float(-T * np.sum(np.logaddexp(0.0, (mu - eps) / T)))


def free_energy(eps, mu: float, T: float) -> float:
    """Free energy F = Ω + μ Σ_n f_n (with μ from :func:`chemical_potential` this is F(N) = Ω + μN)."""
    eps = np.asarray(eps, dtype=float)
    return grand_potential(eps, mu, T) + mu * float(np.sum(fermi(eps, mu, T)))


def density_matrix(eps, psi, mu: float, T: float) -> np.ndarray:
    """One-body density matrix ρ = Σ_n f_n ψ_n ψ_n^†, (N, N) (real for real ψ)."""
    psi = np.asarray(psi)
    f = fermi(eps, mu, T)
    return (psi * f) @ psi.conj().T


def spin_blocks(eps, psi, mu: float, T: float) -> np.ndarray:
    """Local 2×2 spin blocks of the density matrix, (N_sites, 2, 2) complex.

    Orbitals are ordered ``2*i + spin`` (spin 0 = up); ``F[i, a, b] = Σ_n f_n ψ_n(2i+a) ψ_n(2i+b)^*``, i.e. the
    diagonal site blocks of :func:`density_matrix`, computed in O(N·n) without forming ρ.
    """
    psi = np.asarray(psi)
    f = fermi(eps, mu, T)
    orbitals, n = psi.shape
    if orbitals % 2:
        raise ValueError(f"spin_blocks: {orbitals} orbitals is odd; expected 2 per site (index 2*i + spin)")
    p = psi.reshape(orbitals // 2, 2, n)
    return np.einsum("ian,n,ibn->iab", p, f, p.conj()).astype(complex)


def hellmann_feynman(eps, psi, mu: float, T: float, dH_list) -> np.ndarray:
    """Generalized forces −Tr(ρ ∂H/∂x_k) for each derivative matrix ∂H/∂x_k in ``dH_list`` (dense or sparse).

    This is −∂Ω/∂x_k at fixed μ, which equals −∂F/∂x_k at fixed N (F is stationary in μ). Returns (K,) float.
    """
    return density_matrix_forces(density_matrix(eps, psi, mu, T), dH_list)


def density_matrix_forces(rho, dH_list) -> np.ndarray:
    """−Re Tr(ρ ∂H/∂x_k) for each ∂H/∂x_k in ``dH_list`` (dense or sparse), (K,): the Hellmann-Feynman forces of ρ."""
    out = np.empty(len(dH_list))
    for k, dH in enumerate(dH_list):
        if scipy.sparse.issparse(dH):
            tr = dH.multiply(rho.T).sum()
        else:
            tr = np.einsum("pq,qp->", rho, np.asarray(dH))
        out[k] = -np.real(tr)
    return out
