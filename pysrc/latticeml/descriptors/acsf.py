"""Atom-centred symmetry functions (ACSF): plain, lattice and magnetic variants (ch7 spec §1.9, ch4 spec §3.2).

- :class:`ACSF`: radial G2 = Σ_j exp(−η(R_ij − R_s)²) f_c(R_ij) and angular
  G4 = 2^{1−ζ} Σ_{j<k} (1 + λ cos θ_ijk)^ζ exp(−η(R_ij² + R_ik² + R_jk²)) f_c(R_ij) f_c(R_ik) f_c(R_jk)
  for one species in a periodic box (the DScribe definitions, so the two can be compared number for number).
- :class:`LatticeACSF`: the same weights on a lattice, where geometry is fixed, applied to a scalar field
  (G2a, G3a) or to spins (G2b = Σ_j S_i·S_j F2, G3b = Σ_{j<k} S_j·S_k F3).
- :class:`MagneticACSF`: ch4's G2m, G3m (and the thesis's index-ordered G3χ) for spins at random positions.

f_c(R) = ½[cos(πR/R_c) + 1] for R ≤ R_c, else 0. Geometry (neighbour lists, weights) is computed once; the torch
paths are batched over all centres and differentiable (positions for :class:`ACSF`, spins for the others).
``acsf_reference`` and ``magnetic_acsf_reference`` are plain numpy loops used as test oracles.
"""
from __future__ import annotations

import numpy as np

from ._arrays import cat, const as _const, einsum, is_torch as _is_torch

__all__ = ["cutoff_fn", "ACSF", "LatticeACSF", "MagneticACSF", "acsf_reference", "magnetic_acsf_reference",
           "magnetic_default_params"]


def cutoff_fn(R, rc: float):
    """Cosine cutoff f_c(R) = ½[cos(πR/R_c) + 1] inside R_c, 0 outside (numpy or torch)."""
    if _is_torch(R):
        import torch

        return torch.where(R <= rc, 0.5 * (torch.cos(np.pi * R / rc) + 1.0), torch.zeros_like(R))
    return np.where(R <= rc, 0.5 * (np.cos(np.pi * R / rc) + 1.0), 0.0)


