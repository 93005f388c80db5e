"""Constructors for the lattices of the dissertation, each with its site point group."""
from __future__ import annotations

import itertools

import numpy as np

from .core import Lattice, PointOp

__all__ = ["square", "triangular", "simple_cubic", "diamond", "point_group_ops"]


def _rot2(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _mirror2(theta: float) -> np.ndarray:
    """Mirror through the line at angle theta."""
    c, s = np.cos(2 * theta), np.sin(2 * theta)
    return np.array([[c, s], [s, -c]])


def _dihedral(n: int) -> list[PointOp]:
    ops = [PointOp(f"C{n}^{k}", _rot2(2 * np.pi * k / n)) for k in range(n)]
    ops += [PointOp(f"m{k}", _mirror2(np.pi * k / n)) for k in range(n)]
    for op in ops:
        op.R[np.abs(op.R) < 1e-14] = 0.0
    return ops


def _cubic_ops() -> list[PointOp]:
    """The 48 signed permutation matrices (Oh)."""
    ops = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            R = np.zeros((3, 3))
            for r, (c, s) in enumerate(zip(perm, signs)):
                R[r, c] = s
            ops.append(PointOp(f"Oh[{perm},{signs}]", R))
    return ops


def _td_ops() -> list[PointOp]:
    """Td: the 24 operations of Oh that map the tetrahedron (1,1,1),(1,-1,-1),(-1,1,-1),(-1,-1,1) to itself."""
    tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    keep = []
    for op in _cubic_ops():
        img = tet @ op.R.T
        if all(any(np.allclose(v, t) for t in tet) for v in img):
            keep.append(PointOp(op.name.replace("Oh", "Td"), op.R))
    return keep


def point_group_ops(name: str) -> list[PointOp]:
    """Operations of a named point group: 'D4', 'D6', 'Oh', 'Td'."""
    table = {"D4": lambda: _dihedral(4), "D6": lambda: _dihedral(6), "Oh": _cubic_ops, "Td": _td_ops}
    if name not in table:
        raise ValueError(f"unknown point group {name!r}; choose one of {sorted(table)}")
    return table[name]()


def _check_size(name: str, **sizes):
    for k, v in sizes.items():
        if int(v) != v or v < 1:
            raise ValueError(f"{name}: {k}={v} must be a positive integer")


def square(Lx: int, Ly: int | None = None) -> Lattice:
    """Square lattice, lattice constant 1, periodic Lx×Ly (D4 about a site when Lx == Ly)."""
    Ly = Lx if Ly is None else Ly
    _check_size("square", Lx=Lx, Ly=Ly)
    return Lattice("square", np.eye(2), [[0.0, 0.0]], (Lx, Ly), point_group_ops("D4"), "D4")


def triangular(L1: int, L2: int | None = None) -> Lattice:
    """Triangular lattice a1=(1,0), a2=(1/2,√3/2) on a periodic rhombic L1×L2 torus (D6 about a site)."""
    L2 = L1 if L2 is None else L2
    _check_size("triangular", L1=L1, L2=L2)
    vec = np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    return Lattice("triangular", vec, [[0.0, 0.0]], (L1, L2), point_group_ops("D6"), "D6")


def simple_cubic(L1: int, L2: int | None = None, L3: int | None = None) -> Lattice:
    """Simple cubic lattice, periodic (Oh about a site)."""
    L2 = L1 if L2 is None else L2
    L3 = L1 if L3 is None else L3
    _check_size("simple_cubic", L1=L1, L2=L2, L3=L3)
    return Lattice("simple_cubic", np.eye(3), [[0.0, 0.0, 0.0]], (L1, L2, L3), point_group_ops("Oh"), "Oh")


def diamond(L: int, a: float = 1.0) -> Lattice:
    """Diamond: FCC primitive vectors (a/2)(0,1,1),(1,0,1),(1,1,0), basis 0 and (a/4)(1,1,1); L³ primitive cells.

    Site symmetry Td (about a site of either sublattice: the operations listed map sublattice 0 onto itself).
    """
    _check_size("diamond", L=L)
    vec = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], float)
    basis = [[0, 0, 0], [0.25, 0.25, 0.25]]  # fractional: (1/4)(a1+a2+a3) = (a/4)(1,1,1)
    return Lattice("diamond", vec, basis, (L, L, L), point_group_ops("Td"), "Td")
