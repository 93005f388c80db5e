"""Chebyshev/KPM kernels against exact references."""
import numpy as np
import pytest
import scipy.linalg as sl
from numpy.polynomial import chebyshev as C
from scipy.special import expit

from latticeml.electrons import kpm
from latticeml.electrons.ed import spin_blocks
from latticeml.errors import ConfigError
from latticeml.lattice import triangular
from latticeml.models import sd

BOUNDS = sd.band_bounds()


def _fermi(x, mu, T):
    return expit(-(x - mu) / T)


def test_fermi_coefficients_reproduce_fermi_function():
    """Σ c_m T_m(x) → f(a x + b) exponentially (poles at μ ± iπT): max error ≈ 1e-3 at M = 1000 and ≈ 2e-6 at
    M = 2000 for T = 0.01 (no kernel)."""
    scale = kpm.spectral_scale(BOUNDS)
    a, b = scale
    x = np.linspace(-0.99, 0.99, 5001)
    exact = _fermi(a * x + b, -3.5, 0.01)
    err = {M: np.abs(C.chebval(x, kpm.fermi_chebyshev_coefficients(-3.5, 0.01, scale, M)) - exact).max()
           for M in (500, 1000, 2000)}
    assert err[500] > 1e-2 and err[1000] < 2e-3 and err[2000] < 5e-6


def test_step_function_coefficients_closed_form():
    """T = 0 closed form equals the T → 0 limit of the DCT coefficients."""
    scale = kpm.spectral_scale(BOUNDS)
    step = kpm.fermi_chebyshev_coefficients(-3.5, 0.0, scale, 64)
    cold = kpm.fermi_chebyshev_coefficients(-3.5, 1e-6, scale, 64, n_nodes=1 << 20)
    np.testing.assert_allclose(step, cold, atol=1e-5)


def test_jackson_kernel_keeps_step_within_bounds():
    """Jackson damping is a positive kernel: the damped step approximation stays inside [0, 1] (no Gibbs
    overshoot), while the plain truncation overshoots."""
    g = kpm.jackson_kernel(200)
    assert g[0] == pytest.approx(1.0) and np.all(np.diff(g) < 0) and g[-1] > 0
    scale = kpm.spectral_scale(BOUNDS)
    approx = C.chebval(np.linspace(-1, 1, 4001), g * kpm.fermi_chebyshev_coefficients(-3.5, 0.0, scale, 200))
    assert approx.min() > -1e-12 and approx.max() < 1 + 1e-12
    plain = C.chebval(np.linspace(-1, 1, 4001), kpm.fermi_chebyshev_coefficients(-3.5, 0.0, scale, 200))
    assert plain.max() > 1.05


def test_chebyshev_apply_equals_matrix_function():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 40))
    A = (A + A.T) / 4
    eps, psi = np.linalg.eigh(A)
    bounds = (eps[0] - 0.1, eps[-1] + 0.1)
    scale = kpm.spectral_scale(bounds)
    coeffs = kpm.fermi_chebyshev_coefficients(0.2, 0.3, scale, 200)
    V = rng.standard_normal((40, 3))
    exact = (psi * _fermi(eps, 0.2, 0.3)) @ psi.T @ V
    np.testing.assert_allclose(kpm.chebyshev_apply(A, V, coeffs, scale), exact, atol=1e-10)


@pytest.fixture(scope="module")
def small():
    lat = triangular(6)
    S = sd.random_spins(lat.N, 7)
    H = sd.sd_hamiltonian(lat, S)
    eps, psi = sl.eigh(H)
    return lat, S, H, spin_blocks(eps, psi, -3.5, 0.05)


def test_exact_blocks_match_ed_for_every_operator_form(small):
    """All 2N unit vectors (block-batched): KPM blocks equal the ED blocks; dense, CSR and stencil inputs agree."""
    lat, S, H, ref = small
    out = {}
    operators = {"dense": H, "csr": sd.sd_hamiltonian(lat, S, sparse=True), "stencil": sd.SDOperator(lat, S)}
    for name, op in operators.items():
        out[name] = kpm.kpm_spin_blocks(op, -3.5, 0.05, BOUNDS, 600, block_size=20)
    np.testing.assert_allclose(out["dense"], ref, atol=1e-7)
    np.testing.assert_allclose(out["csr"], out["dense"], atol=1e-12)
    np.testing.assert_allclose(out["stencil"], out["dense"], atol=1e-12)


