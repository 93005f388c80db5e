"""On-the-fly symmetry augmentation: lattice point group × global spin rotation (ch3 spec §7).

For a spin model without spin-orbit coupling, space and spin transform separately: a lattice operation g moves
site i to g(i), and a global rotation R ∈ SO(3) rotates every spin and every field vector,
``S'_{g(i)} = R S_i``, ``y'_{g(i)} = R y_i``. Scalar fields (occupations) only permute. Both the input field and
the target are transformed with the same (g, R), per sample.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["SymmetryAugmenter", "random_rotations"]


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly (Haar) from SO(3), via normalised Gaussian quaternions."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


class SymmetryAugmenter:
    """Apply a random point-group operation and (for spins) a random global rotation to each sample.

    Parameters
    ----------
    lattice : Lattice
        Supplies the point group as site permutations (``Lattice.site_permutation``).
    field_kind : {"spin", "occupation"}
        Spins rotate with R; occupations only permute. Other fields are refused (their components transform
        under g in a model-specific way).
    point_group, spin_rotation, time_reversal : bool
        Which symmetries to sample. Time reversal (S, y) -> (-S, -y) is valid for field targets.
    """

    def __init__(self, lattice, field_kind: str, *, point_group: bool = True, spin_rotation: bool = True,
                 time_reversal: bool = False):
        if field_kind not in ("spin", "occupation"):
            raise ValueError(f"symmetry augmentation supports spin and occupation fields, not {field_kind!r}")
        self.field_kind = field_kind
        self.spin_rotation = spin_rotation and field_kind == "spin"
        self.time_reversal = time_reversal and field_kind == "spin"
        ops = lattice.point_group if point_group else []
        perms = [lattice.site_permutation(op) for op in ops] or [np.arange(lattice.N)]
        # gather form: f_new = f[inverse], because f_new[perm] = f
        self._gather = torch.as_tensor(np.stack([np.argsort(p) for p in perms]), dtype=torch.long)

    @property
    def group_order(self) -> int:
        return self._gather.shape[0]

    def __call__(self, fields: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator):
        """Transform a batch of site-ordered ``fields`` and ``targets`` (B, N, C) with one random op per sample."""
        B = fields.shape[0]
        g = torch.as_tensor(rng.integers(self.group_order, size=B))
        gather = self._gather.to(fields.device)[g]
        rows = torch.arange(B, device=fields.device)[:, None]
        fields, targets = fields[rows, gather], targets[rows, gather]
        if self.spin_rotation:
            R = torch.as_tensor(random_rotations(B, rng), dtype=fields.dtype, device=fields.device)
            fields = torch.einsum("bij,bnj->bni", R, fields)
            targets = torch.einsum("bij,bnj->bni", R, targets)
        if self.time_reversal:
            sign = torch.as_tensor(rng.choice([-1.0, 1.0], size=B), dtype=fields.dtype, device=fields.device)
            fields, targets = fields * sign[:, None, None], targets * sign[:, None, None]
        return fields, targets
