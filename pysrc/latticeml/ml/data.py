"""Training datasets: ensembles of exact simulations written to HDF5 (``latticeml generate CONFIG --out FILE``).

Schema of a dataset file (one snapshot per row, fields in the lattice's site order)::

    /inputs     (S, N, C) float32   field at the snapshot (spins: C = 3; occupations: C = 1)
    /targets    (S, N, C) float32   target "forces": -∂E/∂field (for spins the exchange field H_i)
                (S, N, z) float32   target "move_energies": ΔE of the hop from site i along column k of
                                    ``dynamics.kmc.neighbor_hops`` (square: +x, -y, -x, +y), NaN where the
                                    move is not allowed
    /energy     (S,) float64        exact total energy
    /time       (S,) float64
    /run_id     (S,) int32          trajectory the snapshot comes from
    /run_type   (S,) int32          index into attrs["run_types"]
    /split      (S,) int8           0 train, 1 validation, 2 test (whole trajectories, stratified by run type)
    attrs: format, metadata (JSON: lattice, model, field_kind, target, stepper, generator config, version),
           run_types (JSON list), normalization (JSON: statistics of the training split)

Splits are made by trajectory, never by snapshot, so correlated snapshots of one run never straddle train and
test (ch3 spec §7); within each run type the runs are split in the requested proportions.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, LatticeMLError
from ..io.paths import make_output_dir
from ..io.registry import INITIAL as CONFIG_INITIAL
from ..io.schema import REQUIRED, Param, check_mapping, validate_section
from ..models.sd import random_spins
from ._config import load_yaml

__all__ = ["Dataset", "load_dataset", "generate_dataset", "generate_from_config", "RunSpec", "INITIAL_STATES",
           "SPLIT_NAMES"]

FORMAT = "latticeml-dataset"
SPLIT_NAMES = ("train", "val", "test")


# ---------------------------------------------------------------------------------------------- initial states
def _init_random(lattice, shape, field_kind, n_particles, rng, filling=None, sigma=0.5):
    if field_kind == "spin":
        return random_spins(shape[0], rng)
    if field_kind == "occupation":
        n = n_particles if filling is None else int(round(filling * shape[0]))
        occ = np.zeros(shape, dtype=np.int8)
        occ[rng.choice(shape[0], n, replace=False)] = 1
        return occ
    return sigma * rng.standard_normal(shape)


def _init_ferromagnet(lattice, shape, field_kind, n_particles, rng, noise=0.3):
    if field_kind != "spin":
        raise ConfigError("runs.type", "'ferromagnet' starts exist only for spin fields; use 'random'")
    s = np.array([0.0, 0.0, 1.0]) + noise * rng.standard_normal(shape)
    return s / np.linalg.norm(s, axis=-1, keepdims=True)


class _SpinInitial:
    """A run type that is one of the ``simulate`` config's spin initial states (io.registry.INITIAL["spin"])."""

    def __init__(self, kind: str):
        self.spec = CONFIG_INITIAL["spin"][kind]

    def __call__(self, lattice, shape, field_kind, n_particles, rng, **params):
        return self.spec.make(lattice, shape, n_particles, params, rng)


#: run type -> (parameters, initial field fn(lattice, shape, field_kind, n_particles, rng, **params)); the skyrmion
#: types are the chapter-3 starts of the simulate config (triangular lattice, L ≡ 0 mod 12)
INITIAL_STATES = {
    "random": ({"filling": Param("float", None, "occupation fraction (default: the model's particle count)",
                                 low=0, high=1),
                "sigma": Param("float", 0.5, "standard deviation of random displacements", low=0)}, _init_random),
    "ferromagnet": ({"noise": Param("float", 0.3, "Gaussian tilt added to +z before normalising", low=0)},
                    _init_ferromagnet),
    **{kind: (CONFIG_INITIAL["spin"][kind].params, _SpinInitial(kind)) for kind in ("skyrmion", "perturbed_skyrmion")},
}


@dataclass
class RunSpec:
    """One group of exact runs of the same type: ``count`` runs started from ``INITIAL_STATES[type]``."""

    type: str
    count: int
    params: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- dataset
