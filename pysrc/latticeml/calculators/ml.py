"""ML calculators: a trained model file behind the calculator protocol, a drop-in for the exact calculator.

``MLCalculator.from_file(path, lattice, model=exact.metadata)`` checks that the file fits the simulation
(lattice kind, model parameters, descriptor; :class:`~latticeml.errors.ModelMismatchError` otherwise) and returns:

* :class:`BPCalculator` for a Behler-Parrinello energy model: energy and -∂E/∂field by autograd, all sites in one
  batched pass (conservative forces / exchange fields);
* :class:`CNNFieldCalculator` for the ResNet torque model: the field H_⊥ directly (no energy; non-conservative);
* :class:`FKDeltaECalculator` for the Falicov-Kimball ΔE model: ``move_energies`` for kinetic Monte Carlo.

Both accept fields in float64 (as the dynamics keep them) and return float64; inference runs in the network's
dtype (float32 by default) on the chosen device.
"""
from __future__ import annotations

import numpy as np

from .base import Calculator, Result

__all__ = ["MLCalculator", "BPCalculator", "CNNFieldCalculator", "FKDeltaECalculator"]


class MLCalculator(Calculator):
    """Base of the ML calculators: holds the network, its metadata and the lattice it is bound to."""

    def __init__(self, network, metadata: dict, lattice, *, device: str = "cpu", dtype: str = "float32"):
        import torch

        from ..ml.train import torch_device

        self._torch = torch
        self.lattice = lattice
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
        self.device = torch_device(device)
        self.network = network.to(device=self.device, dtype=self.dtype).eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.model_metadata = metadata
        self.field_kind = metadata.get("field_kind") or "spin"
        self.metadata = dict(metadata.get("model", {}), ml_kind=metadata.get("kind"), lattice=lattice.describe())

    @classmethod
    def from_file(cls, path, lattice, *, model: dict | None = None, device: str = "cpu",
                  dtype: str = "float32") -> "MLCalculator":
        """Load ``path`` for a simulation on ``lattice`` with exact-model parameters ``model`` (checked if given).
        ``device``: "cpu", "cuda" or "auto" (the GPU when torch sees one)."""
        from ..ml.modelfile import load_model
        from ..ml.train import torch_device

        device = str(torch_device(device))
        network, meta = load_model(path, lattice=lattice, model=model, device=device)
        kinds = {"bp": BPCalculator, "cnn": CNNFieldCalculator, "fk_delta_e": FKDeltaECalculator}
        if meta["kind"] not in kinds:
            from ..errors import LatticeMLError

            raise LatticeMLError(f"model kind {meta['kind']!r} has no calculator here (supported: {sorted(kinds)})")
        return kinds[meta["kind"]](network, meta, lattice, device=device, dtype=dtype)

    def _tensor(self, fields: np.ndarray):
        return self._torch.as_tensor(np.asarray(fields), dtype=self.dtype, device=self.device)

    def describe(self) -> dict:
        return dict(self.metadata, calculator=type(self).__name__)


class BPCalculator(MLCalculator):
    """Behler-Parrinello energy model: E = Σ_i ε_i and forces -∂E/∂field (exchange field for spins)."""

    def __init__(self, network, metadata, lattice, **kw):
        super().__init__(network, metadata, lattice, **kw)
        self.network.attach(lattice)

    def compute(self, fields: np.ndarray, *, forces: bool = True) -> Result:
        res = self.compute_batch(np.asarray(fields)[None], forces=forces)
        return Result(float(res["energy"][0]), res["forces"][0] if forces else None)

    def compute_batch(self, fields: np.ndarray, *, forces: bool = True) -> dict:
        """Energies (B,) and forces (B, N, C) of a batch of configurations (B, N, C) in one pass."""
        x = self._tensor(fields).reshape(len(fields), self.lattice.N, -1)
        out = self.network(x, forces=forces)
        res = {"energy": out["energy"].detach().double().cpu().numpy()}
        if forces:
            f = out["forces"].detach().double().cpu().numpy()
            res["forces"] = f.reshape(np.shape(fields))
        return res

    def field_tensor(self, x):
        """Forces (B, N, C) as a differentiable function of the tensor ``x`` (B, N, C) (diagnostics)."""
        return self.network(x, forces=True, create_graph=True)["forces"]


