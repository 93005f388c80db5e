"""Finite point groups given by their Cartesian matrices, with real irreducible representations found numerically.

A :class:`PointGroup` is built from the operations alone (``PointGroup.from_ops(lattice.point_group)``): the
multiplication table, and a complete set of real-orthogonal irreducible representations (IRs) obtained by
splitting small polynomial representations (constant, det, vector, det·vector, quadratic forms) and, as a
fallback, the regular representation. Inside a polynomial representation the IR basis is fixed by Gram–Schmidt
of the projected monomials in a fixed order, so the vector IR is ``D(g) = O(g)`` (E of D4, E1 of D6, T2 of Td,
T1u of Oh) and the quadratic-form IRs use (x²−y², 2xy)-type bases. For the dissertation's groups the IRs carry
their textbook names (matched by character); any other group gets names ``G1, G2, ...``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["IrRep", "PointGroup", "character_names"]

_TOL = 1e-8


@dataclass(frozen=True)
class IrRep:
    """A real irreducible representation: ``name`` and its matrices ``D`` (|G|, n, n), one per group element."""

    name: str
    D: np.ndarray

    @property
    def dim(self) -> int:
        return self.D.shape[1]

    @property
    def character(self) -> np.ndarray:
        return np.trace(self.D, axis1=1, axis2=2)


def _sym2_rep(R: np.ndarray) -> np.ndarray:
    """Action X -> R X Rᵀ on symmetric matrices in the orthonormal basis (diagonals, then √2-scaled off-diagonals)."""
    d = R.shape[1]
    basis = []
    for a in range(d):
        B = np.zeros((d, d))
        B[a, a] = 1.0
        basis.append(B)
    for a in range(d):
        for b in range(a + 1, d):
            B = np.zeros((d, d))
            B[a, b] = B[b, a] = 1 / np.sqrt(2)
            basis.append(B)
    basis = np.array(basis)
    return np.einsum("kij,gia,gjb,lab->gkl", basis, R, R, basis)


def _poly_character(R: np.ndarray, poly) -> np.ndarray:
    """Character of the 1-D representation spanned by polynomial ``poly``: p(Oᵀ r) / p(r) at a generic point r."""
    r = np.array([0.8131, 0.3417, 0.2209])[: R.shape[1]]
    return np.array([poly(Rg.T @ r) for Rg in R]) / poly(r)


def character_names(group_name: str, R: np.ndarray) -> dict[str, np.ndarray]:
    """Textbook IR names and their characters (as functions of the matrices ``R``) for D4, D6 (C6v), Td and Oh.

    Follows the conventions of ch7 spec §1.5; an unknown group name returns an empty dict.
    """
    det = np.round(np.linalg.det(R))
    tr = np.trace(R, axis1=1, axis2=2)
    quad = (tr**2 + np.trace(R @ R, axis1=1, axis2=2)) / 2 - 1  # traceless quadratic forms (2-D: irreducible)
    if group_name == "D4":
        b1 = _poly_character(R, lambda v: v[0] ** 2 - v[1] ** 2)
        return {"A1": np.ones(len(R)), "A2": det, "B1": b1, "B2": det * b1, "E": tr}
    if group_name in ("D6", "C6v"):
        b1 = _poly_character(R, lambda v: v[0] ** 3 - 3 * v[0] * v[1] ** 2)
        return {"A1": np.ones(len(R)), "A2": det, "B1": b1, "B2": det * b1, "E1": tr, "E2": quad}
    if group_name == "Td":  # signed permutation matrices: E acts on (x², y², z²) minus the trace
        eg = np.trace(np.abs(R), axis1=1, axis2=2) - 1
        return {"A1": np.ones(len(R)), "A2": det, "E": eg, "T1": det * tr, "T2": tr}
    if group_name == "Oh":
        perm_sign = np.round(np.linalg.det(np.abs(R)))
        eg = np.trace(np.abs(R), axis1=1, axis2=2) - 1
        g = {"A1g": np.ones(len(R)), "A2g": perm_sign, "Eg": eg, "T1g": det * tr, "T2g": perm_sign * det * tr}
        return {**g, **{k[:-1] + "u": v * det for k, v in g.items()}}
    return {}


class PointGroup:
    """A finite point group: Cartesian matrices ``R`` (|G|, d, d), multiplication table and real IRs.

    Parameters
    ----------
    R : array (|G|, d, d)
        Orthogonal matrices; element 0 should be the identity.
    name : str
        'D4', 'D6', 'Td', 'Oh' give textbook IR names; anything else gives G1, G2, ...
    op_names : list of str, optional
        Names of the operations (for messages).
    """

    def __init__(self, R: np.ndarray, name: str = "", op_names: list[str] | None = None):
        self.R = np.asarray(R, dtype=float)
        self.name = name
        self.op_names = list(op_names) if op_names is not None else [f"g{k}" for k in range(len(self.R))]
        if not np.allclose(self.R[0], np.eye(self.dim)):
            raise ValueError(f"point group {name!r}: element 0 must be the identity")

    @classmethod
    def from_ops(cls, ops, name: str = "") -> "PointGroup":
        """Group from a list of ``PointOp`` (e.g. ``lattice.point_group``)."""
        return cls(np.array([op.R for op in ops]), name, [op.name for op in ops])

    @classmethod
    def from_lattice(cls, lattice) -> "PointGroup":
        return cls.from_ops(lattice.point_group, lattice.group_name)

    @property
    def order(self) -> int:
        return len(self.R)

    @property
    def dim(self) -> int:
        return self.R.shape[1]

    def __len__(self) -> int:
        return self.order

    def __repr__(self) -> str:
        return f"PointGroup({self.name!r}, order={self.order}, irreps={[ir.name for ir in self.irreps]})"

    # ------------------------------------------------------------------ group structure
    def index_of(self, M: np.ndarray) -> int:
        """Index of the element with matrix ``M`` (raises if ``M`` is not in the group)."""
        hit = np.nonzero(np.all(np.abs(self.R - M) < 1e-8, axis=(1, 2)))[0]
        if len(hit) != 1:
            raise ValueError(f"point group {self.name!r}: matrix is not a group element (closure fails)")
        return int(hit[0])

    @cached_property
    def table(self) -> np.ndarray:
        """Multiplication table: ``table[a, b]`` = index of R[a] @ R[b]."""
        return np.array([[self.index_of(a @ b) for b in self.R] for a in self.R], dtype=np.int64)

    @cached_property
    def inverse(self) -> np.ndarray:
        return np.array([self.index_of(a.T) for a in self.R], dtype=np.int64)

    # ------------------------------------------------------------------ representations
    def projector(self, ir: IrRep, T: np.ndarray, mu: int = 0, nu: int = 0) -> np.ndarray:
        """Projection operator P^Γ_{μν} = (n_Γ/|G|) Σ_g D^Γ_{μν}(g) T(g) for a representation T (|G|, D, D)."""
        return ir.dim / self.order * np.einsum("g,gij->ij", ir.D[:, mu, nu], T)

    def multiplicities(self, T: np.ndarray) -> dict[str, int]:
        """m_Γ = (1/|G|) Σ_g χ_Γ(g) tr T(g) for every IR."""
        chi = np.trace(T, axis1=1, axis2=2)
        out = {}
        for ir in self.irreps:
            m = float(ir.character @ chi) / self.order
            if abs(m - round(m)) > 1e-6:
                raise ValueError(f"point group {self.name!r}: T is not a representation (m_{ir.name} = {m})")
            out[ir.name] = int(round(m))
        return out

    def irrep(self, name: str) -> IrRep:
        for ir in self.irreps:
            if ir.name == name:
                return ir
        raise KeyError(f"point group {self.name!r} has no IR {name!r}; it has {[ir.name for ir in self.irreps]}")

    @cached_property
    def regular_rep(self) -> np.ndarray:
        """Regular representation: T(g) e_h = e_{gh}."""
        T = np.zeros((self.order, self.order, self.order))
        for g in range(self.order):
            T[g, self.table[g], np.arange(self.order)] = 1.0
        return T

    @cached_property
    def irreps(self) -> list[IrRep]:
        """Complete list of real IRs (Σ n² = |G|), textbook names and order for the known groups."""
        R = self.R
        det = np.round(np.linalg.det(R))
        candidates = [np.ones((self.order, 1, 1)), det[:, None, None], R, det[:, None, None] * R,
                      _sym2_rep(R), det[:, None, None] * _sym2_rep(R), self.regular_rep]
        found: list[np.ndarray] = []
        rng = np.random.default_rng(12345)
        for T in candidates:
            for B in _irreducible_subspaces(T, rng):
                D = np.einsum("ia,gij,jb->gab", B, T, B)
                D[np.abs(D) < 1e-13] = 0.0
                if D.shape[1] == 1:  # a real 1-D IR takes the values ±1 exactly
                    D = np.sign(D)
                chi = np.trace(D, axis1=1, axis2=2)
                if any(f.shape[1] == D.shape[1] and np.allclose(np.trace(f, axis1=1, axis2=2), chi) for f in found):
                    continue
                found.append(D)
            if sum(f.shape[1] ** 2 for f in found) == self.order:
                break
        if sum(f.shape[1] ** 2 for f in found) != self.order:
            raise ValueError(f"point group {self.name!r}: real IR search incomplete (Σn² ≠ |G|): either the matrices "
                             "are not a group, or it has complex-type IRs (cyclic C_n with n >= 3, S_4, C_3h, ...), "
                             "which real IRs cannot split; use a group with real IRs (D_n, T_d, O_h)")
        named = character_names(self.name, R)
        if not named:
            return [IrRep(f"G{k + 1}", D) for k, D in enumerate(found)]
        out = []
        for name, chi in named.items():
            match = [D for D in found if np.allclose(np.trace(D, axis1=1, axis2=2), chi)]
            if len(match) != 1:
                raise ValueError(f"point group {self.name!r}: no unique IR with the character of {name}")
            out.append(IrRep(name, match[0]))
        return out


def _irreducible_subspaces(T: np.ndarray, rng) -> list[np.ndarray]:
    """Irreducible invariant subspaces of a real orthogonal representation T (|G|, D, D), as orthonormal bases.

    Eigenspaces of a random symmetric element of the commutant (the group average of T X Tᵀ) are invariant and,
    generically, irreducible; a subspace that fails the character test Σ|χ|² = |G| is skipped. Inside each the
    basis is Gram–Schmidt of the projected unit vectors e_0, e_1, ... so natural bases survive.
    """
    G, D, _ = T.shape
    X = rng.standard_normal((D, D))
    H = np.einsum("gij,jk,glk->il", T, X + X.T, T) / G
    w, V = np.linalg.eigh(H)
    out = []
    start = 0
    for k in range(1, D + 1):
        if k == D or abs(w[k] - w[start]) > _TOL * max(1.0, abs(w).max()):
            Bk = V[:, start:k]
            chi = np.einsum("ia,gij,ja->g", Bk, T, Bk)
            if abs(chi @ chi / G - 1.0) < 1e-6:
                out.append(_canonical_basis(Bk @ Bk.T))
            start = k
    return out


def _canonical_basis(P: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis of range(P) by Gram–Schmidt of P e_k over k = 0, 1, ... (deterministic)."""
    cols: list[np.ndarray] = []
    for k in range(P.shape[0]):
        v = P[:, k].copy()
        for c in cols:
            v -= (c @ v) * c
        n = np.linalg.norm(v)
        if n > tol:
            cols.append(v / n)
    return np.array(cols).T
