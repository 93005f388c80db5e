"""Invariant features from IR copies: invariance, completeness, bispectrum oracle, autograd forces (ch7 §1.6–1.10)."""
import numpy as np
import pytest

from latticeml.descriptors import (IRDescriptor, LatticeIRDescriptor, Neighbourhood, bispectrum,
                                   decompose, field_rep, jacobian_rank, power_spectrum)
from latticeml.lattice import diamond, simple_cubic, square, triangular

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def jt():
    """Jahn–Teller fields (Q^A1, Q^x, Q^z) ∈ (A1, B1, A1) of D4 on |R| ≤ 7 (149 sites, D = 447)."""
    nb = Neighbourhood.from_lattice(square(16), 7.0)
    return nb, field_rep(nb.group, ("A1", "B1", "A1"))


def _check_invariance(desc, nb, M, rng, n=4, scale=1.0):
    U = scale * rng.standard_normal((n, len(nb), M.shape[1]))
    F = desc(U.reshape(n, -1))
    for g in range(nb.group.order):
        Fg = desc(nb.transform(U, g, M).reshape(n, -1))
        assert np.abs(Fg - F).max() <= 1e-10 * max(1.0, np.abs(F).max() / 100), nb.group.op_names[g]
    return F


@pytest.mark.parametrize("mode", ["sign_cos", "regularised", "bilinear", "power_phase", "power"])
def test_jt_features_invariant_under_d4(jt, mode):
    nb, M = jt
    desc = IRDescriptor(nb, M, phase_mode=mode)
    _check_invariance(desc, nb, M, np.random.default_rng(1))
    if mode in ("sign_cos", "regularised", "bilinear"):
        assert desc.n_features == 450  # 225 one-dimensional + 111 E × 2 + 3 reference triple products


def test_jt_jacobian_rank_full_power_spectrum_deficient(jt):
    nb, M = jt
    u0 = np.random.default_rng(2).standard_normal(len(nb) * 3)
    ranks = {mode: jacobian_rank(IRDescriptor(nb, M, phase_mode=mode), u0) for mode in ("regularised", "power")}
    print("Jacobian rank (D = 447):", ranks)
    assert ranks["regularised"] == 447
    assert ranks["power"] < 447


@pytest.mark.parametrize("case", ["C6v-scalar", "Td-vector", "Oh-eg", "Oh-vector"])
def test_invariance_other_groups(case):
    rng = np.random.default_rng(3)
    if case == "C6v-scalar":
        nb = Neighbourhood.from_lattice(triangular(12), 3.1)
        M = field_rep(nb.group, "scalar")
    elif case == "Td-vector":
        nb = Neighbourhood.from_lattice(diamond(3), 1.01, sublattice=0)
        M = field_rep(nb.group, "vector")
    else:
        nb = Neighbourhood.from_lattice(simple_cubic(6), 2.3)
        M = field_rep(nb.group, ("Eg",) if case == "Oh-eg" else "vector")
    for mode in ("regularised", "bilinear"):
        _check_invariance(IRDescriptor(nb, M, phase_mode=mode), nb, M, rng)


def test_power_spectrum_blind_spot_resolved_by_phases_and_bispectrum():
    """Rotating one E copy leaves every |f_r^Γ|² unchanged; phases and the bispectrum see it."""
    nb = Neighbourhood.from_lattice(square(10), 2.3)  # centre, (1,0), (1,1), (2,0), (2,1): 21 sites
    M = field_rep(nb.group, "scalar")
    dec = decompose(nb, M)
    rng = np.random.default_rng(4)
    U = rng.standard_normal(len(nb))
    f = dec.W @ U
    rows = dec.copies["E"][0]
    c, s = np.cos(0.7), np.sin(0.7)
    f2 = f.copy()
    f2[rows] = np.array([[c, -s], [s, c]]) @ f[rows]
    U2 = dec.W.T @ f2
    p1, p2 = power_spectrum(dec.coefficients(U)), power_spectrum(dec.coefficients(U2))
    assert all(np.allclose(p1[k], p2[k]) for k in p1)
    desc = IRDescriptor(nb, M)
    assert np.abs(desc(U) - desc(U2)).max() > 1e-3
    b1 = bispectrum(nb.group, dec.coefficients(U))
    b2 = bispectrum(nb.group, dec.coefficients(U2))
    assert np.abs(b1 - b2).max() > 1e-3
    # ... while a true symmetry image changes nothing
    for g in range(8):
        Ug = nb.transform(U[:, None], g, M)[:, 0]
        assert np.allclose(bispectrum(nb.group, dec.coefficients(Ug)), b1, atol=1e-10)
        assert np.allclose(desc(Ug), desc(U), atol=1e-10)


def test_bispectrum_contains_power_spectrum():
    nb = Neighbourhood.from_lattice(square(10), 1.5)
    dec = decompose(nb, field_rep(nb.group, "scalar"))
    U = np.random.default_rng(5).standard_normal(len(nb))
    b = bispectrum(nb.group, dec.coefficients(U))
    p = np.concatenate(list(power_spectrum(dec.coefficients(U)).values()))
    for val in p:
        assert np.isclose(b, val).any() or np.isclose(b, val / np.sqrt(2)).any()


