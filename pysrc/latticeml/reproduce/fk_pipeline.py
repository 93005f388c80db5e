"""The Falicov–Kimball ML pipeline of chapter 2: exact data → per-class ΔE networks → an ML ΔE calculator.

Data (spec ch2 §4.6, §8.3). For every f-configuration one eigen-decomposition (``calculator.reset``) is followed by
the exact ΔE of *all* allowed hops through the fast low-rank kernel (``calculator.move_energies``). Every mobile
f-electron then gives one sample of its class P4/P3/P2_A/P2_B/P1: the 316 reference-signed IR features of
:class:`~latticeml.descriptors.fk.FKDescriptor` and the invariant class targets encoded from its exact ΔE. The
configurations come from four sources:

* ``random``: N_f f-electrons placed uniformly (the quench start; over-represents P3/P2);
* ``patches``: checkerboard patches of both sublattices on a random background (the relaxed, mostly-P4 states of
  the coarsening run, without paying for an exact-kMC run);
* ``clumps``: dense random blobs (local density ≈ 0.7), targeted at the rare classes P1 and P2;
* ``kmc``: snapshots of exact kMC quenches at T = 0.05 (the dynamics' own distribution).

Networks (spec §4.5). One :class:`~latticeml.ml.networks.DeltaENet` per class and invariant output (4+3+2+2+1 = 12,
as in the author code), each trained with :class:`~latticeml.ml.train.Trainer` on standardised features and
target (MSE, Adam lr 1e-3). :class:`FKNetworkSet` bundles them with the interface of
:class:`~latticeml.ml.networks.FKDeltaEModel` (which shares one trunk per class; the per-output networks were
more accurate on our data), so :class:`~latticeml.calculators.ml.FKDeltaECalculator` puts them behind the
calculator protocol and the kMC steppers run on it exactly as on
:class:`~latticeml.calculators.exact.FalicovKimballCalculator`.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import LatticeMLError

__all__ = ["FK_MODEL", "CLASS_ORDER", "exact_calculator", "random_configs", "checkerboard_patch_configs",
           "dense_clump_configs", "kmc_snapshots", "FKSamples", "config_samples", "generate_samples",
           "train_networks", "FKNetworkSet", "evaluate_networks", "DESCRIPTOR_SETTINGS"]

#: exact-model parameters of chapter 2 (spec §1): U = 2 t, ρ_c = 0.55, T = 0.05 t
FK_MODEL = {"U": 2.0, "filling_c": 0.55, "T": 0.05}
#: the five mobile classes and their number of invariant outputs (one network each)
CLASS_ORDER = ("P4", "P3", "P2_A", "P2_B", "P1")
#: descriptor settings stored in every model file (a model is refused for another descriptor)
DESCRIPTOR_SETTINGS = {"kind": "fk_ref_signed_irs", "rc": 10.01}


def exact_calculator(lattice, **model):
    """The exact FK calculator (ED + fast low-rank ΔE) with the chapter-2 parameters unless overridden."""
    from ..calculators.exact import FalicovKimballCalculator

    return FalicovKimballCalculator(lattice, **{**FK_MODEL, **model})


# ---------------------------------------------------------------------------------------------- configurations
def random_configs(lattice, n_f: int, count: int, rng) -> list[np.ndarray]:
    """``count`` uniformly random configurations with ``n_f`` f-electrons (the infinite-T quench start)."""
    from ..models.falicov_kimball import random_occupation

    return [random_occupation(lattice, n_f, rng) for _ in range(count)]


def _fix_count(occ: np.ndarray, n_f: int, rng) -> np.ndarray:
    """Remove or add f-electrons at random sites until exactly ``n_f`` remain (N_f is conserved by the model)."""
    filled, empty = np.flatnonzero(occ), np.flatnonzero(occ == 0)
    if len(filled) > n_f:
        occ[rng.choice(filled, len(filled) - n_f, replace=False)] = 0
    elif len(filled) < n_f:
        occ[rng.choice(empty, n_f - len(filled), replace=False)] = 1
    return occ


def checkerboard_patch_configs(lattice, n_f: int, count: int, rng, *, fill: float = 0.7) -> list[np.ndarray]:
    """Configurations made of checkerboard discs (random centre, radius 2–7, random sublattice) covering about
    ``fill`` of the f-electrons, the rest uniformly random: the phase-separated states late in a quench."""
    L1, L2 = lattice.shape
    x, y = lattice.cells[:, 0], lattice.cells[:, 1]
    out = []
    for _ in range(count):
        occ = np.zeros(lattice.N, dtype=np.int8)
        while occ.sum() < fill * n_f:
            cx, cy, r = rng.integers(L1), rng.integers(L2), rng.uniform(2.0, 7.0)
            dx = (x - cx + L1 // 2) % L1 - L1 // 2
            dy = (y - cy + L2 // 2) % L2 - L2 // 2
            disc = dx**2 + dy**2 <= r * r
            parity = (x + y) % 2 == rng.integers(2)
            occ[disc] = 0
            occ[disc & parity] = 1
        out.append(_fix_count(occ, n_f, rng))
    return out


def dense_clump_configs(lattice, n_f: int, count: int, rng, *, density: float = 0.7) -> list[np.ndarray]:
    """Configurations with dense random blobs (local density ``density``), rich in the rare classes P1 and P2."""
    L1, L2 = lattice.shape
    x, y = lattice.cells[:, 0], lattice.cells[:, 1]
    out = []
    for _ in range(count):
        occ = np.zeros(lattice.N, dtype=np.int8)
        while occ.sum() < 0.6 * n_f:
            cx, cy, r = rng.integers(L1), rng.integers(L2), rng.uniform(2.0, 5.0)
            dx = (x - cx + L1 // 2) % L1 - L1 // 2
            dy = (y - cy + L2 // 2) % L2 - L2 // 2
            disc = dx**2 + dy**2 <= r * r
            occ[disc & (rng.random(lattice.N) < density)] = 1
        out.append(_fix_count(occ, n_f, rng))
    return out


def kmc_snapshots(lattice, n_f: int, runs: int, times, rng, *, model: dict | None = None) -> list[np.ndarray]:
    """Snapshots at integer MC-sweep ``times`` of ``runs`` exact kMC quenches from random starts.

    Attempt-by-attempt Metropolis (:class:`~latticeml.dynamics.KineticMC`): each attempt scores ≤ 4 hops by the
    rank-2 update and each accepted hop costs one ``eigh``, cheaper than the n-fold way for an exact (long-ranged)
    calculator, which would have to rescore every hop after each event.
    """
    from ..dynamics import KineticMC, State

    times = sorted(int(t) for t in times)
    out = []
    for occ in random_configs(lattice, n_f, runs, rng):
        calc = exact_calculator(lattice, **(model or {}))
        stepper = KineticMC(calc, calc.T)
        state = State(occ.copy())
        stepper.prepare(state)
        for t in times:
            while state.time < t - 1e-9:
                stepper.step(state, rng)
            out.append(state.field.copy())
    return out


# ---------------------------------------------------------------------------------------------- samples
@dataclass
class FKSamples:
    """Per-class training samples: ``data[name]`` holds ``X`` (n, 316) float32 features, ``T`` (n, k) targets,
    ``dE`` (n, 4) exact move energies in actual directions +x, −y, −x, +y (+inf where blocked), ``frame`` (n,) and
    ``signs`` (n, 7) of the classification (to decode predictions back to directions), ``source`` (n,) the
    index of the configuration source in ``sources`` and ``group`` (n,) the configuration, or the kMC run, a sample
    comes from (the unit of the train/test split)."""

    data: dict[str, dict[str, np.ndarray]]
    sources: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of samples per class."""
        return {name: int(len(self.data[name]["X"])) for name in CLASS_ORDER}

    def save(self, path) -> Path:
        """Write every array to one compressed ``.npz`` (keys ``"{class}/{array}"``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        flat = {f"{name}/{key}": arr for name, d in self.data.items() for key, arr in d.items()}
        np.savez_compressed(path, **flat, _sources=np.array(self.sources), _info=json.dumps(self.info))
        return path

    @classmethod
    def load(cls, path) -> "FKSamples":
        """Read a file written by :meth:`save`."""
        with np.load(path) as f:
            data = {name: {} for name in CLASS_ORDER}
            for key in f.files:
                if not key.startswith("_"):
                    name, arr = key.split("/")
                    data[name][arr] = f[key]
            return cls(data, [str(s) for s in f["_sources"]], json.loads(str(f["_info"])))


def config_samples(calc, descriptor, occ: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Samples of one configuration: one eigen-decomposition, then the exact ΔE of every allowed hop at once.

    Electrons with a zero reference sign (the author code's no-move case) and blocked ones give no sample.
    """
    from ..models.falicov_kimball import hop_table

    occ = np.asarray(occ)
    sites = np.flatnonzero(occ)
    c = descriptor.classify(occ, sites)
    targets = hop_table(descriptor.lattice)[sites]
    wanted = c.allowed & c.valid[:, None]
    dE = np.full((len(sites), 4), np.inf)
    calc.reset(occ)
    moves = np.stack([np.broadcast_to(sites[:, None], targets.shape)[wanted], targets[wanted]], axis=1)
    dE[wanted] = calc.move_energies(occ, moves)
    X = descriptor.features(occ, c)
    T = descriptor.targets_from_dE(np.where(np.isfinite(dE), dE, 0.0), c)  # blocked entries are not used
    out = {}
    for name in CLASS_ORDER:
        m = c.members(name)
        keep = c.valid[m]
        out[name] = {"X": X[name][keep].astype(np.float32), "T": T[name][keep], "dE": dE[m][keep],
                     "frame": c.frame[m][keep], "signs": c.signs[m][keep]}
    return out


