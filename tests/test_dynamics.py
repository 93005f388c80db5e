"""Steppers against analytic results: LLG precession/relaxation and order, thermal equilibria of LLG, Langevin and
Brownian dynamics, and the kinetic Monte Carlo rule and its Boltzmann stationary distribution."""
import itertools

import numpy as np
import pytest

from latticeml.calculators.base import Calculator
from latticeml.calculators.classical import HarmonicCalculator, HeisenbergCalculator, ZeemanCalculator
from latticeml.dynamics import LLG, Brownian, KineticMC, Langevin, Simulation, State
from latticeml.dynamics.kernels import cayley_rotate, metropolis_hop_probabilities
from latticeml.lattice import square, triangular


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_cayley_rotation_preserves_norm_and_solves_implicit_midpoint():
    rng = np.random.default_rng(0)
    x, omega, dt = rng.standard_normal((50, 3)), 3 * rng.standard_normal((50, 3)), 0.3
    y = cayley_rotate(x, omega, dt)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-14)
    u = 0.5 * dt * omega
    np.testing.assert_allclose(y, x + np.cross(u, x + y), atol=1e-13)


@pytest.mark.parametrize("lattice", [triangular(4), square(3)], ids=["triangular", "square"])
def test_heisenberg_energy_and_field_match_bond_sum_and_finite_differences(lattice):
    calc = HeisenbergCalculator(lattice, J=0.7, field=(0.1, 0.2, 0.3))
    spins = _unit(np.random.default_rng(0).standard_normal((lattice.N, 3)))
    bond_sum = sum(spins[i] @ spins[j] for i, j in lattice.bonds(1))
    result = calc.compute(spins)
    assert result.energy == pytest.approx(-0.7 * bond_sum - np.sum(spins @ calc.h), abs=1e-12)
    eps, numeric = 1e-6, np.zeros_like(spins)
    for i, a in itertools.product(range(lattice.N), range(3)):
        shift = np.zeros_like(spins)
        shift[i, a] = eps
        numeric[i, a] = -(calc.energy(spins + shift) - calc.energy(spins - shift)) / (2 * eps)
    np.testing.assert_allclose(result.forces, numeric, atol=1e-8)


def _precession_error(scheme, dt, B=2.0, alpha=0.1, gamma=1.5, t_end=2.0):
    """Max deviation of one spin in a field B ẑ from the exact LL solution
    S_z = tanh(αγB t + artanh S_z(0)), azimuth φ = −γB t."""
    theta = 1.0
    state = State(np.array([[np.sin(theta), 0.0, np.cos(theta)]]))
    stepper = LLG(ZeemanCalculator((0, 0, B)), dt=dt, alpha=alpha, scheme=scheme, gamma=gamma)
    Simulation(state, stepper, seed=0, n_steps=int(round(t_end / dt)), progress=False).run()
    t = state.time
    sz = np.tanh(alpha * gamma * B * t + np.arctanh(np.cos(theta)))
    phi = -gamma * B * t
    exact = np.array([np.sqrt(1 - sz**2) * np.cos(phi), np.sqrt(1 - sz**2) * np.sin(phi), sz])
    return np.abs(state.field[0] - exact).max()


@pytest.mark.parametrize("scheme", ["sib", "heun"])
def test_llg_single_spin_precession_and_damping_are_second_order(scheme):
    """Error < 1e-4 at dt = 0.005 and shrinking as dt². The reference is sharp: the Gilbert form's 1/(1+α²) factor
    would shift the phase by γBtα² ≈ 0.06 and a wrong damping sign would flip S_z."""
    errors = [_precession_error(scheme, dt) for dt in (0.02, 0.01, 0.005)]
    assert errors[-1] < 1e-4, errors
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.2)), orders


@pytest.mark.parametrize("scheme", ["sib", "heun"])
def test_llg_keeps_unit_spins_with_noise_and_exchange(scheme):
    lat = triangular(6)
    rng = np.random.default_rng(1)
    state = State(_unit(rng.standard_normal((lat.N, 3))))
    stepper = LLG(HeisenbergCalculator(lat, J=1.0, field=(0, 0, 0.3)), dt=0.05, alpha=0.1, T=0.5, scheme=scheme)
    Simulation(state, stepper, seed=2, n_steps=200, progress=False).run()
    np.testing.assert_allclose(np.linalg.norm(state.field, axis=1), 1.0, atol=1e-14)


