"""Exact exchange-field calculator of the s-d (Kondo-lattice) model on the triangular lattice (chapter 3).

Energy: the electronic grand potential plus the Zeeman energy of the local spins,

.. math::  E(\\{S\\}) = Ω - h_{ext}\\sum_i S^z_i,\\qquad Ω = -T_{el}\\sum_n \\ln(1 + e^{-(ε_n-μ)/T_{el}}),

and the generalized force is the exchange field (Hellmann-Feynman, exact for Ω)

.. math::  \\mathbf H_i = -∂E/∂\\mathbf S_i = J\\,\\mathrm{tr}(\\boldsymbol σ F_{ii}) + h_{ext}\\hat z,
           \\quad F = f(𝐇).

Methods (all give the same field up to their documented error):

* ``"ed"``: dense diagonalisation of the 2N×2N matrix, O((2N)³); the reference. With ``twists = k > 1`` it
  averages over the k×k Bloch twists of the torus (:func:`latticeml.models.sd.hopping_matrix`): energy and field
  of the kL×kL torus holding k×k copies of the spins (energy per copy), for k² diagonalisations of size 2N. This
  removes most finite-size effects of a small torus: on 12×12 the plain field agrees with the k = 4 one within 10°
  on only 41 % of the sites of LLG snapshots (see :mod:`latticeml.reproduce.ch3_ml`).
* ``"kpm"``: Chebyshev expansion of f with all 2N unit vectors (exact diagonal blocks, error from the truncation
  at M moments only: ≈3e-4 rel. RMS on H_⊥ at M = 1000, T_el = 0.01), or colour probing (``probing_period``;
  biased, see :mod:`latticeml.electrons.kpm`; for an even period ``extras["probing_error_estimate"]`` is the
  relative change of the field when the period is halved). No energy (``Result.energy`` is None).
* ``"fast"``: Chebyshev-filtered subspace iteration (CheFSI) tracking the k lowest eigenpairs, k = states below
  μ + T_el·ln(1/occ_tol) plus a buffer, warm-started from the previous call. Each call applies a degree-m filter
  and a Rayleigh-Ritz step until the residual of the highest needed Ritz pairs is below ``resid_tol``; it starts
  (and restarts, every ``ed_check_every`` calls or when it fails to converge) from dense ED, and records the
  relative field error at each periodic ED check. Cost O(2N·k²) with k ≈ 0.24·2N: exact for dynamics, where
  consecutive configurations are close.

Measured (``latticeml bench sd-llg``, one thread, perturbed SkL, exact LLG steps Δt = 0.1): at 48² (2N = 4608,
k = 1091) one CheFSI pass per evaluation, 8.5 CPU-s against 178 CPU-s for dense ED (21×) on a quiet machine
(42 vs 258 CPU-s, 6×, 10× wall, under load ≈ 7 on 2 cores), relative error 8e-9 on H and 1.2e-7 on H_⊥; at 24²
(k = 275) 0.25-0.7 CPU-s against 2.5-42 CPU-s (10-60×, load dependent), error 1.4e-8 on H, 2e-7 on H_⊥.
KPM with exact blocks at M = 1000: 2.4e-5 on H, 3.5e-4 on H_⊥ (24², 30-42 CPU-s, slower than ED on CPU); on 48²
7.6e-6 / 1.2e-4 on 192 sites in 45 s, so ≈ 540 s for all sites against 97 s for dense ED (Dec 2026). Colour probing
is biased (d = 12, 288 vectors: 0.025 on H, 0.30 on H_⊥ on 24² in 7.8 s; 0.023 / 0.32 on 48² in 36 s).
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

from ..backends import get_backend
from ..backends.threads import one_blas_thread_below
from ..electrons.kpm import chebyshev_filter, matmat
from ..electrons.torch_dense import TorchDenseOps, resolve_device
from ..errors import ConfigError
from ..models.sd import band_bounds, check_triangular, hopping_matrix, sd_hamiltonian
from .base import Calculator, Result

__all__ = ["SDCalculator", "exchange_field", "check_solver_options", "METHODS"]

METHODS = ("ed", "kpm", "fast")
#: matrix size 2N below which the numpy CheFSI pass runs on one BLAS thread (crossover at 36², see
#: :mod:`latticeml.backends.threads`)
SINGLE_THREAD_CHEFSI_BELOW = 2592
_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex)


def check_solver_options(method: str, T_el: float, device: str | None, twists: int = 1, *,
                         prefix: str = "") -> str | None:
    """Check the solver options of :class:`SDCalculator` and return the resolved torch device (None: numpy).

    One rule for the calculator and for the config check of model ``sd_triangular`` (``prefix="model."``, so the
    errors name the config field). The device word is checked as written, not as resolved, so that an option that
    cannot use a device (KPM, Bloch twists) refuses ``"auto"`` on every machine alike.
    """
    if method not in METHODS:
        raise ConfigError(prefix + "method", f"unknown s-d method {method!r}; choose one of {', '.join(METHODS)}")
    if T_el < 0:
        raise ConfigError(prefix + "T_el", f"electron temperature must be >= 0, got {T_el}")
    if method == "kpm" and T_el == 0:
        raise ConfigError(prefix + "T_el", "method 'kpm' needs T_el > 0 (the step function converges too slowly); "
                                           "use method 'ed' or 'fast', or T_el = 0.01")
    if device is not None and method == "kpm":
        raise ConfigError(prefix + "device", "the torch device runs methods 'ed' and 'fast'; KPM stays on numpy "
                                             "(leave device unset)")
    resolved = resolve_device(device, prefix + "device")
    if isinstance(twists, bool) or not isinstance(twists, (int, np.integer)) or twists < 1:
        raise ConfigError(prefix + "twists", f"Bloch twists per direction must be an integer >= 1, got {twists!r}")
    if twists > 1 and (method != "ed" or device is not None):
        raise ConfigError(prefix + "twists", "Bloch twists run with method 'ed' on numpy; use method 'ed' without "
                                             "a device, or twists = 1")
    return resolved


def exchange_field(blocks: np.ndarray, J: float) -> np.ndarray:
    """H_i^a = J tr(σ^a F_ii) from local blocks F[i, a, b] = f(𝐇)_{2i+a, 2i+b}; returns (N, 3) real."""
    return J * np.einsum("cab,iba->ic", _PAULI, blocks).real


class SDCalculator(Calculator):
    """Exact s-d calculator: grand potential and exchange field of unit spins on the periodic triangular lattice.

    Parameters
    ----------
    lattice : :func:`latticeml.lattice.triangular` lattice.
    t1, t3, J, mu : model parameters (spec §2 defaults; hopping enters as -t, see :mod:`latticeml.models.sd`).
    T_el : electron temperature of the Fermi function (default 0.01; > 0 needed by ``"kpm"`` for fast convergence).
    h_ext : external field along z on the local spins only.
    method : "ed" | "kpm" | "fast" (see the module docstring).
    num_moments, kpm_kernel, probing_period : KPM settings (M = 1000, no kernel, exact blocks by default).
    filter_degree, resid_tol, occ_tol, buffer_energy, ed_check_every, max_passes : CheFSI settings of ``"fast"``.
    device : None (numpy, default) or a torch device for ``"ed"`` and ``"fast"``: ``"cuda"``, ``"cpu"``, or
        ``"auto"`` (the GPU when torch sees one, else numpy); see :mod:`latticeml.electrons.torch_dense`. A torch
        device takes over from ``backend`` for these two methods.
    twists : int, default 1
        k: Bloch twists per direction for ``"ed"`` on numpy (the k×k-tiled system, see the module docstring).
    """

    field_kind = "spin"

    def __init__(self, lattice, t1: float = 1.0, t3: float = -0.85, J: float = 1.0, mu: float = -3.5,
                 T_el: float = 0.01, h_ext: float = 0.0, method: str = "ed", *, num_moments: int = 1000,
                 kpm_kernel: str | None = None, probing_period: int | None = None, filter_degree: int = 16,
                 resid_tol: float = 1e-4, occ_tol: float = 1e-14, buffer_energy: float = 0.3,
                 ed_check_every: int = 100, max_passes: int = 6, backend: str | None = None,
                 device: str | None = None, twists: int = 1):
        check_triangular(lattice)
        self.device = check_solver_options(method, T_el, device, twists)
        self.lattice = lattice
        self.t1, self.t3, self.J, self.mu, self.T_el, self.h_ext = map(float, (t1, t3, J, mu, T_el, h_ext))
        self.method = method
        self.num_moments, self.kpm_kernel, self.probing_period = int(num_moments), kpm_kernel, probing_period
        self.filter_degree, self.resid_tol, self.occ_tol = int(filter_degree), float(resid_tol), float(occ_tol)
        self.buffer_energy, self.ed_check_every, self.max_passes = float(buffer_energy), int(ed_check_every), \
            int(max_passes)
        self.bounds = band_bounds(self.t1, self.t3, self.J)
        self._kernels = get_backend(backend)
        self.twists = int(twists)
        self._dense = None if self.device is None else TorchDenseOps(
            hopping_matrix(lattice, self.t1, self.t3), self.J, self.device)
        self._subspace = None  # (X, ritz values) of the fast method
        self._calls_since_ed = 0
        self.metadata = dict(model="sd_triangular", lattice=lattice.describe(), t1=self.t1, t3=self.t3, J=self.J,
                             mu=self.mu, T_el=self.T_el, h_ext=self.h_ext, method=method,
                             num_moments=self.num_moments, kpm_kernel=kpm_kernel, probing_period=probing_period,
                             **({"twists": self.twists} if self.twists > 1 else {}))

    # ------------------------------------------------------------------ protocol
    def compute(self, fields: np.ndarray, *, forces: bool = True) -> Result:
        spins = self._spins(fields)
        t0, cpu0 = time.perf_counter(), time.process_time()
        extras: dict = {"method": self.method}
        if self.method == "ed":
            omega, blocks, n_el = self._solve_ed(spins)
        elif self.method == "kpm":
            omega, n_el = None, None
            blocks = self._kpm_blocks(spins, self.probing_period)
            if self.probing_period is not None and self.probing_period % 2 == 0:
                # probing error estimate: the change of the field when the period is halved (R/4 more vectors);
                # the bias shrinks with the period, so this bounds the error of period d from above
                field_half = exchange_field(self._kpm_blocks(spins, self.probing_period // 2), self.J)
                field = exchange_field(blocks, self.J)
                extras.update(probing_error_estimate=float(np.linalg.norm(field_half - field) /
                                                           np.linalg.norm(field)))
        else:
            omega, blocks, n_el = self._solve_fast(spins, extras)
        zeeman = self.h_ext * spins[:, 2].sum()
        extras.update(n_electrons=n_el, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - cpu0)
        field = self._field(blocks)
        return Result(energy=None if omega is None else omega - zeeman, forces=field if forces else None,
                      extras=extras)

    def field_at(self, fields: np.ndarray, sites) -> np.ndarray:
        """The field H_i (exchange + h_ext ẑ) at ``sites`` only, shape (len(sites), 3): KPM's exact diagonal blocks
        of those sites, at a cost proportional to their number (method "kpm" without probing)."""
        if self.method != "kpm" or self.probing_period is not None:
            raise ConfigError("method", "field_at needs method 'kpm' without probing_period (exact blocks of the "
                                        "chosen sites); use compute for the whole lattice")
        return self._field(self._kpm_blocks(self._spins(fields), None, sites=sites))

    def _spins(self, fields) -> np.ndarray:
        spins = np.asarray(fields, dtype=float)
        if spins.shape != (self.lattice.N, 3):
            raise ConfigError("spins", f"expected unit spins of shape ({self.lattice.N}, 3), got {spins.shape}")
        # |S| <= 1 (LLG midpoints are shorter) keeps the spectrum inside self.bounds, which KPM and CheFSI rely on;
        # the bounds' 1e-3 padding admits |J|(|S| − 1) < 5e-4 (finite-difference steps)
        longest = float(np.sqrt(np.max(np.einsum("ij,ij->i", spins, spins))))
        if not abs(self.J) * (longest - 1.0) <= 5e-4:
            raise ConfigError("spins", f"longest spin has |S| = {longest:.6g}; the s-d model takes unit spins "
                                       "(normalise them, e.g. S / |S|)")
        return spins

    def _field(self, blocks) -> np.ndarray:
        """H_i = J tr(σ F_ii) + h_ext ẑ from the local blocks."""
        field = exchange_field(blocks, self.J)
        field[:, 2] += self.h_ext
        return field

    def energy(self, fields: np.ndarray) -> float:
        """Ω − H_ext Σ S^z. With ``"fast"`` the call leaves the tracked subspace and the ED-check counter as they
        were: an energy asked for between steps (a trajectory recorder) must not change the dynamics."""
        if self.method != "fast":
            return super().energy(fields)
        saved = (self._subspace, self._calls_since_ed)  # the passes build new arrays; these stay untouched
        try:
            return self.compute(fields, forces=False).energy
        finally:
            self._subspace, self._calls_since_ed = saved

    def reset(self, fields: np.ndarray) -> None:
        """Forget the tracked subspace (the next ``fast`` call starts from ED)."""
        self._subspace = None

    def checkpoint_state(self) -> dict:
        """The tracked subspace of ``"fast"`` (host arrays), so that a resumed run continues the same CheFSI
        sequence and repeats the uninterrupted one bit for bit (a fresh ED start would differ at ~1e-8)."""
        if self._subspace is None:
            return {"subspace": None, "calls_since_ed": self._calls_since_ed}
        X, ritz = self._subspace
        X = np.array(X) if self._dense is None else X.cpu().numpy()
        return {"subspace": (X, np.array(ritz)), "calls_since_ed": self._calls_since_ed}

    def restore_checkpoint_state(self, state: dict) -> None:
        self._calls_since_ed = int(state["calls_since_ed"])
        if state["subspace"] is None:
            self._subspace = None
            return
        X, ritz = state["subspace"]
        if self._dense is not None:
            import torch

            X = torch.as_tensor(X, device=self._dense.device)
        self._subspace = (X, np.array(ritz))

    # ------------------------------------------------------------------ solvers
    def hamiltonian(self, spins: np.ndarray, *, sparse: bool = False, twist=None):
        """The single-particle matrix 𝐇(spins) of this calculator's model (``twist``: Bloch phases (θ1, θ2))."""
        return sd_hamiltonian(self.lattice, spins, self.t1, self.t3, self.J, sparse=sparse, twist=twist)

    def _sparse(self, spins):
        return self.hamiltonian(spins, sparse=True)

    def _kpm_blocks(self, spins, probing_period, sites=None):
        return self._kernels.kpm_spin_blocks(self._sparse(spins), self.mu, self.T_el, self.bounds, self.num_moments,
                                             kernel=self.kpm_kernel, lattice_shape=self.lattice.shape,
                                             probing_period=probing_period, sites=sites)

    def _solve_ed(self, spins):
        if self._dense is not None:
            return self._dense.observables(*self._dense.eigh(spins), self.mu, self.T_el)
        if self.twists > 1:  # mean over the k² Bloch twists: per-copy observables of the k×k-tiled torus
            angles = 2 * np.pi * np.arange(self.twists) / self.twists
            parts = [self._ed_observables(self.hamiltonian(spins, twist=(a, b))) for a in angles for b in angles]
            return tuple(sum(p[n] for p in parts) / len(parts) for n in range(3))
        return self._ed_observables(self.hamiltonian(spins))

    def _ed_observables(self, H):
        """(Ω, F blocks, N_el) of the dense matrix H."""
        k = self._kernels
        eps, psi = k.eigh(H)
        blocks = k.spin_blocks_ed(eps, psi, self.mu, self.T_el)
        return k.grand_potential(eps, self.mu, self.T_el), blocks, float(k.fermi(eps, self.mu, self.T_el).sum())

    def _needed_cut(self) -> float:
        """Energy above which occupations are below ``occ_tol`` (states above it do not enter F or Ω)."""
        return self.mu + self.T_el * np.log(1 / self.occ_tol)

    def _restart_from_ed(self, spins):
        if self._dense is not None:
            eps, psi = self._dense.eigh(spins)
        else:
            eps, psi = self._kernels.eigh(self.hamiltonian(spins))
        cut = self._needed_cut()
        n_needed = int(np.searchsorted(eps, cut))
        k = max(int(np.searchsorted(eps, cut + self.buffer_energy)), n_needed + 16)
        k = min(k, len(eps))
        X = np.ascontiguousarray(psi[:, :k]) if self._dense is None else self._dense.lowest(psi, k)
        self._subspace = (X, eps[:k].copy())
        self._calls_since_ed = 0

    def _fast_blocks(self, X, ritz):
        """(Ω, F blocks, N_el) from the tracked Ritz pairs; states above the subspace have f < occ_tol."""
        if self._dense is not None:
            return self._dense.observables(ritz, X, self.mu, self.T_el)
        k = self._kernels
        return (k.grand_potential(ritz, self.mu, self.T_el), k.spin_blocks_ed(ritz, X, self.mu, self.T_el),
                float(k.fermi(ritz, self.mu, self.T_el).sum()))

    def _solve_fast(self, spins, extras):
        periodic_check = self._subspace is not None and 0 < self.ed_check_every <= self._calls_since_ed
        if self._subspace is None:
            self._restart_from_ed(spins)
            extras.update(fast_start="ed")
            return self._fast_blocks(*self._subspace)
        H = self._sparse(spins) if self._dense is None else self._dense.hamiltonian(spins)
        X, ritz = self._subspace
        cut = self._needed_cut()
        converged = False
        with self._chefsi_threads():
            for passes in range(1, self.max_passes + 1):
                X, ritz, resid = self._filtered_rayleigh_ritz(H, X, ritz, cut)
                if resid < self.resid_tol:
                    converged = True
                    break
        extras.update(fast_passes=passes, fast_residual=resid, fast_subspace=X.shape[1])
        self._calls_since_ed += 1
        if not converged or ritz[-1] <= cut:
            # the subspace lost track (a jump in configuration or too small a buffer): start again from ED
            self._restart_from_ed(spins)
            extras.update(fast_start="ed (not converged)")
            return self._fast_blocks(*self._subspace)
        self._subspace = (X, ritz)
        with self._chefsi_threads():
            result = self._fast_blocks(X, ritz)
        if periodic_check:
            field_fast = exchange_field(result[1], self.J)
            self._restart_from_ed(spins)
            ref = self._fast_blocks(*self._subspace)
            field_ed = exchange_field(ref[1], self.J)
            extras.update(ed_check_rel_error=float(np.linalg.norm(field_fast - field_ed) / np.linalg.norm(field_ed)))
            return ref
        return result

    def _chefsi_threads(self):
        """One BLAS thread for the numpy CheFSI pass below 2N = SINGLE_THREAD_CHEFSI_BELOW, where threading costs
        more than it gains; dense-ED restarts keep the default threads."""
        if self._dense is not None:
            return contextlib.nullcontext()
        return one_blas_thread_below(2 * self.lattice.N, SINGLE_THREAD_CHEFSI_BELOW)

    def _filtered_rayleigh_ritz(self, H, X, ritz, cut):
        """One CheFSI pass: filter, Rayleigh-Ritz, residual of the highest Ritz pairs below ``cut``."""
        if self._dense is not None:
            return self._dense.chefsi_pass(H, X, ritz[-1], cut, self.bounds, self.filter_degree)
        import scipy.linalg as sl

        # damp [top Ritz value, E_max]; scaling at the lower spectral bound keeps the filtered block O(1)
        Y = chebyshev_filter(H, X, self.filter_degree, cut=ritz[-1], upper=self.bounds[1], lowest=self.bounds[0])
        HY = matmat(H, Y)
        # zherk fills the upper triangle of the Gram matrix at half the cost of a full product; eigh reads "U"
        gram = sl.blas.zherk(1.0, Y, trans=2, lower=0)
        proj = Y.conj().T @ HY
        ritz, C = sl.eigh(proj, gram, lower=False, check_finite=False)
        X = Y @ C
        needed = np.nonzero(ritz < cut)[0]
        probe = needed[-32:] if len(needed) else np.arange(min(32, len(ritz)))
        R = matmat(H, X[:, probe]) - X[:, probe] * ritz[probe]
        return X, ritz, float(np.linalg.norm(R, axis=0).max())
