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

        self._torch = torch
        self.lattice = lattice
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
        self.device = torch.device(device)
        self.network = network.to(device=self.device, dtype=self.dtype).eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.model_metadata = metadata
        self.field_kind = metadata.get("field_kind") or "spin"
        self.metadata = dict(metadata.get("model", {}), ml_kind=metadata.get("kind"), lattice=lattice.describe())

    @classmethod
    def from_file(cls, path, lattice, *, model: dict | None = None, device: str = "cpu",
                  dtype: str = "float32") -> "MLCalculator":
        """Load ``path`` for a simulation on ``lattice`` with exact-model parameters ``model`` (checked if given)."""
        from ..ml.modelfile import load_model

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
    its equivariance and energy drift separately (ch3 spec §7). LLG only needs S × H, so H_⊥ suffices.
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
        y = self.network(x.reshape(B, *self.lattice.shape, C).movedim(-1, 1))
        return y.movedim(1, -1).reshape(B, N, -1)


class FKDeltaECalculator(MLCalculator):
    """Falicov-Kimball kMC surrogate: ΔE of f-electron hops from the per-class ΔE networks (ch2 spec §4).

    For the source sites of the requested moves: classify each electron (class, canonical frame, reference signs),
    compute its 316 invariant features, predict the class targets and rebuild ΔE of the four directions
    covariantly (``FKDescriptor.dE_from_targets``). The calculator keeps no state, so ``reset``/``commit`` are
    free; there is no total energy (``compute`` is not available).
    """

    field_kind = "occupation"

    def __init__(self, network, metadata, lattice, **kw):
        from ..descriptors.fk import FKDescriptor
        from ..dynamics.kmc import neighbor_hops

        super().__init__(network, metadata, lattice, **kw)
        self.field_kind = "occupation"
        self.descriptor = FKDescriptor(lattice, network.config["rc"])
        self.hops = neighbor_hops(lattice)
        self._stacks = self._stacked_networks()

    def _stacked_networks(self) -> dict | None:
        """Per class, the class's DeltaENet(s) as one :class:`~latticeml.ml.fk.StackedDeltaENets` (fewer, larger
        kernels for the small kMC batches); None for a network of another structure (then it is called as is)."""
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
            stacks[name] = StackedDeltaENets(group)
        return stacks

    def reset(self, fields) -> None:
        """Stateless: nothing to rebuild."""

    def commit(self, fields_after, move) -> None:
        """Stateless: nothing to update."""

    def direction_energies(self, occ: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """ΔE (n, 4) of the electrons at ``sites`` for the hops +x, -y, -x, +y; +inf where blocked."""
        c = self.descriptor.classify(occ, sites)
        feats = self.descriptor.features(occ, c)
        if self._stacks is not None:
            pred = {k: self._stacks[k](self._tensor(v)) for k, v in feats.items() if len(v)}
        else:
            with self._torch.no_grad():
                pred = self.network({k: self._tensor(v) for k, v in feats.items()})
        targets = {k: pred[k].double().cpu().numpy() if k in pred else np.zeros((0, 1)) for k in feats}
        return self.descriptor.dE_from_targets(targets, c)

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