@dataclass
class Dataset:
    """An in-memory dataset (numpy arrays) with its metadata; rows are snapshots."""

    inputs: np.ndarray
    targets: np.ndarray
    energy: np.ndarray
    run_id: np.ndarray
    run_type: np.ndarray
    split: np.ndarray
    time: np.ndarray
    metadata: dict
    run_types: list[str]
    normalization: dict

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, split: str) -> "Dataset":
        """The rows of one split ("train", "val", "test")."""
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
        m = self.split == SPLIT_NAMES.index(split)
        return Dataset(self.inputs[m], self.targets[m], self.energy[m], self.run_id[m], self.run_type[m],
                       self.split[m], self.time[m], self.metadata, self.run_types, self.normalization)

    def lattice(self):
        """Rebuild the lattice the data were generated on."""
        from .. import lattice as lat

        d = self.metadata["lattice"]
        return getattr(lat, d["name"])(*d["shape"])


def load_dataset(path) -> Dataset:
    """Read a dataset file written by :func:`generate_dataset`."""
    import h5py

    path = Path(path)
    make = "make one with 'latticeml generate CONFIG --out FILE'"
    if path.is_dir():
        inside = path / "dataset.h5"  # what 'latticeml generate --out FOLDER' writes
        fix = f"give {str(inside)!r}" if inside.is_file() else make
        raise LatticeMLError(f"dataset file {str(path)!r} is a folder, not a dataset file ({fix})")
    if not path.is_file():
        raise LatticeMLError(f"dataset file {str(path)!r} does not exist ({make})")
    if not h5py.is_hdf5(path):
        raise LatticeMLError(f"dataset file {str(path)!r} is not an HDF5 file, so not a latticeml dataset ({make})")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise LatticeMLError(f"dataset file {str(path)!r} cannot be read as HDF5 "
                             f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); {make}") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise LatticeMLError(f"{str(path)!r} is not a latticeml dataset (no '{FORMAT}' format attribute; {make})")
        arrays = {k: f[k][()] for k in ("inputs", "targets", "energy", "run_id", "run_type", "split", "time")}
        return Dataset(**arrays, metadata=json.loads(f.attrs["metadata"]), run_types=json.loads(f.attrs["run_types"]),
                       normalization=json.loads(f.attrs["normalization"]))


def split_runs(run_types: np.ndarray, fractions: tuple[float, float, float], rng) -> np.ndarray:
    """Split label (0 train, 1 val, 2 test) per run, stratified by run type; every type keeps ≥ 1 training run."""
    labels = np.zeros(len(run_types), dtype=np.int8)
    for t in np.unique(run_types):
        runs = rng.permutation(np.nonzero(run_types == t)[0])
        n = len(runs)
        n_val = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        while n_val + n_test > n - 1 and n_val + n_test > 0:  # keep a training run of every type
            if n_test >= n_val:
                n_test -= 1
            else:
                n_val -= 1
        labels[runs[n - n_val - n_test:n - n_test]] = 1
        labels[runs[n - n_test:]] = 2
    return labels


def perpendicular(field: np.ndarray, spins: np.ndarray) -> np.ndarray:
    """H_⊥ = H - (H·S)S: the part of a spin field that exerts a torque."""
    return field - np.sum(field * spins, axis=-1, keepdims=True) * spins


def perpendicular_torch(field, spins):
    """Torch H − (H·Ŝ)Ŝ with Ŝ = S/|S| (the SIB midpoint spins are not unit vectors): what a torque S × H sees."""
    unit = spins / spins.norm(dim=-1, keepdim=True)
    return field - (field * unit).sum(-1, keepdim=True) * unit


def normalization_stats(inputs, targets, energy, field_kind: str, n_sites: int) -> dict:
    """Statistics of the training split stored in the file (and later, via the trainer, in the model)."""
    finite = targets[np.isfinite(targets)]
    stats = {"input_mean": inputs.reshape(-1, inputs.shape[-1]).mean(0).tolist(),
             "input_std": inputs.reshape(-1, inputs.shape[-1]).std(0).tolist(),
             "target_mean": float(finite.mean()) if finite.size else 0.0,
             "target_std": float(finite.std()) if finite.size else 1.0,
             "energy_per_site_mean": float(np.mean(energy) / n_sites),
             "energy_per_site_std": float(np.std(energy) / n_sites)}
    if field_kind == "spin" and targets.shape[-1] == 3:
        # c_norm of ch3 spec §7: one constant such that mean |H_⊥| = 1
        stats["target_scale"] = float(np.linalg.norm(perpendicular(targets, inputs), axis=-1).mean())
    elif finite.size:
        stats["target_scale"] = float(np.sqrt(np.mean(finite ** 2)))
    else:
        stats["target_scale"] = 1.0
    return stats


