"""Invariants of IR coefficients: power spectrum, Clebsch–Gordan bispectrum, reference phases (ch7 spec §1.6–1.7).

:class:`IRDescriptor` turns field values on a :class:`~.decompose.Neighbourhood` into invariant features:
every copy f_r^Γ is compared with one smooth reference vector f_ref^Γ (block averages over the
general-position orbits, which transform like one regular orbit), giving features that are invariant under
the point group yet, unlike the power spectrum alone, keep the relative orientation of copies.
:class:`LatticeIRDescriptor` applies it to every site of a lattice at once (one gather + one GEMM).
All feature code works on numpy arrays and on torch tensors (float32/float64, CPU/CUDA, autograd).
"""
from __future__ import annotations

import itertools

import numpy as np

from ._arrays import cat as _cat, const as _const, einsum as _einsum, is_torch as _is_torch, sign as _sign
from .decompose import Decomposition, Neighbourhood, decompose, decompose_rep, field_rep
from .groups import PointGroup

__all__ = ["clebsch_gordan", "power_spectrum", "bispectrum", "reference_map", "IRDescriptor",
           "LatticeIRDescriptor", "PHASE_MODES", "jacobian_rank"]

PHASE_MODES = ("power", "sign_cos", "regularised", "bilinear", "power_phase")


# ---------------------------------------------------------------------- CG coefficients and invariants
def clebsch_gordan(group: PointGroup, name: str, name1: str, name2: str) -> np.ndarray | None:
    """CG matrix C (n_Γ, n_1·n_2) with C (D¹(g)⊗D²(g)) = D^Γ(g) C, or None if Γ ∉ Γ1⊗Γ2.

    Computed with the projection operators on D¹⊗D²; the sign is fixed by making the first nonzero entry
    positive. For groups that are not simply reducible the first copy is returned.
    """
    cache = group.__dict__.setdefault("_cg_cache", {})
    key = (name, name1, name2)
    if key not in cache:
        D1, D2 = group.irrep(name1).D, group.irrep(name2).D
        T = np.einsum("gab,gcd->gacbd", D1, D2).reshape(group.order, D1.shape[1] * D2.shape[1], -1)
        C = None
        for ir, rows in decompose_rep(group, T):
            if ir.name == name:
                first = rows.ravel()[np.argmax(np.abs(rows.ravel()) > 1e-10)]
                C = rows * np.sign(first)
                break
        cache[key] = C
    return cache[key]


def power_spectrum(coeffs: dict) -> dict:
    """p_r^Γ = |f_r^Γ|² for IR coefficients {Γ: (..., n_copies, n_Γ)}."""
    return {k: (v * v).sum(-1) for k, v in coeffs.items()}


def bispectrum(group: PointGroup, coeffs: dict, include_constant: bool = True):
    """Full bispectrum b^{Γ;Γ1Γ2}_{r,r1,r2} = Σ C_{κ,μν} f^Γ_{rκ} f^{Γ1}_{r1μ} f^{Γ2}_{r2ν}, flattened (..., K).

    Complete but huge (≈ N_IR³ terms): a test oracle for small shells. With ``include_constant`` a constant copy
    f = 1 of the trivial IR is added, so the power spectrum is contained (Γ0 = trivial).
    """
    coeffs = dict(coeffs)
    triv = group.irreps[0].name
    if include_constant:
        v = coeffs[triv]
        one = v[..., :1, :] * 0 + 1
        coeffs[triv] = _cat([v, one], axis=-2)
    names = [ir.name for ir in group.irreps if coeffs.get(ir.name) is not None and coeffs[ir.name].shape[-2] > 0]
    out = []
    for i1, n1 in enumerate(names):
        for n2 in names[i1:]:
            for n in names:
                C = clebsch_gordan(group, n, n1, n2)
                if C is None:
                    continue
                C3 = C.reshape(C.shape[0], group.irrep(n1).dim, group.irrep(n2).dim)
                b = _einsum("kmn,...rk,...sm,...tn->...rst", _const(C3, coeffs[n]), coeffs[n], coeffs[n1], coeffs[n2])
                out.append(b.reshape(*b.shape[:-3], -1))
    return _cat(out, axis=-1)


