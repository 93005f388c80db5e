"""Networks of the ML layer: Behler-Parrinello site-energy model, Conv1d ΔE model, ResNet torque CNN.

Every network is a small ``nn.Module`` whose constructor takes plain keyword arguments (``config``); the arguments
are stored on the module so :mod:`latticeml.ml.modelfile` can rebuild it from a file. Normalisation constants that
must travel with the weights (feature mean/std, target scales) are buffers.

* :class:`BPEnergyModel` — E = Σ_i ε(G_i) with G_i a descriptor of the neighbourhood of site i (ch3 §8, ch7 §3.1).
  Forces / exchange fields are -∂E/∂field by autograd, so they are conservative.
* :class:`DeltaENet` — the Conv1d + fully-connected network of ch2 spec §4.5 (Table 2.2) mapping one invariant
  descriptor to the invariant targets T_k of one environment class; :class:`FKDeltaEModel` holds one per class,
  and ΔE of the allowed moves is reconstructed covariantly by ``FKDescriptor.dE_from_targets``.
* :class:`TorqueResNet` — the ResNet CNN of ch3 spec §7: spin image (B, 3, L1, L2) -> field image, 5×5 kernels,
  identity / 1×1 skip connections, circular padding; on the triangular lattice the kernels are hexagonally masked.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .featurizers import build_featurizer

__all__ = ["NETWORKS", "build_network", "BPEnergyModel", "DeltaENet", "FKDeltaEModel", "TorqueResNet", "hexagonal_mask",
           "ACTIVATIONS"]

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh, "softplus": nn.Softplus}


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def spread_or_one(std: torch.Tensor) -> torch.Tensor:
    """Standardisation scales: a spread that vanished in the training data (constant feature, or a class seen once or
    twice) becomes 1, so the feature is only centred; dividing by a floor such as 1e-8 instead turns any
    out-of-sample variation into outputs of order 1e8 (a Falicov-Kimball class with 3 training samples: validation
    MAE 1,363 against 0.05-0.10 for the other classes)."""
    return torch.where(std > 1e-8, std, torch.ones_like(std))


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Fully connected layers with ``activation`` between them and a linear last layer."""
    act = _activation(activation)
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class BPEnergyModel(nn.Module):
    """Behler-Parrinello energy model: total energy = Σ_i ε_θ(standardised descriptor of site i).

    Parameters
    ----------
    descriptor : dict
        Featurizer settings, e.g. ``{"kind": "spin_bonds", "cutoff": 1.5}`` (see :mod:`latticeml.ml.featurizers`).
    hidden : list of int, default [64, 64]
        Widths of the hidden layers of the site-energy MLP.
    activation : str, default "silu"
        SiLU keeps forces smooth; ReLU (the dissertation's choice) makes them piecewise constant.
    field_dim : int, default 3
        Components per site of the field (3 for unit spins).

    Notes
    -----
    The featurizer needs the lattice's neighbour table: call :meth:`attach` with the lattice before use (the
    table is not saved, so the same weights run on any lattice size). ``feature_mean``/``feature_std`` and
    ``energy_scale`` are buffers set from the training data (:meth:`set_normalization`).
    """

    kind = "bp"

    def __init__(self, descriptor: dict, hidden: list[int] = (64, 64), activation: str = "silu", field_dim: int = 3):
        super().__init__()
        self.config = {"descriptor": dict(descriptor), "hidden": list(hidden), "activation": activation,
                       "field_dim": int(field_dim)}
        self.featurizer = build_featurizer(descriptor)
        n_feat = self.featurizer.n_features
        self.site_mlp = _mlp([n_feat, *hidden, 1], activation)
        self.register_buffer("feature_mean", torch.zeros(n_feat))
        self.register_buffer("feature_std", torch.ones(n_feat))
        # network outputs are O(1); energy_scale restores physical units (set to the mean |force| of the data)
        self.register_buffer("energy_scale", torch.ones(()))

    def attach(self, lattice) -> "BPEnergyModel":
        """Bind to a lattice (builds the featurizer's neighbour table)."""
        self.featurizer.attach(lattice)
        return self

    def set_normalization(self, feature_mean, feature_std, energy_scale: float) -> None:
        self.feature_mean.copy_(torch.as_tensor(feature_mean, dtype=self.feature_mean.dtype))
        self.feature_std.copy_(spread_or_one(torch.as_tensor(feature_std, dtype=self.feature_std.dtype)))
        self.energy_scale.fill_(float(energy_scale))

    def site_energies(self, fields: torch.Tensor) -> torch.Tensor:
        """ε_i for fields (B, N, field_dim) -> (B, N)."""
        g = (self.featurizer(fields) - self.feature_mean) / self.feature_std
        return self.site_mlp(g).squeeze(-1) * self.energy_scale

    def forward(self, fields: torch.Tensor, *, forces: bool = True, create_graph: bool = False) -> dict:
        """Energy (B,) and, with ``forces``, the generalized force -∂E/∂fields (B, N, field_dim) by autograd."""
        if forces and not fields.requires_grad:
            fields = fields.detach().requires_grad_(True)
        with torch.enable_grad() if forces else torch.no_grad():
            eps = self.site_energies(fields)
            energy = eps.sum(-1)
            out = {"energy": energy, "site_energy": eps}
            if forces:
                (grad,) = torch.autograd.grad(energy.sum(), fields, create_graph=create_graph)
                out["forces"] = -grad
        return out


