"""Model files: one file with the weights and everything needed to rebuild and trust them.

A model file is a ``torch.save`` dict (loaded with ``weights_only=True``, so it holds only tensors and plain
Python values)::

    format: "latticeml-model", format_version: 1
    kind: network kind ("bp", "cnn", "fk_delta_e")
    config: network constructor arguments (descriptor settings included)
    state_dict: weights and normalisation buffers
    metadata: lattice (Lattice.describe()), model (the exact calculator's metadata), field_kind, target,
              descriptor, normalization, latticeml version, training summary

:func:`load_model` refuses a file that does not fit the simulation: another lattice, other model parameters or
another descriptor raise :class:`~latticeml.errors.ModelMismatchError` naming each difference.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import LatticeMLError, ModelMismatchError

__all__ = ["save_model", "load_model", "read_metadata", "check_compatible", "FORMAT", "FORMAT_VERSION"]

FORMAT = "latticeml-model"
FORMAT_VERSION = 1

#: calculator metadata keys that choose a solver, describe the lattice or follow from its size, not the physical
#: model: a model trained on dense-ED data fits a simulation whose exact reference uses KPM, the lattice is checked
#: on its own, and the FK electron count n_c = filling_c·N changes with L while filling_c does not
NOT_MODEL_PARAMETERS = ("calculator", "lattice", "method", "num_moments", "kpm_kernel", "probing_period", "backend",
                        "n_c")


def _plain(value):
    """Numpy scalars/arrays and tuples -> plain Python values (weights-only loading accepts only these)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(path, network, metadata: dict) -> Path:
    """Write ``network`` (a module of :data:`latticeml.ml.networks.NETWORKS`) with ``metadata`` to ``path``.

    The file is written to a temporary name and renamed, so a crash never leaves a half-written model.
    """
    import torch

    from .. import __version__

    path = Path(path)
    meta = _plain(dict(metadata))
    meta.setdefault("latticeml_version", __version__)
    descriptor = getattr(network, "descriptor", None) or network.config.get("descriptor")
    if descriptor is not None:
        meta.setdefault("descriptor", _plain(descriptor))
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": network.kind,
               "config": _plain(network.config), "metadata": meta,
               "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _read(path):
    import torch

    path = Path(path)
    if not path.is_file():
        raise LatticeMLError(f"model file {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: say so in one line
        raise LatticeMLError(f"{str(path)!r} is not a readable latticeml model file ({type(err).__name__})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LatticeMLError(f"{str(path)!r} is not a latticeml model file (no '{FORMAT}' header)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise LatticeMLError(f"{str(path)!r} has model format {payload['format_version']}; this latticeml reads up "
                             f"to {FORMAT_VERSION}: upgrade latticeml")
    return payload


def read_metadata(path) -> dict:
    """Metadata of a model file (kind and config included) without building the network."""
    payload = _read(path)
    return dict(payload["metadata"], kind=payload["kind"], config=payload["config"])


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _diff(what: str, stored: dict, wanted: dict, ignore=()) -> list[str]:
    out = []
    for key in sorted(set(stored) | set(wanted)):
        if key in ignore:
            continue
        if key not in stored:
            out.append(f"{what} '{key}': not in the model file, simulation has {wanted[key]!r}")
        elif key not in wanted:
            out.append(f"{what} '{key}': model file has {stored[key]!r}, simulation has none")
        elif not _same(stored[key], wanted[key]):
            out.append(f"{what} '{key}': model file has {stored[key]!r}, simulation has {wanted[key]!r}")
    return out


def check_compatible(metadata: dict, *, lattice=None, model: dict | None = None, descriptor: dict | None = None,
                     field_kind: str | None = None, source: str = "model") -> None:
    """Raise :class:`ModelMismatchError` listing every way ``metadata`` does not fit the given simulation.

    ``lattice`` is a :class:`~latticeml.lattice.Lattice` (or its ``describe()`` dict); only its kind and basis must
    agree, the size may differ (the networks are local). ``model`` is the exact calculator's metadata dict: every
    parameter must agree. ``descriptor`` is the descriptor settings dict, compared in full.
    """
    problems: list[str] = []
    if field_kind is not None and metadata.get("field_kind") not in (None, field_kind):
        problems.append(f"field kind: model file has {metadata['field_kind']!r}, simulation has {field_kind!r}")
    if lattice is not None:
        want = lattice if isinstance(lattice, dict) else lattice.describe()
        have = metadata.get("lattice", {})
        problems += _diff("lattice", have, want, ignore=("shape",))
    if model is not None:
        problems += _diff("model parameter", metadata.get("model", {}), _plain(model), ignore=NOT_MODEL_PARAMETERS)
    if descriptor is not None:
        problems += _diff("descriptor setting", metadata.get("descriptor", {}), _plain(descriptor))
    if problems:
        raise ModelMismatchError(f"{source} does not fit this simulation: " + "; ".join(problems))


def load_model(path, *, lattice=None, model: dict | None = None, descriptor: dict | None = None,
               field_kind: str | None = None, device: str = "cpu"):
    """Rebuild the network stored in ``path``; returns ``(network, metadata)``.

    With ``lattice``/``model``/``descriptor``/``field_kind`` given, the file is first checked against them
    (:func:`check_compatible`). A BP network is attached to ``lattice`` when one is given.
    """
    from .networks import build_network

    payload = _read(path)
    meta = dict(payload["metadata"], kind=payload["kind"], config=payload["config"])
    check_compatible(meta, lattice=lattice, model=model, descriptor=descriptor, field_kind=field_kind,
                     source=f"model file {Path(path).name!r}")
    net = build_network(payload["kind"], **payload["config"])
    net.load_state_dict(payload["state_dict"])
    net.eval().to(device)
    if lattice is not None and hasattr(net, "attach"):
        net.attach(lattice)
    return net, meta
