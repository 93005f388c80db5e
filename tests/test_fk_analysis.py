"""FK coarsening observables (ch2 spec §5) against exact and analytic references."""
import numpy as np
import pytest

from latticeml.analysis import fk
from latticeml.analysis.growth import fit_linear, fit_log, fit_loglog, fit_power_law
from latticeml.errors import LatticeMLError
from latticeml.lattice import square


def _checkerboard(lat, parity):
    return ((lat.cells.sum(1) % 2) == parity).astype(np.int8)


def _brute_votes(lat, occ):
    """Squared distance to the nearest f-electron and the A−B vote of the tied nearest ones, by brute force."""
    f = np.flatnonzero(occ)
    dr = lat.minimum_image(lat.positions[f][None, :, :] - lat.positions[:, None, :])
    d2 = np.rint((dr**2).sum(-1)).astype(int)
    nearest = d2 == d2.min(1, keepdims=True)
    sign = fk.sublattice_sign(lat)[f]
    return d2.min(1), (nearest * sign).sum(1)


@pytest.mark.parametrize("parity, expected", [(0, 1), (1, -1)])
def test_perfect_checkerboard_is_uniform(parity, expected):
    lat = square(8)
    sigma = fk.ising_field(lat, _checkerboard(lat, parity))
    assert np.all(sigma == expected) and fk.order_parameter(sigma) == expected


@pytest.mark.parametrize("shape, n_f, seed", [((8, 8), 5, 0), ((10, 10), 3, 1), ((6, 10), 8, 2), ((8, 8), 20, 3)])
def test_distance_transform_matches_brute_force_and_never_ties(shape, n_f, seed):
    lat = square(*shape)
    rng = np.random.default_rng(seed)
    occ = np.zeros(lat.N, np.int8)
    occ[rng.choice(lat.N, n_f, replace=False)] = 1
    d2, vote = _brute_votes(lat, occ)
    nearest_d2, _ = fk._nearest_f(lat.to_image(occ))
    np.testing.assert_array_equal(nearest_d2.ravel(), d2)
    # all equidistant nearest electrons share a sublattice (|o|² ≡ o_x + o_y mod 2), so the vote is never split
    assert np.all(vote != 0)
    np.testing.assert_array_equal(fk.ising_field(lat, occ), np.sign(vote))


def test_ising_field_refuses_odd_sides_and_empty_configurations():
    with pytest.raises(LatticeMLError, match="even"):
        fk.ising_field(square(7), np.ones(49))
    with pytest.raises(LatticeMLError, match="no f-electron"):
        fk.ising_field(square(6), np.zeros(36))


