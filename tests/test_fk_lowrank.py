"""Falicov-Kimball model and the fast exact (rank-2, pole-expansion) hop energies against full diagonalization."""
import numpy as np
import pytest
from scipy.special import expit

from latticeml.calculators.exact import FalicovKimballCalculator
from latticeml.electrons import ed
from latticeml.electrons.lowrank import fermi_poles, fk_move_energies, n_poles_for
from latticeml.errors import ConfigError
from latticeml.lattice import square
from latticeml.models.falicov_kimball import fk_hamiltonian, hop_table, n_f_for, random_occupation


def _full_energy(lattice, occ, U, n_c, T, kind):
    eps = ed.eigh(fk_hamiltonian(lattice, occ, U))[0]
    mu = ed.chemical_potential(eps, n_c, T)
    return ed.band_energy(eps, mu, T) if kind == "internal" else ed.free_energy(eps, mu, T)


def _full_move_energies(lattice, occ, moves, U, n_c, T, kind):
    e0 = _full_energy(lattice, occ, U, n_c, T, kind)
    out = []
    for i, j in moves:
        trial = occ.copy()
        trial[i], trial[j] = 0, 1
        out.append(_full_energy(lattice, trial, U, n_c, T, kind) - e0)
    return np.array(out)


def _fast_move_energies(lattice, occ, moves, U, n_c, T, kind):
    eps, psi = ed.eigh(fk_hamiltonian(lattice, occ, U))
    return fk_move_energies(eps, psi, occ, moves, U, n_c, T, kind)


def _nn_moves(lattice, occ):
    hops = hop_table(lattice)
    return np.array([(i, j) for i in np.flatnonzero(occ) for j in hops[i] if occ[j] == 0])


def test_hop_table_follows_the_author_order():
    lat = square(5)
    site = lat.site_index(np.array([2, 3]))
    expected = [lat.site_index(np.array(c)) for c in ([3, 3], [2, 2], [1, 3], [2, 4])]  # +x, −y, −x, +y
    np.testing.assert_array_equal(hop_table(lat)[site], expected)
    np.testing.assert_array_equal(hop_table(lat)[lat.site_index(np.array([4, 0]))][[0, 1]],
                                  [lat.site_index(np.array([0, 0])), lat.site_index(np.array([4, 4]))])


def test_model_helpers():
    lat = square(30)
    assert n_f_for(lat) == 169
    occ = random_occupation(lat, 169, np.random.default_rng(0))
    assert occ.sum() == 169 and occ.dtype == np.int8
    h = fk_hamiltonian(square(4), np.eye(16)[3], U=2.0, t=0.5)
    assert h[3, 3] == 2.0 and h[0, 1] == -0.5 and h[0, 3] == -0.5 and np.allclose(h, h.T)  # PBC wrap 0 ↔ 3
    with pytest.raises(ConfigError, match="square"):
        from latticeml.lattice import triangular

        hop_table(triangular(4))


@pytest.mark.parametrize("x_max", [20.0, 170.0, 1000.0, 1e4])
def test_fermi_pole_expansion_is_exact_on_the_required_range(x_max):
    poles, residues = fermi_poles(n_poles_for(x_max))
    x = np.linspace(-x_max, x_max, 20001)
    approx = 0.5 - np.sum(2 * residues[:, None] * x / (x ** 2 + poles[:, None] ** 2), axis=0)
    assert np.max(np.abs(approx - expit(-x))) < 1e-13


@pytest.mark.parametrize("kind", ["internal", "free"])
@pytest.mark.parametrize("L,seed", [(8, 0), (12, 1)])
def test_lowrank_equals_full_diagonalization_on_random_configurations(L, seed, kind):
    lat = square(L)
    rng = np.random.default_rng(seed)
    occ = random_occupation(lat, n_f_for(lat), rng)
    moves = _nn_moves(lat, occ)
    moves = moves[rng.permutation(len(moves))[:40]]
    n_c = 0.55 * lat.N
    fast = _fast_move_energies(lat, occ, moves, 2.0, n_c, 0.05, kind)
    full = _full_move_energies(lat, occ, moves, 2.0, n_c, 0.05, kind)
    assert np.std(full) > 1e-2  # the moves are not trivially degenerate
    np.testing.assert_allclose(fast, full, rtol=0, atol=1e-9)


@pytest.mark.parametrize("series", [True, False])
def test_shared_pole_series_and_exact_iteration_agree_with_full_diagonalization(series, monkeypatch):
    # on 20×20 the new μ' is close enough to μ for the shared-pole series; radius 0 forces the per-hop iteration
    from latticeml.electrons import lowrank

    calls = []
    exact_iteration = lowrank._new_energies
    monkeypatch.setattr(lowrank, "_new_energies", lambda *a: calls.append(1) or exact_iteration(*a))
    if not series:
        monkeypatch.setattr(lowrank, "_SERIES_RADIUS", 0.0)
    lat = square(20)
    rng = np.random.default_rng(5)
    occ = random_occupation(lat, n_f_for(lat), rng)
    moves = _nn_moves(lat, occ)[rng.permutation(200)[:12]]
    for kind in ("internal", "free"):
        fast = _fast_move_energies(lat, occ, moves, 2.0, 0.55 * lat.N, 0.05, kind)
        np.testing.assert_allclose(fast, _full_move_energies(lat, occ, moves, 2.0, 0.55 * lat.N, 0.05, kind),
                                   rtol=0, atol=1e-9)
    assert bool(calls) != series


