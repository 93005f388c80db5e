"""Exact-diagonalization calculators: a model's single-particle matrix h(fields), electrons integrated out exactly.

:class:`EDCalculator` is the generic base (fixed particle number or fixed μ, energy from the spectrum, generalized
forces by Hellmann-Feynman from the model's ∂h/∂x); :class:`FalicovKimballCalculator` adds the kinetic Monte Carlo
move energies of chapter 2, either by the exact rank-2 update (``method="lowrank"``) or by re-diagonalizing per
move (``method="full"``, the baseline).
"""
from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg

from ..backends import get_backend
from ..backends.threads import one_blas_thread_below
from ..electrons.ed import density_matrix_forces, fermi, fixed_n_occupations, grand_potential, hellmann_feynman
from ..electrons.lowrank import ENERGY_KINDS, FKMoveEnergies, update_eigh_after_move
from ..errors import ConfigError
from ..models.falicov_kimball import fk_hamiltonian
from .base import Calculator, Result

__all__ = ["EDCalculator", "FalicovKimballCalculator"]

#: lattice size N below which the python kMC kernels (rank-2 move energies, eigenpair updates) run on one BLAS thread
SINGLE_THREAD_KMC_BELOW = 1024


def _eigvalsh(h: np.ndarray) -> np.ndarray:
    return scipy.linalg.eigh(h, eigvals_only=True, driver="evd", check_finite=False)


def _eigenvalues_only(h: np.ndarray) -> tuple[np.ndarray, None]:
    """Drop-in for ``eigh`` where only the spectrum is needed (the ``method="full"`` cache)."""
    return _eigvalsh(h), None


class EDCalculator(Calculator):
    """Exact diagonalization of a single-particle matrix h(fields); subclasses define :meth:`hamiltonian`.

    Energies (k_B = 1): ``"internal"`` E = Σ ε f, ``"free"`` F = Ω + μ Σ f, ``"grand"`` Ω (fixed μ only).
    With ``n_electrons`` μ is solved from Σ f = n_electrons for every configuration (fixed N); with ``mu`` it is
    held fixed. Forces, when the subclass provides :meth:`hamiltonian_derivatives`, are the Hellmann-Feynman
    forces −Tr(ρ ∂h/∂x) = −∂Ω/∂x|_μ = −∂F/∂x|_N (exact for the free/grand energies; for ``"internal"`` they are
    the derivatives of F, equal to those of E only at T = 0).

    Parameters
    ----------
    T : temperature ≥ 0
    n_electrons, mu : exactly one of them (fixed N or fixed μ)
    energy_kind : ``"internal"`` (default), ``"free"`` or ``"grand"``
    backend : kernel backend name (default: ``$LATTICEML_BACKEND`` or python)
    """

    def __init__(self, T: float, *, n_electrons: float | None = None, mu: float | None = None,
                 energy_kind: str = "internal", backend: str | None = None):
        if T < 0:
            raise ConfigError("T", f"temperature {T} must be >= 0")
        if (n_electrons is None) == (mu is None):
            raise ConfigError("n_electrons", "give exactly one of n_electrons (fixed N) or mu (fixed μ)")
        kinds = ENERGY_KINDS + (("grand",) if mu is not None else ())
        if energy_kind not in kinds:
            raise ConfigError("energy_kind", f"{energy_kind!r} is not one of {', '.join(kinds)}")
        self.T = float(T)
        self.n_electrons = None if n_electrons is None else float(n_electrons)
        self.mu = None if mu is None else float(mu)
        self.energy_kind = energy_kind
        self.backend = get_backend(backend)

    def hamiltonian(self, fields) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def hamiltonian_derivatives(self, fields) -> list | None:
        """∂h/∂x_k for every scalar component of ``fields`` (flattened), or None if the model has no forces."""
        return None

    def spectrum_energy(self, eps: np.ndarray) -> tuple[float, float]:
        """(energy, μ) of a spectrum under this calculator's filling rule and energy kind."""
        if self.n_electrons is not None:
            f, mu = fixed_n_occupations(eps, self.n_electrons, self.T)
        else:
            mu = self.mu
            f = fermi(eps, mu, self.T)
        if self.energy_kind == "internal":
            return float(np.dot(eps, f)), mu
        omega = grand_potential(eps, mu, self.T)
        return (omega if self.energy_kind == "grand" else omega + mu * float(f.sum())), mu

    def compute(self, fields, *, forces: bool = True) -> Result:
        h = self.hamiltonian(fields)
        dh = self.hamiltonian_derivatives(fields) if forces else None
        if dh is None:
            energy, mu = self.spectrum_energy(_eigvalsh(h))
            return Result(energy=energy, extras={"mu": mu})
        eps, psi = self.backend.eigh(h)
        energy, mu = self.spectrum_energy(eps)
        if self.n_electrons is not None and self.T == 0:
            # the energy's occupations share a partly filled degenerate level at μ equally; the T = 0 step at μ
            # would split it by round-off and by the arbitrary basis of the degenerate eigenvectors
            f, _ = fixed_n_occupations(eps, self.n_electrons, 0.0)
            f_out = density_matrix_forces((psi * f) @ psi.conj().T, dh)
        else:
            f_out = hellmann_feynman(eps, psi, mu, self.T, dh)
        f_out = f_out.reshape(np.shape(fields))
        return Result(energy=energy, forces=f_out, extras={"mu": mu})