class CNNFieldCalculator(MLCalculator):
    """ResNet torque model: predicts the torque-relevant field H_⊥ on the whole lattice image at once.

    There is no energy (``Result.energy`` is None): the field is not a gradient, which is why the dissertation checks
    its equivariance and energy drift separately (ch3 spec §7). LLG only needs S × H, so H_⊥ suffices. A model
    trained on torques (metadata ``output_projection: "perpendicular"``: its loss saw the output with the part along
    S removed, so that part is arbitrary) has every output projected, H − (H·Ŝ)Ŝ, here as in training.
    """

    def compute(self, fields: np.ndarray, *, forces: bool = True) -> Result:
        return Result(None, self.compute_batch(np.asarray(fields)[None])[0] if forces else None)

    def compute_batch(self, fields: np.ndarray) -> np.ndarray:
        """Fields (B, N, C) -> predicted H_⊥ (B, N, C)."""
        x = self._tensor(fields).reshape(len(fields), self.lattice.N, -1)
        with self._torch.no_grad():
            return self.field_tensor(x).double().cpu().numpy().reshape(np.shape(fields))

    def field_tensor(self, x):
        """Predicted field (B, N, C) of the site-ordered tensor ``x`` (B, N, C), differentiable (diagnostics)."""
        B, N, C = x.shape
        y = self.network(x.reshape(B, *self.lattice.shape, C).movedim(-1, 1)).movedim(1, -1).reshape(B, N, -1)
        if self.model_metadata.get("output_projection") == "perpendicular":
            from ..ml.data import perpendicular_torch

            y = perpendicular_torch(y, x)
        return y


