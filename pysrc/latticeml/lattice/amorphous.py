"""Amorphous periodic boxes of random sites (chapter 4: spins at random positions)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["AmorphousBox", "amorphous_box"]


@dataclass
class AmorphousBox:
    """N sites in a periodic box of side lengths ``box`` with pairwise distance ≥ ``min_distance``."""

    positions: np.ndarray
    box: np.ndarray
    min_distance: float
    name: str = "amorphous"

    @property
    def N(self) -> int:
        return len(self.positions)

    def __len__(self) -> int:
        return self.N

    @property
    def dim(self) -> int:
        return self.positions.shape[1]

    def minimum_image(self, dr: np.ndarray) -> np.ndarray:
        return dr - self.box * np.round(dr / self.box)

    @cached_property
    def _tree(self):
        from scipy.spatial import cKDTree

        return cKDTree(np.mod(self.positions, self.box), boxsize=self.box)

    def neighbor_list(self, cutoff: float):
        """Pairs within ``cutoff``: (i, j, dr_ij) with both orientations, dr = minimum-image r_j - r_i."""
        pairs = self._tree.query_pairs(cutoff, output_type="ndarray")
        i = np.concatenate([pairs[:, 0], pairs[:, 1]])
        j = np.concatenate([pairs[:, 1], pairs[:, 0]])
        dr = self.minimum_image(self.positions[j] - self.positions[i])
        order = np.lexsort((j, i))
        return i[order], j[order], dr[order]

    def describe(self) -> dict:
        return {"name": self.name, "N": self.N, "box": self.box.tolist(), "min_distance": self.min_distance}


def amorphous_box(N: int, density: float = 1.0, *, dim: int = 3, min_distance: float = 0.7, seed=None,
                  max_tries: int = 200000) -> AmorphousBox:
    """Random sequential addition of ``N`` sites in a cubic periodic box at number ``density``."""
    if N < 1:
        raise ValueError(f"amorphous_box: N={N} must be positive")
    if density <= 0:
        raise ValueError(f"amorphous_box: density={density} must be positive")
    rng = np.random.default_rng(seed)
    side = (N / density) ** (1.0 / dim)
    box = np.full(dim, side)
    pts = np.empty((N, dim))
    n = 0
    tries = 0
    while n < N:
        tries += 1
        if tries > max_tries:
            raise ValueError(
                f"amorphous_box: could not place {N} sites with min_distance={min_distance} at density={density}; "
                "lower min_distance or density")
        p = rng.uniform(0, side, dim)
        if n:
            dr = pts[:n] - p
            dr -= box * np.round(dr / box)
            if np.min(np.einsum("ij,ij->i", dr, dr)) < min_distance**2:
                continue
        pts[n] = p
        n += 1
    return AmorphousBox(pts, box, min_distance)
