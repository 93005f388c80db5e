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
    weighed on batches of a few dozen electrons.

    Every convolution is one batched matmul over the k networks on channels-last activations (k, B, L, C): the
    im2col matrix of a kernel-K convolution then has the contiguous rows h[b, l:l+K, :], so it is a strided view
    copied with plain row copies (torch's ``unfold`` of channels-first data gathered at ~3 GB/s, and oneDNN's
    Conv1d per network ran at 20-35 GFLOP/s against 40-70 for the matmul at 20-30 electrons; measured on the
    trained kMC batches, the whole forward is ~10 % faster than the earlier channels-first version). The first
    fully connected layer's weights are permuted at construction to read the channels-last flatten order; the
    heads of the k networks are batched matmuls. Max-pooling commutes with adding a per-channel bias and with a
    non-decreasing activation (ReLU, tanh, softplus), so those are applied after the pool, on a third of the
    values. Weights are copied at construction: rebuild after changing the networks.
    """

    _MONOTONE = ("relu", "tanh", "softplus")

    def __init__(self, nets):
        import torch

        nets = list(nets)
        self.k = k = len(nets)
        cfg = nets[0].config
        if any(n.config != cfg for n in nets):
            raise ValueError("StackedDeltaENets needs networks of one architecture (config)")
        with torch.no_grad():
            self.act = type(nets[0].trunk[1])().forward  # the bare forward: no module-call hooks per kMC batch
            self.act_ = torch.relu_ if cfg["activation"] == "relu" else self.act  # in place where there is one
            self.pool_first = cfg["activation"] in self._MONOTONE
            pools = [m for m in nets[0].trunk if isinstance(m, torch.nn.MaxPool1d)]
            if any(p.kernel_size != 3 or p.stride != 3 or p.padding != 0 for p in pools):
                raise ValueError("StackedDeltaENets needs MaxPool1d(3, stride 3) stages (DeltaENet)")
            convs = [[m for m in n.trunk if isinstance(m, torch.nn.Conv1d)] for n in nets]
            # (C_out, C_in, K) kernels -> (k, K·C_in, C_out): row t·C_in + c of the im2col matrix is h[l + t, c]
            self.convs = [(torch.stack([c[t].weight.permute(2, 1, 0).reshape(-1, c[t].out_channels)
                                        for c in convs]).contiguous(),
                           torch.stack([c[t].bias for c in convs]).view(k, 1, 1, -1).contiguous(),
                           convs[0][t].padding[0], convs[0][t].kernel_size[0])
                          for t in range(len(convs[0]))]
            lins = [[m for m in n.head if isinstance(m, torch.nn.Linear)] for n in nets]
            c_last = convs[0][-1].out_channels

            def channels_last(w):  # (H, C·L) columns c·L + l (torch's flatten) -> (C·L, H) rows l·C + c
                return w.view(w.shape[0], c_last, -1).transpose(1, 2).reshape(w.shape[0], -1).t()

            self.linear = [(torch.stack([l[t].bias for l in lins]).unsqueeze(1).contiguous(),
                            torch.stack([channels_last(l[t].weight) if t == 0 else l[t].weight.t()
                                         for l in lins]).contiguous()) for t in range(len(lins[0]))]
            self.mean = torch.stack([n.feature_mean for n in nets]).unsqueeze(1).contiguous()  # (k, 1, F)
            self.inv_std = (1.0 / torch.stack([n.feature_std for n in nets])).unsqueeze(1).contiguous()
            self.target_std = torch.cat([n.target_std for n in nets])
            self.target_mean = torch.cat([n.target_mean for n in nets])

    #: rows per pass: the im2col copies of larger batches outgrow the caches (time per row rose beyond ~60 rows
    #: in the kMC measurements) and would take ~130 MB per 1000 rows for two networks
    MAX_ROWS = 64

    def __call__(self, x):
        """Targets (B, Σ n_out) of features ``x`` (B, n_features), in the networks' dtype."""
        import torch

        if x.shape[0] > self.MAX_ROWS:
            return torch.cat([self._forward(x[i:i + self.MAX_ROWS]) for i in range(0, x.shape[0], self.MAX_ROWS)])
        return self._forward(x)

    def _forward(self, x):
        import torch
        import torch.nn.functional as F

        B, k = x.shape[0], self.k
        with torch.inference_mode():
            h = ((x.unsqueeze(0) - self.mean) * self.inv_std).unsqueeze(3)  # (k, B, F, 1): channels last
            for w, b, pad, K in self.convs:
                if pad:
                    h = F.pad(h, (0, 0, pad, pad))
                h = h.contiguous()
                n_in, c_in = h.shape[2:]
                n_out = n_in - K + 1
                windows = h.as_strided((k, B, n_out, K * c_in), (B * n_in * c_in, n_in * c_in, c_in, 1))
                y = torch.bmm(windows.reshape(k, B * n_out, K * c_in), w).view(k, B, n_out, -1)
                if not self.pool_first:
                    y = self.act(y + b)
                y = torch.maximum(torch.maximum(y[:, :, 0:n_out - 2:3], y[:, :, 1:n_out - 1:3]), y[:, :, 2::3])
                h = self.act_(y.add_(b)) if self.pool_first else y  # (k, B, n_out // 3, C_out)
            h = h.reshape(k, B, -1)
            for t, (b, w) in enumerate(self.linear):
                h = torch.baddbmm(b, h, w)
                if t < len(self.linear) - 1:
                    h = self.act_(h)
            return h.transpose(0, 1).reshape(B, -1) * self.target_std + self.target_mean
