"""Falicov-Kimball ΔE surrogate: from ``move_energies`` snapshots to per-class training sets and a trained model.

A dataset generated with ``target: move_energies`` on the square lattice holds occupations (S, N, 1) and the exact
ΔE of every hop (S, N, 4) in the order +x, -y, -x, +y (``dynamics.kmc.SQUARE_HOP_ORDER``, the same order as
``descriptors.fk.DIRECTIONS``). Every f-electron of every snapshot is one sample of its environment class:
316 reference-signed IR features and the class's invariant targets T (ch2 spec §4.3–4.4).
"""
from __future__ import annotations

import numpy as np

from ..errors import LatticeMLError
from .data import Dataset

__all__ = ["fk_class_datasets", "train_fk_model"]


def fk_class_datasets(dataset: Dataset, rc: float = 10.01) -> dict[str, Dataset]:
    """Per-class datasets {name: Dataset(inputs (n, F), targets (n, n_T))}, rows keep their run/split labels.

    Electrons whose reference sign is exactly zero (``FKClassification.valid`` False) and blocked electrons are
    left out, as the author code does.
    """
    from ..descriptors.fk import CLASS_NAMES, FKDescriptor
    from ..dynamics.kmc import SQUARE_HOP_ORDER

    if dataset.metadata.get("target") != "move_energies" or dataset.targets.shape[-1] != len(SQUARE_HOP_ORDER):
        raise LatticeMLError("the FK ΔE model needs a square-lattice dataset generated with target: move_energies")
    desc = FKDescriptor(dataset.lattice(), rc)
    parts: dict[str, dict[str, list]] = {n: {"x": [], "y": [], "row": []} for n in CLASS_NAMES[:5]}
    for row in range(len(dataset)):
        occ = np.rint(dataset.inputs[row, :, 0]).astype(np.int8)
        sites = np.nonzero(occ)[0]
        c = desc.classify(occ, sites)
        feats = desc.features(occ, c)
        targets = desc.targets_from_dE(dataset.targets[row, sites].astype(float), c)
        for name in CLASS_NAMES[:5]:
            keep = c.valid[c.members(name)]
            parts[name]["x"].append(feats[name][keep])
            parts[name]["y"].append(targets[name][keep])
            parts[name]["row"].append(np.full(int(keep.sum()), row))
    out = {}
    for name, p in parts.items():
        rows = np.concatenate(p["row"]).astype(np.int64)
        out[name] = Dataset(np.concatenate(p["x"]), np.concatenate(p["y"]), dataset.energy[rows],
                            dataset.run_id[rows], dataset.run_type[rows], dataset.split[rows], dataset.time[rows],
                            dict(dataset.metadata, fk_class=name), dataset.run_types, {})
    return out


def train_fk_model(dataset: Dataset, *, rc: float = 10.01, network: dict | None = None, classes=None,
                   checkpoint_dir=None, resume: bool = False, **trainer_options):
    """Train an :class:`~latticeml.ml.networks.FKDeltaEModel`: one :class:`Trainer` run per environment class.

    ``classes`` limits training to some classes (default: all five). Classes left out or without training or
    validation samples keep untrained networks; ``model.class_counts_`` records the training-sample count of every
    trained class (stored in the model metadata) so that gap is visible.
    Returns ``(model, {class: Trainer or None})``.
    """
    from pathlib import Path

    from .networks import FKDeltaEModel
    from .train import Trainer

    per_class = fk_class_datasets(dataset, rc)
    n_features = next(d.inputs.shape[1] for d in per_class.values())
    model = FKDeltaEModel(rc=rc, n_features=n_features, **(network or {}))
    trainers: dict = {}
    counts = {}
    lattice = dataset.lattice()
    for name, ds in per_class.items():
        if classes is not None and name not in classes:
            trainers[name] = None
            continue
        train, val = ds.subset("train"), ds.subset("val")
        counts[name] = len(train)
        if len(train) < 2 or len(val) < 1:
            trainers[name] = None
            continue
        ckpt = Path(checkpoint_dir) / f"checkpoint_{name}.pt" if checkpoint_dir else None
        tr = Trainer(model.nets[name], train, val, lattice=lattice, checkpoint=ckpt, **trainer_options)
        if resume and ckpt is not None and ckpt.is_file():
            tr.resume(ckpt)
        tr.fit()
        trainers[name] = tr
    model.class_counts_ = counts
    return model.eval(), trainers