def test_two_domain_configuration_gives_square_wave_length():
    L = 16
    lat = square(L)
    x = lat.cells[:, 0]
    occ = np.where(x < L // 2, _checkerboard(lat, 0), _checkerboard(lat, 1))
    sigma = fk.ising_field(lat, occ)
    np.testing.assert_array_equal(sigma, np.where(x < L // 2, 1, -1))
    assert fk.order_parameter(sigma) == 0
    # square wave along x: S(m) = 4 / (L² sin²(k/2)) for odd m (k = 2πm/L), zero otherwise
    m = np.arange(L)
    k = 2 * np.pi * np.minimum(m, L - m) / L
    S = np.zeros(L)
    S[1::2] = 4.0 / (L**2 * np.sin(np.pi * m[1::2] / L) ** 2)
    expected = S.sum() / (S * k).sum()
    length = fk.characteristic_length(lat, fk.ising_structure_factor(lat, sigma))
    assert length == pytest.approx(expected, rel=1e-12)
    assert fk.characteristic_length(lat, fk.ising_structure_factor(lat, sigma), include_zero=False) == \
        pytest.approx(expected, rel=1e-12)  # S(0) = φ² = 0 here


def test_uniform_sigma_has_all_weight_at_k0():
    lat = square(6)
    S = fk.ising_structure_factor(lat, np.ones(lat.N))
    assert S[0, 0] == pytest.approx(1.0) and S.sum() == pytest.approx(1.0)
    assert fk.characteristic_length(lat, S) == np.inf
    with pytest.raises(LatticeMLError, match="zero everywhere"):
        fk.characteristic_length(lat, S, include_zero=False)


def test_structure_factor_parseval_sum_rules():
    lat = square(12)
    rng = np.random.default_rng(4)
    occ = (rng.random((3, lat.N)) < 0.2).astype(np.int8)
    sigma = np.stack([fk.ising_field(lat, o) for o in occ])
    S = fk.ising_structure_factor(lat, sigma)
    np.testing.assert_allclose(S.sum(axis=(-2, -1)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(S[:, 0, 0], fk.order_parameter(sigma) ** 2, rtol=1e-12)
    Sf = fk.f_structure_factor(lat, occ)
    rho = occ.mean(1)
    np.testing.assert_allclose(Sf.sum(axis=(-2, -1)), rho * (1 - rho), rtol=1e-12)
    assert np.allclose(Sf[:, 0, 0], 0.0)


def test_circular_average_bins():
    L = 20
    lat = square(L)
    S = fk.ising_structure_factor(lat, fk.ising_field(lat, (np.random.default_rng(0).random(lat.N) < .2)))
    k, Sk, count = fk.circular_average(lat, S)
    assert count.sum() == lat.N and count[0] == 1 and k[0] == 0 and Sk[0] == pytest.approx(S[0, 0])
    assert (Sk * count).sum() == pytest.approx(S.sum())
    assert np.all(np.diff(k) > 0) and k[1] == pytest.approx(2 * np.pi / L)  # first shell: |k| = 2π/L only


def test_f_length_prefers_the_right_peak():
    lat = square(16)
    x = lat.cells[:, 0]
    slab = np.where(x < 8, _checkerboard(lat, 0), 0).astype(np.int8)  # checkerboard slab + empty half
    lc, l0 = fk.f_length(lat, fk.f_structure_factor(lat, slab)), \
        fk.f_length(lat, fk.f_structure_factor(lat, slab), peak="zero")
    # the S_f weight splits between (π,π) and k≈0; each length measures the distance of the weight to its peak
    kx, ky = fk.k_grid(lat)
    Sf = fk.f_structure_factor(lat, slab)
    dq = np.hypot(np.angle(np.exp(1j * (kx - np.pi))), np.angle(np.exp(1j * (ky - np.pi))))
    assert lc == pytest.approx(Sf.sum() / (Sf * dq).sum())
    assert l0 == pytest.approx(Sf.sum() / (Sf * np.hypot(kx, ky)).sum())


def test_correlation_exact_values():
    lat = square(30)
    occ = np.zeros(lat.N, np.int8)
    occ[np.random.default_rng(0).choice(lat.N, 169, replace=False)] = 1
    C = fk.axis_correlation(lat, occ, 14)
    assert C[0] == pytest.approx(0.6100691, abs=1e-6)  # T3: 4ρ(1−ρ), N_f = 169 on 30×30
    board = fk.axis_correlation(square(8), _checkerboard(square(8), 0), 4)
    np.testing.assert_allclose(board, [1, -1, 1, -1, 1], atol=1e-12)


def test_checkerboard_clusters_hand_made():
    lat = square(8)
    occ = np.zeros(lat.N, np.int8)
    on = [(0, 0), (1, 1), (2, 2), (2, 0),   # a diagonal chain + branch: one cluster of 4
          (5, 5), (5, 6),                 # nearest neighbours only (different sublattices): two singletons
          (7, 3), (0, 4),                 # diagonal bond across the periodic x boundary: one cluster of 2
          (4, 1)]                         # isolated singleton
    occ[lat.site_index(np.array(on))] = 1
    labels, sizes = fk.checkerboard_clusters(lat, occ)
    assert sorted(sizes.tolist()) == [1, 1, 1, 2, 4]
    assert np.all(labels[occ == 0] == -1)
    assert labels[lat.site_index(np.array([7, 3]))] == labels[lat.site_index(np.array([0, 4]))]
    assert fk.mean_cluster_size(sizes) == pytest.approx(3.0)
    assert fk.mean_cluster_size(sizes, min_size=1) == pytest.approx(9 / 5)
    full = fk.checkerboard_clusters(lat, _checkerboard(lat, 1))[1]
    assert full.tolist() == [32]


def test_block_configuration_and_magnetization():
    lat = square(30)
    occ = fk.block_configuration(np.random.default_rng(3))
    img = lat.to_image(occ)
    sign = lat.to_image(fk.sublattice_sign(lat))
    for bx in range(3):
        for by in range(3):
            block = (slice(10 * bx, 10 * bx + 10), slice(10 * by, 10 * by + 10))
            assert img[block].sum() == len(fk.BLOCK_PATCH)
            assert abs(sign[block][img[block] == 1].sum()) == len(fk.BLOCK_PATCH)  # one sublattice per copy
    sigma = np.where(lat.cells[:, 0] < 10, 1, -1)  # first block column +1, the rest −1
    spins, M = fk.block_magnetization(lat, sigma)
    assert spins[0].tolist() == [1, 1, 1] and spins[1:].sum() == -6 and M == -3


def test_delta_v_ab_of_a_staggered_potential():
    lat = square(6)
    V = 0.3 * fk.sublattice_sign(lat) + 1.0
    V[0] = np.nan
    assert fk.delta_v_ab(lat, V) == pytest.approx(0.6)


def _frozen_example():
    lat = square(6)
    frozen = np.zeros(lat.N, np.int8)
    frozen[lat.site_index(np.array([(0, 0), (1, 1), (2, 0), (3, 3)]))] = 1
    return lat, frozen


def test_effective_potential_matches_walker_occupancy():
    """The Boltzmann shortcut V_i = E_i + const equals −T ln ν_i of a test electron doing kMC (spec §5.6)."""
    lat, frozen = _frozen_example()
    T = 0.1
    V = fk.effective_potential(lat, frozen, T=T, method="full")
    ok = np.isfinite(V)
    assert ok.sum() == lat.N - 4 and np.nanmin(V) == 0 and np.nanmax(V) > 0.05
    nu = fk.walker_occupancy(lat, V, T, 200_000, np.random.default_rng(0), start=int(np.flatnonzero(ok)[0]))
    boltz = np.where(ok, np.exp(-np.nan_to_num(V, nan=np.inf) / T), 0.0)
    boltz /= boltz.sum()
    assert nu[~ok].sum() == 0
    np.testing.assert_allclose(nu[ok], boltz[ok], atol=0.01, rtol=0.15)


def test_effective_potential_accessible_region():
    lat = square(6)
    frozen = np.zeros(lat.N, np.int8)
    frozen[lat.cells[:, 0] == 0] = 1  # a wall at x = 0 ... and one at x = 3: two separate empty regions
    frozen[lat.cells[:, 0] == 3] = 1
    V = fk.effective_potential(lat, frozen, method="full", start=int(lat.site_index(np.array([1, 0]))))
    assert np.isfinite(V).sum() == 12 and np.all(np.isfinite(V[np.isin(lat.cells[:, 0], [1, 2])]))


def test_effective_potential_lowrank_equals_full():
    pytest.importorskip("latticeml.calculators.exact")
    lat, frozen = _frozen_example()
    for kind in ("internal", "free"):
        full = fk.effective_potential(lat, frozen, energy_kind=kind, method="full")
        fast = fk.effective_potential(lat, frozen, energy_kind=kind, method="lowrank")
        np.testing.assert_allclose(fast, full, atol=1e-9)


def test_growth_fits_recover_known_laws():
    t = np.arange(1, 1001, dtype=float)
    rng = np.random.default_rng(0)
    y = 1.5 + 0.8 * t**0.35 + rng.normal(0, 0.01, t.size)
    fit = fit_power_law(t, y, window=(1, 1000))
    assert abs(fit["alpha"] - 0.35) < 3 * fit.errors["alpha"] + 0.01 and fit.errors["alpha"] < 0.02
    fixed = fit_power_law(t, y, window=(10, 1000), l0=1.5)
    assert fixed["alpha"] == pytest.approx(0.35, abs=0.01) and fixed.window == (10, 1000)
    log = fit_log(t, 0.2 + 0.165 * np.log(t), window=(100, 1000))
    assert log["b"] == pytest.approx(0.165, rel=1e-10) and log.n_points == 901
    lin = fit_linear([-1, 0, 0.5, 1], [-0.12, -0.002, 0.057, 0.116])
    assert lin.extras["r"] > 0.999 and lin["b"] == pytest.approx(0.118, abs=0.002)
    k = np.linspace(1, 10, 50)
    porod = fk.porod_exponent(k, 2 * k**-3.0, window=(2, 8))
    assert porod["slope"] == pytest.approx(-3.0, abs=1e-10)
    with pytest.raises(LatticeMLError, match="window"):
        fit_loglog(t, y, window=(5, 6))


def test_plots_write_png_files(tmp_path):
    from latticeml import plots

    lat = square(10)
    occ = _checkerboard(lat, 0) * (lat.cells[:, 0] < 5)
    plots.plot_fk_snapshot(lat, occ, title="t = 0", path=tmp_path / "snap.png")
    t = np.arange(1, 20.0)
    plots.plot_growth({"ED": (t, t**0.3, 0.05 * t**0.3), "ML": (t, 1.1 * t**0.3)},
                      fits={"fit": (t, t**0.3, "α = 0.3")}, path=tmp_path / "growth.png")
    k = np.linspace(0.5, 5, 10)
    plots.plot_structure_factor_collapse({"t = 1": (k, k**-3.0)}, path=tmp_path / "collapse.png")
    plots.plot_correlation({"ED": np.cos(np.arange(8.0)), "ML": (np.arange(8), np.sin(np.arange(8.0)), 0.1)},
                           path=tmp_path / "corr.png")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("snap.png", "growth.png", "collapse.png", "corr.png"))


def test_plots_survive_empty_log_data(tmp_path):
    """Nothing positive to put on log axes (a lone t = 0 frame, an all-zero S): the plots fall back to linear
    axes instead of raising from matplotlib."""
    from latticeml.lattice import triangular
    from latticeml.plots import plot_growth, plot_structure_factor, plot_structure_factor_collapse

    plot_growth({"one frame": ([0.0], [1.0])}, path=tmp_path / "g.png")
    plot_structure_factor_collapse({"t = 1": ([0.0, 1.0, 2.0], [0.0, 0.0, 0.0])}, path=tmp_path / "c.png")
    plot_structure_factor(triangular(6), np.zeros(36), log=True, path=tmp_path / "s.png")
    assert all((tmp_path / f).is_file() for f in ("g.png", "c.png", "s.png"))