def _snapshot_targets(calculator, fieldv, target: str, hops):
    if target == "forces":
        res = calculator.compute(fieldv, forces=True)
        energy = np.nan if res.energy is None else float(res.energy)  # e.g. KPM gives fields only
        return np.asarray(res.forces, dtype=float).reshape(len(fieldv), -1), energy
    occ = np.asarray(fieldv)
    src = np.repeat(np.arange(len(occ)), hops.shape[1])
    dst = hops.ravel()
    allowed = (occ[src] == 1) & (occ[dst] == 0)
    dE = np.full(src.shape, np.nan)
    calculator.reset(fieldv)
    dE[allowed] = calculator.move_energies(fieldv, np.stack([src[allowed], dst[allowed]], axis=1))
    return dE.reshape(hops.shape), float(calculator.energy(fieldv))


def _run_one(job: dict) -> dict:
    """One exact trajectory; returns its snapshots. Top-level so that process pools can pickle it."""
    from ..dynamics.base import State
    from ..dynamics.kmc import neighbor_hops

    lattice, rng = job["lattice"], np.random.default_rng(job["seed"])
    calculator = job["make_calculator"](lattice)
    stepper = job["make_stepper"](calculator)
    init = INITIAL_STATES[job["type"]][1]
    shape = job["shape"] or ((lattice.N, 3) if calculator.field_kind == "spin" else (lattice.N,))
    state = State(init(lattice, shape, calculator.field_kind, job["n_particles"], rng, **job["params"]))
    stepper.prepare(state)
    hops = neighbor_hops(lattice) if job["target"] == "move_energies" else None
    snaps: dict[str, list] = {"inputs": [], "targets": [], "energy": [], "time": []}
    for k in range(job["steps"] + 1):
        if k % job["save_every"] == 0:
            fv = np.array(state.field, copy=True)
            tgt, e = _snapshot_targets(calculator, fv, job["target"], hops)
            snaps["inputs"].append(fv.reshape(lattice.N, -1))
            snaps["targets"].append(tgt)
            snaps["energy"].append(e)
            snaps["time"].append(state.time)
            if job["target"] == "move_energies":
                calculator.reset(state.field)
        if k < job["steps"]:
            stepper.step(state, rng)
    return {k: np.asarray(v) for k, v in snaps.items()}


