"""Spin descriptor invariant under the lattice point group and global spin rotations (ch3 spec §8; ch7 §1.8).

Around each site i the building blocks are SO(3) invariants, so spin rotations drop out and only the lattice
group acts, by (signed) permutations:

(a) b_ij = S_i·S_j for every site j with 0 < |r_ij| ≤ r1;
(b) b_mn = S_m·S_n for nearest-neighbour bonds (m, n) with both sites within r1 and neither equal to i;
(c) χ_imn = S_i·(S_m×S_n) for m, n within r1, |r_m − r_n| ≤ r2, ordered counter-clockwise about i
    (collinear triples dropped); a mirror reverses the orientation, so χ is permuted with a sign.

Each block is decomposed into IRs of the point group and every copy gives (p, β): its power and its regularised
phase against the block's reference IR (block averages over its general-position orbits). For the triangular
lattice with r1 = 6, r2 = 2 this gives 126 + 336 + 876 variables, 84 + 224 + 576 IR copies, 1768 features.
Batched over all sites in torch (or numpy); autograd through it gives exchange fields.
"""
from __future__ import annotations

import numpy as np

from .decompose import Neighbourhood, field_rep
from .groups import PointGroup
from ._arrays import cat, is_torch
from .invariants import IRDescriptor

__all__ = ["SpinIRDescriptor"]


def _cross_dot(a, b, c):
    """a·(b×c) over the last axis (numpy or torch)."""
    return (a[..., 0] * (b[..., 1] * c[..., 2] - b[..., 2] * c[..., 1])
            + a[..., 1] * (b[..., 2] * c[..., 0] - b[..., 0] * c[..., 2])
            + a[..., 2] * (b[..., 0] * c[..., 1] - b[..., 1] * c[..., 0]))


class SpinIRDescriptor:
    """Bond/chirality IR descriptor of unit spins on a one-atom 2-D lattice (D6 on the triangular lattice).

    Parameters
    ----------
    lattice : Lattice
    r1 : float
        Radius of the neighbourhood (sites j, bond and chirality sites m, n).
    r2 : float
        Largest |r_m − r_n| of a chirality triangle.
    eps : float
        Regulariser of β = ξ·ξ_ref / sqrt((|ξ|²+ε)(|ξ_ref|²+ε)).
    chirality : bool
        Include block (c) (odd under time reversal S → −S).

    Call it with spins (N, 3) or (B, N, 3); returns features (N, F) or (B, N, F).
    """

    def __init__(self, lattice, r1: float = 6.0, r2: float = 2.0, eps: float = 1e-8, chirality: bool = True):
        if lattice.n_basis != 1 or lattice.dim != 2:
            from ..errors import ConfigError

            raise ConfigError("descriptor.lattice", "SpinIRDescriptor needs a one-atom 2-D lattice")
        tol = 1e-6
        self.lattice = lattice
        self.group = PointGroup.from_lattice(lattice)
        self.index, vec = lattice.neighbor_table(r1 + tol, with_vectors=True)
        sites = Neighbourhood.from_vectors(vec, self.group)
        nn = min(np.linalg.norm(lattice.vectors, axis=1))
        dist = np.linalg.norm(vec[:, None, :] - vec[None, :, :], axis=-1)
        m, n = np.nonzero(np.triu(np.abs(dist - nn) < tol, 1))
        self.bond_pairs = np.stack([m, n], axis=1)
        bonds = self._pair_neighbourhood(sites, self.bond_pairs, oriented=False, vec=vec)
        cross = vec[:, None, 0] * vec[None, :, 1] - vec[:, None, 1] * vec[None, :, 0]
        m, n = np.nonzero((dist <= r2 + tol) & (cross > tol))
        self.triangles = np.stack([m, n], axis=1)
        tri = self._pair_neighbourhood(sites, self.triangles, oriented=True, vec=vec)
        scalar = field_rep(self.group, "scalar")
        self.blocks = {"site_bonds": IRDescriptor(sites, scalar, phase_mode="power_phase", eps=eps, ref_products=False),
                       "bonds": IRDescriptor(bonds, scalar, phase_mode="power_phase", eps=eps, ref_products=False)}
        if chirality:
            self.blocks["chiralities"] = IRDescriptor(tri, scalar, phase_mode="power_phase", eps=eps,
                                                      ref_products=False)
        self.n_features = sum(b.n_features for b in self.blocks.values())
        self.n_variables = {k: b.dim for k, b in self.blocks.items()}
        self.n_copies = {k: sum(len(v) for v in b.dec.copies.values()) for k, b in self.blocks.items()}

    def _pair_neighbourhood(self, sites: Neighbourhood, pairs: np.ndarray, oriented: bool, vec) -> Neighbourhood:
        """Signed permutation of pairs (m, n) induced by the site permutation; oriented pairs keep cross > 0."""
        key = {(int(a), int(b)): r for r, (a, b) in enumerate(pairs)}
        G, P = sites.perm.shape[0], len(pairs)
        perm = np.empty((G, P), dtype=np.int64)
        sign = np.ones((G, P))
        for g in range(G):
            gm, gn = sites.perm[g, pairs[:, 0]], sites.perm[g, pairs[:, 1]]
            for r in range(P):
                a, b = int(gm[r]), int(gn[r])
                if (a, b) in key:
                    perm[g, r] = key[(a, b)]
                else:  # stored in the other order: a chirality changes sign, a bond does not
                    perm[g, r] = key[(b, a)]
                    sign[g, r] = -1.0 if oriented else 1.0
        return Neighbourhood(perm, sites.group, sign)

    def variables(self, spins):
        """Block variables {name: (..., N, n_vars)} of spins (..., N, 3) (numpy or torch)."""
        if is_torch(spins):
            import torch

            idx = torch.as_tensor(self.index, device=spins.device)
        else:
            idx = self.index
        Sn = spins[..., idx, :]  # (..., N, L, 3)
        S0 = spins[..., :, None, :]
        out = {"site_bonds": (S0 * Sn).sum(-1),
               "bonds": (Sn[..., self.bond_pairs[:, 0], :] * Sn[..., self.bond_pairs[:, 1], :]).sum(-1)}
        if "chiralities" in self.blocks:
            out["chiralities"] = _cross_dot(S0, Sn[..., self.triangles[:, 0], :], Sn[..., self.triangles[:, 1], :])
        return out

    def __call__(self, spins):
        var = self.variables(spins)
        return cat([blk.features(var[k]) for k, blk in self.blocks.items()], axis=-1)