def generate_samples(lattice, configs: dict[str, list[np.ndarray]], *, model: dict | None = None,
                     run_length: dict[str, int] | None = None, progress: bool = False) -> FKSamples:
    """Exact samples of every configuration in ``configs`` (source name -> list of occupations).

    Each sample's ``group`` is its configuration; ``run_length[source]`` consecutive configurations of a source form
    one group instead (the snapshots of one kMC run, :func:`kmc_snapshots`), so that a run stays in one split.
    """
    from tqdm import tqdm

    from ..descriptors.fk import FKDescriptor

    calc = exact_calculator(lattice, **(model or {}))
    desc = FKDescriptor(lattice, rc=DESCRIPTOR_SETTINGS["rc"])
    sources = list(configs)
    blocks: dict[str, list[dict]] = {name: [] for name in CLASS_ORDER}
    t0 = time.perf_counter()
    jobs = [(s, k, occ) for s in sources for k, occ in enumerate(configs[s])]
    offsets = dict(zip(sources, np.cumsum([0] + [len(configs[s]) for s in sources[:-1]])))
    for src, k, occ in tqdm(jobs, desc="exact samples", disable=not progress):
        group = int(offsets[src]) + k // max(1, (run_length or {}).get(src, 1))
        for name, d in config_samples(calc, desc, occ).items():
            d["source"] = np.full(len(d["X"]), sources.index(src), dtype=np.int64)
            d["group"] = np.full(len(d["X"]), group, dtype=np.int64)
            blocks[name].append(d)
    data = {}
    for name in CLASS_ORDER:
        data[name] = {k: np.concatenate([b[k] for b in blocks[name]]) for k in blocks[name][0]}
    info = {"configs": {s: len(configs[s]) for s in sources}, "seconds": time.perf_counter() - t0,
            "lattice": lattice.describe(), "model": calc.describe()}
    return FKSamples(data, sources, info)