def generate_dataset(out, *, lattice, make_calculator, make_stepper, runs: list[RunSpec], steps: int,
                     save_every: int, seed: int = 0, split=(0.7, 0.15, 0.15), target: str = "forces",
                     field_shape: tuple | None = None, n_particles: int | None = None, workers: int = 1,
                     metadata: dict | None = None, progress: bool = False) -> Path:
    """Run ensembles of exact simulations and write their snapshots to the HDF5 file ``out``.

    Parameters
    ----------
    lattice : Lattice
    make_calculator : callable(lattice) -> Calculator
        Builds the exact calculator (called once per run, inside the worker).
    make_stepper : callable(calculator) -> Stepper
    runs : list of RunSpec
        Run groups; their ``type`` is the stratification key of the split.
    steps, save_every : int
        Steps per run; a snapshot (field, targets, energy) is saved every ``save_every`` steps, step 0 included.
    split : (train, val, test) fractions of the runs of each type.
    target : {"forces", "move_energies"}
    field_shape, n_particles : optional
        Shape of the field (default (N, 3) for spins, (N,) otherwise) and particle count of random occupations
        (default: ``filling`` of the run type, else half filling).
    workers : int
        Runs in parallel over local processes (1 = in this process). The factories must then be picklable.
    """
    import h5py

    if target not in ("forces", "move_energies"):
        raise ValueError(f"target must be 'forces' or 'move_energies', got {target!r}")
    seeds = np.random.SeedSequence(seed).spawn(sum(r.count for r in runs) + 1)
    jobs, types = [], []
    for spec in runs:
        if spec.type not in INITIAL_STATES:
            raise ConfigError("runs.type", f"unknown run type {spec.type!r}; choose one of {sorted(INITIAL_STATES)}")
        for _ in range(spec.count):
            jobs.append({"lattice": lattice, "seed": seeds[len(jobs)], "make_calculator": make_calculator,
                         "make_stepper": make_stepper, "type": spec.type, "params": spec.params, "steps": steps,
                         "save_every": save_every, "target": target, "shape": field_shape,
                         "n_particles": n_particles if n_particles is not None else lattice.N // 2})
            types.append(spec.type)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_run_one, jobs))
    else:
        from tqdm import tqdm

        results = [_run_one(j) for j in tqdm(jobs, desc="exact runs", disable=not progress)]
    type_names = list(dict.fromkeys(types))
    run_type_of_run = np.array([type_names.index(t) for t in types])
    run_split = split_runs(run_type_of_run, tuple(split), np.random.default_rng(seeds[-1]))
    counts = [len(r["energy"]) for r in results]
    cat = {k: np.concatenate([r[k] for r in results]) for k in results[0]}
    rows = {"run_id": np.repeat(np.arange(len(results)), counts).astype(np.int32),
            "run_type": np.repeat(run_type_of_run, counts).astype(np.int32),
            "split": np.repeat(run_split, counts).astype(np.int8)}
    from .. import __version__

    reference = make_calculator(lattice)  # describes the exact model and dynamics in the file
    meta = {"lattice": lattice.describe(), "model": dict(reference.metadata), "field_kind": reference.field_kind,
            "stepper": make_stepper(reference).describe(), "target": target, "runs": [asdict(r) for r in runs],
            "steps": steps, "save_every": save_every, "seed": seed, "split_fractions": list(split),
            **(metadata or {}), "latticeml_version": __version__}
    train = rows["split"] == 0
    stats = normalization_stats(cat["inputs"][train], cat["targets"][train], cat["energy"][train],
                                meta.get("field_kind", ""), lattice.N)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("inputs", data=cat["inputs"].astype(np.float32), compression="gzip")
        f.create_dataset("targets", data=cat["targets"].astype(np.float32), compression="gzip")
        f.create_dataset("energy", data=cat["energy"].astype(np.float64))
        f.create_dataset("time", data=cat["time"].astype(np.float64))
        for k, v in rows.items():
            f.create_dataset(k, data=v)
        f.attrs["format"] = FORMAT
        f.attrs["metadata"] = json.dumps(meta, default=_json_default)
        f.attrs["run_types"] = json.dumps(type_names)
        f.attrs["normalization"] = json.dumps(stats)
    tmp.replace(out)
    return out


def _json_default(obj):
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in dataset metadata")


# ---------------------------------------------------------------------------------------------- config entry point
class _CalculatorFactory:
    """Picklable ``lattice -> calculator`` of a registered model (process pools cannot pickle closures)."""

    def __init__(self, model_cfg: dict):
        self.model_cfg = model_cfg

    def __call__(self, lattice):
        from ..io.registry import MODELS, resolve

        return resolve(MODELS, self.model_cfg["name"]).build(lattice, self.model_cfg)


class _StepperFactory:
    """Picklable ``calculator -> stepper`` of a registered stepper."""

    def __init__(self, dynamics_cfg: dict, model_cfg: dict):
        self.dynamics_cfg, self.model_cfg = dynamics_cfg, model_cfg

    def __call__(self, calculator):
        from ..io.registry import STEPPERS, resolve

        return resolve(STEPPERS, self.dynamics_cfg["stepper"]).build(calculator, self.dynamics_cfg, self.model_cfg)


_SIMULATION_KEYS = ("seed", "lattice", "model", "dynamics")
_GENERATE_PARAMS = {
    "save_every": Param("int", 1, "steps between saved snapshots", low=1),
    "target": Param("choice", "forces", choices=("forces", "move_energies")),
    "workers": Param("int", 1, "local processes running the exact runs", low=1),
}


#: field kind of a model (io.registry.ModelSpec.field_kind) -> the targets its calculators can label
_TARGETS = {"occupation": ("move_energies",), "spin": ("forces",), "displacement": ("forces",)}


def _check_target(target: str, given: bool, model: str, field_kind: str) -> None:
    """Refuse a target the model cannot label before any run starts: occupation models give hop energies
    (move_energies), continuous fields (spins, displacements) give forces."""
    supported = _TARGETS.get(field_kind, ("forces", "move_energies"))
    if target not in supported:
        how = f"'{target}'" + ("" if given else " (the default)")
        raise ConfigError("target", f"{how} does not fit model '{model}' ({field_kind} field), which supports only "
                                    f"{' or '.join(supported)}; set 'target: {supported[0]}'")


