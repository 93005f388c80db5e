"""Spin-texture observables: structure factor, peak order, width/length, chirality and skyrmion charge."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from latticeml.analysis import spin as sa
from latticeml.lattice import triangular
from latticeml.models import sd


@pytest.fixture(scope="module")
def lat():
    return triangular(24)


def _spiral(lattice, Q):
    phase = lattice.positions @ Q
    return np.stack([np.cos(phase), np.sin(phase), np.zeros_like(phase)], 1)


def test_structure_factor_sum_rule_and_direct_sum(lat):
    """Σ_q S(q) = N for unit spins; the FFT equals (1/N)|Σ_i S_i e^{iq·r_i}|² summed directly."""
    S = sd.random_spins(lat.N, 0)
    sq = sa.structure_factor(lat, S)
    assert sq.sum() == pytest.approx(lat.N, rel=1e-12)
    q = sd.momentum_grid(24)
    for m, n in [(0, 0), (4, 2), (7, 19), (23, 1)]:
        amp = np.exp(1j * lat.positions @ q[m, n]) @ S
        assert sq[m, n] == pytest.approx(np.sum(np.abs(amp) ** 2) / lat.N, rel=1e-10)


def test_structure_factor_of_ordered_states(lat):
    fm = np.tile([0.0, 0.0, 1.0], (lat.N, 1))
    sq = sa.structure_factor(lat, fm)
    assert sq[0, 0] == pytest.approx(lat.N) and np.abs(sq).sum() == pytest.approx(lat.N)
    spiral = _spiral(lat, sd.ORDERING_VECTORS[0])
    sq = sa.structure_factor(lat, spiral)
    # grid index of Q1 = L(1/6, 1/12); the spiral puts N/2 on +Q1 and N/2 on -Q1
    assert sq[4, 2] == pytest.approx(lat.N / 2) and sq[-4, -2] == pytest.approx(lat.N / 2)
    assert sa.peak_order(lat, sq) == pytest.approx(lat.N / 6)  # two of the six peaks lit
    batch = sa.structure_factor(lat, np.stack([fm, spiral]))
    np.testing.assert_allclose(batch, (sa.structure_factor(lat, fm) + sq) / 2, atol=1e-10)


def test_structure_factor_invariant_under_spin_rotation_and_translation(lat):
    S = sd.perturbed_skyrmion_lattice(lat, rng=1)
    R = Rotation.random(random_state=2).as_matrix()
    ref = sa.structure_factor(lat, S)
    np.testing.assert_allclose(sa.structure_factor(lat, S @ R.T), ref, atol=1e-9)
    perm = lat.translation_permutation((5, 7))
    moved = np.empty_like(S)
    moved[perm] = S
    np.testing.assert_allclose(sa.structure_factor(lat, moved), ref, atol=1e-9)


def test_gamma_k_m_path(lat):
    sq = sa.structure_factor(lat, sd.skyrmion_lattice(lat))
    qx, vals, ticks = sa.structure_factor_path(lat, sq)
    assert len(qx) == 13 and qx[-1] == pytest.approx(ticks["M"]) and qx[8] == pytest.approx(ticks["K"])
    assert vals[2] == pytest.approx(sq[4, 2])  # Q1 = (π/3, 0) is the point k = L/12
    assert np.argmax(vals[1:]) + 1 == 2


@pytest.mark.parametrize("A,M,phi,charge", [(0.5, 0.0, np.pi / 4, -1), (0.7, 0.0, np.pi / 2, -2),
                                            (0.7, -0.3, 0.0, 1)])
def test_skyrmion_charge_of_ansatz(A, M, phi, charge):
    """Charge per 48-site SkL cell of the ansatz (spec §5): -1, -2, +1; 48² holds 48 cells."""
    lat = triangular(48)
    S = sd.skyrmion_lattice(lat, A=A, M=M, phi=phi)
    assert sa.skyrmion_charge(lat, S) == pytest.approx(charge * lat.N / 48, abs=1e-9)
    sq = sa.structure_factor(lat, S)
    assert 290 < sa.peak_order(lat, sq) < 370  # S(Q_η) on 48² (spec §5)


def test_skyrmion_charge_is_integer_and_rotation_invariant(lat):
    S = sd.random_spins(lat.N, 5)
    q = sa.skyrmion_charge(lat, S)
    assert q == pytest.approx(round(q), abs=1e-9)
    R = Rotation.random(random_state=3).as_matrix()
    assert sa.skyrmion_charge(lat, S @ R.T) == pytest.approx(q, abs=1e-9)
    assert sa.skyrmion_charge(lat, -S) == pytest.approx(-q, abs=1e-9)  # χ is odd under S → -S
    assert sa.skyrmion_charge(lat, S, per_triangle=True).shape == (2 * lat.N,)


def test_chirality_orientation():
    """Up triangle (r, r+a1, r+a2) is counter-clockwise: spins x, y, z there give χ = +1."""
    lat = triangular(4)
    S = np.tile([0.0, 0.0, 1.0], (lat.N, 1))
    S[lat.site_index([0, 0])] = [1, 0, 0]
    S[lat.site_index([1, 0])] = [0, 1, 0]
    chi = sa.triangle_chirality(lat, S)
    assert chi[0] == pytest.approx(1.0)
    pos = lat.positions
    for tri in (sa._triangles(lat)[0], sa._triangles(lat)[lat.N]):
        a, b, c = pos[tri]
        assert (b - a)[0] * (c - a)[1] - (b - a)[1] * (c - a)[0] > 0


def test_characteristic_length(lat):
    perfect = sa.structure_factor(lat, sd.skyrmion_lattice(lat))
    dk, length = sa.characteristic_length(lat, perfect)
    assert dk < 1e-10 and np.isinf(length)
    # weight 3 on Q1 = grid (4, 2), weight 1 one grid step away, weight far from every peak ignored
    sq = np.zeros((24, 24))
    sq[4, 2], sq[5, 2], sq[0, 0] = 3.0, 1.0, 100.0
    step = np.linalg.norm(sd.momentum_grid(24)[1, 0])
    dk2, length2 = sa.characteristic_length(lat, sq)
    assert dk2 == pytest.approx(step / 4) and length2 == pytest.approx(8 * np.pi / step)


def test_transverse_component():
    rng = np.random.default_rng(0)
    S = sd.random_spins(10, rng)
    H = rng.standard_normal((10, 3))
    perp = sa.transverse_component(S, H)
    np.testing.assert_allclose(np.einsum("ia,ia->i", perp, S), 0, atol=1e-14)
    np.testing.assert_allclose(perp + sa.parallel_component(S, H)[:, None] * S, H, atol=1e-14)


def test_bz_geometry(lat):
    q = sa.bz_momenta(lat).reshape(-1, 2)
    assert np.linalg.norm(q, axis=1).max() <= 4 * np.pi / 3 + 1e-9  # inside the hexagon's circumcircle
    corners = sa.bz_hexagon()
    assert corners[0] == pytest.approx([4 * np.pi / 3, 0]) and len(corners) == 7


def test_peak_fwhm_of_bragg_and_broadened_peaks():
    lat = triangular(24)
    assert sa.peak_fwhm(lat, sa.structure_factor(lat, sd.skyrmion_lattice(lat))) == pytest.approx(1.0)
    # a Lorentzian-like spread of S(q) around the peaks, 3 grid steps wide at half maximum
    q = sd.momentum_grid(24)
    step = 4 * np.pi / (np.sqrt(3) * 24)
    d = np.min(np.stack([np.linalg.norm(sd.fold_to_bz(q - p), axis=-1) for p in sa.peak_momenta()]), 0) / step
    assert sa.peak_fwhm(lat, 1.0 / (1.0 + (d / 1.5) ** 2)) == pytest.approx(3.0, abs=0.5)
    small = triangular(12)  # |Q|/2 is less than one grid step: no width to resolve
    assert np.isnan(sa.peak_fwhm(small, sa.structure_factor(small, sd.skyrmion_lattice(small))))