def reference_map(nbhd: Neighbourhood, M: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Linear maps {Γ: (n_Γ, L·m)} giving the reference vectors f_ref^Γ = R^Γ U (ch7 spec §1.7, item 1).

    Block averages over the general-position orbits o (trivial stabiliser): V_k = Σ_o w_o x(g_k·s_o) transforms
    like one regular orbit at virtual positions g_k·c, whose IR copies are summed per Γ (unit weights). If the
    neighbourhood has no general orbit, the reference is the distance-weighted sum of all copies instead
    (``weights`` per object, default 1).
    """
    group = nbhd.group
    G, L = nbhd.perm.shape
    m = M.shape[1]
    w = np.ones(L) if weights is None else np.asarray(weights, dtype=float)
    general = [orb for orb in nbhd.orbits if len(orb) == G]
    out = {}
    if general:
        S = np.zeros((G, m, L, m))  # V_k,α = Σ_o w sign x_{perm[k, s_o], α}
        for orb in general:
            s0 = orb[0]
            for k in range(G):
                S[k, :, nbhd.perm[k, s0], :] += w[s0] * nbhd.sign[k, s0] * np.eye(m)
        virtual = Neighbourhood(group.table, group)  # element k sits at "g_k · c"
        dec = decompose(virtual, M)
        S = S.reshape(G * m, L * m)
        for ir in group.irreps:
            rows = dec.copies[ir.name]
            out[ir.name] = (dec.W[rows.reshape(-1)].reshape(len(rows), ir.dim, G * m).sum(0) @ S
                            if len(rows) else np.zeros((ir.dim, L * m)))
        return out
    dec = decompose(nbhd, M)
    wcol = np.repeat(w, m)
    for ir in group.irreps:
        rows = dec.copies[ir.name]
        out[ir.name] = (dec.W[rows.reshape(-1)] * wcol).reshape(len(rows), ir.dim, L * m).sum(0)
    return out


# ---------------------------------------------------------------------- the descriptor
class IRDescriptor:
    """Invariant features of a field on one neighbourhood: IR copies, compared with reference IRs.

    Parameters
    ----------
    nbhd : Neighbourhood
    M : array (|G|, m, m)
        Matrices of the field components (:func:`~.decompose.field_rep`).
    phase_mode : str
        'power' (power spectrum only: incomplete), 'sign_cos' (text: 1-D copy → p·sign(f·f_ref), n-D → p, cos φ),
        'regularised' (default; cos φ → f·f_ref / sqrt(|f|²|f_ref|² + ε²)), 'bilinear' (1-D → f·f_ref;
        n-D → p, f·f_ref), 'power_phase' (every copy → p, f·f_ref / sqrt((|f|²+ε)(|f_ref|²+ε)); ch3 §8).
        3-D IRs also get the projection on the second covariant vector CG(f_ref⊗f_ref)→Γ.
    eps : float
        Regulariser of the phases.
    ref_products : bool
        Add the nonzero CG triple products of reference vectors alone (B_ref; 3 for D4).
    weights : array (L,), optional
        Per-object weights of the reference block sums.
    """

    def __init__(self, nbhd: Neighbourhood, M: np.ndarray, phase_mode: str = "regularised", eps: float = 1e-6,
                 ref_products: bool = True, weights: np.ndarray | None = None):
        if phase_mode not in PHASE_MODES:
            from ..errors import ConfigError

            raise ConfigError("descriptor.phase_mode", f"{phase_mode!r} is not one of {PHASE_MODES}")
        self.nbhd, self.M, self.group = nbhd, M, nbhd.group
        self.phase_mode, self.eps = phase_mode, eps
        self.dec: Decomposition = decompose(nbhd, M)
        self.ref = reference_map(nbhd, M, weights)
        self.irs = [ir for ir in self.group.irreps if len(self.dec.copies[ir.name])]
        # second covariant vector for 3-D IRs (Appendix A's G_3 terms)
        self.second = {ir.name: self._second_vector_path(ir.name) for ir in self.irs if ir.dim >= 3}
        self.triples = self._nonzero_ref_triples() if ref_products else []
        self.n_features = int(self.features(np.zeros((1, len(nbhd) * M.shape[1]))).shape[-1])

    @property
    def dim(self) -> int:
        """D = L·m, the number of field degrees of freedom."""
        return self.dec.W.shape[1]

    def coefficients(self, U):
        """IR coefficients {Γ: (..., n_copies, n_Γ)}."""
        return self.dec.coefficients(U)

    def references(self, U) -> dict:
        """Reference vectors {Γ: (..., n_Γ)}."""
        return {k: U @ _const(R.T, U) for k, R in self.ref.items()}

    def _second_vector_path(self, name: str):
        """How to build a second vector of IR ``name`` from references: (C1, Γ', C2, A) with
        u = C1 (r⊗r) if Γ' = Γ, else u = C2 (C1 (r⊗r) ⊗ f_ref^A) for a 1-D IR A (Appendix A's G^{T1}_3); None if
        every such product vanishes identically (e.g. T1⊗T1 → T1 is antisymmetric)."""
        group = self.group
        r = np.random.default_rng(11).standard_normal(group.irrep(name).dim)
        for mid in [name] + [ir.name for ir in group.irreps if ir.dim == len(r) and ir.name != name]:
            C1 = clebsch_gordan(group, mid, name, name)
            if C1 is None or np.abs(C1 @ np.kron(r, r)).max() < 1e-8:
                continue
            if mid == name:
                return C1, mid, None, None
            for a in group.irreps[1:]:
                C2 = clebsch_gordan(group, name, mid, a.name) if a.dim == 1 else None
                if C2 is not None and len(self.dec.copies[a.name]):
                    return C1, mid, C2, a.name
        return None

    @staticmethod
    def _second_vector(name: str, path, ref):
        C1, mid, C2, a = path
        n = C1.shape[0]
        r = ref[name]
        u = _einsum("kmn,...m,...n->...k", _const(C1.reshape(n, n, n), r), r, r)
        if C2 is not None:
            u = u @ _const(C2.T, u) * ref[a][..., :1]  # A is 1-D: C2 maps Γ'⊗A → Γ
        return u

    def _nonzero_ref_triples(self):
        """CG triple products of the references of the non-trivial IRs present, dropping those that vanish
        identically (e.g. (E, E, A2) on D4: the antisymmetric product of a vector with itself)."""
        nontrivial = [ir.name for ir in self.irs if ir.name != self.group.irreps[0].name]
        rng = np.random.default_rng(7)
        test = {n: rng.standard_normal(self.group.irrep(n).dim) for n in nontrivial}
        keep = []
        for a, b, c in itertools.combinations_with_replacement(nontrivial, 3):
            C = clebsch_gordan(self.group, c, a, b)
            if C is None:
                continue
            val = test[c] @ C @ np.kron(test[a], test[b])
            if abs(val) > 1e-8:
                keep.append((a, b, c, C))
        return keep

    def features(self, U):
        """Invariant features (..., n_features) of flattened field values U (..., L·m) (numpy or torch)."""
        f = self.coefficients(U)
        ref = self.references(U)
        eps, mode = self.eps, self.phase_mode
        out = []
        for ir in self.irs:
            fr, r = f[ir.name], ref[ir.name][..., None, :]
            p = (fr * fr).sum(-1)
            if mode == "power":
                out.append(p)
                continue
            dot = (fr * r).sum(-1)
            rr = (r * r).sum(-1)
            if mode == "power_phase":
                out += [p, dot / ((p + eps) * (rr + eps)) ** 0.5]
            elif ir.dim == 1:
                if mode == "sign_cos":
                    out.append(p * _sign(dot))
                elif mode == "regularised":
                    out.append(p * dot / (p * rr + eps**2) ** 0.5)
                else:
                    out.append(dot)
            else:
                if mode == "sign_cos":
                    den = (p * rr) ** 0.5
                    out += [p, dot / (den + (den == 0))]
                elif mode == "regularised":
                    out += [p, dot / (p * rr + eps**2) ** 0.5]
                else:
                    out += [p, dot]
            path = self.second.get(ir.name)
            if path is not None:
                u = self._second_vector(ir.name, path, ref)[..., None, :]
                du = (fr * u).sum(-1)
                out.append(du if mode == "bilinear" else du / (p * (u * u).sum(-1) + eps**2) ** 0.5)
        for a, b, c, C in self.triples:
            Cr = C.reshape(-1, self.group.irrep(a).dim, self.group.irrep(b).dim)
            out.append(_einsum("kmn,...k,...m,...n->...", _const(Cr, ref[c]), ref[c], ref[a], ref[b])[..., None])
        return _cat(out, axis=-1)

    __call__ = features


class LatticeIRDescriptor:
    """:class:`IRDescriptor` on every site of a one-atom lattice (centre included, |R| ≤ cutoff).

    Parameters
    ----------
    lattice : Lattice
    cutoff : float
    components : str or tuple
        Field components (:func:`~.decompose.field_rep`), e.g. ``"scalar"`` or ``("A1", "B1", "A1")`` (JT on D4).
    **kwargs
        Passed to :class:`IRDescriptor` (``phase_mode``, ``eps``, ``ref_products``).

    Call it with a field (N, m) or a batch (B, N, m); returns (N, F) or (B, N, F).
    """

    def __init__(self, lattice, cutoff: float, components="scalar", **kwargs):
        if lattice.n_basis != 1:
            from ..errors import ConfigError

            raise ConfigError("descriptor.lattice", "LatticeIRDescriptor needs a one-atom lattice; use "
                              "IRDescriptor with Neighbourhood.from_lattice(..., sublattice=b) for a basis")
        self.lattice = lattice
        self.group = PointGroup.from_lattice(lattice)
        self.nbhd = Neighbourhood.from_lattice(lattice, cutoff, self.group, include_center=True)
        self.M = field_rep(self.group, components)
        self.desc = IRDescriptor(self.nbhd, self.M, **kwargs)
        idx = lattice.neighbor_table(cutoff)
        self.index = np.concatenate([np.arange(lattice.N)[:, None], idx], axis=1)  # (N, L), built once
        self.n_features = self.desc.n_features

    def gather(self, field):
        """Flattened neighbourhood values (..., N, L·m) of a field (..., N, m)."""
        m = self.M.shape[1]
        if field.shape[-1] != m or field.ndim < 2:
            field = field[..., None]
        if _is_torch(field):
            import torch

            U = field[..., torch.as_tensor(self.index, device=field.device), :]
        else:
            U = field[..., self.index, :]
        return U.reshape(*U.shape[:-2], -1)

    def __call__(self, field):
        return self.desc.features(self.gather(field))


def jacobian_rank(features, U: np.ndarray, rtol: float = 1e-8) -> int:
    """Numerical rank of the Jacobian ∂features/∂U at one flattened configuration U (autograd, float64).

    Full rank (= D) means no continuous direction of the field leaves all features unchanged (local completeness).
    """
    import torch

    J = torch.autograd.functional.jacobian(features, torch.as_tensor(np.asarray(U, dtype=float))).numpy()
    return int(np.linalg.matrix_rank(J, tol=rtol * np.abs(J).max()))
