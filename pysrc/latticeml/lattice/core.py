"""Periodic Bravais lattices with a basis, neighbour shells and point-group site permutations.

Site order: the cell index (n1, n2[, n3]) runs in C order and the basis index is fastest, i.e.
``site = ((n1 * L2 + n2) * L3 + n3) * n_basis + b``. For a one-atom 2-D lattice this means
``field.reshape(L1, L2)`` is the image a CNN sees (axis 0 = n1, axis 1 = n2); see
:meth:`Lattice.to_image` / :meth:`Lattice.from_image`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Lattice", "Shell", "PointOp"]


@dataclass(frozen=True)
class Shell:
    """A shell of equidistant neighbours: ``distance`` and the integer cell/basis offsets that reach it.

    ``offsets[k] = (dn1, dn2[, dn3], b_from, b_to)`` for every displacement of length ``distance``.
    ``vectors[k]`` are the Cartesian displacements.
    """

    distance: float
    offsets: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class PointOp:
    """A point-group operation: Cartesian orthogonal matrix ``R`` (d×d) and a name."""

    name: str
    R: np.ndarray

    @property
    def det(self) -> float:
        return float(round(np.linalg.det(self.R)))


@dataclass
class Lattice:
    """A periodic lattice: primitive ``vectors`` (rows, d×d), fractional ``basis`` (nb×d) and ``shape`` (cells per axis).

    Build one with the constructors in :mod:`latticeml.lattice` (``square(L)``, ``triangular(L)``, ...).
    ``point_group`` lists the operations of the site-symmetry group about a lattice site (for diamond, about a
    site of basis 0; operations that swap sublattices are not included).
    """

    name: str
    vectors: np.ndarray
    basis: np.ndarray
    shape: tuple[int, ...]
    point_group: list[PointOp] = field(default_factory=list)
    group_name: str = ""

    def __post_init__(self):
        self.vectors = np.asarray(self.vectors, dtype=float)
        self.basis = np.atleast_2d(np.asarray(self.basis, dtype=float))
        self.shape = tuple(int(s) for s in self.shape)
        d = self.vectors.shape[0]
        if self.vectors.shape != (d, d) or self.basis.shape[1] != d or len(self.shape) != d:
            raise ValueError(f"lattice '{self.name}': vectors, basis and shape disagree on the dimension")
        if any(s < 1 for s in self.shape):
            raise ValueError(f"lattice '{self.name}': shape {self.shape} must be positive in every direction")

    # ------------------------------------------------------------------ basic geometry
    @property
    def dim(self) -> int:
        return self.vectors.shape[0]

    @property
    def n_basis(self) -> int:
        return self.basis.shape[0]

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape))

    @property
    def N(self) -> int:
        """Number of sites."""
        return self.n_cells * self.n_basis

    def __len__(self) -> int:
        return self.N

    @cached_property
    def cells(self) -> np.ndarray:
        """Integer cell coordinates of every site, (N, d)."""
        grids = np.meshgrid(*[np.arange(s) for s in self.shape], indexing="ij")
        c = np.stack([g.ravel() for g in grids], axis=1)
        return np.repeat(c, self.n_basis, axis=0)

    @cached_property
    def sublattice(self) -> np.ndarray:
        """Basis index of every site, (N,)."""
        return np.tile(np.arange(self.n_basis), self.n_cells)

    @cached_property
    def positions(self) -> np.ndarray:
        """Cartesian positions, (N, d)."""
        frac = self.cells + self.basis[self.sublattice]
        return frac @ self.vectors

    @cached_property
    def supercell(self) -> np.ndarray:
        """Rows are the periodic supercell vectors (d×d)."""
        return np.asarray(self.shape)[:, None] * self.vectors

    def site_index(self, cells, b=0) -> np.ndarray:
        """Site index of cell coordinates (wrapped periodically) and basis index ``b``."""
        cells = np.asarray(cells)
        idx = np.zeros(cells.shape[:-1], dtype=np.int64)
        for k, s in enumerate(self.shape):
            idx = idx * s + np.mod(cells[..., k], s)
        return idx * self.n_basis + np.asarray(b)

    def minimum_image(self, dr: np.ndarray) -> np.ndarray:
        """Shortest periodic image of Cartesian displacements ``dr`` (..., d).

        Rounding fractional coordinates is not enough for oblique supercells (triangular, FCC), so the 3^d
        neighbouring images of the rounded one are compared as well.
        """
        dr = np.asarray(dr, dtype=float)
        f = dr @ np.linalg.inv(self.supercell)
        base = (f - np.round(f)) @ self.supercell
        best = base
        best_r2 = np.einsum("...i,...i->...", base, base)
        for shift in self._image_shifts:
            cand = base + shift
            r2 = np.einsum("...i,...i->...", cand, cand)
            better = r2 < best_r2 - 1e-12
            best = np.where(better[..., None], cand, best)
            best_r2 = np.where(better, r2, best_r2)
        return best

    @cached_property
    def _image_shifts(self) -> np.ndarray:
        import itertools

        shifts = [s for s in itertools.product((-1, 0, 1), repeat=self.dim) if any(s)]
        return np.array(shifts, dtype=float) @ self.supercell

    def distance(self, i, j) -> np.ndarray:
        return np.linalg.norm(self.minimum_image(self.positions[j] - self.positions[i]), axis=-1)

    # ------------------------------------------------------------------ shells and neighbour tables
    def shells(self, cutoff: float, tol: float = 1e-6) -> list[Shell]:
        """Neighbour shells up to ``cutoff`` (inclusive, tolerance ``tol``), found on the infinite lattice.

        The offsets do not depend on the periodic size, so the same shells serve every L; a table built from them
        on a lattice smaller than 2*cutoff wraps around (see :meth:`neighbor_table`).
        """
        d = self.dim
        # integer range large enough to contain the sphere of radius cutoff
        gram_inv = np.linalg.inv(self.vectors @ self.vectors.T)
        nmax = int(np.ceil(cutoff * np.sqrt(np.max(np.diag(gram_inv))))) + 2
        rng = np.arange(-nmax, nmax + 1)
        grids = np.meshgrid(*([rng] * d), indexing="ij")
        cells = np.stack([g.ravel() for g in grids], axis=1)
        rows = []
        for b0 in range(self.n_basis):
            for b1 in range(self.n_basis):
                frac = cells + self.basis[b1] - self.basis[b0]
                vec = frac @ self.vectors
                r = np.linalg.norm(vec, axis=1)
                ok = (r > tol) & (r <= cutoff + tol)
                for c, v, rr in zip(cells[ok], vec[ok], r[ok]):
                    rows.append((rr, tuple(c) + (b0, b1), v))
        rows.sort(key=lambda t: (round(t[0] / tol), t[1]))
        shells: list[Shell] = []
        cur: list = []
        for row in rows:
            if cur and abs(row[0] - cur[0][0]) > tol:
                shells.append(self._make_shell(cur))
                cur = []
            cur.append(row)
        if cur:
            shells.append(self._make_shell(cur))
        return shells

    @staticmethod
    def _make_shell(rows) -> Shell:
        return Shell(
            distance=float(np.mean([r[0] for r in rows])),
            offsets=np.array([r[1] for r in rows], dtype=np.int64),
            vectors=np.array([r[2] for r in rows], dtype=float),
        )

    def neighbor_table(self, cutoff: float, *, with_vectors: bool = False):
        """Neighbours of every site within ``cutoff``, shells concatenated in increasing distance.

        Returns ``idx`` (N, M) for a one-atom lattice (every site sees the same M offsets, in the same order, which
        is what descriptors and stencils need). For lattices with a basis the count M may depend on the sublattice;
        then ``idx`` is padded with -1. With ``with_vectors`` also returns the Cartesian displacement per column,
        (M, d) for one-atom lattices or (n_basis, M, d) otherwise.
        """
        shells = self.shells(cutoff)
        per_b: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(self.n_basis)]
        for sh in shells:
            for off, vec in zip(sh.offsets, sh.vectors):
                per_b[off[-2]].append((off, vec))
        M = max(len(p) for p in per_b)
        idx = -np.ones((self.N, M), dtype=np.int64)
        vecs = np.zeros((self.n_basis, M, self.dim))
        for b in range(self.n_basis):
            sites = np.nonzero(self.sublattice == b)[0]
            for k, (off, vec) in enumerate(per_b[b]):
                idx[sites, k] = self.site_index(self.cells[sites] + off[: self.dim], off[-1])
                vecs[b, k] = vec
        if self.n_basis == 1:
            vecs = vecs[0]
        return (idx, vecs) if with_vectors else idx

    def bonds(self, shell: int = 1) -> np.ndarray:
        """Unique bonds (i, j), i<j not implied, of neighbour shell ``shell`` (1 = nearest), shape (n_bonds, 2).

        Each bond appears once; on lattices too small for the shell (L < 3) duplicates are kept, as periodic
        images of a hopping add up.
        """
        shells = self.shells(self._shell_radius(shell))
        sh = shells[shell - 1]
        pairs = []
        for off in sh.offsets:
            # keep one orientation of each displacement: lexicographically positive offset
            dcell = off[: self.dim]
            key = tuple(dcell) + (off[-1] - off[-2],)
            if key < tuple([0] * self.dim + [0]) or (not any(dcell) and off[-1] < off[-2]):
                continue
            src = np.nonzero(self.sublattice == off[-2])[0]
            dst = self.site_index(self.cells[src] + dcell, off[-1])
            pairs.append(np.stack([src, dst], axis=1))
        return np.concatenate(pairs, axis=0)

    def _shell_radius(self, shell: int) -> float:
        r = 1.0
        while True:
            shells = self.shells(r * min(np.linalg.norm(self.vectors, axis=1)))
            if len(shells) >= shell:
                return shells[shell - 1].distance
            r *= 1.5

    def adjacency(self, shell: int = 1, *, sparse: bool = False):
        """Symmetric adjacency matrix of neighbour shell ``shell`` (periodic images summed)."""
        b = self.bonds(shell)
        if sparse:
            import scipy.sparse as sp

            A = sp.coo_matrix((np.ones(len(b)), (b[:, 0], b[:, 1])), shape=(self.N, self.N))
            return (A + A.T).tocsr()
        A = np.zeros((self.N, self.N))
        np.add.at(A, (b[:, 0], b[:, 1]), 1.0)
        return A + A.T

    # ------------------------------------------------------------------ symmetry
    def site_permutation(self, op: PointOp, center: int = 0) -> np.ndarray:
        """Permutation ``perm`` with ``perm[i]`` = image of site i under ``op`` applied about site ``center``.

        A field f transforms as ``f_new[perm] = f`` (for scalar fields). Raises if ``op`` is not a symmetry of the
        periodic lattice (e.g. a C4 on a non-square torus).
        """
        c = self.positions[center]
        new = (self.positions - c) @ op.R.T + c
        frac = new @ np.linalg.inv(self.vectors)
        perm = np.empty(self.N, dtype=np.int64)
        for b in range(self.n_basis):
            cell = frac - self.basis[b]
            near = np.round(cell)
            ok = np.all(np.abs(cell - near) < 1e-6, axis=1)
            perm[ok] = self.site_index(near[ok].astype(np.int64), b)
        check = np.zeros(self.N, bool)
        check[perm] = True
        if not check.all():
            raise ValueError(f"operation {op.name} is not a symmetry of lattice {self.name} with shape {self.shape}")
        return perm

    def translation_permutation(self, shift) -> np.ndarray:
        """Permutation for a translation by integer cell vector ``shift``."""
        return self.site_index(self.cells + np.asarray(shift), self.sublattice)

    # ------------------------------------------------------------------ images
    def to_image(self, field: np.ndarray) -> np.ndarray:
        """Site-ordered field (N, ...) -> image (L1, L2[, L3][, n_basis], ...)."""
        field = np.asarray(field)
        shp = self.shape + ((self.n_basis,) if self.n_basis > 1 else ())
        return field.reshape(shp + field.shape[1:])

    def from_image(self, image: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_image`."""
        image = np.asarray(image)
        k = self.dim + (1 if self.n_basis > 1 else 0)
        return image.reshape((self.N,) + image.shape[k:])

    def describe(self) -> dict:
        """Plain-dict description stored in run files and model metadata (used to refuse mismatched models)."""
        return {"name": self.name, "shape": list(self.shape), "n_basis": self.n_basis}

    def __repr__(self) -> str:
        return f"Lattice({self.name!r}, shape={self.shape}, N={self.N})"