def _parse_generate(cfg: dict) -> dict:
    """Check a generate config: the simulate sections (seed, lattice, model, dynamics) plus runs/split/...."""
    from ..io.config import build_lattice, validate_config
    from ..io.registry import MODELS, resolve

    allowed = set(_SIMULATION_KEYS) | set(_GENERATE_PARAMS) | {"runs", "split"}
    for key in cfg:
        if key not in allowed:
            raise ConfigError(str(key), f"unknown key; valid keys: {', '.join(sorted(allowed))}")
    sim = validate_config({k: cfg[k] for k in _SIMULATION_KEYS if k in cfg})
    extra = {k: p.check(k, cfg[k]) if k in cfg else p.default for k, p in _GENERATE_PARAMS.items()}
    if not isinstance(cfg.get("runs"), list) or not cfg["runs"]:
        raise ConfigError("runs", "must be a non-empty list of {type, count, ...} entries")
    lattice = build_lattice(sim["lattice"])
    spec = resolve(MODELS, sim["model"]["name"])
    runs = []
    for k, r in enumerate(cfg["runs"]):
        where = f"runs[{k}]"
        r = check_mapping(where, r)
        rtype = Param("choice", REQUIRED, choices=tuple(INITIAL_STATES)).check(f"{where}.type", r.get("type"))
        count = Param("int", REQUIRED, "number of runs of this type", low=1).check(f"{where}.count", r.get("count"))
        params = validate_section(where, {p: v for p, v in r.items() if p not in ("type", "count")},
                                  INITIAL_STATES[rtype][0])
        if isinstance(INITIAL_STATES[rtype][1], _SpinInitial):
            if spec.field_kind != "spin":
                raise ConfigError(f"{where}.type", f"'{rtype}' starts exist only for spin fields; use 'random'")
            INITIAL_STATES[rtype][1].spec.check(lattice, params)
        runs.append(RunSpec(rtype, count, {p: v for p, v in params.items() if v is not None}))
    # after the run types, whose errors are more specific (a skyrmion start on an occupation model)
    _check_target(extra["target"], "target" in cfg, sim["model"]["name"], spec.field_kind)
    split_cfg = validate_section("split", check_mapping("split", cfg.get("split")),
                                 {s: Param("float", d, f"fraction of the runs in the {s} split", low=0, high=1)
                                  for s, d in zip(SPLIT_NAMES, (0.7, 0.15, 0.15))})
    fractions = tuple(split_cfg[s] for s in SPLIT_NAMES)
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError("split", f"train + val + test must add up to 1, got {sum(fractions):g}")
    n_particles = spec.n_particles(lattice, sim["model"]) if spec.n_particles else None
    return {"lattice": lattice, "make_calculator": _CalculatorFactory(sim["model"]),
            "make_stepper": _StepperFactory(sim["dynamics"], sim["model"]), "runs": runs,
            "steps": sim["dynamics"]["n_steps"], "save_every": extra["save_every"], "seed": sim["seed"],
            "split": fractions, "target": extra["target"], "field_shape": spec.shape(lattice, sim["model"]),
            "n_particles": n_particles, "workers": extra["workers"]}


def generate_from_config(config_path, out) -> Path:
    """``latticeml generate CONFIG --out OUT``: OUT is the dataset file (``OUT/dataset.h5`` if OUT is a folder).

    The config has the ``seed``, ``lattice``, ``model`` and ``dynamics`` sections of a ``simulate`` config
    (``dynamics.n_steps`` = steps per run) plus ``runs: [{type, count, ...}]`` (run types: random, ferromagnet,
    skyrmion, perturbed_skyrmion),
    ``save_every``, ``split: {train, val, test}``, ``target`` (forces for spin and displacement models, the
    default; move_energies for occupation models) and ``workers``.
    See ``examples/configs/ml_generate_heisenberg.yaml``.
    """
    cfg = load_yaml(config_path)
    args = _parse_generate(cfg)
    out = Path(out)
    if out.is_dir() or not out.suffix:
        out = out / "dataset.h5"
    make_output_dir(out.parent)  # before the runs, not after them
    path = generate_dataset(out, **args, metadata={"generator_config": cfg}, progress=True)
    ds = load_dataset(path)
    print(json.dumps({"dataset": str(path), "snapshots": len(ds), "runs": int(ds.run_id.max()) + 1,
                      "split": {s: int((ds.split == i).sum()) for i, s in enumerate(SPLIT_NAMES)}}))
    return path
