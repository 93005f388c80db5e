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

__all__ = ["fk_class_datasets", "train_fk_model", "StackedDeltaENets"]


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


class StackedDeltaENets:
    """Inference of k :class:`~latticeml.ml.networks.DeltaENet` of one architecture on the same features, as one.

    Computes ``torch.cat([net(x) for net in nets], dim=1)`` (the same function, to float round-off) with fewer,
    larger kernels: why it exists is kMC, where module-call overhead of the per-output networks (4 for class P4)
    weighed on batches of a few dozen electrons. The first convolution (one input channel) of all k networks is one
    batched matmul on the unfolded input windows (oneDNN's Conv1d with one input channel ran at ~7 GFLOP/s, 2.4×
    slower than the matmul at 16 electrons), the others run per network (oneDNN's grouped Conv1d measured 2-3×
    slower than separate ones here), the fully connected heads of the k networks as batched matmuls.
    Max-pooling commutes with a non-decreasing activation (ReLU, tanh, softplus), so those are applied after the
    pool, on a third of the values. Weights are copied at construction: rebuild after changing the networks.
    """

    _MONOTONE = ("relu", "tanh", "softplus")

    def __init__(self, nets):
        import torch

        nets = list(nets)
        self.k = len(nets)
        cfg = nets[0].config
        if any(n.config != cfg for n in nets):
            raise ValueError("StackedDeltaENets needs networks of one architecture (config)")
        with torch.no_grad():
            self.act = type(nets[0].trunk[1])().forward  # the bare forward: no module-call hooks per kMC batch
            self.pool_first = cfg["activation"] in self._MONOTONE
            convs = [[m for m in n.trunk if isinstance(m, torch.nn.Conv1d)] for n in nets]
            first = [c[0] for c in convs]  # (C, 1, K) kernels -> (k, C, K), biases (k, C, 1)
            if first[0].in_channels != 1:
                raise ValueError("StackedDeltaENets needs a first convolution with one input channel (DeltaENet)")
            self.conv1 = (torch.stack([c.weight[:, 0] for c in first]).contiguous(),
                          torch.stack([c.bias for c in first]).unsqueeze(2).contiguous(), first[0].padding[0])
            self.convs = [[(m.weight.clone(), m.bias.clone(), m.padding[0]) for m in c[1:]] for c in convs]
            lins = [[m for m in n.head if isinstance(m, torch.nn.Linear)] for n in nets]
            self.linear = [(torch.stack([l[t].bias for l in lins]).unsqueeze(1).contiguous(),
                            torch.stack([l[t].weight.t() for l in lins]).contiguous()) for t in range(len(lins[0]))]
            self.mean = torch.stack([n.feature_mean for n in nets]).unsqueeze(1).contiguous()  # (k, 1, F)
            self.inv_std = (1.0 / torch.stack([n.feature_std for n in nets])).unsqueeze(1).contiguous()
            self.target_std = torch.cat([n.target_std for n in nets])
            self.target_mean = torch.cat([n.target_mean for n in nets])

    def _stage(self, h):
        """Activation and MaxPool1d(3, stride 3) over the last axis of a convolution output (N, C, L), in the cheaper
        order."""
        import torch.nn.functional as F

        return self.act(F.max_pool1d(h, 3, 3)) if self.pool_first else F.max_pool1d(self.act(h), 3, 3)

    def __call__(self, x):
        """Targets (B, Σ n_out) of features ``x`` (B, n_features), in the networks' dtype."""
        import torch
        import torch.nn.functional as F

        B, k = x.shape[0], self.k
        w1, b1, pad1 = self.conv1
        C1, K = w1.shape[1:]
        with torch.inference_mode():
            h = (x.unsqueeze(0) - self.mean) * self.inv_std  # (k, B, F): each network's standardisation
            if pad1:
                h = F.pad(h, (pad1, pad1))
            windows = h.unfold(2, K, 1)  # (k, B, L, K)
            L = windows.shape[2]
            y = torch.baddbmm(b1, w1, windows.permute(0, 3, 1, 2).reshape(k, K, B * L))  # (k, C1, B·L)
            y = self._stage(y.view(k * C1, B, L)).view(k, C1, B, -1)
            flat = []
            for g, convs in enumerate(self.convs):
                y_g = y[g].transpose(0, 1)  # (B, C1, L1)
                for w, b, pad in convs:
                    y_g = self._stage(F.conv1d(y_g, w, b, padding=pad))
                flat.append(y_g.flatten(1))
            h = torch.stack(flat)  # (k, B, C·L), each network's flatten order
            for t, (b, w) in enumerate(self.linear):
                h = torch.baddbmm(b, h, w)
                if t < len(self.linear) - 1:
                    h = self.act(h)
            return h.transpose(0, 1).reshape(B, -1) * self.target_std + self.target_mean