class DeltaENet(nn.Module):
    """The ΔE network of ch2 spec §4.5 (Table 2.2): Conv1d stack + fully-connected head.

    Input (B, n_features) standardised descriptor -> (B, n_out) invariant targets in physical units.

    Parameters
    ----------
    n_features : int, default 316
        Descriptor length (316 for R_c = 10 on the square lattice).
    n_out : int, default 1
        Outputs (the dissertation trains one network per output scalar; ``n_out`` > 1 shares the trunk).
    channels : list of int, default [16, 32]
        Conv1d channels; kernel 5, paddings 0 then 1, each followed by ReLU and MaxPool1d(3).
    hidden : list of int, default [256, 128, 64, 32]
        Fully-connected widths before the last linear layer.
    """

    kind = "delta_e"

    def __init__(self, n_features: int = 316, n_out: int = 1, channels: list[int] = (16, 32),
                 hidden: list[int] = (256, 128, 64, 32), activation: str = "relu"):
        super().__init__()
        self.config = {"n_features": int(n_features), "n_out": int(n_out), "channels": list(channels),
                       "hidden": list(hidden), "activation": activation}
        act = _activation(activation)
        convs: list[nn.Module] = []
        c_in, length = 1, int(n_features)
        for k, c_out in enumerate(channels):
            pad = 0 if k == 0 else 1  # Table 2.2: 316 -> 312 -> 104 -> 102 -> 34
            convs += [nn.Conv1d(c_in, c_out, 5, padding=pad), act(), nn.MaxPool1d(3, stride=3)]
            length = (length + 2 * pad - 4) // 3
            c_in = c_out
        if length < 1:
            raise ValueError(f"n_features={n_features} is too short for {len(channels)} conv/pool stages")
        self.trunk = nn.Sequential(*convs)
        self.head = _mlp([c_in * length, *hidden, n_out], activation)
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.register_buffer("target_mean", torch.zeros(n_out))
        self.register_buffer("target_std", torch.ones(n_out))

    def set_normalization(self, feature_mean, feature_std, target_mean, target_std) -> None:
        for name, v in (("feature_mean", feature_mean), ("feature_std", feature_std),
                        ("target_mean", target_mean), ("target_std", target_std)):
            buf = getattr(self, name)
            val = torch.as_tensor(v, dtype=buf.dtype).reshape(buf.shape)
            buf.copy_(spread_or_one(val) if name.endswith("std") else val)

    def standardized(self, features: torch.Tensor) -> torch.Tensor:
        """Network output in standardised target units (what the MSE loss sees)."""
        x = (features - self.feature_mean) / self.feature_std
        return self.head(self.trunk(x.unsqueeze(1)).flatten(1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.standardized(features) * self.target_std + self.target_mean


def hexagonal_mask(kernel_size: int) -> torch.Tensor:
    """Kernel mask for the triangular lattice on its oblique (n1, n2) grid.

    With a1 = (1, 0), a2 = (1/2, √3/2), the cell offset (d1, d2) lies in the hexagonal neighbourhood of radius
    r = kernel_size // 2 iff max(|d1|, |d2|, |d1 + d2|) ≤ r. On a 5×5 kernel this removes the 3 entries in each of
    the two corners where d1 and d2 have the same sign (d1 + d2 = ±3, ±4), keeping the 19-site hexagon, which is
    closed under D6; the square kernel would instead reach further along the a1 + a2 diagonal than along a1 - a2.
    PyTorch's conv is a cross-correlation, so kernel entry (u, v) reads offset (u - r, v - r).
    """
    r = kernel_size // 2
    d = torch.arange(kernel_size) - r
    return ((d[:, None] + d[None, :]).abs() <= r).to(torch.get_default_dtype())


class _PeriodicConv(nn.Conv2d):
    """k×k convolution with circular padding and an optional fixed kernel mask (hexagonal lattices)."""

    def __init__(self, c_in: int, c_out: int, k: int, hexagonal: bool):
        super().__init__(c_in, c_out, k, padding=0)
        self.pad = k // 2
        if hexagonal and k > 1:
            self.register_buffer("mask", hexagonal_mask(k))
            with torch.no_grad():
                self.weight.mul_(self.mask)
        else:
            self.mask = None

    def forward(self, x):
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="circular")
        w = self.weight if self.mask is None else self.weight * self.mask
        return F.conv2d(x, w, self.bias)


class _ResBlock(nn.Module):
    """conv → act → conv → act on the main path, identity (or 1×1 conv) skip; output = sum (ch3 Fig. 3.2)."""

    def __init__(self, c_in, c_out, k, hexagonal, act):
        super().__init__()
        self.conv1 = _PeriodicConv(c_in, c_out, k, hexagonal)
        self.conv2 = _PeriodicConv(c_out, c_out, k, hexagonal)
        self.act = act()
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x):
        return self.act(self.conv2(self.act(self.conv1(x)))) + self.skip(x)


