"""The s-d (Kondo-lattice) model of chapter 3: itinerant electrons on the periodic triangular lattice, coupled to
classical unit spins.

.. math::

    H = -\\sum_{i\\neq j,\\alpha} t_{ij} c^\\dagger_{i\\alpha} c_{j\\alpha}
        - J \\sum_i \\mathbf S_i\\cdot(c^\\dagger_i \\boldsymbol\\sigma c_i) - \\mu \\hat N,

with t1 on the nearest-neighbour shell (|r| = 1), t3 on the third shell (|r| = 2, twice the nn offsets) and t2 = 0.
The hopping enters with a **minus** sign (spec §2, "hopping-sign flag"): with t1 = 1, t3 = -0.85 the band is
ε_k = -2 t1 Σ_ν cos(k·δ_ν) - 2 t3 Σ_ν cos(2 k·δ_ν) and the bare susceptibility peaks at the six ±Q_η, |Q| = π/3.

Single-particle matrix (2N×2N, orbital index ``2*i + spin``, spin 0 = up):
𝐇_{iα,jβ} = -t_ij δ_αβ - J δ_ij (S_i·σ)_αβ, with S·σ = [[S^z, S^x - iS^y], [S^x + iS^y, -S^z]].
Site order is that of :func:`latticeml.lattice.triangular` (site = n1*L2 + n2).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = [
    "NN_OFFSETS", "THIRD_OFFSETS", "ORDERING_VECTORS", "check_triangular", "hopping_matrix", "onsite_blocks",
    "sd_hamiltonian", "SDOperator", "band_energies", "band_bounds", "momentum_grid", "fold_to_bz",
    "bare_susceptibility", "random_spins", "skyrmion_lattice", "perturbed_skyrmion_lattice", "random_frame",
]

#: nearest-neighbour cell offsets (Δn1, Δn2), |r| = 1
NN_OFFSETS = np.array([(1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1)])
#: third-neighbour offsets, |r| = 2: twice the nn offsets
THIRD_OFFSETS = 2 * NN_OFFSETS
#: the three ordering vectors Q_η (Cartesian), |Q| = π/3 along Γ-K
ORDERING_VECTORS = np.array([[np.pi / 3 * np.cos(a), np.pi / 3 * np.sin(a)] for a in (0, 2 * np.pi / 3,
                                                                                     -2 * np.pi / 3)])
_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex)


def check_triangular(lattice, what: str = "the s-d model", *, field: str = "lattice",
                     fix: str = "use latticeml.lattice.triangular(L)") -> None:
    """Raise ConfigError naming ``field`` unless ``lattice`` is a periodic one-atom triangular lattice; the message
    says that ``what`` needs one and how to ``fix`` it (config checks pass their own field and fix)."""
    if getattr(lattice, "name", None) != "triangular" or getattr(lattice, "n_basis", 1) != 1:
        raise ConfigError(field, f"{what} lives on the one-atom triangular lattice, got {lattice!r}; {fix}")


def _shifted_sites(lattice, offset) -> np.ndarray:
    return lattice.site_index(lattice.cells + np.asarray(offset))


def hopping_matrix(lattice, t1: float = 1.0, t3: float = -0.85, *, sparse: bool = False, twist=None):
    """Spin-independent hopping block h (N×N): h_ij = -t_ij (periodic images add up on tiny tori); real unless
    ``twist`` is given.

    ``twist = (θ1, θ2)`` imposes Bloch boundary conditions ψ(r + L_μ a_μ) = e^{iθ_μ} ψ(r): a bond that leaves the
    torus through the boundary μ picks up e^{iθ_μ} per crossing. Averaging over the k² twists θ = 2π(m1, m2)/k
    gives the observables of the kL1×kL2 torus that holds k×k copies of the L1×L2 configuration (Bloch's theorem),
    at k² small diagonalisations instead of one of a k²-times larger matrix.
    """
    check_triangular(lattice)
    import scipy.sparse as sp

    N = lattice.N
    rows, cols, vals = [], [], []
    for offsets, t in ((NN_OFFSETS, t1), (THIRD_OFFSETS, t3)):
        if t == 0:
            continue
        for off in offsets:
            rows.append(np.arange(N))
            cols.append(_shifted_sites(lattice, off))
            if twist is None:
                vals.append(np.full(N, -float(t)))
            else:  # boundary crossings of each bond times the twist angles
                wraps = np.floor_divide(lattice.cells + np.asarray(off), np.asarray(lattice.shape))
                vals.append(-float(t) * np.exp(1j * (wraps @ np.asarray(twist, dtype=float))))
    h = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N)).tocsr()
    return h if sparse else h.toarray()


def onsite_blocks(spins: np.ndarray, J: float = 1.0) -> np.ndarray:
    """On-site 2×2 blocks -J S_i·σ, shape (N, 2, 2) complex."""
    spins = np.asarray(spins, dtype=float)
    return -J * np.einsum("ia,abc->ibc", spins, _PAULI)


def sd_hamiltonian(lattice, spins, t1: float = 1.0, t3: float = -0.85, J: float = 1.0, *, sparse: bool = False,
                   twist=None):
    """Single-particle s-d matrix 𝐇 (2N×2N complex Hermitian), dense or scipy CSR.

    ``spins`` (N, 3); orbital index ``2*i + spin``. The chemical potential is not included (grand canonical μ is
    applied by the Fermi function). ``twist``: Bloch boundary phases, see :func:`hopping_matrix`.
    """
    import scipy.sparse as sp

    spins = np.asarray(spins, dtype=float)
    if spins.shape != (lattice.N, 3):
        raise ConfigError("spins", f"expected shape ({lattice.N}, 3), got {spins.shape}")
    hop = sp.kron(hopping_matrix(lattice, t1, t3, sparse=True, twist=twist), sp.identity(2), format="csr")
    onsite = sp.block_diag(list(onsite_blocks(spins, J)), format="csr")
    H = (hop + onsite).tocsr().astype(complex)
    return H if sparse else H.toarray()


class SDOperator:
    """Matrix-free s-d Hamiltonian as a stencil on (L1, L2, 2, ...) arrays.

    ``op @ V`` for V of shape (2N,) or (2N, B) computes 𝐇V with 12 periodic shifts (nn and third-neighbour
    hopping) plus one 2×2 on-site product per site, batched over the trailing vector axis. This is what KPM and
    Chebyshev filtering need; :meth:`to_sparse` gives the same matrix in CSR form (usually faster with scipy).
    """

    def __init__(self, lattice, spins, t1: float = 1.0, t3: float = -0.85, J: float = 1.0):
        check_triangular(lattice)
        self.lattice, self.t1, self.t3, self.J = lattice, float(t1), float(t3), float(J)
        self.spins = np.asarray(spins, dtype=float)
        self.shape = (2 * lattice.N, 2 * lattice.N)
        self.dtype = np.dtype(complex)
        self._onsite = lattice.to_image(onsite_blocks(self.spins, self.J))  # (L1, L2, 2, 2)

    def __matmul__(self, V):
        V = np.asarray(V)
        L1, L2 = self.lattice.shape
        img = V.reshape((L1, L2, 2) + V.shape[1:])
        out = np.einsum("xyab,xyb...->xya...", self._onsite, img)
        for offsets, t in ((NN_OFFSETS, self.t1), (THIRD_OFFSETS, self.t3)):
            if t == 0:
                continue
            acc = np.zeros_like(out)
            for d1, d2 in offsets:
                # (𝐇v)(r) gets v(r + δ): rolling by -δ brings site r+δ to position r
                acc += np.roll(img, shift=(-d1, -d2), axis=(0, 1))
            out -= t * acc
        return out.reshape(V.shape)

    def to_sparse(self):
        """The same operator as a scipy CSR matrix."""
        return sd_hamiltonian(self.lattice, self.spins, self.t1, self.t3, self.J, sparse=True)


# ---------------------------------------------------------------------------------------------- band structure
_DELTAS = np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2], [-0.5, np.sqrt(3) / 2]])  # a1, a2, a2 - a1


def band_energies(k: np.ndarray, t1: float = 1.0, t3: float = -0.85) -> np.ndarray:
    """Free (J = 0) band ε_k = -2 t1 Σ_ν cos(k·δ_ν) - 2 t3 Σ_ν cos(2 k·δ_ν) for Cartesian momenta k (..., 2)."""
    kd = np.asarray(k, dtype=float) @ _DELTAS.T
    return -2 * t1 * np.cos(kd).sum(-1) - 2 * t3 * np.cos(2 * kd).sum(-1)


def momentum_grid(L1: int, L2: int | None = None) -> np.ndarray:
    """Allowed momenta q = (m b1 + n b2)/L of the periodic L1×L2 torus, shape (L1, L2, 2), index (m, n).

    With b1 = 2π(1, -1/√3), b2 = 2π(0, 2/√3): q·r = 2π(m n1/L1 + n n2/L2), so ``np.fft.fft2`` over the (n1, n2)
    image returns the sum at exactly these momenta (up to the sign convention of the exponent).
    """
    L2 = L1 if L2 is None else L2
    b1 = 2 * np.pi * np.array([1.0, -1 / np.sqrt(3)])
    b2 = 2 * np.pi * np.array([0.0, 2 / np.sqrt(3)])
    m = np.arange(L1)[:, None, None] / L1
    n = np.arange(L2)[None, :, None] / L2
    return m * b1 + n * b2


def fold_to_bz(q: np.ndarray) -> np.ndarray:
    """Equivalent momenta in the first Brillouin zone (the shortest q + G over reciprocal vectors G), (..., 2)."""
    q = np.asarray(q, dtype=float)
    b1 = 2 * np.pi * np.array([1.0, -1 / np.sqrt(3)])
    b2 = 2 * np.pi * np.array([0.0, 2 / np.sqrt(3)])
    # reduce to the unit cell of the reciprocal lattice first, then test the nearby images
    frac = q @ np.linalg.inv(np.stack([b1, b2]))
    base = (frac - np.floor(frac)) @ np.stack([b1, b2])
    shifts = np.array([(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ np.stack([b1, b2])
    cand = base[..., None, :] - shifts  # (..., 9, 2)
    best = np.argmin(np.linalg.norm(cand, axis=-1), axis=-1)
    return np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]


def band_bounds(t1: float = 1.0, t3: float = -0.85, J: float = 1.0, n_grid: int = 240) -> tuple[float, float]:
    """Rigorous spectral bounds of 𝐇 for any unit spins: [min ε_k - |J|, max ε_k + |J|] (Weyl), from a fine k-grid
    refined by a local search and padded by 1e-3."""
    from scipy.optimize import minimize

    grid = momentum_grid(n_grid).reshape(-1, 2)
    eps = band_energies(grid, t1, t3)
    lo = minimize(lambda k: band_energies(k, t1, t3), grid[np.argmin(eps)]).fun
    hi = -minimize(lambda k: -band_energies(k, t1, t3), grid[np.argmax(eps)]).fun
    return float(min(lo, eps.min()) - abs(J) - 1e-3), float(max(hi, eps.max()) + abs(J) + 1e-3)


def bare_susceptibility(L: int, mu: float = -3.5, T: float = 0.02, t1: float = 1.0, t3: float = -0.85,
                        k_refine: int = 8) -> np.ndarray:
    """Bare (Lindhard) susceptibility χ0(q) = (1/N_k) Σ_k [f(ε_k) - f(ε_{k+q})]/(ε_{k+q} - ε_k) of the J = 0 band.

    q runs over the momentum grid of the L×L torus (index (m, n) as in :func:`momentum_grid`); the k-sum uses a
    commensurate (k_refine·L)² grid so that k + q stays on it. Degenerate pairs use -f'(ε). Returns (L, L).
    """
    from scipy.special import expit

    nk = k_refine * L
    eps = band_energies(momentum_grid(nk), t1, t3)
    f = expit(-(eps - mu) / T)
    chi = np.empty((L, L))
    for m in range(L):
        for n in range(L):
            eq = np.roll(eps, shift=(-m * k_refine, -n * k_refine), axis=(0, 1))
            fq = np.roll(f, shift=(-m * k_refine, -n * k_refine), axis=(0, 1))
            de = eq - eps
            small = np.abs(de) < 1e-9
            ratio = np.where(small, f * (1 - f) / T, (f - fq) / np.where(small, 1.0, de))
            chi[m, n] = ratio.mean()
    return chi


# ---------------------------------------------------------------------------------------------- spin states
def random_spins(N: int, rng=None) -> np.ndarray:
    """N unit vectors uniform on the sphere, (N, 3)."""
    rng = np.random.default_rng(rng)
    v = rng.standard_normal((N, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def random_frame(rng=None) -> np.ndarray:
    """A uniformly random rotation matrix (rows ê1, ê2, ê3 form a right-handed orthonormal frame)."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=np.random.default_rng(rng)).as_matrix().T


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ConfigError("skyrmion_lattice", "the ansatz vanishes at a site (φ = 0 with M = 0 is singular); "
                                              "use φ ≠ 0 or M ≠ 0")
    return v / norm


def skyrmion_lattice(lattice, A: float = 0.7, M: float = 0.0, phi: float = np.pi / 2, frame=None,
                     origin=(0.0, 0.0)) -> np.ndarray:
    """Triple-Q skyrmion-lattice ansatz (Eq. 3.21 with the "-½cos Q_3i" reading), unit spins (N, 3).

    S_i ∝ (cos Q1i - ½cos Q2i - ½cos Q3i) ê1 + (√3/2)(cos Q2i - cos Q3i) ê2 + [A Σ_η sin(Q_ηi + φ) + M] ê3,
    Q_ηi = Q_η·(r_i - origin). ``A``, ``M``, ``phi`` may be scalars or per-site arrays (N,). ``frame`` (3×3, rows
    ê1..ê3) defaults to the identity. Commensurate (a perfect SkL) when L ≡ 0 mod 12; charge per 48 sites
    -1 for (A, M, φ) = (0.5, 0, π/4), -2 for (0.7, 0, π/2) (spec §5).
    """
    check_triangular(lattice, "the skyrmion-lattice ansatz")
    phase = (lattice.positions - np.asarray(origin)) @ ORDERING_VECTORS.T  # (N, 3)
    c = np.cos(phase)
    s = np.sin(phase + np.asarray(phi)[..., None])
    comp = np.stack([c[:, 0] - 0.5 * c[:, 1] - 0.5 * c[:, 2],
                     np.sqrt(3) / 2 * (c[:, 1] - c[:, 2]),
                     np.asarray(A) * s.sum(1) + np.asarray(M)], axis=1)
    frame = np.eye(3) if frame is None else np.asarray(frame, dtype=float)
    return _normalise(comp @ frame)


def perturbed_skyrmion_lattice(lattice, rng=None, A0: float = 0.7, phi0: float = np.pi / 2, d_phi: float = 0.5,
                               d_A: float = 0.3, d_m: float = 0.2, random_orientation: bool = True) -> np.ndarray:
    """Skyrmion-lattice ansatz with site-dependent random φ_i, A_i, m_i (spec §5 default amplitudes).

    φ_i = φ0 + U(±d_phi), A_i = A0 (1 + U(±d_A)), m_i = U(±d_m), and a random orthonormal frame when
    ``random_orientation``.
    """
    rng = np.random.default_rng(rng)
    N = lattice.N
    phi = phi0 + rng.uniform(-d_phi, d_phi, N)
    A = A0 * (1 + rng.uniform(-d_A, d_A, N))
    m = rng.uniform(-d_m, d_m, N)
    frame = random_frame(rng) if random_orientation else None
    return skyrmion_lattice(lattice, A=A, M=m, phi=phi, frame=frame)
