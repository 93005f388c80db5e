"""Rejection-free n-fold-way kMC with cached rates: exact equivalence to attempt-by-attempt Metropolis."""
import itertools

import numpy as np
import pytest

from latticeml.calculators.base import Calculator
from latticeml.dynamics.base import State
from latticeml.dynamics.kmc import KineticMC
from latticeml.dynamics.kmc_fast import HAVE_NUMBA, CachedMetropolisKMC, NFoldKMC, SumTree
from latticeml.errors import ConfigError
from latticeml.lattice import square


class LatticeGas(Calculator):
    """Classical lattice gas E = J1 Σ_<ij> n_i n_j + J2 Σ_<<ij>> n_i n_j (cutoff √2): a cheap exact test model."""

    field_kind = "occupation"

    def __init__(self, lattice, J1=-1.0, J2=0.3):
        self.lattice, self.J1, self.J2 = lattice, J1, J2
        table = lattice.neighbor_table(1.5)
        self.nn, self.nnn = table[:, :4], table[:, 4:]
        self.metadata = {"model": "lattice-gas", "J1": J1, "J2": J2}

    def energy(self, occ):
        n = np.asarray(occ, float)
        return 0.5 * float(n @ (self.J1 * n[self.nn].sum(1) + self.J2 * n[self.nnn].sum(1)))

    def move_energies(self, occ, moves):
        n = np.asarray(occ, float)
        i, j = np.asarray(moves).T
        out = np.zeros(len(i))
        for J, tab in ((self.J1, self.nn), (self.J2, self.nnn)):
            out += J * (n[tab[j]].sum(1) - n[tab[i]].sum(1) - (tab[j] == i[:, None]).sum(1))
        return out


def _random_occ(lat, n_f, rng):
    occ = np.zeros(lat.N, dtype=np.int8)
    occ[rng.choice(lat.N, n_f, replace=False)] = 1
    return occ


def test_lattice_gas_oracle_matches_energy_differences():
    lat = square(6)
    calc = LatticeGas(lat)
    occ = _random_occ(lat, 12, np.random.default_rng(1))
    i = np.flatnonzero(occ)
    moves = np.array([(a, b) for a in i for b in calc.nn[a] if occ[b] == 0])
    ref = []
    for a, b in moves:
        trial = occ.copy()
        trial[a], trial[b] = 0, 1
        ref.append(calc.energy(trial) - calc.energy(occ))
    np.testing.assert_allclose(calc.move_energies(occ, moves), ref, atol=1e-12)


@pytest.mark.parametrize("use_numba", [False, True] if HAVE_NUMBA else [False])
def test_sum_tree_selects_by_cumulative_weight(use_numba):
    rng = np.random.default_rng(0)
    w = rng.random(37) * (rng.random(37) > 0.3)
    tree = SumTree(len(w), use_numba=use_numba)
    tree.set(np.arange(len(w)), w)
    tree.set(np.array([3, 5]), np.array([0.0, 0.7]))  # a partial update recomputes the ancestors
    w[3], w[5] = 0.0, 0.7
    assert tree.total == pytest.approx(w.sum(), rel=1e-14)
    u = rng.random(500) * w.sum()
    picked = [tree.find(x) for x in u]
    np.testing.assert_array_equal(picked, np.searchsorted(np.cumsum(w), u, side="right"))
    assert all(w[k] > 0 for k in picked)


def test_numba_and_numpy_trees_are_bitwise_equal():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(2)
    trees = [SumTree(100, use_numba=flag) for flag in (False, True)]
    for _ in range(20):
        leaves, vals = rng.choice(100, 7, replace=False), rng.random(7)
        for t in trees:
            t.set(leaves, vals)
    np.testing.assert_array_equal(trees[0].tree, trees[1].tree)


def test_cached_rates_are_exact_and_trajectory_equals_refresh_all():
    lat = square(10)
    occ0 = _random_occ(lat, 25, np.random.default_rng(3))
    finals = []
    for radius in (np.sqrt(2) + 1, None):
        stepper = NFoldKMC(LatticeGas(lat), T=0.4, refresh_radius=radius)
        state = State(occ0.copy())
        rng = np.random.default_rng(11)
        for _ in range(30):
            stepper.step(state, rng)
        finals.append((state.field.copy(), stepper.events, stepper.particles.copy(), stepper.rates.copy()))
    (f1, e1, p1, r1), (f2, e2, p2, r2) = finals
    assert e1 > 50 and e1 == e2
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(r1, r2)
    # the cache equals a fresh computation of every rate
    fresh = NFoldKMC(LatticeGas(lat), T=0.4)
    fresh.prepare(State(f1.copy()))
    order = np.argsort(p1)
    np.testing.assert_array_equal(r1[order], fresh.rates[np.argsort(fresh.particles)])


