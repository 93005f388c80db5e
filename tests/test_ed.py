"""Exact-diagonalization kernels: band structure, Fermi statistics at fixed N / fixed μ, thermodynamic identities,
Hellmann-Feynman forces and density-matrix blocks, all against analytic references or finite differences."""
import numpy as np
import pytest
import scipy.sparse

from latticeml.calculators.exact import EDCalculator
from latticeml.electrons import ed
from latticeml.lattice import square
from latticeml.models.falicov_kimball import fk_hamiltonian


def _random_hermitian(n, rng, complex_=True):
    a = rng.normal(size=(n, n)) + (1j * rng.normal(size=(n, n)) if complex_ else 0)
    return (a + a.conj().T) / 2


@pytest.mark.parametrize("L", [5, 6])
def test_clean_square_lattice_band_structure(L):
    k = 2 * np.pi * np.arange(L) / L
    exact = np.sort((-2 * (np.cos(k)[:, None] + np.cos(k)[None, :])).ravel())
    eps, psi = ed.eigh(fk_hamiltonian(square(L), np.zeros(L * L), U=0.0))
    np.testing.assert_allclose(eps, exact, atol=1e-12)
    np.testing.assert_allclose(psi.T @ psi, np.eye(L * L), atol=1e-12)


def test_eigh_accepts_sparse():
    h = square(4).adjacency(1, sparse=True)
    np.testing.assert_allclose(ed.eigh(h)[0], ed.eigh(h.toarray())[0], atol=1e-13)


