"""Parity of the Julia backend (JuliaCore through juliacall) with the Python reference kernels: every kernel of
``latticeml.backends.KERNELS`` on the same inputs, plus the zero-copy array exchange and the import order of torch
and juliacall. Skipped, with the reason "Julia runtime not found", where no Julia runtime is installed.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse

from latticeml.backends import KERNELS, get_backend
from latticeml.backends import julia as julia_backend

pytestmark = pytest.mark.skipif(julia_backend.find_julia_runtime() is None, reason="Julia runtime not found")


def _square_adjacency(L):
    A = np.zeros((L * L, L * L))
    for n1 in range(L):
        for n2 in range(L):
            i = n1 * L + n2
            for j in (((n1 + 1) % L) * L + n2, n1 * L + (n2 + 1) % L):
                A[i, j] = A[j, i] = 1.0
    return A


def _random_hermitian(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return (a + a.conj().T) / 2


def _sd_hamiltonian(L, seed):
    """2N×2N s-d matrix −A⊗1 − Σ_i S_i·σ with random unit spins, orbital 2i + spin."""
    rng = np.random.default_rng(seed)
    spins = rng.normal(size=(L * L, 3))
    spins /= np.linalg.norm(spins, axis=1, keepdims=True)
    H = np.kron(-_square_adjacency(L), np.eye(2)).astype(complex)
    for i, (x, y, z) in enumerate(spins):
        H[2 * i:2 * i + 2, 2 * i:2 * i + 2] -= [[z, x - 1j * y], [x + 1j * y, -z]]
    return H


def _fk_case(L=6, seed=0):
    """A random Falicov-Kimball configuration, its eigen-decomposition and a mix of allowed and blocked hops."""
    rng = np.random.default_rng(seed)
    occ = np.zeros(L * L, dtype=np.int8)
    occ[rng.choice(L * L, 7, replace=False)] = 1
    eps, psi = np.linalg.eigh(-_square_adjacency(L) + 2.0 * np.diag(occ))
    full, empty = np.flatnonzero(occ), np.flatnonzero(occ == 0)
    moves = np.array([[full[k % 7], empty[(3 * k) % len(empty)]] for k in range(10)]
                     + [[empty[0], empty[1]], [full[0], full[1]], [full[2], full[2]]])
    return eps, psi, occ, moves


def _cases():
    """kernel name -> list of (args, kwargs) run on both backends."""
    clean = np.linalg.eigvalsh(-_square_adjacency(6))  # highly degenerate spectrum
    levels = np.sort(np.random.default_rng(1).normal(size=50))
    h_real = _random_hermitian(12, 2).real
    h_complex = _random_hermitian(12, 3)
    eps_c, psi_c = np.linalg.eigh(h_complex)
    eps_r, psi_r = np.linalg.eigh(h_real)
    fk = _fk_case()
    H = _sd_hamiltonian(4, 4)
    Hev = np.linalg.eigvalsh(H)
    bounds = (Hev[0] - 0.1, Hev[-1] + 0.1)
    rng = np.random.default_rng(5)
    spins = rng.normal(size=(9, 3))
    spins /= np.linalg.norm(spins, axis=1, keepdims=True)
    return {
        "eigh": [((h_real,), {}), ((h_complex,), {}), ((-_square_adjacency(6),), {}),
                 ((scipy.sparse.csr_matrix(h_real),), {})],
        "fermi": [((np.array([-1e3, -1.0, 0.0, 0.3, 1e3]), 0.0, 0.2), {}), ((levels, 0.1, 0.0), {}),
                  ((levels.reshape(5, 10), -0.3, 1e-6), {})],
        "chemical_potential": [((clean, n, T), {}) for n in (19.8, 18.0, 1.5) for T in (0.0, 1e-3, 0.05)]
        + [((levels, 20.0, 0.3), {})],
        "band_energy": [((levels, mu, T), {}) for mu in (-0.2, 0.4) for T in (0.0, 0.01, 0.5)],
        "grand_potential": [((levels, mu, T), {}) for mu in (-0.2, 0.4) for T in (0.0, 0.01, 0.5)],
        "density_matrix": [((eps_r, psi_r, 0.1, 0.0), {}), ((eps_c, psi_c, 0.2, 0.4), {})],
        "spin_blocks_ed": [((eps_c, psi_c, 0.2, 0.4), {}), ((eps_r, psi_r, -0.5, 0.0), {})],
        "fk_move_energies": [((*fk, U, 0.55 * 36, T, kind), {}) for U, T in ((2.0, 0.05), (-3.0, 0.2))
                             for kind in ("internal", "free")],
        "kpm_spin_blocks": [((H, 0.3, 0.2, bounds, 300), {}), ((scipy.sparse.csr_matrix(H), 0.3, 0.1, bounds, 200), {}),
                            ((H, 0.3, 0.2, bounds, 100), {"kernel": "jackson"}),
                            ((H, 0.3, 0.2, bounds, 200), {"lattice_shape": (4, 4), "probing_period": 2}),
                            ((H, 0.3, 0.0, bounds, 200), {"block_size": 7}),
                            ((H, 0.3, 0.2, bounds, 300), {"sites": [5, 0, 11], "block_size": 3})],
        "cayley_rotate": [((spins, rng.normal(size=(9, 3)), 0.1), {}), ((spins, np.zeros((9, 3)), 0.1), {})],
        "langevin_ou": [((rng.normal(size=(9, 3)), 2.0, 0.7, 0.4, 0.1, rng.normal(size=(9, 3))), {}),
                        ((rng.normal(size=9), rng.uniform(1, 2, size=9), 0.5, 0.0, 0.05, rng.normal(size=9)), {})],
        "brownian_step": [((rng.normal(size=(9, 2)), rng.normal(size=(9, 2)), 1.5, 0.3, 0.01,
                            rng.normal(size=(9, 2))), {})],
        "metropolis_hop_probabilities": [((np.array([-1.0, 0.0, 0.5, np.inf]), 0.5), {}),
                                         ((np.array([[-1.0, 2.0], [0.0, np.inf]]), 0.0), {}),
                                         ((np.array([0.3, -0.2]), 0.1), {"n_directions": 6})],
    }


CASES = _cases()


@pytest.fixture(scope="module")
def backends():
    return get_backend("python"), get_backend("julia")


def _assert_same(kernel, python_out, julia_out, args):
    if kernel == "eigh":
        # eigenvalues agree; eigenvectors only up to a rotation inside degenerate levels, so compare h = ψ ε ψ†
        (eps_p, _), (eps_j, psi_j) = python_out, julia_out
        np.testing.assert_allclose(eps_j, eps_p, atol=1e-12)
        h = args[0].toarray() if scipy.sparse.issparse(args[0]) else args[0]
        np.testing.assert_allclose((psi_j * eps_j) @ psi_j.conj().T, h, atol=1e-12)
        np.testing.assert_allclose(psi_j.conj().T @ psi_j, np.eye(len(eps_j)), atol=1e-12)
        return
    if isinstance(python_out, float):
        assert isinstance(julia_out, float)
        assert julia_out == pytest.approx(python_out, rel=1e-12, abs=1e-12)
        return
    python_out, julia_out = np.asarray(python_out), np.asarray(julia_out)
    assert julia_out.shape == python_out.shape
    assert julia_out.dtype.kind == python_out.dtype.kind
    tolerance = {"fk_move_energies": 1e-9, "kpm_spin_blocks": 1e-12}.get(kernel, 1e-13)
    np.testing.assert_allclose(julia_out, python_out, rtol=0, atol=tolerance)  # inf == inf for blocked moves


def test_every_kernel_has_a_parity_case():
    assert sorted(CASES) == sorted(KERNELS)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_parity(backends, kernel):
    python, julia = backends
    for args, kwargs in CASES[kernel]:
        before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        _assert_same(kernel, getattr(python, kernel)(*args, **kwargs), getattr(julia, kernel)(*args, **kwargs),
                     args)
        for a, b in zip(args, before):  # pure kernels: the caller's inputs are left alone
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)


def test_argument_errors_are_value_errors(backends):
    _, julia = backends
    with pytest.raises(ValueError, match="strictly between"):
        julia.chemical_potential(np.arange(4.0), 4.0, 0.1)
    eps, psi, occ, moves = _fk_case()
    with pytest.raises(ValueError, match="T > 0"):
        julia.fk_move_energies(eps, psi, occ, moves, 2.0, 10.0, 0.0)


def test_arrays_cross_without_copies(backends):
    """numpy memory is what Julia writes to, and Julia's results are wrapped, not copied, by np.asarray."""
    _, julia = backends
    spins = np.tile([0.0, 0.0, 1.0], (4, 1))
    julia._call("cayley_rotate!", spins, np.tile([np.pi, 0.0, 0.0], (4, 1)), 1.0)  # writes into `spins`
    np.testing.assert_allclose(np.linalg.norm(spins, axis=1), 1.0, atol=1e-14)
    assert not np.allclose(spins, [0.0, 0.0, 1.0])
    blocks = julia.spin_blocks_ed(*np.linalg.eigh(_random_hermitian(6, 7)), 0.0, 0.3)
    assert not blocks.flags.owndata and blocks.flags.f_contiguous


@pytest.mark.parametrize("order", ["torch first", "juliacall first"])
def test_torch_and_juliacall_in_either_order(order):
    pytest.importorskip("torch")
    first, then = ("import torch", "") if order == "torch first" else ("", "import torch")
    script = textwrap.dedent(f"""
        {first}
        from latticeml.backends import get_backend
        backend = get_backend("julia")
        {then}
        print(backend.fermi([0.0], 0.0, 1.0).tolist(), torch.ones(2).sum().item())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[0.5]", "2.0"]