def test_exact_blocks_of_chosen_sites(small):
    """Blocks of a few sites (in any order, across column blocks) equal the ED blocks of those sites."""
    lat, S, H, ref = small
    sites = np.array([30, 2, 17, 5, 33])
    part = kpm.kpm_spin_blocks(sd.sd_hamiltonian(lat, S, sparse=True), -3.5, 0.05, BOUNDS, 600, block_size=3,
                               sites=sites)
    assert part.shape == (5, 2, 2)
    np.testing.assert_allclose(part, ref[sites], atol=1e-7)
    with pytest.raises(ConfigError, match="sites"):
        kpm.kpm_spin_blocks(H, -3.5, 0.05, BOUNDS, 50, sites=[lat.N])
    with pytest.raises(ConfigError, match="sites"):
        kpm.kpm_spin_blocks(H, -3.5, 0.05, BOUNDS, 50, sites=[0], lattice_shape=lat.shape, probing_period=3)


def test_probing_is_exact_at_full_period_and_biased_below(small):
    lat, S, H, ref = small
    full = kpm.kpm_spin_blocks(H, -3.5, 0.05, BOUNDS, 600, lattice_shape=lat.shape, probing_period=6)
    np.testing.assert_allclose(full, ref, atol=1e-7)
    coarse = kpm.kpm_spin_blocks(H, -3.5, 0.05, BOUNDS, 600, lattice_shape=lat.shape, probing_period=3)
    # the probing estimate is Σ_j F_ij over the sites j of i's colour: check it against the dense f(𝐇)
    eps, psi = sl.eigh(H)
    F = (psi * _fermi(eps, -3.5, 0.05)) @ psi.conj().T
    colour = (lat.cells[:, 0] % 3) * 3 + lat.cells[:, 1] % 3
    same = (colour[:, None] == colour[None, :]).astype(float)
    expected = np.einsum("ij,iajb->iab", same, F.reshape(lat.N, 2, lat.N, 2))
    np.testing.assert_allclose(coarse, expected, atol=1e-7)
    assert np.linalg.norm(coarse - ref) / np.linalg.norm(ref) > 1e-2  # a real bias at short period
    with pytest.raises(ConfigError):
        kpm.probing_vectors(lat.shape, 4)


def test_jackson_kernel_converges_more_slowly(small):
    """For a smooth Fermi function the undamped series is the more accurate (spec §3)."""
    lat, S, H, ref = small
    plain = kpm.kpm_spin_blocks(H, -3.5, 0.05, BOUNDS, 300)
    damped = kpm.kpm_spin_blocks(H, -3.5, 0.05, BOUNDS, 300, kernel="jackson")
    assert np.abs(plain - ref).max() < np.abs(damped - ref).max()


def test_chebyshev_filter_damps_the_upper_interval():
    eps = np.linspace(-1.0, 5.0, 61)
    H = np.diag(eps)
    Y = kpm.chebyshev_filter(H, np.eye(61), degree=12, cut=1.0, upper=5.0, lowest=-1.0)
    gain = np.abs(np.diag(Y))
    assert gain[0] == pytest.approx(1.0)  # scaled so that p(lowest) = 1
    assert np.all(gain[eps > 1.0 + 1e-9] <= gain[eps < 1.0 - 1e-9].min())
    assert gain[eps > 1.0].max() < 1e-3


def test_numba_matmat_equals_scipy():
    lat = triangular(24)
    H = sd.sd_hamiltonian(lat, sd.random_spins(lat.N, 1), sparse=True)
    V = np.random.default_rng(2).standard_normal((H.shape[0], 1024)) + 0.5j
    np.testing.assert_allclose(kpm.matmat(H, V), H @ V, atol=1e-12)


def test_fused_filter_kernel_equals_numpy_path():
    """The fused numba step (large CSR blocks) and the plain numpy recurrence give the same filtered block."""
    lat = triangular(24)
    H = sd.sd_hamiltonian(lat, sd.random_spins(lat.N, 3), sparse=True)
    X = np.linalg.qr(np.random.default_rng(4).standard_normal((H.shape[0], 1024)) + 0j)[0]
    fused = kpm.chebyshev_filter(H, X, 4, cut=-3.0, upper=BOUNDS[1], lowest=BOUNDS[0])
    plain = kpm.chebyshev_filter(sd.SDOperator(lat, sd.random_spins(lat.N, 3)), X, 4, cut=-3.0, upper=BOUNDS[1],
                                 lowest=BOUNDS[0])
    np.testing.assert_allclose(fused, plain, atol=1e-10)
