"""Rejection-free (n-fold way, BKL) kinetic Monte Carlo on cached hop rates, for FK-type particle hopping.

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

__all__ = ["NFoldKMC", "SumTree", "HAVE_NUMBA"]

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


try:  # numba compiles the two tree walks; the numpy fallback below gives identical sums
    import numba

    _tree_set_numba = numba.njit(cache=True)(_tree_set_loops)
    _tree_find_numba = numba.njit(cache=True)(_tree_find_loops)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is optional
    HAVE_NUMBA = False


def _tree_set_numpy(tree, leaves, values):
    half = tree.shape[0] // 2
    nodes = half + leaves
    tree[nodes] = values
    while nodes[0] > 1:  # all nodes share a level, so the root is reached by all at once
        nodes = np.unique(nodes >> 1)
        tree[nodes] = tree[2 * nodes] + tree[2 * nodes + 1]


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
        if refresh_radius is not None:
            shells = lattice.shells(refresh_radius) if refresh_radius > 0 else []
            disk = [np.zeros((1, lattice.dim), dtype=np.int64)] + [s.offsets[:, :lattice.dim] for s in shells]
            self._disk = np.concatenate(disk, axis=0)
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
        sites = self.particles[slots]
        targets = self.hops[sites]
        free = occ[targets] == 0
        dE = np.full(targets.shape, np.inf)
        if free.any():
            moves = np.stack([np.broadcast_to(sites[:, None], targets.shape)[free], targets[free]], axis=1)
            dE[free] = self.calculator.move_energies(occ, moves)
        p = self.kernels.metropolis_hop_probabilities(dE, self.T, self.z)
        self.rates[slots] = p
        self._tree.set((slots[:, None] * self.z + np.arange(self.z)).ravel(), p.ravel())
        self.evaluated_moves += int(free.sum())
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
