"""ACSF: torch/numpy against plain-loop references (and DScribe if installed), invariances, autograd forces."""
import numpy as np
import pytest

from latticeml.descriptors import (ACSF, LatticeACSF, MagneticACSF, acsf_reference, cutoff_fn,
                                   magnetic_acsf_reference)
from latticeml.lattice import amorphous_box, square

torch = pytest.importorskip("torch")
G2 = [[1.0, 0.5], [4.0, 1.0], [0.5, 2.0]]
G4 = [[0.1, 1, 1], [0.1, 2, -1], [0.5, 4, 1]]


def _spins(rng, N):
    S = rng.standard_normal((N, 3))
    return S / np.linalg.norm(S, axis=1, keepdims=True)


def _rotation(rng):
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def test_cutoff_function():
    assert np.allclose(cutoff_fn(np.array([0.0, 1.0, 2.0, 2.5]), 2.0), [1.0, 0.5, 0.0, 0.0])


@pytest.fixture(scope="module")
def box():
    return amorphous_box(40, 0.8, min_distance=0.5, seed=1)


def test_acsf_matches_reference_numpy_and_torch(box):
    ac = ACSF(2.0, G2, G4)
    ref = acsf_reference(box.positions, box.box, 2.0, G2, G4)
    assert np.allclose(ac(box.positions, box.box), ref, atol=1e-12)
    assert np.allclose(ac(torch.tensor(box.positions), box.box).numpy(), ref, atol=1e-12)


def test_acsf_forces_rotate_with_positions(box):
    """Autograd forces of a descriptor energy: invariance of E and covariance of F under a rotation + translation
    of the whole (cubic) box, here a cubic symmetry so the periodic box maps onto itself."""
    ac = ACSF(2.0, G2, G4)
    w = torch.tensor(np.random.default_rng(0).standard_normal(ac.n_features))

    def energy_forces(pos):
        p = torch.tensor(pos, requires_grad=True)
        E = (torch.tanh(ac(p, box.box)) @ w).sum()
        (g,) = torch.autograd.grad(E, p)
        return float(E.detach()), -g.numpy()

    E, F = energy_forces(box.positions)
    R = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, -1]])
    E2, F2 = energy_forces(box.positions @ R.T + 0.37)
    assert abs(E2 - E) < 1e-10 and np.allclose(F2, F @ R.T, atol=1e-10)


def test_acsf_matches_dscribe():
    dscribe = pytest.importorskip("dscribe.descriptors")
    from ase import Atoms

    b = amorphous_box(200, 0.8, min_distance=0.5, seed=2)  # side 6.3 > 2 r_c: images not double counted
    at = Atoms("H" * b.N, positions=np.mod(b.positions, b.box), cell=np.diag(b.box), pbc=True)
    ref = dscribe.ACSF(r_cut=2.0, g2_params=G2, g4_params=G4, species=["H"], periodic=True).create(at)
    assert np.allclose(ACSF(2.0, G2, G4)(b.positions, b.box), ref, atol=1e-12)


def test_magnetic_acsf_matches_reference_and_is_invariant():
    box = amorphous_box(18, 0.8, min_distance=0.5, seed=4)
    m = MagneticACSF(box, d=0.5 + 0.4 * np.arange(5), chirality=True)
    rng = np.random.default_rng(3)
    S = _spins(rng, box.N)
    G = m(S)
    assert G.shape == (box.N, m.n_features) and m.n_features == 5 + 2 * 20
    assert np.allclose(G, magnetic_acsf_reference(box.positions, box.box, S, m), atol=1e-12)
    R = _rotation(rng)
    assert np.abs(m(S @ R.T) - G).max() < 1e-12  # SO(3)
    nchi = 5 + 20
    assert np.allclose(m(-S)[:, :nchi], G[:, :nchi], atol=1e-12)  # time reversal: G2m, G3m even
    assert np.allclose(m(-S)[:, nchi:], -G[:, nchi:], atol=1e-12)  # ... G3χ odd


def test_magnetic_acsf_default_width_and_field_rotation(box):
    m = MagneticACSF(box)  # ch4: 50 radii, λ = ±1, d' ∈ {1, 2}: 250 features
    assert m.n_features == 250
    w = torch.tensor(np.random.default_rng(4).standard_normal(250) * 1e-2)
    rng = np.random.default_rng(5)
    S = _spins(rng, box.N)

    def field(S):
        s = torch.tensor(S, requires_grad=True)
        (g,) = torch.autograd.grad((torch.tanh(m(s)) @ w).sum(), s)
        return -g.numpy()

    R = _rotation(rng)
    assert np.allclose(field(S @ R.T), field(S) @ R.T, atol=1e-12)


def test_lattice_acsf_invariant_and_equals_a1_weighting():
    lat = square(8)
    rng = np.random.default_rng(6)
    for field in ("scalar", "spin"):
        la = LatticeACSF(lat, 2.3, G2, G4, field=field)
        x = rng.standard_normal(lat.N) if field == "scalar" else _spins(rng, lat.N)
        F = la(x)
        for op in lat.point_group:
            perm = lat.site_permutation(op, center=3)
            xg = np.empty_like(x)
            xg[perm] = x
            assert np.allclose(la(xg)[perm], F, atol=1e-12)
        assert np.allclose(la(torch.tensor(x)).numpy(), F, atol=1e-12)
    # radial G2a on a scalar field is the shell-weighted A1 (orbit-sum) content
    la = LatticeACSF(lat, 1.01, [[1.0, 0.0]], [], field="scalar")
    x = rng.standard_normal(lat.N)
    nn = lat.neighbor_table(1.01)
    assert np.allclose(la(x)[:, 0], np.exp(-1.0) * cutoff_fn(np.array(1.0), 1.01) * x[nn].sum(1))
