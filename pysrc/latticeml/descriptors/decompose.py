"""Decomposition of a field on a neighbourhood into IR copies that all share one canonical basis (ch7 spec §1.3–1.4).

A :class:`Neighbourhood` is a list of displacement vectors closed under the group, split into orbits, with the
site permutation of every operation. :func:`field_rep` gives the matrices M(g) by which a field's components
transform. :func:`decompose` builds the orthogonal matrix W (f = W U) orbit by orbit with projection operators
onto the group's canonical IR matrices, so every copy r of Γ transforms with the same D^Γ(g).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._arrays import const
from .groups import IrRep, PointGroup

__all__ = ["Neighbourhood", "VectorIndex", "Decomposition", "field_rep", "decompose", "decompose_rep"]


def field_rep(group: PointGroup, components) -> np.ndarray:
    """Matrices M(g) (|G|, m, m) of a field's components.

    ``components`` is ``"scalar"``, ``"vector"`` (M = O(g), e.g. displacements), ``"pseudovector"`` (det·O) or a
    sequence of IR names whose blocks are stacked in order, e.g. ``("A1", "B1", "A1")`` for the Jahn–Teller
    fields (Q^A1, Q^x, Q^z) on D4 or ``("Eg",)`` for an e_g doublet on Oh.
    """
    if isinstance(components, str):
        if components == "scalar":
            return np.ones((group.order, 1, 1))
        if components == "vector":
            return group.R.copy()
        if components == "pseudovector":
            return np.round(np.linalg.det(group.R))[:, None, None] * group.R
        components = (components,)
    blocks = [group.irrep(name).D for name in components]
    m = sum(b.shape[1] for b in blocks)
    M = np.zeros((group.order, m, m))
    k = 0
    for b in blocks:
        M[:, k:k + b.shape[1], k:k + b.shape[1]] = b
        k += b.shape[1]
    return M


class Neighbourhood:
    """A set of objects around a centre (sites, pairs or oriented triplets) permuted by a point group, in orbits.

    Build one from displacement vectors with :meth:`from_vectors` / :meth:`from_lattice`, or from an explicit
    (signed) permutation. The value x_r of object r transforms as x'[perm[g, r]] = sign[g, r] · M(g) x[r];
    the sign is −1 where an operation reverses the stored orientation of an oriented object (a chirality
    S_i·(S_m×S_n) under a mirror, ch7 spec §1.8).

    Attributes
    ----------
    perm : int array (|G|, L)
        ``perm[g, r] = s`` with object s the image of object r (P_sr(g) = ±1).
    sign : float array (|G|, L)
    orbits : list of int arrays
        Orbits in order of first appearance; each lists its objects starting with the representative.
    vectors : array (L, d) or None
        Displacements when built from vectors.
    """

    def __init__(self, perm: np.ndarray, group: PointGroup, sign: np.ndarray | None = None,
                 vectors: np.ndarray | None = None):
        self.group = group
        self.perm = np.asarray(perm, dtype=np.int64)
        self.sign = np.ones(self.perm.shape) if sign is None else np.asarray(sign, dtype=float)
        self.vectors = vectors
        L = self.perm.shape[1]
        seen = np.zeros(L, bool)
        self.orbits: list[np.ndarray] = []
        for r in range(L):
            if not seen[r]:
                orb = list(dict.fromkeys(self.perm[:, r].tolist()))
                seen[orb] = True
                self.orbits.append(np.array(orb, dtype=np.int64))

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, group: PointGroup, tol: float = 1e-6) -> "Neighbourhood":
        """Neighbourhood of displacement ``vectors`` (L, d), which must be closed under the group."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
        index = VectorIndex(vectors, tol)
        images = np.einsum("gij,rj->gri", group.R, vectors)
        perm = index.lookup(images)
        if np.any(perm < 0):
            g = int(np.nonzero(np.any(perm < 0, axis=1))[0][0])
            raise ValueError(f"Neighbourhood is not closed under operation {group.op_names[g]}")
        return cls(perm, group, vectors=vectors)

    @classmethod
    def from_lattice(cls, lattice, cutoff: float, group: PointGroup | None = None, include_center: bool = True,
                     sublattice: int = 0):
        """Neighbourhood of a site of ``sublattice`` within ``cutoff`` in the column order of
        ``lattice.neighbor_table(cutoff)`` (centre first when ``include_center``); also returns that column order.
        """
        group = group or PointGroup.from_lattice(lattice)
        _, vec = lattice.neighbor_table(cutoff, with_vectors=True)
        if vec.ndim == 3:
            vec = vec[sublattice]
            vec = vec[np.linalg.norm(vec, axis=1) > 0]
        if include_center:
            vec = np.concatenate([np.zeros((1, lattice.dim)), vec])
        return cls.from_vectors(vec, group)

    def __len__(self) -> int:
        return self.perm.shape[1]

    def representation(self, M: np.ndarray) -> np.ndarray:
        """T(g) = P(g) ⊗ M(g), (|G|, L·m, L·m), index r·m + α."""
        G, L = self.perm.shape
        P = np.zeros((G, L, L))
        P[np.arange(G)[:, None], self.perm, np.arange(L)[None, :]] = self.sign
        return np.einsum("gsr,gab->gsarb", P, M).reshape(G, L * M.shape[1], L * M.shape[1])

    def transform(self, U: np.ndarray, g: int, M: np.ndarray) -> np.ndarray:
        """Apply operation g to field values U (..., L, m): U'[perm[g, r]] = M(g) U[r]."""
        out = np.empty_like(U)
        out[..., self.perm[g], :] = self.sign[g][:, None] * np.einsum("ab,...rb->...ra", M[g], U)
        return out