class TorqueResNet(nn.Module):
    """ResNet CNN spin image -> field image (ch3 spec §7), periodic in both image axes.

    Parameters
    ----------
    lattice : {"square", "triangular"}
        Triangular images are the oblique L1×L2 grid (``Lattice.to_image``); their kernels are hexagonally
        masked (:func:`hexagonal_mask`).
    in_channels, out_channels : int, default 3
    width : int, default 64
        Channels of the residual blocks.
    n_blocks : int, default 4
    tail : list of int, default [32]
        Extra conv layers after the blocks (with activation); a final linear conv maps to ``out_channels``.
    kernel_size : int, default 5

    The default is 10 conv layers of 5×5 (receptive field 41). The output is multiplied by the ``output_scale``
    buffer (c_norm of the dataset), so the network itself works in units where mean |target| = 1.
    """

    kind = "cnn"

    def __init__(self, lattice: str = "square", in_channels: int = 3, out_channels: int = 3, width: int = 64,
                 n_blocks: int = 4, tail: list[int] = (32,), kernel_size: int = 5, activation: str = "relu"):
        super().__init__()
        if lattice not in ("square", "triangular"):
            raise ValueError(f"TorqueResNet supports lattice 'square' or 'triangular', not {lattice!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.config = {"lattice": lattice, "in_channels": in_channels, "out_channels": out_channels, "width": width,
                       "n_blocks": n_blocks, "tail": list(tail), "kernel_size": kernel_size, "activation": activation}
        hexagonal = lattice == "triangular"
        act = _activation(activation)
        blocks: list[nn.Module] = []
        c = in_channels
        for _ in range(n_blocks):
            blocks.append(_ResBlock(c, width, kernel_size, hexagonal, act))
            c = width
        for c_out in tail:
            blocks += [_PeriodicConv(c, c_out, kernel_size, hexagonal), act()]
            c = c_out
        blocks.append(_PeriodicConv(c, out_channels, kernel_size, hexagonal))
        self.body = nn.Sequential(*blocks)
        self.register_buffer("output_scale", torch.ones(()))

    @property
    def receptive_field(self) -> int:
        n_conv = 2 * self.config["n_blocks"] + len(self.config["tail"]) + 1
        return n_conv * (self.config["kernel_size"] - 1) + 1

    def set_normalization(self, output_scale: float) -> None:
        self.output_scale.fill_(float(output_scale))

    def standardized(self, images: torch.Tensor) -> torch.Tensor:
        """Output in units of ``output_scale`` (what the loss sees)."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images) * self.output_scale


class FKDeltaEModel(nn.Module):
    """The Falicov-Kimball kMC surrogate: one :class:`DeltaENet` per environment class (ch2 spec §4.2–4.5).

    Class ``name`` (P4, P3, P2_A, P2_B, P1) gets a network with ``N_TARGETS[name]`` outputs: the invariant targets
    T_k of its allowed moves, from which :meth:`FKDescriptor.dE_from_targets` rebuilds the move energies
    covariantly. The dissertation trains one network per output scalar (12 in all); sharing the trunk between the
    outputs of a class is our choice (same inputs, fewer weights to train), stated in the model config.

    Parameters
    ----------
    rc : float, default 10.01
        Descriptor cutoff (:class:`~latticeml.descriptors.fk.FKDescriptor`).
    n_features : int, default 316
    channels, hidden, activation : as :class:`DeltaENet`.
    """

    kind = "fk_delta_e"

    def __init__(self, rc: float = 10.01, n_features: int = 316, channels: list[int] = (16, 32),
                 hidden: list[int] = (256, 128, 64, 32), activation: str = "relu"):
        from ..descriptors.fk import CLASS_NAMES, N_TARGETS

        super().__init__()
        self.config = {"rc": float(rc), "n_features": int(n_features), "channels": list(channels),
                       "hidden": list(hidden), "activation": activation}
        self.descriptor = {"kind": "fk", "rc": float(rc)}
        self.nets = nn.ModuleDict({name: DeltaENet(n_features, N_TARGETS[name], channels, hidden, activation)
                                   for name in CLASS_NAMES[:5]})

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Class targets {name: (n, N_TARGETS[name])} from class features {name: (n, n_features)}."""
        return {name: self.nets[name](x) for name, x in features.items() if len(x)}


#: network kind -> class (kinds are stored in model files)
NETWORKS: dict[str, type[nn.Module]] = {"bp": BPEnergyModel, "delta_e": DeltaENet, "fk_delta_e": FKDeltaEModel,
                                        "cnn": TorqueResNet}


def build_network(kind: str, **config) -> nn.Module:
    """Instantiate a network by kind (``"bp"``, ``"delta_e"``, ``"fk_delta_e"``, ``"cnn"``) from its ``config``."""
    if kind not in NETWORKS:
        raise ValueError(f"unknown network kind {kind!r}; choose one of {sorted(NETWORKS)}")
    return NETWORKS[kind](**config)
