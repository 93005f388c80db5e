"""Differentiable per-site featurizers that feed the Behler-Parrinello network.

A featurizer is an ``nn.Module`` mapping fields (B, N, field_dim) to descriptors (B, N, n_features). It is built
from a plain settings dict (stored in model files, compared when a model is loaded) and bound to a lattice with
``attach(lattice)``, which builds its neighbour table; the settings, not the table, define the model, so the same
weights run on any lattice size.

Kinds:

* ``spin_bonds`` — the bond variables b_ij = S_i·S_j between site i and every neighbour j within ``cutoff``
  (ch3 spec §8, variable (a)), in the lattice's fixed neighbour order. Invariant under global spin rotations; the
  lattice point group permutes them, which the training augmentation covers. Cheap.
* ``spin_ir`` — :class:`latticeml.descriptors.SpinIRDescriptor` (bonds + chiralities, IR power spectrum and
  phases; invariant under the point group and spin rotations; ch3 §8). Settings: ``r1``, ``r2``, ``eps``,
  ``chirality``.
* ``lattice_ir`` — :class:`latticeml.descriptors.LatticeIRDescriptor` for scalar or multi-component site fields
  (e.g. Jahn-Teller modes, ch7 §3.2). Settings: ``cutoff``, ``components``, ``phase_mode``, ``eps``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ModelMismatchError

__all__ = ["FEATURIZERS", "build_featurizer", "SpinBondFeaturizer", "IRFeaturizer"]


def _lattice_by_name(name: str, size: int):
    from .. import lattice as lat

    builders = {"square": lat.square, "triangular": lat.triangular, "simple_cubic": lat.simple_cubic}
    if name not in builders:
        raise ValueError(f"spin_bonds featurizer supports lattices {sorted(builders)}, not {name!r}")
    return builders[name](size)


class SpinBondFeaturizer(nn.Module):
    """Features S_i·S_j for the neighbours j of i within ``cutoff`` (lattice constant units), (B, N, M)."""

    def __init__(self, lattice: str, cutoff: float):
        super().__init__()
        self.settings = {"kind": "spin_bonds", "lattice": lattice, "cutoff": float(cutoff)}
        ref = _lattice_by_name(lattice, 1)
        self.n_features = sum(len(s.offsets) for s in ref.shells(cutoff))
        if self.n_features == 0:
            raise ValueError(f"spin_bonds: cutoff {cutoff} contains no neighbours on the {lattice} lattice")
        self.register_buffer("neighbors", torch.zeros((0, self.n_features), dtype=torch.long), persistent=False)
        self.lattice_shape: tuple[int, ...] | None = None

    def attach(self, lattice) -> None:
        if lattice.name != self.settings["lattice"]:
            raise ModelMismatchError(f"descriptor lattice: model was built for '{self.settings['lattice']}', "
                                     f"the simulation uses '{lattice.name}'")
        idx = lattice.neighbor_table(self.settings["cutoff"])
        self.neighbors = torch.as_tensor(idx, dtype=torch.long, device=self.neighbors.device)
        self.lattice_shape = lattice.shape

    def forward(self, spins: torch.Tensor) -> torch.Tensor:
        if self.neighbors.shape[0] != spins.shape[-2]:
            raise RuntimeError(f"featurizer is attached to {self.neighbors.shape[0]} sites but got "
                               f"{spins.shape[-2]}; call attach(lattice) first")
        return (spins.unsqueeze(-2) * spins[..., self.neighbors, :]).sum(-1)


class IRFeaturizer(nn.Module):
    """Adapter from the symmetry descriptors of :mod:`latticeml.descriptors` to the featurizer interface.

    The descriptor object is rebuilt for every lattice it is attached to; its feature count depends only on the
    settings, so it is read from a reference lattice at construction.
    """

    def __init__(self, kind: str, lattice: str, **params):
        super().__init__()
        self.settings = {"kind": kind, "lattice": lattice, **params}
        self._params = dict(params)
        radius = params.get("r1", params.get("cutoff", 6.0))
        self.descriptor = self._build(_lattice_by_name(lattice, 2 * int(np.ceil(radius)) + 3))
        self.n_features = int(self.descriptor.n_features)

    def _build(self, lattice):
        from .. import descriptors

        cls = descriptors.SpinIRDescriptor if self.settings["kind"] == "spin_ir" else descriptors.LatticeIRDescriptor
        params = dict(self._params)
        if "components" in params and isinstance(params["components"], list):
            params["components"] = tuple(params["components"])
        return cls(lattice, **params)

    def attach(self, lattice) -> None:
        if lattice.name != self.settings["lattice"]:
            raise ModelMismatchError(f"descriptor lattice: model was built for '{self.settings['lattice']}', "
                                     f"the simulation uses '{lattice.name}'")
        self.descriptor = self._build(lattice)

    def forward(self, fields: torch.Tensor) -> torch.Tensor:
        return self.descriptor(fields)


FEATURIZERS = {"spin_bonds": SpinBondFeaturizer,
               "spin_ir": lambda **kw: IRFeaturizer("spin_ir", **kw),
               "lattice_ir": lambda **kw: IRFeaturizer("lattice_ir", **kw)}


def build_featurizer(settings: dict) -> nn.Module:
    """Featurizer from its settings dict (``{"kind": ..., **params}``)."""
    settings = dict(settings)
    kind = settings.pop("kind", None)
    if kind not in FEATURIZERS:
        raise ValueError(f"unknown descriptor kind {kind!r}; choose one of {sorted(FEATURIZERS)}")
    return FEATURIZERS[kind](**settings)