@pytest.mark.parametrize("scheme, gamma", [("sib", 1.0), ("heun", 1.0), ("sib", 3.0), ("heun", 3.0)])
def test_llg_noise_gives_classical_paramagnet_magnetisation(scheme, gamma):
    """Independent spins in a field B at temperature T: ⟨S_z⟩ = coth(B/T) − T/B (Langevin function), for any γ.

    This fixes the noise prefactor 2αγT: a factor 2 off in the variance moves ⟨S_z⟩ by 0.22 (≫ tolerance 0.015), and
    a missing γ = 3 equilibrates at T/3 (⟨S_z⟩ 0.83 instead of 0.54).
    """
    B, T, n_spins = 1.0, 0.5, 2000
    state = State(np.tile([0.0, 0.0, 1.0], (n_spins, 1)))
    stepper = LLG(ZeemanCalculator((0, 0, B)), dt=0.02 / gamma, alpha=0.5, T=T, scheme=scheme, gamma=gamma)
    rng = np.random.default_rng(3)
    samples = []
    for k in range(1500):
        stepper.step(state, rng)
        if k >= 500 and k % 50 == 0:
            samples.append(state.field[:, 2].mean())
    exact = 1 / np.tanh(B / T) - T / B
    assert abs(np.mean(samples) - exact) < 0.015, (np.mean(samples), exact)


def test_langevin_baoab_equipartition():
    K, m, T, n_modes = 2.0, 1.5, 0.7, 4000
    state = State(np.zeros(n_modes))
    stepper = Langevin(HarmonicCalculator(K), dt=0.1, gamma=1.0, T=T, mass=m)
    rng = np.random.default_rng(4)
    q2, p2 = [], []
    for k in range(1200):
        stepper.step(state, rng)
        if k >= 200 and k % 5 == 0:
            q2.append(np.mean(state.field**2))
            p2.append(np.mean(state.extras["momentum"] ** 2))
    assert abs(np.mean(q2) / (T / K) - 1) < 0.02, np.mean(q2)
    assert abs(np.mean(p2) / (m * T) - 1) < 0.02, np.mean(p2)


def test_brownian_harmonic_variance():
    """Euler-Maruyama on E = K Q²/2 is an AR(1) process with variance (T/K)/(1 − K dt/(2γ)) exactly."""
    K, gamma, T, dt, n_modes = 1.0, 2.0, 0.3, 0.05, 4000
    state = State(np.zeros(n_modes))
    stepper = Brownian(HarmonicCalculator(K), dt=dt, gamma=gamma, T=T)
    rng = np.random.default_rng(5)
    q2 = []
    for k in range(1500):
        stepper.step(state, rng)
        if k >= 300 and k % 10 == 0:
            q2.append(np.mean(state.field**2))
    exact = (T / K) / (1 - K * dt / (2 * gamma))
    assert abs(np.mean(q2) / exact - 1) < 0.015, (np.mean(q2), exact)


# ---------------------------------------------------------------------------------------------- kinetic Monte Carlo
class PairGas(Calculator):
    """Cheap exact occupation model: site potentials v_i plus nearest-neighbour attraction V n_i n_j."""

    field_kind = "occupation"

    def __init__(self, lattice, v, V):
        self.lattice, self.v, self.V = lattice, np.asarray(v, float), float(V)
        self.adj = lattice.adjacency(1)
        self.metadata = {"model": "pair-gas"}
        self.commits = []

    def energy(self, occ):
        n = np.asarray(occ, float)
        return float(self.v @ n + 0.5 * self.V * n @ self.adj @ n)

    def move_energies(self, occ, moves):
        i, j = np.asarray(moves).T
        assert np.all(occ[i] == 1) and np.all(occ[j] == 0), "only hops of a particle to an empty site are scored"
        h = self.adj @ np.asarray(occ, float)
        return self.v[j] - self.v[i] + self.V * (h[j] - self.adj[i, j] - h[i])

    def commit(self, occ_after, move):
        self.commits.append(move)


def test_metropolis_probabilities_kernel():
    p = metropolis_hop_probabilities(np.array([-1.0, 0.0, 0.5, np.inf]), 0.5)
    np.testing.assert_allclose(p, [0.25, 0.25, 0.25 * np.exp(-1.0), 0.0])
    np.testing.assert_allclose(metropolis_hop_probabilities(np.array([-1.0, 0.0, 1e-9, np.inf]), 0.0),
                               [0.25, 0.25, 0.0, 0.0])