class FKDeltaECalculator(MLCalculator):
    """Falicov-Kimball kMC surrogate: ΔE of f-electron hops from the per-class ΔE networks (ch2 spec §4).

    For the source sites of the requested moves: classify each electron (class, canonical frame, reference signs),
    compute its 316 invariant features, predict the class targets and rebuild ΔE of the four directions
    covariantly (``FKDescriptor.dE_from_targets``). The calculator keeps no state, so ``reset``/``commit`` are
    free; there is no total energy (``compute`` is not available).

    ``workers`` > 1 evaluates the networks in that many threads (and classifies the electrons in two halves where
    the descriptor runs without numba); numpy, torch and the descriptor's numba loops release the GIL in their
    kernels. The unit of work is a chunk of at most ``NETS_PER_TASK`` networks of one class (its features are
    computed once, by the first chunk that needs them), largest first: with whole classes as units, class P4
    (4 networks, ~80 % of the electrons) was ~70 % of the network time, so one thread ran it while the other idled;
    in chunks of two the threads share P4. The calling thread does any chunk no worker has started when it gets
    there.
    Why not torch's own intra-op threads: kMC batches hold a few dozen electrons per class, too little work per
    kernel to split well (and its spin-waiting threads collapse on a loaded machine: one sweep took minutes),
    whereas the networks are independent. The result does not depend on ``workers``: the chunks are the same
    and every call is the same, only the thread running it changes.
    """

    NETS_PER_TASK = 2

    field_kind = "occupation"

    def __init__(self, network, metadata, lattice, *, workers: int = 1, **kw):
        from ..descriptors.fk import FKDescriptor
        from ..dynamics.kmc import neighbor_hops

        super().__init__(network, metadata, lattice, **kw)
        self.field_kind = "occupation"
        self.descriptor = FKDescriptor(lattice, network.config["rc"])
        self.hops = neighbor_hops(lattice)
        self._stacks = self._stacked_networks()
        self._pool = None
        self.workers = workers

    @property
    def workers(self) -> int:
        return self._workers

    @workers.setter
    def workers(self, n: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        if int(n) < 1:
            from ..errors import ConfigError

            raise ConfigError("calculator.workers", f"{n} must be >= 1")
        if self._pool is not None:
            self._pool.shutdown()
        self._workers = int(n)
        self._pool = ThreadPoolExecutor(self._workers - 1) if self._workers > 1 else None

    def _stacked_networks(self) -> dict | None:
        """Per class, the class's DeltaENet(s) in chunks of at most ``NETS_PER_TASK``, each one
        :class:`~latticeml.ml.fk.StackedDeltaENets` (fewer, larger kernels for the small kMC batches; chunks are
        the units of work of the threads); None for a network of another structure (then it is called as is)."""
        from ..ml.fk import StackedDeltaENets
        from ..ml.networks import DeltaENet

        nets = getattr(self.network, "nets", None)
        if nets is None or self.device.type != "cpu":
            return None
        stacks = {}
        for name, member in nets.items():
            group = [member] if isinstance(member, DeltaENet) else list(member)
            if not group or not all(isinstance(n, DeltaENet) for n in group):
                return None
            stacks[name] = [StackedDeltaENets(group[i:i + self.NETS_PER_TASK])
                            for i in range(0, len(group), self.NETS_PER_TASK)]
        return stacks

    def reset(self, fields) -> None:
        """Stateless: nothing to rebuild."""

    def commit(self, fields_after, move) -> None:
        """Stateless: nothing to update."""

    def _classify(self, occ: np.ndarray, sites: np.ndarray):
        """``descriptor.classify``, with ``workers`` > 1 in two halves at once (it works electron by electron) unless
        it runs compiled (numba: ~1 µs per electron, less than handing half a batch to a thread)."""
        if self._pool is None or len(sites) < 16 or self.descriptor.use_numba:
            return self.descriptor.classify(occ, sites)
        from dataclasses import fields

        half = len(sites) // 2
        pending = self._pool.submit(self.descriptor.classify, occ, sites[half:])
        first = self.descriptor.classify(occ, sites[:half])
        # a worker not started yet (busy machine) is not waited for: this thread does its half
        second = self.descriptor.classify(occ, sites[half:]) if pending.cancel() else pending.result()
        return type(first)(*[np.concatenate([getattr(first, f.name), getattr(second, f.name)])
                             for f in fields(first)])

    def _stacked_targets(self, occ: np.ndarray, c, names: list) -> dict:
        """Class targets {name: (n_class, n_T)} from the stacked network chunks, in ``workers`` threads."""
        import threading

        from ..descriptors.fk import CLASS_NAMES

        dtype = np.float32 if self.dtype == self._torch.float32 else np.float64
        feats, locks, out = {}, {name: threading.Lock() for name in names}, {}

        def run(task):  # one chunk; numpy and torch kernels release the GIL
            name, j = task
            with locks[name]:  # the first chunk of a class computes its features, the others wait for them
                if name not in feats:
                    x = self.descriptor.features(occ, c, dtype, classes=(name,))[name]
                    feats[name] = self._torch.from_numpy(x)
            out[task] = self._stacks[name][j](feats[name]).double().numpy()

        count = {name: int(np.sum(c.cls == CLASS_NAMES.index(name))) for name in names}
        # cost ~ networks × (electrons + ~10): a call streams its fully connected weights whatever the batch
        tasks = sorted(((name, j) for name in names for j in range(len(self._stacks[name]))),
                       key=lambda t: -self._stacks[t[0]][t[1]].k * (count[t[0]] + 10))
        if self._pool is None or len(tasks) < 2:
            for task in tasks:
                run(task)
        else:
            # the second task from another class, so that the two threads do not start on one class's features;
            # the calling thread takes the first and then any the worker has not started when it is free (never
            # waiting on a worker the machine has not scheduled yet)
            other = next((i for i, t in enumerate(tasks) if t[0] != tasks[0][0]), 1)
            tasks.insert(1, tasks.pop(other))
            futures = [self._pool.submit(run, task) for task in tasks[1:]]
            run(tasks[0])
            for task, f in zip(tasks[1:], futures):
                if f.cancel():
                    run(task)
            for f in futures:
                if not f.cancelled():
                    f.result()
        return {name: np.concatenate([out[(name, j)] for j in range(len(self._stacks[name]))], axis=1)
                for name in names}

    def direction_energies(self, occ: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """ΔE (n, 4) of the electrons at ``sites`` for the hops +x, -y, -x, +y (the columns of ``self.hops``);
        +inf where blocked."""
        from ..descriptors.fk import CLASS_NAMES

        c = self._classify(occ, np.asarray(sites, dtype=np.int64))
        names = [k for k in CLASS_NAMES[:5] if np.any(c.cls == CLASS_NAMES.index(k))]
        if self._stacks is None:
            feats = self.descriptor.features(occ, c, classes=names)
            with self._torch.no_grad():
                pred = self.network({k: self._tensor(v) for k, v in feats.items()})
            targets = {k: v.double().cpu().numpy() for k, v in pred.items()}
        else:
            targets = self._stacked_targets(occ, c, names)
        return self.descriptor.dE_from_targets({k: targets.get(k, np.zeros((0, 1))) for k in CLASS_NAMES[:5]}, c)

    def move_energies(self, fields: np.ndarray, moves: np.ndarray) -> np.ndarray:
        occ = np.rint(np.asarray(fields)).astype(np.int8).reshape(-1)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1, 2)
        sources, row = np.unique(moves[:, 0], return_inverse=True)
        dE4 = self.direction_energies(occ, sources)
        hit = self.hops[moves[:, 0]] == moves[:, 1][:, None]
        if not hit.any(axis=1).all():
            bad = moves[~hit.any(axis=1)][0]
            raise ValueError(f"move {tuple(bad)} is not a nearest-neighbour hop; the FK ΔE model covers only those")
        return dE4[row, np.argmax(hit, axis=1)]
