"""D6 bond/chirality spin descriptor (ch3 spec §8): counts, lattice and SO(3) invariance, equivariant fields."""
import numpy as np
import pytest

from latticeml.descriptors import SpinIRDescriptor
from latticeml.lattice import triangular

torch = pytest.importorskip("torch")


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def _spins(rng, N):
    S = rng.standard_normal((N, 3))
    return S / np.linalg.norm(S, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def lat_desc():
    lat = triangular(13)
    return lat, SpinIRDescriptor(lat)


def test_counts_match_ch3(lat_desc):
    _, d = lat_desc
    assert d.n_variables["site_bonds"] == 126 and d.n_variables["bonds"] == 336
    assert d.n_copies == {"site_bonds": 84, "bonds": 224, "chiralities": 576}
    assert d.n_features == 1768


def test_nn_chiralities_are_pseudoscalar():
    """The 6 NN chiralities give A2+B1+E1+E2 (odd under mirrors), not A1+..."""
    from latticeml.descriptors.decompose import decompose, field_rep

    d = SpinIRDescriptor(triangular(8), r1=1.01, r2=1.01)
    nb = d.blocks["chiralities"].nbhd
    assert len(nb) == 6
    assert {k: v for k, v in decompose(nb, field_rep(nb.group, "scalar")).multiplicities.items() if v} == {
        "A2": 1, "B1": 1, "E1": 1, "E2": 1}


def test_invariant_under_d6_and_global_rotation(lat_desc):
    lat, d = lat_desc
    rng = np.random.default_rng(0)
    for _ in range(3):
        S = _spins(rng, lat.N)
        F = d(S)
        R = _random_rotation(rng)
        assert np.abs(d(S @ R.T) - F).max() < 1e-10
        for op in lat.point_group:
            perm = lat.site_permutation(op, center=7)
            Sg = np.empty_like(S)
            Sg[perm] = S
            assert np.abs(d(Sg)[perm] - F).max() < 1e-10


def test_exchange_field_rotates_with_spins():
    """H = -∂E/∂S through a descriptor-based energy: H(RS) = R H(S), and H follows a lattice operation."""
    lat = triangular(9)
    d = SpinIRDescriptor(lat, r1=3.0, r2=2.0)
    gen = torch.Generator().manual_seed(0)
    W1 = torch.randn(d.n_features, 8, generator=gen, dtype=torch.float64) / d.n_features ** 0.5
    w2 = torch.randn(8, generator=gen, dtype=torch.float64)

    def field(S):
        S = torch.tensor(S, requires_grad=True)
        E = (torch.tanh(d(S) @ W1) @ w2).sum()
        (g,) = torch.autograd.grad(E, S)
        return -g.numpy()

    rng = np.random.default_rng(1)
    S = _spins(rng, lat.N)
    H = field(S)
    R = _random_rotation(rng)
    assert np.allclose(field(S @ R.T), H @ R.T, atol=1e-10)
    op = lat.point_group[7]
    perm = lat.site_permutation(op, center=0)
    Sg = np.empty_like(S)
    Sg[perm] = S
    assert np.allclose(field(Sg)[perm], H, atol=1e-10)


def test_float32_path(lat_desc):
    lat, d = lat_desc
    S = _spins(np.random.default_rng(2), lat.N)
    F32 = d(torch.tensor(S, dtype=torch.float32))
    assert F32.dtype == torch.float32
    assert np.allclose(F32.numpy(), d(S), atol=1e-3, rtol=1e-3)