class VectorIndex:
    """Exact lookup of displacement vectors (rounded to a grid of ``tol``): row index or -1."""

    def __init__(self, vectors: np.ndarray, tol: float = 1e-6):
        self.tol = tol
        self.keys = {tuple(k): r for r, k in enumerate(np.round(np.asarray(vectors) / tol).astype(np.int64).tolist())}
        if len(self.keys) != len(vectors):
            raise ValueError("VectorIndex: duplicate vectors")

    def lookup(self, vectors: np.ndarray) -> np.ndarray:
        v = np.asarray(vectors)
        flat = np.round(v.reshape(-1, v.shape[-1]) / self.tol).astype(np.int64).tolist()
        return np.array([self.keys.get(tuple(k), -1) for k in flat], dtype=np.int64).reshape(v.shape[:-1])


@dataclass
class Decomposition:
    """Result of :func:`decompose`: f = W U with W orthogonal (D×D).

    ``copies[name]`` is an int array (n_copies, n_Γ) of rows of W holding copy r of IR ``name``;
    ``copy_orbit[name]`` gives the orbit each copy comes from.
    """

    W: np.ndarray
    group: PointGroup
    copies: dict[str, np.ndarray]
    copy_orbit: dict[str, np.ndarray]

    @property
    def multiplicities(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.copies.items()}

    def coefficients(self, U):
        """IR coefficients {Γ: (..., n_copies, n_Γ)} of flattened fields U (..., D) (numpy or torch)."""
        f = U @ const(self.W.T, U)
        return {k: f[..., idx] for k, idx in self.copies.items()}


def decompose_rep(group: PointGroup, T: np.ndarray, tol: float = 1e-10) -> list[tuple[IrRep, np.ndarray]]:
    """Split a representation T (|G|, D, D) into IR copies: list of (IR, rows (n_Γ, D)) with f_μ = rows[μ]·U.

    For each Γ: Gram–Schmidt of P^Γ_11 e_k over the unit vectors in order gives v_1..v_m, and the partners
    P^Γ_μ1 v_r share the canonical matrices D^Γ(g) (ch7 spec §1.4).
    """
    out = []
    D = T.shape[1]
    m = group.multiplicities(T)
    for ir in group.irreps:
        if m[ir.name] == 0:
            continue
        P11 = group.projector(ir, T, 0, 0)
        vs: list[np.ndarray] = []
        for k in range(D):
            v = P11[:, k].copy()
            for _ in range(2):  # re-orthogonalise for stability
                for c in vs:
                    v -= (c @ v) * c
            n = np.linalg.norm(v)
            if n > tol:
                vs.append(v / n)
        if len(vs) != m[ir.name]:
            raise ValueError(f"decompose: found {len(vs)} copies of {ir.name}, character formula says {m[ir.name]}")
        partners = [group.projector(ir, T, mu, 0) for mu in range(ir.dim)]
        for v in vs:
            out.append((ir, np.array([P @ v for P in partners])))
    return out


def decompose(nbhd: Neighbourhood, M: np.ndarray) -> Decomposition:
    """IR decomposition of a field with component matrices ``M`` on neighbourhood ``nbhd``, orbit by orbit."""
    group = nbhd.group
    m = M.shape[1]
    L = len(nbhd)
    T_full = nbhd.representation(M)
    rows: dict[str, list[np.ndarray]] = {ir.name: [] for ir in group.irreps}
    orbit_of: dict[str, list[int]] = {ir.name: [] for ir in group.irreps}
    for o, orb in enumerate(nbhd.orbits):
        cols = (orb[:, None] * m + np.arange(m)[None, :]).ravel()
        T = T_full[:, cols][:, :, cols]
        for ir, block in decompose_rep(group, T):
            full = np.zeros((ir.dim, L * m))
            full[:, cols] = block
            rows[ir.name].append(full)
            orbit_of[ir.name].append(o)
    W_rows, copies, copy_orbit, k = [], {}, {}, 0
    for ir in group.irreps:
        n = len(rows[ir.name])
        copies[ir.name] = (k + np.arange(n * ir.dim)).reshape(n, ir.dim)
        copy_orbit[ir.name] = np.array(orbit_of[ir.name], dtype=np.int64)
        W_rows.extend(rows[ir.name])
        k += n * ir.dim
    W = np.concatenate(W_rows, axis=0) if W_rows else np.zeros((0, L * m))
    return Decomposition(W, group, copies, copy_orbit)