class FalicovKimballCalculator(EDCalculator):
    """Exact c-electron energy of the spinless Falicov-Kimball model and ΔE of f-electron hops (spec ch2 §2).

    For f-occupations n the energy is E[n] = Σ ε f(ε − μ[n]) (``"internal"``, author default) or
    F[n] = Ω + μ N_c (``"free"``), with μ[n] fixed by Σ f = N_c = ``filling_c``·N.

    ``move_energies`` keeps the eigen-decomposition of the current configuration and scores each hop by the exact
    rank-2 update (``method="lowrank"``, :func:`latticeml.electrons.lowrank.fk_move_energies`, equal to full ED to
    ~1e-12, needs T > 0) or by one eigenvalue solve per hop (``method="full"``). ``commit`` updates the cache
    after an accepted hop (one full ``eigh``); with the Python backend the spectrum-only part of the rank-2 update
    (:class:`~latticeml.electrons.lowrank.FKMoveEnergies`) is also kept until the next acceptance.

    Parameters
    ----------
    lattice : square lattice (periodic)
    U : f-c interaction (default 2)
    filling_c : c-electron filling ρ_c, 0 < ρ_c < 1 (default 0.55)
    T : temperature of the Fermi function (default 0.05)
    t : nearest-neighbour hopping (default 1)
    energy_kind : ``"internal"`` or ``"free"``
    method : ``"lowrank"`` or ``"full"``
    backend : kernel backend name
    """

    field_kind = "occupation"

    def __init__(self, lattice, U: float = 2.0, filling_c: float = 0.55, T: float = 0.05, t: float = 1.0,
                 energy_kind: str = "internal", method: str = "lowrank", backend: str | None = None):
        if not 0 < filling_c < 1:
            raise ConfigError("filling_c", f"c-electron filling {filling_c} must lie strictly between 0 and 1")
        if energy_kind not in ENERGY_KINDS:
            raise ConfigError("energy_kind", f"{energy_kind!r} is not one of {', '.join(ENERGY_KINDS)}")
        if method not in ("lowrank", "full"):
            raise ConfigError("method", f"{method!r} is not 'lowrank' (exact rank-2 update) or 'full'")
        if method == "lowrank" and not T > 0:
            raise ConfigError("T", "the low-rank move energies need T > 0; use method='full' at T = 0")
        super().__init__(T, n_electrons=filling_c * lattice.N, energy_kind=energy_kind, backend=backend)
        self.lattice = lattice
        self.U, self.t, self.filling_c, self.method = float(U), float(t), float(filling_c), method
        self.metadata = {"model": "falicov_kimball", "U": self.U, "t": self.t, "filling_c": self.filling_c,
                         "n_c": self.n_electrons, "T": self.T, "energy_kind": energy_kind, "method": method,
                         "lattice": lattice.describe()}
        self._occ = None  # configuration of the cached h, spectrum, (eigenvectors) and energy
        self._h = self._eps = self._psi = None
        self._energy = self._mu = None
        self._hops = None  # Python backend: the per-configuration part of the rank-2 move energies, built lazily

    def hamiltonian(self, occ) -> np.ndarray:
        return fk_hamiltonian(self.lattice, occ, self.U, self.t)

    def compute(self, occ, *, forces: bool = True) -> Result:
        """Energy (and μ in ``extras``) of ``occ``; occupations have no forces (``forces`` is ignored)."""
        if self._cached(occ):
            return Result(energy=self._energy, extras={"mu": self._mu})
        return super().compute(occ, forces=False)

    # ------------------------------------------------------------------ kMC protocol
    def _cached(self, occ) -> bool:
        return self._occ is not None and np.array_equal(self._occ, np.asarray(occ) != 0)

    def _set_spectrum(self, eps, psi=None) -> None:
        self._eps, self._psi = eps, psi
        self._hops = None
        self._energy, self._mu = self.spectrum_energy(eps)

    def _diagonalize(self, h):
        """Eigenpairs for the low-rank update; the spectrum alone for re-diagonalization per move."""
        return self.backend.eigh(h) if self.method == "lowrank" else _eigenvalues_only(h)

    def reset(self, occ) -> None:
        self._occ = np.asarray(occ) != 0
        self._h = self.hamiltonian(self._occ)
        self._set_spectrum(*self._diagonalize(self._h))

    def _threads(self):
        """One BLAS thread for the python kMC kernels below N = SINGLE_THREAD_KMC_BELOW (crossover at 32², see
        :mod:`latticeml.backends.threads`)."""
        if self.backend.name != "python":
            return contextlib.nullcontext()
        return one_blas_thread_below(self.lattice.N, SINGLE_THREAD_KMC_BELOW)

    def move_energies(self, occ, moves) -> np.ndarray:
        """ΔE of each hop (i, j) in ``moves`` (M, 2) applied alone to ``occ``; +inf for a blocked hop."""
        with self._threads():
            return self._move_energies(occ, moves)

    def _move_energies(self, occ, moves) -> np.ndarray:
        if not self._cached(occ):
            self.reset(occ)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1, 2)
        if self.method == "lowrank" and self.backend.name == "python":
            # μ, poles and resolvent powers are shared by every hop tried before the next acceptance
            if self._hops is None:
                self._hops = FKMoveEnergies(self._eps, self._psi, self.U, self.n_electrons, self.T, self.energy_kind)
            return self._hops(self._occ, moves)
        if self.method == "lowrank":
            return self.backend.fk_move_energies(self._eps, self._psi, self._occ.astype(np.int8), moves, self.U,
                                                 self.n_electrons, self.T, self.energy_kind)
        out = np.full(len(moves), np.inf)
        for k, (i, j) in enumerate(moves):
            if self._occ[i] and not self._occ[j]:
                eps, _ = update_eigh_after_move(self._h.copy(), (i, j), self.U, eigh=_eigenvalues_only)
                out[k] = self.spectrum_energy(eps)[0] - self._energy
        return out

    def commit(self, occ_after, move) -> None:
        with self._threads():
            self._commit(occ_after, move)

    def _commit(self, occ_after, move) -> None:
        i, j = (int(s) for s in move)
        expected = None
        if self._occ is not None and self._occ[i] and not self._occ[j]:
            expected = self._occ.copy()
            expected[i], expected[j] = False, True
        if expected is None or not np.array_equal(expected, np.asarray(occ_after) != 0):
            self.reset(occ_after)  # the cache does not describe the state before this move
            return
        self._occ = expected
        self._set_spectrum(*update_eigh_after_move(self._h, (i, j), self.U, eigh=self._diagonalize))
