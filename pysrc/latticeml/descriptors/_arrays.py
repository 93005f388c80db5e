"""Tiny helpers that let one feature implementation run on numpy arrays and on torch tensors."""
from __future__ import annotations

import numpy as np

__all__ = ["is_torch", "const", "cat", "einsum", "sign"]


def is_torch(x) -> bool:
    """Whether ``x`` is a torch tensor (checked without importing torch)."""
    return not isinstance(x, np.ndarray) and type(x).__module__.startswith("torch")


def const(a: np.ndarray, like):
    """``a`` as an array of the same kind, dtype and device as ``like``."""
    if is_torch(like):
        import torch

        return torch.as_tensor(a, dtype=like.dtype, device=like.device)
    return np.asarray(a, dtype=like.dtype)


def cat(xs, axis=-1):
    """Concatenation along ``axis`` for numpy arrays or torch tensors."""
    if is_torch(xs[0]):
        import torch

        return torch.cat(xs, dim=axis)
    return np.concatenate(xs, axis=axis)


def einsum(eq, *ops):
    """Einstein sum for numpy (contraction order optimised) or torch operands."""
    if any(is_torch(o) for o in ops):
        import torch

        return torch.einsum(eq, *ops)
    return np.einsum(eq, *ops, optimize=True)


def sign(x):
    """Elementwise sign for numpy or torch."""
    if is_torch(x):
        import torch

        return torch.sign(x)
    return np.sign(x)