# ---------------------------------------------------------------------------------------------- networks
def _standard_stats(a: np.ndarray):
    """Mean and std per column; a column constant in the training data keeps std 1 (no division blow-up)."""
    mean, std = a.mean(0), a.std(0)
    return mean, np.where(std > 1e-6, std, 1.0)


class FKNetworkSet(nn.Module):
    """The 12 ΔE networks (one :class:`~latticeml.ml.networks.DeltaENet` per class and invariant output, as in the
    author code) as one module with the interface of :class:`~latticeml.ml.networks.FKDeltaEModel`: class features
    {name: (n, 316)} in, class targets {name: (n, k)} out. :meth:`calculator` therefore puts it behind
    :class:`~latticeml.calculators.ml.FKDeltaECalculator` (descriptor, covariant ΔE reconstruction, batched
    ``move_energies``). The model is local, so the same weights run on any lattice size ≥ 2 R_c + 1.

    Parameters
    ----------
    networks : dict
        ``{class name: [DeltaENet with one output, per invariant target]}``.
    metadata : dict
        Exact-model parameters and training summary (stored in every model file).
    """

    kind = "fk_delta_e_per_output"

    def __init__(self, networks: dict, metadata: dict):
        super().__init__()
        self.config = {"rc": DESCRIPTOR_SETTINGS["rc"]}
        self.nets = nn.ModuleDict({name: nn.ModuleList(nets) for name, nets in networks.items()})
        self.metadata = metadata

    def forward(self, features: dict) -> dict:
        """Class targets {name: (n, k)} from class features {name: (n, 316)} (empty classes are skipped)."""
        return {name: torch.cat([net(x) for net in self.nets[name]], dim=1) for name, x in features.items()
                if len(x)}

    def predict_targets(self, name: str, X: np.ndarray) -> np.ndarray:
        """Invariant targets (n, k) of class ``name`` for features (n, 316) in physical units."""
        if len(X) == 0:
            return np.zeros((0, len(self.nets[name])))
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(X), dtype=torch.float32)
            return self({name: x})[name].double().numpy()

    def calculator(self, lattice):
        """The ML ΔE calculator of this model on ``lattice`` (:class:`~latticeml.calculators.ml.FKDeltaECalculator`).

        Its ``descriptor.rc`` is the model range: ΔE of a hop depends only on occupations within R_c of the hopping
        electron, so it is the exact refresh radius of cached rates (:class:`~latticeml.dynamics.kmc_fast.NFoldKMC`).
        """
        from ..calculators.ml import FKDeltaECalculator

        return FKDeltaECalculator(self, dict(self.metadata, kind="fk_delta_e", field_kind="occupation"), lattice)

    @classmethod
    def untrained(cls, *, seed: int = 0, dE_scale: float = 0.09) -> "FKNetworkSet":
        """Freshly initialised networks with targets scaled to a typical |ΔE| (tests of symmetry, timing)."""
        from ..descriptors.fk import N_TARGETS
        from ..ml.networks import DeltaENet

        torch.manual_seed(seed)
        networks = {}
        for name in CLASS_ORDER:
            networks[name] = []
            for _ in range(N_TARGETS[name]):
                net = DeltaENet(316, 1)
                net.set_normalization(np.zeros(316), np.ones(316), [0.0], [dE_scale])
                networks[name].append(net)
        return cls(networks, {"model": dict(FK_MODEL), "trained": False}).eval()

    def save(self, directory) -> Path:
        """One model file per network, ``directory/{class}_T{k}.pt`` (:func:`latticeml.ml.modelfile.save_model`)."""
        from ..ml.modelfile import save_model

        directory = Path(directory)
        for name, nets in self.nets.items():
            for k, net in enumerate(nets):
                save_model(directory / f"{name}_T{k}.pt", net,
                           dict(self.metadata, fk_class=name, output=k, descriptor=DESCRIPTOR_SETTINGS))
        return directory

    @classmethod
    def load(cls, directory, *, lattice=None, model: dict | None = None) -> "FKNetworkSet":
        """Read a set written by :meth:`save`; files for another lattice kind, model (if ``model`` is given) or
        descriptor are refused (:func:`latticeml.ml.modelfile.load_model`)."""
        from ..ml.modelfile import load_model

        directory = Path(directory)
        networks, meta = {}, {}
        for name in CLASS_ORDER:
            files = sorted(directory.glob(f"{name}_T*.pt"), key=lambda p: int(p.stem.rsplit("T", 1)[1]))
            if not files:
                raise LatticeMLError(f"{directory}: no model files for class {name}; train with fig2.4 first")
            loaded = [load_model(p, lattice=lattice, model=model, descriptor=DESCRIPTOR_SETTINGS) for p in files]
            networks[name] = [net for net, _ in loaded]
            meta = loaded[0][1]
        keep = {k: v for k, v in meta.items() if k not in ("fk_class", "output", "kind", "config")}
        return cls(networks, keep).eval()