@pytest.mark.parametrize("U,filling,T", [(2.0, 0.1, 0.05), (8.0, 0.9, 0.05), (-3.0, 0.55, 0.2), (2.0, 0.55, 0.01)])
def test_lowrank_exact_across_parameters_and_long_range_moves(U, filling, T):
    lat = square(8)
    rng = np.random.default_rng(7)
    occ = random_occupation(lat, 20, rng)
    src = rng.choice(np.flatnonzero(occ), 12)
    dst = rng.choice(np.flatnonzero(occ == 0), 12)  # arbitrary (not nearest-neighbour) hops are rank-2 too
    moves = np.stack([src, dst], axis=1)
    for kind in ("internal", "free"):
        fast = _fast_move_energies(lat, occ, moves, U, filling * lat.N, T, kind)
        full = _full_move_energies(lat, occ, moves, U, filling * lat.N, T, kind)
        np.testing.assert_allclose(fast, full, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["internal", "free"])
def test_lowrank_on_degenerate_configurations(kind):
    lat = square(8)
    n_c = 0.55 * lat.N
    # one f-electron on the clean (highly degenerate) lattice: the four nearest-neighbour hops are equivalent by
    # translation, so ΔE = 0 exactly; a longer hop is not
    single = np.zeros(lat.N, dtype=np.int8)
    single[27] = 1
    moves = np.vstack([np.stack([np.full(4, 27), hop_table(lat)[27]], axis=1), [[27, 0]]])
    fast = _fast_move_energies(lat, single, moves, 2.0, n_c, 0.05, kind)
    np.testing.assert_allclose(fast[:4], 0.0, atol=1e-10)
    np.testing.assert_allclose(fast, _full_move_energies(lat, single, moves, 2.0, n_c, 0.05, kind), atol=1e-9)
    # perfect checkerboard at half filling (gapped, degenerate bands): all nearest-neighbour hops are equivalent,
    # and each costs energy (the checkerboard is the ground state of the neutral half-filled FK model); at
    # T = 0.002 the filling is flat in μ across the gap (gap/T ≈ 500)
    board = (lat.cells.sum(axis=1) % 2 == 0).astype(np.int8)
    moves = _nn_moves(lat, board)[::7]
    for T in (0.05, 0.002):
        fast = _fast_move_energies(lat, board, moves, 2.0, lat.N / 2, T, kind)
        full = _full_move_energies(lat, board, moves, 2.0, lat.N / 2, T, kind)
        np.testing.assert_allclose(fast, full, atol=1e-9)
        np.testing.assert_allclose(fast, fast[0], atol=1e-9)
        assert fast[0] > 0.05


def test_blocked_moves_are_infinite():
    lat = square(6)
    occ = np.zeros(lat.N, dtype=np.int8)
    occ[[0, 1]] = 1
    moves = np.array([[0, 1], [2, 3], [0, 0], [0, 2]])
    dE = _fast_move_energies(lat, occ, moves, 2.0, 0.55 * lat.N, 0.05, "internal")
    assert np.all(np.isinf(dE[:3])) and np.isfinite(dE[3])
    empty = np.zeros(lat.N, dtype=np.int8)
    assert np.all(np.isinf(_fast_move_energies(lat, empty, _nn_moves(lat, occ), 2.0, 19.8, 0.05, "free")))


@pytest.mark.parametrize("L,n_f", [(8, 12), (20, 60)])  # 20×20: the shared-pole series, cached per configuration
def test_calculator_lowrank_and_full_agree_through_commits(L, n_f):
    lat = square(L)
    rng = np.random.default_rng(3)
    occ = random_occupation(lat, n_f, rng)
    fast = FalicovKimballCalculator(lat, method="lowrank")
    full = FalicovKimballCalculator(lat, method="full")
    for _ in range(3):
        moves = _nn_moves(lat, occ)[:30]
        dE = fast.move_energies(occ, moves)
        np.testing.assert_allclose(dE, full.move_energies(occ, moves), atol=1e-9)
        i, j = moves[np.argmin(dE)]
        e_before = fast.energy(occ)
        occ = occ.copy()
        occ[i], occ[j] = 0, 1
        fast.commit(occ, (i, j))
        full.commit(occ, (i, j))
        # the cached energy after the commit equals a fresh calculation and moved by the predicted ΔE
        assert fast.energy(occ) == pytest.approx(_full_energy(lat, occ, 2.0, 0.55 * lat.N, 0.05, "internal"),
                                                 abs=1e-10)
        assert fast.energy(occ) - e_before == pytest.approx(dE.min(), abs=1e-9)
    res = fast.compute(occ)
    assert set(res.extras) >= {"mu"} and res.forces is None


def test_calculator_validation_and_metadata():
    lat = square(6)
    with pytest.raises(ConfigError, match="filling_c"):
        FalicovKimballCalculator(lat, filling_c=1.0)
    with pytest.raises(ConfigError, match="method='full'"):
        FalicovKimballCalculator(lat, T=0.0)
    with pytest.raises(ConfigError, match="energy_kind"):
        FalicovKimballCalculator(lat, energy_kind="grand")
    calc = FalicovKimballCalculator(lat, U=3.0, energy_kind="free")
    assert calc.metadata["lattice"] == lat.describe() and calc.metadata["U"] == 3.0
    assert calc.describe()["calculator"] == "FalicovKimballCalculator" and calc.field_kind == "occupation"


def test_zero_temperature_full_method_uses_the_lowest_levels():
    lat = square(6)
    occ = np.zeros(lat.N, dtype=np.int8)
    occ[[0, 7, 14]] = 1
    calc = FalicovKimballCalculator(lat, T=0.0, filling_c=0.5, method="full")
    eps = np.linalg.eigvalsh(fk_hamiltonian(lat, occ, 2.0))
    assert calc.energy(occ) == pytest.approx(eps[:18].sum(), abs=1e-10)