def _pairs_within(positions: np.ndarray, box: np.ndarray, rc: float):
    """Directed neighbour pairs (i, j), j ≠ i, within rc (minimum image), sorted by (i, j)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.mod(positions, box), boxsize=box)
    pairs = tree.query_pairs(rc, output_type="ndarray")
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((j, i))
    return i[order], j[order]


def _padded(i: np.ndarray, j: np.ndarray, N: int):
    """Neighbour lists padded to the longest: (N, nmax) indices, -1 = padding."""
    counts = np.bincount(i, minlength=N)
    nmax = int(counts.max()) if len(i) else 0
    slot = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    nbr = -np.ones((N, nmax), dtype=np.int64)
    nbr[i, slot] = j
    return nbr


def _min_image(dr, box):
    b = _const(box, dr)
    if _is_torch(dr):
        import torch

        return dr - b * torch.round(dr / b)
    return dr - b * np.round(dr / b)


class ACSF:
    """Radial (G2) and angular (G4) ACSF of one species in a periodic box, DScribe's definitions and order.

    Output columns: [G1 = Σ_j f_c] (if ``include_g1``), G2 per (η, R_s), G4 per (η, ζ, λ). As in DScribe,
    r_jk = r_ik − r_ij (the images of j and k that lie within R_c of i), which differs from the minimum image
    of r_k − r_j only in boxes smaller than 4 R_c.

    Parameters
    ----------
    rc : float
    g2_params : array (n2, 2) of (η, R_s)
    g4_params : array (n4, 3) of (η, ζ, λ)
    include_g1 : bool
        DScribe always emits G1 first; keep it for a like-for-like comparison.
    """

    def __init__(self, rc: float, g2_params=(), g4_params=(), include_g1: bool = True):
        self.rc = float(rc)
        self.g2 = np.asarray(g2_params, dtype=float).reshape(-1, 2)
        self.g4 = np.asarray(g4_params, dtype=float).reshape(-1, 3)
        self.include_g1 = include_g1
        self.n_features = int(include_g1) + len(self.g2) + len(self.g4)

    def geometry(self, positions: np.ndarray, box: np.ndarray) -> dict:
        """Neighbour pairs (i, j) and triplets as pairs of pair ids (p_ij, p_ik), j before k; index arrays only,
        so distances are recomputed from (differentiable) positions on every call."""
        positions = np.asarray(positions, dtype=float)
        i, j = _pairs_within(positions, np.asarray(box, float), self.rc)
        pa, pb = _pair_triplets(i, len(positions))
        return {"N": len(positions), "pairs": (i, j), "triplets": (pa, pb), "box": np.asarray(box, float)}

    def __call__(self, positions, box=None, geometry: dict | None = None):
        """Features (N, n_features) of ``positions`` (numpy or torch) in a periodic ``box``."""
        pos_np = positions.detach().cpu().numpy() if _is_torch(positions) else np.asarray(positions)
        geo = geometry or self.geometry(pos_np, box)
        i, j = geo["pairs"]
        pa, pb = geo["triplets"]
        if _is_torch(positions):
            import torch

            i, j, pa, pb = (torch.as_tensor(a, device=positions.device) for a in (i, j, pa, pb))
            exp = torch.exp
        else:
            exp = np.exp
        rc = self.rc
        dr = _min_image(positions[j] - positions[i], geo["box"])
        d = [dr[:, k] for k in range(dr.shape[1])]  # components as separate arrays: cheaper gathers and sums
        R2 = sum(c * c for c in d)
        R = R2**0.5
        fc = cutoff_fn(R, rc)
        cols = [fc] if self.include_g1 else []
        cols += [exp(-eta * (R - rs) ** 2) * fc for eta, rs in self.g2]
        out = [_segment_sum(cols, i, geo["N"])] if cols else []
        if len(self.g4):
            # r_jk = r_ik - r_ij: the image of k seen from the image of j, as DScribe does
            a = [c[pa] for c in d]
            b = [c[pb] for c in d]
            R2jk = sum((y - x) ** 2 for x, y in zip(a, b))
            keep = R2jk <= rc * rc  # f_c(R_jk) = 0 beyond the cutoff: drop those triplets early
            ta, tb, R2jk = pa[keep], pb[keep], R2jk[keep]
            cos = sum(x * y for x, y in zip(a, b))[keep] / (R[ta] * R[tb])
            fc3 = fc[ta] * fc[tb] * cutoff_fn(R2jk**0.5, rc)
            S = R2[ta] + R2[tb] + R2jk
            radial = {eta: exp(-eta * S) * fc3 for eta in np.unique(self.g4[:, 0])}
            angular = {}
            for _, zeta, lam in self.g4:
                if (zeta, lam) not in angular:
                    angular[(zeta, lam)] = 2.0 ** (1 - zeta) * (1 + lam * cos).clip(min=0) ** zeta
            cols = [angular[(zeta, lam)] * radial[eta] for eta, zeta, lam in self.g4]
            out.append(_segment_sum(cols, i[ta], geo["N"]))
        return cat(out)


def _pair_triplets(i: np.ndarray, N: int):
    """Pairs of pair ids (p_ij, p_ik) sharing the centre i, p_ij < p_ik, ordered by centre."""
    counts = np.bincount(i, minlength=N)
    start = np.cumsum(counts) - counts  # pairs of one centre are contiguous (sorted by i)
    a, b = np.triu_indices(int(counts.max()) if len(i) else 0, 1)
    ok = b[None, :] < counts[:, None]
    return (start[:, None] + a[None, :])[ok], (start[:, None] + b[None, :])[ok]


def _segment_sum(columns: list, index, N: int):
    """out[n, c] = Σ_{t: index[t] = n} columns[c][t], (N, n_columns) (numpy or torch; differentiable)."""
    if _is_torch(columns[0]):
        import torch

        values = torch.stack(columns, dim=1)
        out = torch.zeros((N, values.shape[1]), dtype=values.dtype, device=values.device)
        return out.index_add(0, index, values)
    return np.stack([np.bincount(index, weights=c, minlength=N) for c in columns], axis=1)


def acsf_reference(positions: np.ndarray, box: np.ndarray, rc: float, g2_params=(), g4_params=(),
                   include_g1: bool = True) -> np.ndarray:
    """Plain-loop numpy ACSF (test oracle for :class:`ACSF`; O(N³), small systems only)."""
    N = len(positions)
    g2 = np.asarray(g2_params, float).reshape(-1, 2)
    g4 = np.asarray(g4_params, float).reshape(-1, 3)
    out = np.zeros((N, int(include_g1) + len(g2) + len(g4)))

    def mi(d):
        return d - box * np.round(d / box)

    def fc(r):
        return 0.5 * (np.cos(np.pi * r / rc) + 1) if r <= rc else 0.0

    for i in range(N):
        nb = [j for j in range(N) if j != i and np.linalg.norm(mi(positions[j] - positions[i])) <= rc]
        for j in nb:
            r = np.linalg.norm(mi(positions[j] - positions[i]))
            row = ([fc(r)] if include_g1 else []) + [np.exp(-e * (r - s) ** 2) * fc(r) for e, s in g2]
            out[i, :len(row)] += row
        for a, j in enumerate(nb):
            for k in nb[a + 1:]:
                rij, rik = mi(positions[j] - positions[i]), mi(positions[k] - positions[i])
                rjk = rik - rij  # the images of j and k that are within R_c of i
                Rij, Rik, Rjk = np.linalg.norm(rij), np.linalg.norm(rik), np.linalg.norm(rjk)
                cos = rij @ rik / (Rij * Rik)
                for q, (e, z, lam) in enumerate(g4):
                    out[i, out.shape[1] - len(g4) + q] += (2 ** (1 - z) * (1 + lam * cos) ** z
                                                            * np.exp(-e * (Rij**2 + Rik**2 + Rjk**2))
                                                            * fc(Rij) * fc(Rik) * fc(Rjk))
    return out


class LatticeACSF:
    """ACSF weights on a one-atom lattice applied to a field: scalar (G2a, G3a) or spins (G2b, G3b).

    Geometry is the same for every site, so the features are fixed linear (G2) and bilinear (G3) forms of the
    neighbourhood values: the A1 part of the IR descriptor, weighted by the F's (ch7 spec §1.9, Eq. 7.49).

    Parameters
    ----------
    lattice : Lattice
    rc : float
    g2_params : (n2, 2) of (η, R_s);  F2(R) = exp(−η(R−R_s)²) f_c(R)
    g4_params : (n4, 3) of (η, ζ, λ);  F3 as in :class:`ACSF`
    field : 'scalar' or 'spin'
    """

    def __init__(self, lattice, rc: float, g2_params=(), g4_params=(), field: str = "scalar"):
        if field not in ("scalar", "spin"):
            from ..errors import ConfigError

            raise ConfigError("descriptor.field", f"LatticeACSF field must be 'scalar' or 'spin', got {field!r}")
        self.field, self.rc = field, float(rc)
        self.index, vec = lattice.neighbor_table(rc, with_vectors=True)
        if vec.ndim != 2:
            from ..errors import ConfigError

            raise ConfigError("descriptor.lattice", "LatticeACSF needs a one-atom lattice")
        g2 = np.asarray(g2_params, float).reshape(-1, 2)
        g4 = np.asarray(g4_params, float).reshape(-1, 3)
        R = np.linalg.norm(vec, axis=1)
        self.A = np.exp(-g2[None, :, 0] * (R[:, None] - g2[None, :, 1]) ** 2) * cutoff_fn(R, rc)[:, None]
        a, b = np.triu_indices(len(vec), 1)
        rjk = np.linalg.norm(vec[b] - vec[a], axis=1)
        cos = (vec[a] * vec[b]).sum(1) / (R[a] * R[b])
        ang = 2.0 ** (1 - g4[:, 1]) * np.clip(1 + g4[:, 2] * cos[:, None], 0, None) ** g4[:, 1]
        B = ang * np.exp(-g4[:, 0] * (R[a] ** 2 + R[b] ** 2 + rjk**2)[:, None]) * (
            cutoff_fn(R[a], rc) * cutoff_fn(R[b], rc) * cutoff_fn(rjk, rc))[:, None]
        keep = np.any(np.abs(B) > 0, axis=1)  # pairs beyond the cutoff contribute nothing
        self.pairs, self.B = np.stack([a[keep], b[keep]], 1), B[keep]
        self.n_features = len(g2) + len(g4)

    def __call__(self, field):
        idx = self.index
        if _is_torch(field):
            import torch

            idx = torch.as_tensor(idx, device=field.device)
        nb = field[..., idx, :] if self.field == "spin" else field[..., idx]
        if self.field == "spin":
            v2 = (field[..., :, None, :] * nb).sum(-1)
            v3 = (nb[..., self.pairs[:, 0], :] * nb[..., self.pairs[:, 1], :]).sum(-1)
        else:
            v2 = nb
            v3 = nb[..., self.pairs[:, 0]] * nb[..., self.pairs[:, 1]]
        return cat([v2 @ _const(self.A, v2), v3 @ _const(self.B, v3)])


def magnetic_default_params() -> dict:
    """Ch. 4 parameters: w = 0.05, d = 0.50…2.46 (50), ζ = 1, λ = ±1, d' ∈ {1, 2}, w' = 1, R_c = 2.5."""
    return {"rc": 2.5, "d": 0.5 + 0.04 * np.arange(50), "w": 0.05, "zeta": 1.0, "lambdas": (1.0, -1.0),
            "d_prime": (1.0, 2.0), "w_prime": 1.0}


class MagneticACSF:
    """Magnetic ACSF of ch4 (Eqs. 4.12–4.16) for unit spins at fixed random positions.

    G2m_i(d) = Σ_j F2(R_ij; d, w) S_i·S_j;  G3m_i(d, λ, d') = Σ_{j<k} F3 S_j·S_k with
    F3 = 2^{1−ζ}(1 + λ cos θ_ijk)^ζ F2(R_ij; d, w) F2(R_ik; d, w) F2(R_jk; d', w') and F2(R; d, w) =
    exp(−(R−d)²/w²) f_c(R). With ``chirality`` the thesis's G3χ (χ_ijk = S_i·(S_j×S_k), j<k by atom index) is
    appended; it is **not** invariant under relabelling atoms (the symmetric sum vanishes; ch4 spec §3.2).

    Geometry is precomputed once (atoms do not move). Triplets whose radial product cannot exceed ``prune``
    (|R_ij − R_ik| too large for the narrow shells) are dropped. Column order: G2m (d), G3m (d, λ, d'), G3χ.
    """

    def __init__(self, box, rc: float | None = None, d=None, w: float | None = None, zeta: float | None = None,
                 lambdas=None, d_prime=None, w_prime: float | None = None, chirality: bool = False,
                 prune: float = 1e-14):
        p = magnetic_default_params()
        self.rc = float(rc if rc is not None else p["rc"])
        self.d = np.asarray(d if d is not None else p["d"], float)
        self.w = float(w if w is not None else p["w"])
        self.zeta = float(zeta if zeta is not None else p["zeta"])
        self.lambdas = np.asarray(lambdas if lambdas is not None else p["lambdas"], float)
        self.d_prime = np.asarray(d_prime if d_prime is not None else p["d_prime"], float)
        self.w_prime = float(w_prime if w_prime is not None else p["w_prime"])
        self.chirality, self.prune = chirality, prune
        self.positions = np.asarray(box.positions, float)
        self.box = np.asarray(box.box, float)
        N = len(self.positions)
        nd, nq = len(self.d), len(self.lambdas) * len(self.d_prime)
        self.n_features = nd + nd * nq * (2 if chirality else 1)
        i, j = _pairs_within(self.positions, self.box, self.rc)
        self.nbr = _padded(i, j, N)
        R = np.linalg.norm(self._dr(np.arange(N)[:, None], self.nbr), axis=-1)
        self.A = np.where(self.nbr[..., None] >= 0, self._F2(R, self.d, self.w), 0.0)  # (N, nmax, nd)
        Rp = np.linalg.norm(self._dr(i, j), axis=1)
        pa, pb = _pair_triplets(i, N)
        # prune first: max_d F2(R_ij; d) F2(R_ik; d) ≤ exp(-(R_ij - R_ik)² / 2w²)
        keep = np.exp(-((Rp[pa] - Rp[pb]) ** 2) / (2 * self.w**2)) > prune
        pa, pb = pa[keep], pb[keep]
        ti, tj, tk = i[pa], j[pa], j[pb]  # j < k by atom index (pairs are sorted)
        rij, rik, Rij, Rik = self._dr(ti, tj), self._dr(ti, tk), Rp[pa], Rp[pb]
        Rjk = np.linalg.norm(self._dr(tj, tk), axis=1)
        cos = (rij * rik).sum(1) / (Rij * Rik)
        P = self._F2(Rij, self.d, self.w) * self._F2(Rik, self.d, self.w)  # (n_t, nd)
        ang = 2.0 ** (1 - self.zeta) * np.clip(1 + self.lambdas[None, :] * cos[:, None], 0, None) ** self.zeta
        Q = (ang[:, :, None] * self._F2(Rjk, self.d_prime, self.w_prime)[:, None, :]).reshape(len(ti), nq)
        counts = np.bincount(ti, minlength=N)
        tmax = int(counts.max()) if len(ti) else 0
        slot = np.arange(len(ti)) - np.repeat(np.cumsum(counts) - counts, counts)
        self.tj = np.zeros((N, tmax), np.int64)
        self.tk = np.zeros((N, tmax), np.int64)
        self.P = np.zeros((N, tmax, nd))
        self.Q = np.zeros((N, tmax, nq))  # zero rows pad the short lists
        self.tj[ti, slot], self.tk[ti, slot], self.P[ti, slot], self.Q[ti, slot] = tj, tk, P, Q
        self.nbr_safe = np.where(self.nbr >= 0, self.nbr, 0)
        self.n_triplets = len(ti)

    def _dr(self, a, b):
        return _min_image(self.positions[b] - self.positions[a], self.box)

    def _F2(self, R, d, w):
        return np.exp(-((R[..., None] - d) ** 2) / w**2) * cutoff_fn(R, self.rc)[..., None]

    def __call__(self, spins):
        """Features (..., N, n_features) of spins (..., N, 3) (numpy or torch)."""
        if _is_torch(spins):
            import torch

            def T(a):
                return torch.as_tensor(a, device=spins.device)
        else:
            def T(a):
                return a
        A, P, Q = _const(self.A, spins), _const(self.P, spins), _const(self.Q, spins)
        s_ij = (spins[..., :, None, :] * spins[..., T(self.nbr_safe), :]).sum(-1)
        g2 = einsum("...nm,nmd->...nd", s_ij, A)
        Sj, Sk = spins[..., T(self.tj), :], spins[..., T(self.tk), :]
        g3 = einsum("ntd,...ntq->...ndq", P, Q * (Sj * Sk).sum(-1)[..., None])
        cols = [g2, g3.reshape(*g3.shape[:-2], -1)]
        if self.chirality:
            from .spin import _cross_dot

            chi = _cross_dot(spins[..., :, None, :], Sj, Sk)
            gc = einsum("ntd,...ntq->...ndq", P, Q * chi[..., None])
            cols.append(gc.reshape(*gc.shape[:-2], -1))
        return cat(cols)


def magnetic_acsf_reference(positions, box, spins, acsf: MagneticACSF) -> np.ndarray:
    """Plain-loop numpy G2m/G3m (and G3χ) with no pruning (test oracle for :class:`MagneticACSF`)."""
    N = len(positions)
    rc, d, w = acsf.rc, acsf.d, acsf.w

    def mi(v):
        return v - box * np.round(v / box)

    def F2(r, dd, ww):
        return np.exp(-((r - dd) ** 2) / ww**2) * (0.5 * (np.cos(np.pi * r / rc) + 1) if r <= rc else 0.0)

    nd, nq = len(d), len(acsf.lambdas) * len(acsf.d_prime)
    out = np.zeros((N, acsf.n_features))
    for i in range(N):
        nb = [j for j in range(N) if j != i and np.linalg.norm(mi(positions[j] - positions[i])) <= rc]
        for j in nb:
            out[i, :nd] += F2(np.linalg.norm(mi(positions[j] - positions[i])), d, w) * (spins[i] @ spins[j])
        for a, j in enumerate(nb):
            for k in nb[a + 1:]:
                rij, rik, rjk = mi(positions[j] - positions[i]), mi(positions[k] - positions[i]), mi(
                    positions[k] - positions[j])
                Rij, Rik, Rjk = np.linalg.norm(rij), np.linalg.norm(rik), np.linalg.norm(rjk)
                cos = rij @ rik / (Rij * Rik)
                F3 = np.array([[[2 ** (1 - acsf.zeta) * max(1 + lam * cos, 0) ** acsf.zeta * F2(Rij, dd, w)
                                 * F2(Rik, dd, w) * F2(Rjk, dp, acsf.w_prime) for dp in acsf.d_prime]
                                for lam in acsf.lambdas] for dd in d]).reshape(nd, nq)
                out[i, nd:nd + nd * nq] += (F3 * (spins[j] @ spins[k])).ravel()
                if acsf.chirality:
                    out[i, nd + nd * nq:] += (F3 * (spins[i] @ np.cross(spins[j], spins[k]))).ravel()
    return out
