"""The ML layer: networks, datasets, training, model files, symmetry augmentation, diagnostics.

Pipeline: exact simulations -> :func:`~latticeml.ml.data.generate_dataset` (HDF5) ->
:class:`~latticeml.ml.train.Trainer` -> :func:`~latticeml.ml.modelfile.save_model` -> an ML calculator
(:mod:`latticeml.calculators.ml`) that any dynamics engine uses in place of the exact one.

Modules (torch is imported when a name that needs it is first used, never by ``import latticeml``):

    networks     BPEnergyModel, DeltaENet, FKDeltaEModel, TorqueResNet, build_network, NETWORKS
    featurizers  differentiable per-site descriptors for BP models (spin_bonds)
    data         Dataset, load_dataset, generate_dataset, generate_from_config
    train        Trainer, train_from_config, relative_l1
    modelfile    save_model, load_model, read_metadata, check_compatible
    augment      SymmetryAugmenter, random_rotations
    fk           fk_class_datasets, train_fk_model (Falicov-Kimball ΔE surrogate)
    diagnostics  equivariance_errors, equivariance_report, effective_receptive_field
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "BPEnergyModel": "networks", "DeltaENet": "networks", "FKDeltaEModel": "networks", "TorqueResNet": "networks",
    "build_network": "networks", "NETWORKS": "networks",
    "Dataset": "data", "load_dataset": "data", "generate_dataset": "data", "generate_from_config": "data",
    "RunSpec": "data",
    "Trainer": "train", "train_from_config": "train",
    "save_model": "modelfile", "load_model": "modelfile", "read_metadata": "modelfile",
    "check_compatible": "modelfile",
    "SymmetryAugmenter": "augment",
    "fk_class_datasets": "fk", "train_fk_model": "fk",
    "equivariance_errors": "diagnostics", "equivariance_report": "diagnostics",
    "effective_receptive_field": "diagnostics",
}

__all__ = sorted(_EXPORTS) + ["sd_llg_timings"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'latticeml.ml' has no attribute {name!r}")


def sd_llg_timings(sizes, quick: bool = False) -> list[dict]:
    """ML inference cost (BP and CNN calculators) on the triangular L×L lattices ``sizes`` (for ``bench sd-llg``)."""
    from ..bench.ml_inference import ml_timings

    return [ml_timings(L, quick=quick) for L in sizes]