def test_fermi_is_overflow_safe_and_has_a_step_at_zero_temperature():
    eps = np.array([-1e3, -1.0, 0.0, 1.0, 1e3])
    with np.errstate(all="raise"):
        f = ed.fermi(eps, 0.0, 1e-6)
    np.testing.assert_array_equal(f, [1.0, 1.0, 0.5, 0.0, 0.0])
    np.testing.assert_array_equal(ed.fermi(eps, 0.0, 0.0), [1.0, 1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(ed.fermi(np.array([0.3]), 0.1, 0.2), 1 / (np.exp(1.0) + 1), rtol=1e-14)


@pytest.mark.parametrize("T", [1e-3, 0.05, 1.0])
def test_particle_number_sum_rule_on_degenerate_spectrum(T):
    lat = square(8)
    eps = ed.eigh(fk_hamiltonian(lat, np.zeros(lat.N), U=0.0))[0]  # highly degenerate clean band
    for n in (0.55 * lat.N, 32.0, 1.5, 62.7):
        mu = ed.chemical_potential(eps, n, T)
        assert abs(ed.fermi(eps, mu, T).sum() - n) < 1e-10


def test_fixed_mu_and_fixed_n_are_consistent():
    rng = np.random.default_rng(1)
    eps = np.sort(rng.normal(size=200))
    for mu in (-1.0, 0.1, 0.7):
        for T in (0.01, 0.3):
            n = ed.fermi(eps, mu, T).sum()
            assert abs(ed.chemical_potential(eps, n, T) - mu) < 1e-10


@pytest.mark.parametrize("n", [0.0, 1e-13, 4.0 - 1e-13, 4.0])
@pytest.mark.parametrize("T", [0.0, 0.1])
def test_chemical_potential_rejects_impossible_filling(n, T):
    with pytest.raises(ValueError, match="strictly between"):  # near-empty/full fillings indexed past the spectrum
        ed.chemical_potential(np.arange(4.0), n, T)


def test_zero_temperature_limits():
    eps = np.array([-2.0, -1.0, -1.0, 0.5, 0.5, 0.5, 3.0])
    # filled shell: mid-gap at T = 0, and the finite-T μ tends to it (equal degeneracy 1 | 3 would shift it by
    # T·ln3/2, so use the filled shell between the doubly degenerate -1 and the triple 0.5 levels: shift T·ln(2/3)/2)
    assert ed.chemical_potential(eps, 3.0, 0.0) == pytest.approx(-0.25)
    T = 1e-3
    assert ed.chemical_potential(eps, 3.0, T) == pytest.approx(-0.25 + 0.5 * T * np.log(2 / 3), abs=1e-9)
    # partly filled degenerate level: μ sits on it, the fraction is shared equally (T → 0 limit of finite T)
    f0, mu0 = ed.fixed_n_occupations(eps, 4.2, 0.0)
    assert mu0 == 0.5 and f0.sum() == pytest.approx(4.2, abs=1e-14)
    np.testing.assert_allclose(f0, [1, 1, 1, 0.4, 0.4, 0.4, 0], atol=1e-14)
    f_small, _ = ed.fixed_n_occupations(eps, 4.2, 1e-3)
    np.testing.assert_allclose(f_small, f0, atol=1e-9)
    # band energy and free energy tend to the sum of the lowest levels; the grand potential to Σ_{ε<μ}(ε − μ)
    mu = ed.chemical_potential(eps, 3.0, 1e-4)
    assert ed.band_energy(eps, mu, 1e-4) == pytest.approx(-4.0, abs=1e-10)
    assert ed.free_energy(eps, mu, 1e-4) == pytest.approx(-4.0, abs=1e-4)
    assert ed.grand_potential(eps, -0.25, 0.0) == pytest.approx(-4.0 + 3 * 0.25)


def test_thermodynamic_identities():
    rng = np.random.default_rng(2)
    eps = np.sort(rng.uniform(-4, 4, size=100))
    T, mu, d = 0.2, 0.3, 1e-5
    n = ed.fermi(eps, mu, T).sum()
    # dΩ/dμ = −N
    dOmega = (ed.grand_potential(eps, mu + d, T) - ed.grand_potential(eps, mu - d, T)) / (2 * d)
    assert dOmega == pytest.approx(-n, rel=1e-8)
    # F = E − TS with the Fermi entropy S = −Σ [f ln f + (1−f) ln(1−f)]
    f = ed.fermi(eps, mu, T)
    S = -np.sum(f * np.log(f) + (1 - f) * np.log1p(-f))
    assert ed.free_energy(eps, mu, T) == pytest.approx(ed.band_energy(eps, mu, T) - T * S, abs=1e-10)
    # dF/dN = μ at fixed N
    F = [ed.free_energy(eps, ed.chemical_potential(eps, n + s, T), T) for s in (d, -d)]
    assert (F[0] - F[1]) / (2 * d) == pytest.approx(mu, abs=1e-7)


def test_hellmann_feynman_matches_finite_differences():
    rng = np.random.default_rng(3)
    n, T, mu, d = 12, 0.3, 0.2, 1e-5
    h0 = _random_hermitian(n, rng)
    dH = [_random_hermitian(n, rng) for _ in range(3)]
    x = rng.normal(size=3)

    def h_of(x):
        return h0 + sum(xk * Hk for xk, Hk in zip(x, dH))

    eps, psi = ed.eigh(h_of(x))
    forces = ed.hellmann_feynman(eps, psi, mu, T, dH)
    sparse_forces = ed.hellmann_feynman(eps, psi, mu, T, [scipy.sparse.csr_matrix(a) for a in dH])
    np.testing.assert_allclose(sparse_forces, forces, atol=1e-13)
    for k in range(3):
        e = np.eye(3)[k] * d
        omega = [ed.grand_potential(ed.eigh(h_of(x + s * e))[0], mu, T) for s in (1, -1)]
        assert forces[k] == pytest.approx(-(omega[0] - omega[1]) / (2 * d), abs=1e-8)
    # at fixed N the same forces are −∂F/∂x (F is stationary in μ)
    n_el = ed.fermi(eps, mu, T).sum()

    def free(x):
        e = ed.eigh(h_of(x))[0]
        return ed.free_energy(e, ed.chemical_potential(e, n_el, T), T)

    assert forces[0] == pytest.approx(-(free(x + [d, 0, 0]) - free(x - [d, 0, 0])) / (2 * d), abs=1e-8)


def test_density_matrix_is_the_fermi_function_of_h():
    rng = np.random.default_rng(4)
    h = _random_hermitian(10, rng)
    eps, psi = ed.eigh(h)
    rho = ed.density_matrix(eps, psi, 0.1, 0.0)
    # T = 0 with μ in a gap: a projector with trace N(μ), commuting with h
    np.testing.assert_allclose(rho @ rho, rho, atol=1e-12)
    assert np.trace(rho).real == pytest.approx(np.sum(eps < 0.1))
    np.testing.assert_allclose(rho @ h, h @ rho, atol=1e-12)


def test_spin_blocks_are_the_site_blocks_of_the_density_matrix():
    rng = np.random.default_rng(5)
    n_sites = 6
    eps, psi = ed.eigh(_random_hermitian(2 * n_sites, rng))
    rho = ed.density_matrix(eps, psi, 0.2, 0.4)
    blocks = ed.spin_blocks(eps, psi, 0.2, 0.4)
    expected = rho.reshape(n_sites, 2, n_sites, 2)[np.arange(n_sites), :, np.arange(n_sites), :]
    np.testing.assert_allclose(blocks, expected, atol=1e-13)
    assert blocks.shape == (n_sites, 2, 2) and blocks.dtype == complex


class _LinearModel(EDCalculator):
    """h(x) = h0 + Σ x_k H_k, a test model for the generic ED calculator."""

    field_kind = "displacement"

    def __init__(self, h0, dH, **kw):
        super().__init__(**kw)
        self.h0, self.dH = h0, dH

    def hamiltonian(self, x):
        return self.h0 + sum(xk * Hk for xk, Hk in zip(x, self.dH))

    def hamiltonian_derivatives(self, x):
        return self.dH


@pytest.mark.parametrize("kind", ["free", "grand"])
def test_ed_calculator_forces_are_energy_gradients(kind):
    rng = np.random.default_rng(6)
    h0, dH = _random_hermitian(10, rng, complex_=False), [_random_hermitian(10, rng, False) for _ in range(2)]
    fill = {"n_electrons": 4.3} if kind == "free" else {"mu": 0.1}
    calc = _LinearModel(h0, dH, T=0.2, energy_kind=kind, **fill)
    x, d = np.array([0.3, -0.2]), 1e-5
    res = calc.compute(x)
    for k in range(2):
        e = np.eye(2)[k] * d
        assert res.forces[k] == pytest.approx(-(calc.energy(x + e) - calc.energy(x - e)) / (2 * d), abs=1e-8)


@pytest.mark.parametrize("n", [1.5, 2.5])
def test_zero_temperature_fixed_n_forces_share_a_degenerate_level_equally(n):
    """4-site ring h = −A + diag(x) at x = 0: levels −2, 0, 0, 2 with the 0 pair partly filled. Translation symmetry
    makes every on-site force −n/4 (= −∂E/∂x_k), and a uniform shift gives Σ forces = −n. The step function at μ
    would fill the degenerate pair by round-off and eigenvector basis (−0.75 / −0.50 alternating before the fix)."""
    ring = -(np.eye(4, k=1) + np.eye(4, k=-1) + np.eye(4, k=3) + np.eye(4, k=-3))
    calc = _LinearModel(ring, [np.diag(np.eye(4)[k]) for k in range(4)], T=0.0, n_electrons=n, energy_kind="free")
    np.testing.assert_allclose(calc.compute(np.zeros(4)).forces, -n / 4, atol=1e-12)