def test_kmc_attempt_follows_the_cumulative_rule_in_neighbour_order():
    """One particle at the centre of 5×5, +y neighbour occupied: the hop directions +x, −y, −x are taken with
    probabilities p_d = (1/4)min(1, e^{−ΔE_d/T}) and +y never (spec ch2 §3)."""
    lat = square(5)
    centre = lat.site_index(np.array([2, 2]))
    plus_y = lat.site_index(np.array([2, 3]))
    v = np.zeros(lat.N)
    targets = {lat.site_index(np.array(c)): dv for c, dv in (((3, 2), -0.5), ((2, 1), 0.2), ((1, 2), 0.6))}
    for site, dv in targets.items():
        v[site] = dv
    T = 0.4
    calc = PairGas(lat, v, V=0.0)
    stepper = KineticMC(calc, T=T)
    occ0 = np.zeros(lat.N, np.int8)
    occ0[[centre, plus_y]] = 1
    rng = np.random.default_rng(6)
    counts = dict.fromkeys(list(targets) + [plus_y, None], 0)
    n_trials = 20000
    stepper.prepare(State(occ0.copy()))
    for _ in range(n_trials):
        state = State(occ0.copy())
        stepper.particles = np.array([centre])  # the particle at +y is an obstacle, never picked
        moved = stepper.attempt(state, rng)
        counts[int(np.flatnonzero(state.field > occ0)[0]) if moved else None] += 1
    expected = {site: 0.25 * min(1.0, np.exp(-dv / T)) for site, dv in targets.items()}
    for site, p in expected.items():
        assert abs(counts[site] / n_trials - p) < 4 * np.sqrt(p / n_trials), (site, counts[site] / n_trials, p)
    assert counts[plus_y] == 0
    assert stepper.accepted == sum(counts[s] for s in targets) == len(calc.commits)


def test_kmc_counts_blocked_particles_and_advances_one_mcs_per_sweep():
    lat = square(5)
    occ = np.zeros(lat.N, np.int8)
    plus = [(2, 2), (3, 2), (1, 2), (2, 3), (2, 1)]  # centre surrounded by its four neighbours
    occ[lat.site_index(np.array(plus))] = 1
    stepper = KineticMC(PairGas(lat, 100.0 * (1 - occ), V=0.0), T=0.1)  # every hop costs ΔE = 100
    state = State(occ.copy())
    rng = np.random.default_rng(7)
    for sweep in range(1, 4):
        stepper.step(state, rng)
        assert state.step == sweep and state.time == sweep
    assert stepper.attempts == 15 and stepper.accepted == 0
    assert 0 < stepper.blocked < 15  # the centre is blocked, the arms are not
    np.testing.assert_array_equal(state.field, occ)


def test_kmc_stationary_distribution_is_boltzmann():
    """2 particles on a periodic 3×3 lattice (36 configurations): visit frequencies = exp(−E/T)/Z."""
    lat = square(3)
    rng = np.random.default_rng(8)
    calc = PairGas(lat, rng.uniform(-1, 1, lat.N), V=-0.7)
    T = 0.8
    configs = list(itertools.combinations(range(lat.N), 2))
    index = {c: k for k, c in enumerate(configs)}
    energies = np.array([calc.energy(np.isin(np.arange(lat.N), c).astype(np.int8)) for c in configs])
    boltzmann = np.exp(-(energies - energies.min()) / T)
    boltzmann /= boltzmann.sum()

    occ = np.zeros(lat.N, np.int8)
    occ[[0, 4]] = 1
    state = State(occ)
    stepper = KineticMC(calc, T=T)
    stepper.prepare(state)
    n_batches, per_batch = 20, 2000
    visits = np.zeros((n_batches, len(configs)))
    for batch in range(n_batches):
        for _ in range(per_batch):
            stepper.attempt(state, rng)
            visits[batch, index[tuple(np.flatnonzero(state.field))]] += 1
    freq = visits / per_batch
    mean, err = freq.mean(0), freq.std(0, ddof=1) / np.sqrt(n_batches)
    assert np.all(np.abs(mean - boltzmann) < 5 * err + 1e-3), np.abs(mean - boltzmann) / err
    # total variation distance; the uniform distribution or Boltzmann at 2T or T/2 is >= 0.2 away
    assert 0.5 * np.abs(mean - boltzmann).sum() < 0.05


def test_steppers_reject_invalid_parameters():
    calc = HarmonicCalculator(1.0)
    with pytest.raises(ValueError):
        Langevin(calc, dt=0.0, gamma=1.0, T=1.0)
    with pytest.raises(ValueError):
        Brownian(calc, dt=0.1, gamma=1.0, T=-1.0)
    with pytest.raises(ValueError):
        LLG(ZeemanCalculator(), dt=0.1, alpha=0.1, scheme="rk4")
    with pytest.raises(ValueError):
        KineticMC(PairGas(square(3), np.zeros(9), 0.0), T=-0.1)