@pytest.mark.parametrize("clock", ["exponential", "attempts"])
def test_stationary_distribution_matches_exact_enumeration(clock):
    lat = square(4)
    calc = LatticeGas(lat, J1=-1.0, J2=0.5)
    T, n_f = 0.8, 3
    energies = []
    for sites in itertools.combinations(range(lat.N), n_f):
        occ = np.zeros(lat.N, np.int8)
        occ[list(sites)] = 1
        energies.append(calc.energy(occ))
    levels, inverse = np.unique(np.round(energies, 9), return_inverse=True)
    boltz = np.exp(-np.asarray(energies) / T)
    exact = np.bincount(inverse, weights=boltz) / boltz.sum()

    stepper = NFoldKMC(calc, T=T, refresh_radius=np.sqrt(2) + 1, clock=clock)
    state = State(_random_occ(lat, n_f, np.random.default_rng(5)))
    rng = np.random.default_rng(6)
    n_batches, per_batch = 16, 400
    hist = np.zeros((n_batches, len(levels)))
    for b in range(n_batches):
        for _ in range(per_batch):
            stepper.step(state, rng)
            hist[b, np.searchsorted(levels, round(calc.energy(state.field), 9))] += 1
    hist /= per_batch
    mean, err = hist.mean(0), hist.std(0, ddof=1) / np.sqrt(n_batches)
    assert np.all(np.abs(mean - exact) < 5 * err + 2e-3), (mean, exact, err)


def _relaxation(make_stepper, lat, n_runs, n_mcs, seed):
    """Mean energy E(t) at integer MCS and mean number of hops per run, each with its standard error."""
    curves = np.empty((n_runs, n_mcs + 1))
    hops = np.empty(n_runs)
    for run in range(n_runs):
        calc = LatticeGas(lat, J1=-1.0, J2=0.3)
        stepper = make_stepper(calc)
        state = State(_random_occ(lat, 16, np.random.default_rng(1000 + run)))
        stepper.prepare(state)
        rng = np.random.default_rng(seed + run)
        curves[run, 0] = calc.energy(state.field)
        for t in range(1, n_mcs + 1):
            stepper.step(state, rng)
            assert state.time == t
            curves[run, t] = calc.energy(state.field)
        hops[run] = getattr(stepper, "accepted", getattr(stepper, "events", None))
    se = np.sqrt(n_runs)
    return curves.mean(0), curves.std(0, ddof=1) / se, hops.mean(), hops.std(ddof=1) / se


def test_relaxation_matches_attempt_by_attempt_metropolis():
    """Same initial states, quench to T = 0.3: n-fold way (both clocks) = plain Metropolis kMC in E(t) and hop count.

    The hop count per run tests the time normalisation directly (a clock 1.5× too fast fails it by > 10σ).
    """
    lat, n_runs, n_mcs = square(8), 80, 12
    ref, ref_err, ref_hops, ref_hops_err = _relaxation(lambda c: KineticMC(c, T=0.3), lat, n_runs, n_mcs, 0)
    assert ref[-1] < ref[0] - 5  # a real relaxation, not a flat curve
    for clock in ("exponential", "attempts"):
        fast, fast_err, hops, hops_err = _relaxation(
            lambda c: NFoldKMC(c, T=0.3, refresh_radius=np.sqrt(2) + 1, clock=clock), lat, n_runs, n_mcs, 10_000)
        z = (fast - ref)[1:] / np.hypot(ref_err, fast_err)[1:]
        assert np.max(np.abs(z)) < 4.0, (clock, z)
        assert abs(hops - ref_hops) < 4.0 * np.hypot(hops_err, ref_hops_err), (clock, hops, ref_hops)


@pytest.mark.parametrize("make", [
    lambda lat: NFoldKMC(LatticeGas(lat), T=0.5, refresh_radius=np.sqrt(2) + 1),
    lambda lat: CachedMetropolisKMC(LatticeGas(lat), T=0.5, interaction_radius=np.sqrt(2) + 1),
], ids=["nfold", "cached_metropolis"])
def test_state_dict_resume_is_bitwise_identical(make):
    lat = square(8)
    stepper = make(lat)
    state = State(_random_occ(lat, 16, np.random.default_rng(7)))
    rng = np.random.default_rng(8)
    for _ in range(5):
        stepper.step(state, rng)
    saved, saved_state, saved_rng = stepper.state_dict(), state.copy(), rng.bit_generator.state
    for _ in range(5):
        stepper.step(state, rng)
    resumed = make(lat)
    resumed.load_state_dict(saved)
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = saved_rng
    for _ in range(5):
        resumed.step(saved_state, rng2)
    np.testing.assert_array_equal(saved_state.field, state.field)
    assert saved_state.time == state.time == 10 and resumed.summary() == stepper.summary()


def test_frozen_system_only_advances_time():
    lat = square(6)
    occ = np.zeros(lat.N, np.int8)
    occ[lat.site_index(np.array([(0, 0), (0, 1), (1, 0), (1, 1)]))] = 1  # compact 2×2 block: every hop costs +2
    stepper = NFoldKMC(LatticeGas(lat, J1=-1.0, J2=0.0), T=0.0)
    state = State(occ.copy())
    stepper.step(state, np.random.default_rng(0))
    assert state.time == 1.0 and stepper.events == 0 and stepper.summary()["total_rate"] == 0.0
    np.testing.assert_array_equal(state.field, occ)


