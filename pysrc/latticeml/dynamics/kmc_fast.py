"""Kinetic Monte Carlo on cached hop rates for FK-type particle hopping: the rejection-free n-fold way (BKL,
:class:`NFoldKMC`) and attempt-by-attempt Metropolis with lazily cached rates in conflict-free batches
(:class:`CachedMetropolisKMC`, documented there; the one to use for expensive local models such as the FK ML
networks while acceptance is high, since it evaluates at most one rate per attempt instead of ≈ 80 per hop).
The rest of this docstring derives the n-fold way.

The process is the one of :class:`~latticeml.dynamics.kmc.KineticMC` (spec ch2 §3): an attempt picks one of the
N_f particles uniformly and makes hop (i, d) with probability p_{i,d} = (1/z)·min(1, exp(−ΔE_{i,d}/T))
(0 for an occupied target); one MC sweep (MCS) is N_f attempts. Rejected attempts do not change the
configuration, so they only cost time, and the accepted hops form a Markov jump process:

* an attempt makes hop (i, d) with probability (1/N_f)·p_{i,d}; attempts come at N_f per MCS, hence hop (i, d)
  happens at rate N_f · (1/N_f) · p_{i,d} = p_{i,d} per MCS and the total rate is R = Σ_{i,d} p_{i,d};
* the next hop is (i, d) with probability p_{i,d}/R (picked in O(log N) from a sum tree over all rates);
* the waiting time is the number of attempts until one succeeds, k ~ Geometric(q = R/N_f), i.e. Δt = k/N_f MCS
  (``clock="attempts"``: the same distribution of paths and times as attempt-by-attempt Metropolis), or its
  continuous-time limit Δt ~ Exp(mean 1/R) (``clock="exponential"``, the usual BKL clock, spec §8). The two
  differ only on time scales of 1/N_f MCS.

Rates are cached per particle and direction and recomputed only when they can have changed: after a hop i → j,
for the particles within ``refresh_radius`` of i or j and those with i or j among their hop targets, in one
batched ``calculator.move_energies`` call. This is exact when the ΔE of every hop of a particle depends only on
occupations within ``refresh_radius`` of that particle: R_c for the FK ML model (its descriptor is centred on the
hopping electron, R_c = 10.01), R_c + 1 for pair interactions of range R_c (the +1 covers the environment of the
hop's target site). An exact electronic calculator (FK ED) is long-ranged: every hop changes every ΔE, so use
``refresh_radius=None`` (refresh all after each hop; still rejection-free).

Cost: an event costs one batched evaluation of the moves of the refreshed particles (≈ 77 particles for
R_c = 10 at ρ_f = 0.19), an attempt of plain kMC one small evaluation; the n-fold way wins once the acceptance
per attempt is small (the arrested late-time regime). The sum tree is compiled with numba when it is installed
(identical results; it only matters for cheap models, ≈ 2× per MCS for a classical lattice gas).

:meth:`NFoldKMC.step` advances to the next integer MCS (events until the clock crosses it; the residual waiting
time is discarded, which is exact for both clocks as they are memoryless), so observers see integer times.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .base import State, Stepper
from .kmc import neighbor_hops

__all__ = ["NFoldKMC", "CachedMetropolisKMC", "SumTree", "HAVE_NUMBA"]

CLOCKS = ("exponential", "attempts")


def _tree_set_loops(tree, leaves, values):
    """Set leaf values and recompute their ancestors from their children (no accumulated round-off)."""
    half = tree.shape[0] // 2
    for k in range(leaves.shape[0]):
        tree[half + leaves[k]] = values[k]
    for k in range(leaves.shape[0]):
        node = (half + leaves[k]) >> 1
        while node >= 1:
            tree[node] = tree[2 * node] + tree[2 * node + 1]
            node >>= 1


def _tree_find_loops(tree, u):
    """Leaf whose cumulative interval contains u ∈ [0, total)."""
    half = tree.shape[0] // 2
    node = 1
    while node < half:
        left = tree[2 * node]
        if u < left:
            node = 2 * node
        else:
            u -= left
            node = 2 * node + 1
    return node - half


def _select_batch_loops(pending, n_pending, window, picks, particles, conflict_disk, wide_disk, stamp, stamp_id,
                        batch, slot_stamp):
    """Positions (into ``pending``) of the look-ahead attempts that commute with every earlier unresolved one.

    Scans the first ``window`` unresolved attempts in order; an attempt is taken when its particle is not within the
    conflict disk (radius r + 1) of the particle of any earlier scanned attempt (taken or not), then its own disk is
    stamped. A particle moves at most once per attempt: the second scanned attempt on one particle is not taken and
    stamps the ``wide_disk`` (r + 2) around it; the scan stops at a third. Returns how many positions were written.
    """
    n_batch = 0
    for k in range(min(window, n_pending)):
        slot = picks[pending[k]]
        seen = slot_stamp[slot] - stamp_id * 4 if slot_stamp[slot] >= stamp_id * 4 else 0
        if seen >= 2:
            break
        slot_stamp[slot] = stamp_id * 4 + seen + 1
        site = particles[slot]
        if seen == 0 and stamp[site] != stamp_id:
            batch[n_batch] = k
            n_batch += 1
        disk = conflict_disk if seen == 0 else wide_disk
        for m in range(disk.shape[1]):
            stamp[disk[site, m]] = stamp_id
    return n_batch


def _resolve_batch_loops(pending, batch, n_batch, picks, r, rates, particles, slot_of_site, occ, hops, valid,
                         refresh_disk, moved):
    """Make the Metropolis attempts ``pending[batch[:n_batch]]`` in order on cached rates; returns the hop count.

    Hop (i → j) updates the occupations and marks stale every particle within the refresh disk of i or j; the hops
    are written to ``moved`` (n_hops, 2) for the calculator's commit.
    """
    z = rates.shape[1]
    n_hops = 0
    for b in range(n_batch):
        a = pending[batch[b]]
        slot = picks[a]
        # Eq. 2.2: direction d = ⌊z r⌋ uniformly, accepted when z r − d < z p_d = min(1, e^{−ΔE/T})
        d = min(int(r[a] * z), z - 1)
        i = particles[slot]
        j = hops[i, d]
        if occ[j] != 0 or r[a] - d / z >= rates[slot, d]:
            continue
        occ[i] = 0
        occ[j] = 1
        particles[slot] = j
        slot_of_site[i] = -1
        slot_of_site[j] = slot
        for site in (i, j):
            for m in range(refresh_disk.shape[1]):
                s = slot_of_site[refresh_disk[site, m]]
                if s >= 0:
                    valid[s] = False
        moved[n_hops, 0] = i
        moved[n_hops, 1] = j
        n_hops += 1
    return n_hops


def _drop_resolved_loops(pending, n_pending, batch, n_batch):
    """Remove positions ``batch[:n_batch]`` (increasing) from ``pending[:n_pending]`` in place, keeping the order."""
    w = 0
    b = 0
    for k in range(n_pending):
        if b < n_batch and batch[b] == k:
            b += 1
            continue
        pending[w] = pending[k]
        w += 1
    return w


try:  # numba compiles the tree walks and the batch loops; the pure-Python fallbacks give identical results
    import numba

    _tree_set_numba = numba.njit(cache=True)(_tree_set_loops)
    _tree_find_numba = numba.njit(cache=True)(_tree_find_loops)
    _select_batch = numba.njit(cache=True)(_select_batch_loops)
    _resolve_batch = numba.njit(cache=True)(_resolve_batch_loops)
    _drop_resolved = numba.njit(cache=True)(_drop_resolved_loops)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is optional
    HAVE_NUMBA = False
    _select_batch, _resolve_batch, _drop_resolved = _select_batch_loops, _resolve_batch_loops, _drop_resolved_loops


def _tree_set_numpy(tree, leaves, values):
    half = tree.shape[0] // 2
    nodes = half + leaves
    tree[nodes] = values
    while nodes[0] > 1:  # all nodes share a level, so the root is reached by all at once
        nodes = np.unique(nodes >> 1)
        tree[nodes] = tree[2 * nodes] + tree[2 * nodes + 1]


def _hop_probabilities(stepper, occ: np.ndarray, sites: np.ndarray) -> tuple[np.ndarray, int]:
    """Metropolis probabilities (n, z) of every hop of the particles at ``sites`` from one batched calculator call
    (occupied targets get 0), and the number of moves evaluated.

    A calculator with ``direction_energies(occ, sites)`` over the columns of the stepper's hop table (the FK ML
    calculator: it evaluates all directions of an electron at once anyway) is asked for those directly, which skips
    building, deduplicating and matching the move list of ``move_energies``.
    """
    targets = stepper.hops[sites]
    free = occ[targets] == 0
    if stepper._direct:
        dE = stepper.calculator.direction_energies(occ, sites)
        dE[~free] = np.inf
    else:
        dE = np.full(targets.shape, np.inf)
        if free.any():
            moves = np.stack([np.broadcast_to(sites[:, None], targets.shape)[free], targets[free]], axis=1)
            dE[free] = stepper.calculator.move_energies(occ, moves)
    return stepper.kernels.metropolis_hop_probabilities(dE, stepper.T, stepper.z), int(free.sum())


def _direction_energies_apply(calculator, hops: np.ndarray) -> bool:
    """Whether ``calculator.direction_energies`` answers for exactly the hop table ``hops`` (same columns)."""
    table = getattr(calculator, "hops", None)
    return callable(getattr(calculator, "direction_energies", None)) and table is not None \
        and np.array_equal(np.asarray(table), hops)


def _disk_offsets(lattice, radius: float) -> np.ndarray:
    """Cell offsets (M, dim) of the sites within ``radius`` of a site, the site itself first."""
    shells = lattice.shells(radius) if radius > 0 else []
    return np.concatenate([np.zeros((1, lattice.dim), dtype=np.int64)]
                          + [s.offsets[:, :lattice.dim] for s in shells], axis=0)


def _disk_table(lattice, radius: float) -> np.ndarray:
    """Sites within ``radius`` of every site (N, M), itself first (periodic images may repeat on small lattices)."""
    return lattice.site_index(lattice.cells[:, None, :] + _disk_offsets(lattice, radius)[None, :, :])


class SumTree:
    """Binary sum tree over non-negative leaf weights: O(log n) update and weighted selection.

    Parent nodes are always recomputed as the sum of their two children (never updated by differences), so the
    total carries no accumulated round-off and two trees with the same leaves are bitwise equal.
    """

    def __init__(self, n_leaves: int, use_numba: bool | None = None):
        self.n_leaves = int(n_leaves)
        half = 1 << max(1, math.ceil(math.log2(max(self.n_leaves, 2))))
        self.tree = np.zeros(2 * half)
        self.use_numba = HAVE_NUMBA if use_numba is None else bool(use_numba and HAVE_NUMBA)
        self._set = _tree_set_numba if self.use_numba else _tree_set_numpy
        self._find = _tree_find_numba if self.use_numba else _tree_find_loops

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def leaves(self) -> np.ndarray:
        half = self.tree.shape[0] // 2
        return self.tree[half:half + self.n_leaves]

    def set(self, leaves: np.ndarray, values: np.ndarray) -> None:
        if len(leaves):
            self._set(self.tree, np.asarray(leaves, dtype=np.int64), np.asarray(values, dtype=np.float64))

    def find(self, u: float) -> int:
        """Leaf k with cumsum[k−1] ≤ u < cumsum[k], for u ∈ [0, total); never a zero-weight leaf."""
        leaf = int(self._find(self.tree, float(u)))
        w = self.leaves()
        if leaf >= self.n_leaves or w[leaf] <= 0.0:
            # round-off at an interval edge: resolve on the explicit cumulative sum of the positive leaves (rare)
            positive = np.flatnonzero(w > 0)
            k = int(np.searchsorted(np.cumsum(w[positive]), u, side="right"))
            leaf = int(positive[min(k, len(positive) - 1)])
        return leaf


class NFoldKMC(Stepper):
    """Rejection-free kinetic Monte Carlo with cached hop rates (module docstring: derivation and exactness).

    Parameters
    ----------
    calculator : Calculator
        Occupation calculator with a batched ``move_energies(occ, moves)`` and ``commit(occ_after, (i, j))``.
    T : float
        Temperature of the Metropolis hop rule, T ≥ 0.
    refresh_radius : float or None
        Recompute the rates of particles within this distance of a hop's two sites (see the module docstring:
        R_c for the FK ML model, cutoff + 1 for pair models); ``None`` recomputes every rate after each hop
        (required for long-ranged exact calculators).
    clock : {"exponential", "attempts"}
        Waiting-time law: Exp(mean 1/R) MCS, or Geometric(R/N_f) attempts of 1/N_f MCS each.
    hop_table : (N, z) int array, optional
        Hop targets of every site; default :func:`~latticeml.dynamics.kmc.neighbor_hops` (square: +x, −y, −x, +y).
    lattice : Lattice, optional
        Geometry for ``refresh_radius`` and the default hop table; default ``calculator.lattice``.
    use_numba : bool, optional
        Compile the sum-tree walks with numba when installed (default: when available). Same results either way.
    """

    time_unit = "MCS"

    def __init__(self, calculator, T: float, *, refresh_radius: float | None = None, clock: str = "exponential",
                 hop_table: np.ndarray | None = None, lattice=None, use_numba: bool | None = None, backend=None):
        super().__init__(calculator, backend)
        if T < 0:
            raise ConfigError("dynamics.T", f"temperature {T} must be >= 0")
        if clock not in CLOCKS:
            raise ConfigError("dynamics.clock", f"{clock!r} is not one of {', '.join(CLOCKS)}")
        if refresh_radius is not None and refresh_radius < 0:
            raise ConfigError("dynamics.refresh_radius", f"{refresh_radius} must be >= 0 (or None: refresh all)")
        self.T = float(T)
        self.clock = clock
        self.refresh_radius = refresh_radius
        self.use_numba = use_numba
        lattice = lattice if lattice is not None else getattr(calculator, "lattice", None)
        if lattice is None and (hop_table is None or refresh_radius is not None):
            raise ConfigError("dynamics.lattice", "the calculator has no .lattice; pass lattice= (or hop_table= "
                                                  "with refresh_radius=None)")
        self.lattice = lattice
        self.hops = np.asarray(neighbor_hops(lattice) if hop_table is None else hop_table, dtype=np.int64)
        self.z = self.hops.shape[1]
        self._direct = _direction_energies_apply(calculator, self.hops)
        if refresh_radius is not None:
            self._disk = _disk_offsets(lattice, refresh_radius)
        self.particles = np.zeros(0, dtype=np.int64)
        self.rates = np.zeros((0, self.z))
        self._occ: np.ndarray | None = None
        self.events = self.evaluated_moves = self.refreshed_particles = 0

    # ------------------------------------------------------------------ cache management
    def prepare(self, state: State) -> None:
        """Tell the calculator the configuration and (re)build the rate cache unless it already matches it."""
        self.calculator.reset(state.field)
        occupied = np.flatnonzero(state.field)
        consistent = (len(self.particles) == len(occupied) and np.array_equal(np.sort(self.particles), occupied)
                      and self.rates.shape == (len(occupied), self.z))
        if not consistent:
            self.particles = occupied
        self._slot_of_site = -np.ones(len(state.field), dtype=np.int64)
        self._slot_of_site[self.particles] = np.arange(len(self.particles))
        self._occ = np.asarray(state.field).copy()
        self._tree = SumTree(len(self.particles) * self.z, self.use_numba)
        if consistent:  # restored from state_dict: reuse the cached rates bit for bit
            self._tree.set(np.arange(self.rates.size), self.rates.ravel())
        else:
            self.rates = np.zeros((len(self.particles), self.z))
            self._refresh(state.field, np.arange(len(self.particles)))

    def _refresh(self, occ: np.ndarray, slots: np.ndarray) -> None:
        """Recompute the hop probabilities of the particles in ``slots`` with one batched move_energies call."""
        p, n_moves = _hop_probabilities(self, occ, self.particles[slots])
        self.rates[slots] = p
        self._tree.set((slots[:, None] * self.z + np.arange(self.z)).ravel(), p.ravel())
        self.evaluated_moves += n_moves
        self.refreshed_particles += len(slots)

    def _stale_slots(self, i: int, j: int) -> np.ndarray:
        if self.refresh_radius is None:
            return np.arange(len(self.particles))
        cells = self.lattice.cells
        near = np.concatenate([self.lattice.site_index(cells[i] + self._disk),
                               self.lattice.site_index(cells[j] + self._disk), self.hops[i], self.hops[j]])
        slots = self._slot_of_site[near]
        return np.unique(slots[slots >= 0])

    # ------------------------------------------------------------------ dynamics
    def _waiting_time(self, total: float, rng: np.random.Generator):
        """Time to the next hop: Exp(mean 1/R) in MCS, or a Geometric(R/N_f) number of attempts."""
        if self.clock == "exponential":
            return rng.exponential(1.0 / total)
        return int(rng.geometric(min(total / len(self.particles), 1.0)))

    def _hop(self, occ: np.ndarray, leaf: int) -> None:
        slot, d = divmod(leaf, self.z)
        i = int(self.particles[slot])
        j = int(self.hops[i, d])
        occ[i], occ[j] = 0, 1
        self._occ[i], self._occ[j] = 0, 1
        self.particles[slot] = j
        self._slot_of_site[i], self._slot_of_site[j] = -1, slot
        self.events += 1
        self.calculator.commit(occ, (i, j))
        self._refresh(occ, self._stale_slots(i, j))

    def step(self, state: State, rng: np.random.Generator) -> None:
        """Make hops until the clock crosses the next integer MCS; ``state.time`` ends on that integer."""
        if self._occ is None or not np.array_equal(self._occ, state.field):
            self.prepare(state)
        target = math.floor(state.time + 1e-9) + 1.0
        # clock budget to the next integer MCS in the clock's own unit (integer attempts keep the sweep boundaries exact)
        budget = target - state.time
        if self.clock == "attempts":
            budget = round(budget * len(self.particles))
        while self._tree.total > 0.0:
            total = self._tree.total
            wait = self._waiting_time(total, rng)
            # an exponential wait equal to the budget has probability 0; an attempt count equal to it is in the sweep
            if wait > budget or (wait == budget and self.clock == "exponential"):
                break
            budget -= wait
            self._hop(state.field, self._tree.find(rng.random() * total))
        state.time = target
        state.step += 1

    # ------------------------------------------------------------------ bookkeeping
    def state_dict(self) -> dict:
        return {"particles": self.particles.copy(), "rates": self.rates.copy(), "events": self.events,
                "evaluated_moves": self.evaluated_moves, "refreshed_particles": self.refreshed_particles}

    def load_state_dict(self, d: dict) -> None:
        self.particles = np.array(d["particles"], dtype=np.int64)
        self.rates = np.array(d["rates"], dtype=np.float64)
        self.events, self.evaluated_moves = int(d["events"]), int(d["evaluated_moves"])
        self.refreshed_particles = int(d["refreshed_particles"])
        self._occ = None  # the next step (or prepare) rebuilds the tree from the restored rates

    def summary(self) -> dict:
        return {"events": self.events, "evaluated_moves": self.evaluated_moves,
                "refreshed_particles_per_event": self.refreshed_particles / max(self.events, 1),
                "total_rate": self._tree.total if self._occ is not None else None}

    def describe(self) -> dict:
        return {"stepper": "kmc-nfold", "T": self.T, "clock": self.clock, "refresh_radius": self.refresh_radius,
                "n_directions": int(self.z)}


class CachedMetropolisKMC(Stepper):
    """Attempt-by-attempt Metropolis kMC (the process of :class:`~latticeml.dynamics.kmc.KineticMC`) on lazily
    cached hop rates, evaluated in conflict-free batches: for expensive local models (the FK ML ΔE networks).

    Why: :class:`NFoldKMC` recomputes the rates of every particle within R_c of each hop, eagerly. Right after a
    quench most attempts succeed, so on 150×150 every rate is recomputed ≈ 80 times per MCS although each particle
    is attempted about once. Here a rate is recomputed only when its particle is attempted *and* a hop within
    ``interaction_radius`` made it stale since it was last computed: at most one evaluation per attempt, and none
    in the arrested late regime where the cache stays valid.

    Batching (exact): a sweep draws its N_f particle picks and N_f uniforms up front (attempt a picks slot
    ``picks[a]``, direction d = ⌊z·r[a]⌋ and accepts when z·r[a] − d < min(1, e^{−ΔE_d/T}): Eq. 2.2 literally, the
    distribution of KineticMC, which packs the same probabilities differently into r; an attempt towards an occupied
    site is rejected without evaluating the model, ≈ 19 % of the attempts right after a quench). ΔE of a
    particle depends only on occupations within r = ``interaction_radius`` of it, and a hop changes two
    neighbouring sites; hence two attempts whose particles are more than r + 1 apart commute (neither can change
    the other's rates or target). Each round takes, among the next ``window`` unresolved attempts, those whose
    particle is farther than r + 1 from the particle of every earlier unresolved attempt, evaluates the stale
    rates among them in one ``move_energies`` call and makes them in order. The trajectory is the one of making the
    attempts one by one with the same random numbers; only the batching of the network calls differs (float32
    results can differ in the last bits with the batch composition).

    ``State.time`` counts MCS (N_f attempts); :meth:`step` is one sweep. The calculator must be local (ΔE within
    ``interaction_radius``; an exact electronic calculator is not) and stateless or updated by ``commit``.

    Parameters
    ----------
    calculator : Calculator
        Occupation calculator with a batched ``move_energies(occ, moves)``.
    T : float
        Temperature of the Metropolis hop rule, T ≥ 0.
    interaction_radius : float
        ΔE of a particle's hops depends only on occupations within this distance of it (FK ML model: its descriptor
        cutoff R_c; pair interactions of range R: R + 1).
    window : int, optional
        Look-ahead in attempts when forming a batch. Batches saturate near lattice area / conflict-disk area
        (≈ 59 disks on 150×150 at R_c = 10): once the scanned disks cover the lattice, scanning further only costs
        stamping time. Default: 3 × that ratio (at least 64; 177 on 150×150, where 128 to 1024 all gave the same
        mean batch, 33.7, and 512 took 3.5× the selection time of 128). The trajectory does not depend on it.
    """

    time_unit = "MCS"

    def __init__(self, calculator, T: float, *, interaction_radius: float, window: int | None = None,
                 hop_table: np.ndarray | None = None, lattice=None, backend=None):
        super().__init__(calculator, backend)
        if T < 0:
            raise ConfigError("dynamics.T", f"temperature {T} must be >= 0")
        if interaction_radius is None or not interaction_radius >= 0:
            raise ConfigError("dynamics.interaction_radius", f"{interaction_radius} must be a finite radius >= 0")
        if window is not None and window < 1:
            raise ConfigError("dynamics.window", f"{window} must be >= 1")
        lattice = lattice if lattice is not None else getattr(calculator, "lattice", None)
        if lattice is None:
            raise ConfigError("dynamics.lattice", "the calculator has no .lattice; pass lattice=")
        self.T, self.interaction_radius, self.lattice = float(T), float(interaction_radius), lattice
        self.hops = np.asarray(neighbor_hops(lattice) if hop_table is None else hop_table, dtype=np.int64)
        self.z = self.hops.shape[1]
        self._direct = _direction_energies_apply(calculator, self.hops)
        # a cached rate also holds its hop's target occupancy (0 when blocked), so the refresh radius must reach the
        # hop targets even for a model whose ΔE has a shorter range (e.g. r = 0: hard-core gas, site potentials)
        hop_length = float(lattice.distance(np.arange(lattice.N)[:, None], self.hops).max())
        radius = max(self.interaction_radius, hop_length)
        self._refresh_disk = _disk_table(lattice, radius)
        self._conflict_disk = _disk_table(lattice, radius + hop_length)
        self._wide_disk = _disk_table(lattice, radius + 2.0 * hop_length)
        self.window = int(window) if window is not None else \
            max(64, math.ceil(3 * lattice.N / self._conflict_disk.shape[1]))
        self.particles = np.zeros(0, dtype=np.int64)
        self.rates = np.zeros((0, self.z))
        self.valid = np.zeros(0, dtype=bool)
        self._occ: np.ndarray | None = None
        self.attempts = self.accepted = self.evaluated_particles = self.evaluated_moves = self.batches = 0

    def prepare(self, state: State) -> None:
        """Tell the calculator the configuration; keep a restored cache if it matches the state, else start empty."""
        self.calculator.reset(state.field)
        occupied = np.flatnonzero(state.field)
        consistent = (len(self.particles) == len(occupied) and np.array_equal(np.sort(self.particles), occupied)
                      and self.rates.shape == (len(occupied), self.z) and self.valid.shape == (len(occupied),))
        if not consistent:
            self.particles = occupied
            self.rates = np.zeros((len(occupied), self.z))
            self.valid = np.zeros(len(occupied), dtype=bool)
        self._slot_of_site = -np.ones(len(state.field), dtype=np.int64)
        self._slot_of_site[self.particles] = np.arange(len(self.particles))
        self._stamp = np.zeros(len(state.field), dtype=np.int64)
        self._slot_stamp = np.zeros(len(self.particles), dtype=np.int64)
        self._stamp_id = 0
        self._occ = np.asarray(state.field).copy()

    def step(self, state: State, rng: np.random.Generator) -> None:
        """One MC sweep: N_f Metropolis attempts; ``state.time`` advances by 1 MCS."""
        if self._occ is None or not np.array_equal(self._occ, state.field):
            self.prepare(state)
        occ = state.field
        n_f = len(self.particles)
        picks = rng.integers(n_f, size=n_f) if n_f else np.zeros(0, dtype=np.int64)
        r = rng.random(n_f)
        pending = np.arange(n_f, dtype=np.int64)
        n_pending = n_f
        batch = np.empty(min(self.window, max(n_f, 1)), dtype=np.int64)
        moved = np.empty((len(batch), 2), dtype=np.int64)
        while n_pending:
            self._stamp_id += 1
            n_batch = _select_batch(pending, n_pending, self.window, picks, self.particles, self._conflict_disk,
                                    self._wide_disk, self._stamp, self._stamp_id, batch, self._slot_stamp)
            taken = pending[batch[:n_batch]]
            slots = picks[taken]
            # an attempt towards an occupied site is rejected without its rates (the batch's attempts commute, so
            # the occupation seen now is the one the attempt will see); distinct: the particles are > r + 1 apart
            direction = np.minimum((r[taken] * self.z).astype(np.int64), self.z - 1)
            open_target = occ[self.hops[self.particles[slots], direction]] == 0
            stale = slots[~self.valid[slots] & open_target]
            if len(stale):
                p, n_moves = _hop_probabilities(self, occ, self.particles[stale])
                self.rates[stale] = p
                self.valid[stale] = True
                self.evaluated_particles += len(stale)
                self.evaluated_moves += n_moves
            n_hops = _resolve_batch(pending, batch, n_batch, picks, r, self.rates, self.particles,
                                    self._slot_of_site, occ, self.hops, self.valid, self._refresh_disk, moved)
            for i, j in moved[:n_hops]:
                self.calculator.commit(occ, (int(i), int(j)))
            n_pending = _drop_resolved(pending, n_pending, batch, n_batch)
            self.accepted += n_hops
            self.batches += 1
        self.attempts += n_f
        self._occ[:] = occ
        state.time = state.time + 1.0
        state.step += 1

    def state_dict(self) -> dict:
        return {"particles": self.particles.copy(), "rates": self.rates.copy(), "valid": self.valid.copy(),
                "attempts": self.attempts, "accepted": self.accepted, "evaluated_particles": self.evaluated_particles,
                "evaluated_moves": self.evaluated_moves, "batches": self.batches}

    def load_state_dict(self, d: dict) -> None:
        self.particles = np.array(d["particles"], dtype=np.int64)
        self.rates = np.array(d["rates"], dtype=np.float64)
        self.valid = np.array(d["valid"], dtype=bool)
        for key in ("attempts", "accepted", "evaluated_particles", "evaluated_moves", "batches"):
            setattr(self, key, int(d[key]))
        self._occ = None  # the next step (or prepare) re-indexes the restored cache

    def summary(self) -> dict:
        return {"attempts": self.attempts, "accepted": self.accepted, "events": self.accepted,
                "acceptance": self.accepted / max(self.attempts, 1),
                "evaluated_particles": self.evaluated_particles, "evaluated_moves": self.evaluated_moves,
                "evaluations_per_attempt": self.evaluated_particles / max(self.attempts, 1),
                "mean_batch": self.attempts / max(self.batches, 1)}

    def describe(self) -> dict:
        return {"stepper": "kmc-cached", "T": self.T, "interaction_radius": self.interaction_radius,
                "window": self.window, "n_directions": int(self.z)}