def _split_rows(groups, test_fraction: float, val_fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """(test, val) row masks. Whole groups (configurations, kMC runs) go to one split, drawn in random order until
    each split holds its fraction of the rows (test of all rows, val of the rest; at least one group each, one left
    for training); with fewer than 3 groups each row is its own group."""
    if len(np.unique(groups)) < 3:
        groups = np.arange(len(groups))
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = rng.permutation(len(sizes))
    test, val = np.zeros(len(sizes), bool), np.zeros(len(sizes), bool)
    k = 0
    while k < len(sizes) - 2 and (k == 0 or sizes[order[:k]].sum() < test_fraction * len(groups)):
        test[order[k]] = True
        k += 1
    rest, start = len(groups) - sizes[test].sum(), k
    while k < len(sizes) - 1 and (k == start or sizes[order[start:k]].sum() < val_fraction * rest):
        val[order[k]] = True
        k += 1
    return test[inverse], val[inverse]


def train_networks(samples: FKSamples, lattice, *, test_fraction: float = 0.15, val_fraction: float = 0.1,
                   epochs: int = 40, batch_size: int = 32, lr: float = 1e-3, patience: int = 10, seed: int = 0,
                   model_metadata: dict | None = None, progress: bool = False):
    """Train the 12 networks on ``samples`` (85/15 split per class by default, by whole configuration or kMC run:
    rows of one configuration share most of their environment, so a row split would test on seen data).

    Returns ``(network_set, split)`` where ``split[name]`` is the boolean test mask of that class's samples. The
    test rows are never seen in training: the Trainer's early stopping and plateau schedule watch a validation
    set of ``val_fraction`` of the training rows (which are otherwise trained on only through that selection).
    """
    from ..ml.data import Dataset
    from ..ml.networks import DeltaENet
    from ..ml.train import Trainer

    rng = np.random.default_rng(seed)
    networks, split, history = {}, {}, {}
    for ci, name in enumerate(CLASS_ORDER):
        d = samples.data[name]
        n = len(d["X"])
        if n < 5:
            raise LatticeMLError(f"class {name} has only {n} samples; generate more configurations "
                                 f"(clumps feed the rare classes)")
        # samples saved before groups were recorded split row by row
        test, val = _split_rows(d.get("group", np.arange(n)), test_fraction, val_fraction, rng)
        train = ~test & ~val
        split[name] = test
        x_mean, x_std = _standard_stats(d["X"][train])
        nets = []
        for k in range(d["T"].shape[1]):
            torch.manual_seed(seed * 100 + ci * 10 + k)
            y = d["T"][:, k:k + 1]
            ds = {}
            for part, rows in (("train", train), ("val", val)):
                m = int(rows.sum())
                ds[part] = Dataset(d["X"][rows], y[rows], np.zeros(m), np.zeros(m, np.int64), np.zeros(m, np.int64),
                                   np.zeros(m, np.int64), np.zeros(m), {"lattice": lattice.describe()}, [name], {})
            net = DeltaENet(d["X"].shape[1], 1)
            trainer = Trainer(net, ds["train"], ds["val"], lattice=lattice, loss="mse", lr=lr, batch_size=batch_size,
                              max_epochs=epochs, patience=patience, seed=seed + k, progress=progress)
            y_mean, y_std = _standard_stats(y[train])
            net.set_normalization(x_mean, x_std, y_mean, y_std)
            history[f"{name}_T{k}"] = trainer.fit()
            nets.append(net)
        networks[name] = nets
    meta = dict(model_metadata or {}, field_kind="occupation", lattice=lattice.describe(),
                training={"epochs": epochs, "batch_size": batch_size, "lr": lr, "test_fraction": test_fraction,
                          "val_fraction": val_fraction, "seed": seed, "counts": samples.counts()})
    net_set = FKNetworkSet(networks, meta).eval()
    net_set.history = history
    return net_set, split


def evaluate_networks(net_set: FKNetworkSet, samples: FKSamples, split: dict | None = None) -> dict:
    """Accuracy per class and output on the train and test rows (all rows as "test" when ``split`` is None).

    Returns ``{name: {"train"/"test": {"mse_std": [...], "r2": [...], "rmse": [...], "n": int}}}`` ("train" = every
    non-test row; MSE of the invariant network targets in units of their training variance) plus
    ``"parity"`` and ``"parity_train"``: exact and predicted ΔE (n, 4) of the test (train) rows of all classes,
    directions +x, −y, −x, +y (not finite where the move is blocked): the model's outputs, which Fig. 2.4 plots.
    """
    from ..descriptors.fk import CLASS_NAMES, FKClassification, FKDescriptor
    from ..lattice import square

    decoder = FKDescriptor(square(3), rc=DESCRIPTOR_SETTINGS["rc"])  # decoding uses frames and signs only
    out = {}
    parity = {"test": ([], []), "train": ([], [])}
    for name in CLASS_ORDER:
        d = samples.data[name]
        test = split[name] if split is not None else np.ones(len(d["X"]), bool)
        pred = net_set.predict_targets(name, d["X"])
        std = np.array([float(net.target_std[0]) for net in net_set.nets[name]])
        res = {}
        for part, rows in (("train", ~test), ("test", test)):
            if not rows.any():
                continue
            err = pred[rows] - d["T"][rows]
            var = d["T"][rows].var(0)
            res[part] = {"mse_std": ((err / std) ** 2).mean(0).tolist(),
                         "r2": (1 - (err**2).mean(0) / np.where(var > 0, var, np.nan)).tolist(),
                         "rmse": np.sqrt((err**2).mean(0)).tolist(), "n": int(rows.sum())}
            n = int(rows.sum())
            c = FKClassification(np.zeros(n, np.int64), np.full(n, CLASS_NAMES.index(name)), d["frame"][rows],
                                 d["signs"][rows], np.ones(n, bool), np.isfinite(d["dE"][rows]))
            parity[part][0].append(d["dE"][rows])
            parity[part][1].append(decoder.dE_from_targets({name: pred[rows]}, c))
        out[name] = res
    for part, key in (("test", "parity"), ("train", "parity_train")):
        if parity[part][0]:
            out[key] = {"exact": np.concatenate(parity[part][0]), "ml": np.concatenate(parity[part][1])}
    return out