def test_bad_settings_are_config_errors():
    calc = LatticeGas(square(4))
    with pytest.raises(ConfigError, match="clock"):
        NFoldKMC(calc, T=1.0, clock="wall")
    with pytest.raises(ConfigError, match="refresh_radius"):
        NFoldKMC(calc, T=1.0, refresh_radius=-1)


def test_exact_fk_calculator_rates():
    exact = pytest.importorskip("latticeml.calculators.exact")
    lat = square(6)
    calc = exact.FalicovKimballCalculator(lat, U=2.0, filling_c=0.55, T=0.05)
    occ = _random_occ(lat, 7, np.random.default_rng(9))
    stepper = NFoldKMC(calc, T=0.05)
    state = State(occ.copy())
    stepper.step(state, np.random.default_rng(10))
    # after the sweep the cached rates equal (1/4)min(1, exp(-ΔE/T)) of the calculator on the current field
    calc.reset(state.field)
    for slot, i in enumerate(stepper.particles):
        for d, j in enumerate(stepper.hops[i]):
            if state.field[j]:
                assert stepper.rates[slot, d] == 0.0
            else:
                dE = calc.move_energies(state.field, np.array([[i, j]]))[0]
                assert stepper.rates[slot, d] == pytest.approx(0.25 * min(1.0, np.exp(-dE / 0.05)), abs=1e-9)


def test_cached_metropolis_trajectory_does_not_depend_on_batching():
    """Conflict-free batches only regroup calculator calls: window 1 (one attempt at a time), 7, 512 and the
    default give the same trajectory bit for bit, and the valid cached rates equal fresh ones."""
    lat = square(16)
    occ0 = _random_occ(lat, 60, np.random.default_rng(3))
    finals = []
    for window in (1, 7, 512, None):
        stepper = CachedMetropolisKMC(LatticeGas(lat), T=0.4, interaction_radius=np.sqrt(2) + 1, window=window)
        state = State(occ0.copy())
        rng = np.random.default_rng(5)
        for _ in range(30):
            stepper.step(state, rng)
        finals.append((state.field.copy(), stepper.accepted, stepper.evaluated_particles))
        check = NFoldKMC(LatticeGas(lat), T=0.4)
        check.prepare(State(state.field.copy()))
        fresh = check.rates[np.argsort(check.particles)][np.argsort(np.argsort(stepper.particles))]
        np.testing.assert_array_equal(stepper.rates[stepper.valid], fresh[stepper.valid])
    assert finals[0][1] > 100 and stepper.summary()["mean_batch"] > 2
    for f, acc, ev in finals[1:]:
        np.testing.assert_array_equal(f, finals[0][0])
        assert (acc, ev) == finals[0][1:]


def test_model_range_below_the_hop_length_gives_the_same_trajectory():
    """Hard-core gas (ΔE ≡ 0), whose exact range is 0: a cached rate still holds whether its target is empty, so a
    neighbour leaving that target must refresh it. r = 0 must give the trajectory of any larger (also exact) r;
    before the fix it kept stale zero rates (acceptance 0.490 ± 0.004 against Metropolis' 0.506 on 20×20)."""
    lat = square(12)
    occ0 = _random_occ(lat, 70, np.random.default_rng(0))
    finals = []
    for r in (0.0, 2.5):
        stepper = CachedMetropolisKMC(LatticeGas(lat, 0.0, 0.0), T=1.0, interaction_radius=r)
        state, rng = State(occ0.copy()), np.random.default_rng(1)
        for _ in range(20):
            stepper.step(state, rng)
        finals.append((state.field.copy(), stepper.accepted))
    np.testing.assert_array_equal(finals[0][0], finals[1][0])
    assert finals[0][1] == finals[1][1] > 100


def test_cached_metropolis_relaxation_matches_plain_metropolis():
    lat, n_runs, n_mcs = square(8), 80, 12
    ref, ref_err, ref_hops, ref_hops_err = _relaxation(lambda c: KineticMC(c, T=0.3), lat, n_runs, n_mcs, 0)
    fast, fast_err, hops, hops_err = _relaxation(
        lambda c: CachedMetropolisKMC(c, T=0.3, interaction_radius=np.sqrt(2) + 1), lat, n_runs, n_mcs, 10_000)
    z = (fast - ref)[1:] / np.hypot(ref_err, fast_err)[1:]
    assert np.max(np.abs(z)) < 4.0, z
    assert abs(hops - ref_hops) < 4.0 * np.hypot(hops_err, ref_hops_err), (hops, ref_hops)


def test_cached_metropolis_bad_settings_are_config_errors():
    calc = LatticeGas(square(4))
    with pytest.raises(ConfigError, match="interaction_radius"):
        CachedMetropolisKMC(calc, T=1.0, interaction_radius=None)
    with pytest.raises(ConfigError, match="window"):
        CachedMetropolisKMC(calc, T=1.0, interaction_radius=2.0, window=0)