def test_distinguishing_power_random_vs_perturbed(jt):
    nb, M = jt
    desc = IRDescriptor(nb, M)
    rng = np.random.default_rng(6)
    U = rng.standard_normal((20, len(nb), 3))
    F = desc(U.reshape(20, -1))
    g = rng.integers(0, 8, 20)
    Ug = np.stack([nb.transform(U[k], g[k], M) for k in range(20)])
    assert np.abs(desc(Ug.reshape(20, -1)) - F).max() < 1e-10 * np.abs(F).max()
    Up = U + 1e-3 * rng.standard_normal(U.shape)
    assert np.all(np.abs(desc(Up.reshape(20, -1)) - F).max(axis=1) > 1e-6)


def _energy_model(n_in, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    W1 = torch.randn(n_in, 16, generator=gen, dtype=dtype) / n_in ** 0.5
    W2 = torch.randn(16, generator=gen, dtype=dtype)
    return lambda F: (torch.tanh(F @ W1) @ W2).sum()


def _forces(desc, Q, model):
    Q = Q.clone().requires_grad_(True)
    E = model(desc(Q))
    (g,) = torch.autograd.grad(E, Q)
    return E.detach(), -g


def test_lattice_forces_equivariant_under_d4_and_translation():
    lat = square(8)
    desc = LatticeIRDescriptor(lat, 3.0, ("A1", "B1", "A1"), phase_mode="bilinear")
    model = _energy_model(desc.n_features)
    rng = np.random.default_rng(7)
    Q = torch.tensor(rng.standard_normal((lat.N, 3)))
    E, F = _forces(desc, Q, model)
    M = torch.tensor(desc.M)
    for g, op in enumerate(lat.point_group):
        perm = torch.as_tensor(lat.site_permutation(op, center=5))
        Qg = torch.empty_like(Q)
        Qg[perm] = Q @ M[g].T
        Eg, Fg = _forces(desc, Qg, model)
        assert abs(Eg - E) < 1e-10 * abs(E)
        assert torch.allclose(Fg[perm], F @ M[g].T, atol=1e-10)
    t = torch.as_tensor(lat.translation_permutation((2, 3)))
    Qt = torch.empty_like(Q)
    Qt[t] = Q
    Et, Ft = _forces(desc, Qt, model)
    assert abs(Et - E) < 1e-10 * abs(E) and torch.allclose(Ft[t], F, atol=1e-10)


def test_float32_matches_float64_and_batches():
    lat = square(8)
    desc = LatticeIRDescriptor(lat, 3.0, ("A1", "B1", "A1"))
    Q = np.random.default_rng(8).standard_normal((2, lat.N, 3))
    F64 = desc(torch.tensor(Q))
    F32 = desc(torch.tensor(Q, dtype=torch.float32))
    assert F32.dtype == torch.float32 and F64.shape == (2, lat.N, desc.n_features)
    assert torch.allclose(F32.double(), F64, atol=1e-4, rtol=1e-4)
    assert np.allclose(desc(Q[0]), F64[0].numpy(), atol=1e-12)  # numpy and torch agree


def test_regularised_forces_smooth_near_symmetric_state():
    """C-type order (Q^x = ±δ staggered, Q^A1 uniform) + 1e-4 noise: A2/B2/E references ~ 0, forces stay finite
    and match finite differences."""
    lat = square(8)
    desc = LatticeIRDescriptor(lat, 3.0, ("A1", "B1", "A1"), phase_mode="regularised", eps=1e-6)
    model = _energy_model(desc.n_features, seed=1)
    stag = (-1.0) ** lat.cells.sum(1)
    Q0 = np.stack([0.54 * np.ones(lat.N), 0.4 * stag, np.zeros(lat.N)], axis=1)
    Q0 = Q0 + 1e-4 * np.random.default_rng(9).standard_normal(Q0.shape)
    Q = torch.tensor(Q0)
    _, F = _forces(desc, Q, model)
    assert torch.isfinite(F).all()
    h = 1e-6
    for site, comp in [(0, 0), (9, 1), (20, 2)]:
        Qp, Qm = Q.clone(), Q.clone()
        Qp[site, comp] += h
        Qm[site, comp] -= h
        fd = -(model(desc(Qp)) - model(desc(Qm))) / (2 * h)
        assert abs(fd - F[site, comp]) <= 1e-6 * max(1.0, abs(float(F[site, comp])))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    lat = square(8)
    desc = LatticeIRDescriptor(lat, 3.0, ("A1", "B1", "A1"))
    Q = torch.tensor(np.random.default_rng(10).standard_normal((lat.N, 3)))
    assert torch.allclose(desc(Q.cuda()).cpu(), desc(Q), atol=1e-10)
