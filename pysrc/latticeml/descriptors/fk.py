"""Falicov–Kimball move descriptor: the 316 reference-signed D4 IR coefficients of ch2 spec §4.3–4.4.

For a moving f-electron at site i the four nearest neighbours fix its class (P4: 0 occupied, P3: 1, P2_A: 2
opposite, P2_B: 2 adjacent, P1: 3, blocked: 4) and, for the reduced classes, a canonical frame k (the actual
configuration is the canonical one rotated clockwise by 90°·k). The neighbourhood |R| ≤ R_c (centre excluded:
316 sites for R_c = 10.01) is cut into orbits (i, j), 1 ≤ i ≤ 10, 0 ≤ j ≤ i, and each orbit gives 4 or 8 IR
coefficients whose signs/orientation come from smooth wedge sums W_a..W_h (cosine-cutoff weights). The move
energies ΔE_d (d = 0:+x, 1:−y, 2:−x, 3:+y) are encoded as class targets T that are invariant under the class's
symmetry group and decoded covariantly, so predicted ΔE permute exactly as a D4 operation permutes directions.

Everything is vectorised over all requested f-electrons with precomputed offset tables. With numba installed,
``classify``, ``features`` and ``dE_from_targets`` run as compiled electron loops instead (the same results;
the numpy code is the reference): on kMC batches of ~35 electrons the numpy versions were dominated by the
fixed cost of their many small array operations (classify ~6×, features ~2.5× faster compiled).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["FKDescriptor", "FKClassification", "CLASS_NAMES", "N_TARGETS", "DIRECTIONS"]

CLASS_NAMES = ("P4", "P3", "P2_A", "P2_B", "P1", "blocked")
N_TARGETS = {"P4": 4, "P3": 3, "P2_A": 2, "P2_B": 2, "P1": 1}
DIRECTIONS = np.array([[1, 0], [0, -1], [-1, 0], [0, 1]])  # +x, -y, -x, +y (author order)
_SIGN_TOL = 1e-9  # |reference| below this counts as exactly zero (the wedge sums are symmetric up to round-off)


def _generic_images(i: int, j: int) -> np.ndarray:
    """Images a..h of orbit (i, j) (ch2 spec §4.3); for j = 0 or j = i some coincide, as in the author code."""
    return np.array([(i, j), (i, -j), (j, -i), (-j, -i), (-i, -j), (-i, j), (-j, i), (j, i)])


def _rotate_cw(offsets: np.ndarray, k: int) -> np.ndarray:
    """Rotate integer offsets clockwise by 90°·k: (x, y) -> (y, -x) per step."""
    out = offsets.copy()
    for _ in range(k % 4):
        out = np.stack([out[..., 1], -out[..., 0]], axis=-1)
    return out


def _sign(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) <= _SIGN_TOL, 0.0, np.sign(x))


def _sign1(x: float) -> float:
    return 0.0 if abs(x) <= _SIGN_TOL else (1.0 if x > 0 else -1.0)


def _classify_loops(occ, sites, L1, L2, image_dx, image_dy, weights, cls, frame, signs, valid, allowed, G):
    """Electron-by-electron :meth:`FKDescriptor.classify` (the numpy version is the reference; same results, the
    wedge sums W up to summation order, which the sign tolerance absorbs). Fills the output arrays."""
    n_orb = weights.shape[0]
    W = np.zeros(8)
    nocc = np.zeros(4, dtype=np.bool_)
    for e in range(sites.shape[0]):
        x, y = sites[e] // L2, sites[e] % L2
        k_occ = 0
        for d in range(4):  # +x, -y, -x, +y
            dx = 1 if d == 0 else (-1 if d == 2 else 0)
            dy = -1 if d == 1 else (1 if d == 3 else 0)
            nocc[d] = occ[((x + dx) % L1) * L2 + (y + dy) % L2] != 0
            allowed[e, d] = not nocc[d]
            k_occ += nocc[d]
        c, k = 5, 0
        if k_occ == 0:
            c = 0
        elif k_occ == 1 or k_occ == 3:
            c = 1 if k_occ == 1 else 4
            while nocc[k] != (k_occ == 1):  # the occupied (P3) or the empty (P1) direction
                k += 1
        elif k_occ == 2:
            if nocc[0] == nocc[2]:
                c, k = 2, (0 if nocc[1] else 1)
            else:
                c = 3
                while not (nocc[k] and nocc[(k + 3) % 4]):  # occupied pair (k-1, k)
                    k += 1
        cls[e], frame[e] = c, k
        for t in range(8):
            W[t] = 0.0
        for o in range(n_orb):
            for t in range(8):
                u, v = x + image_dx[k, o, t], y + image_dy[k, o, t]  # periodic wrap without divisions
                while u < 0:
                    u += L1
                while u >= L1:
                    u -= L1
                while v < 0:
                    v += L2
                while v >= L2:
                    v -= L2
                g = 1.0 if occ[u * L2 + v] != 0 else 0.0
                G[e, o, t] = g
                W[t] += weights[o] * g
        a, b, cc, d, ee, f, g, h = W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7]
        for t in range(7):
            signs[e, t] = 0.0
        needed = 0
        if c == 0:
            signs[e, 0] = _sign1(a - b + cc - d + ee - f + g - h)
            signs[e, 1] = _sign1(a + b - cc - d + ee + f - g - h)
            signs[e, 2] = _sign1(a - b - cc + d + ee - f - g + h)
            signs[e, 3] = _sign1(b - cc - f + g)
            signs[e, 4] = _sign1(a + d - ee - h)
            signs[e, 5] = _sign1(a + b - ee - f)
            signs[e, 6] = _sign1(cc + d - g - h)
            needed = 7
        elif c == 1 or c == 4:
            signs[e, 0] = _sign1(a - b)
            needed = 1
        elif c == 3:
            signs[e, 0] = _sign1(a - h)
            needed = 1
        elif c == 2:
            signs[e, 0] = _sign1(a - b + ee - f)
            signs[e, 1] = _sign1(a - b - ee + f)
            signs[e, 2] = _sign1(a + b - ee - f)
            needed = 3
        ok = c != 5
        for t in range(needed):
            ok = ok and signs[e, t] != 0.0
        valid[e] = ok


def _features_loops(G, members, signs, start, inputs, factor, out):
    """``out[r, f] = Σ_{m ∈ [start[f], start[f+1])} G[members[r], inputs[m]] · ±ext[a]·ext[b]`` (``factor[m]`` =
    9a + b, + 81 for −) with ext the electron's 7 signs, 1 and 0: :meth:`FKDescriptor.features` term by term
    (sums of small integers: exact)."""
    ext = np.zeros(9)
    prod = np.zeros(162)
    for r in range(members.shape[0]):
        e = members[r]
        for t in range(7):
            ext[t] = signs[e, t]
        ext[7], ext[8] = 1.0, 0.0
        for q in range(81):
            prod[q] = ext[q // 9] * ext[q % 9]
            prod[81 + q] = -prod[q]
        for f in range(start.shape[0] - 1):
            acc = 0.0
            for m in range(start[f], start[f + 1]):
                acc += G[e, inputs[m]] * prod[factor[m]]
            out[r, f] = acc


def _dE_loops(ci, T, members, frame, signs, dE):
    """:meth:`FKDescriptor.dE_from_targets` of the class ``ci`` electrons ``members``, the same arithmetic."""
    for r in range(members.shape[0]):
        e, k = members[r], frame[members[r]]
        E = np.full(4, np.inf)
        if ci == 0:
            sB1, sE2x, sE2y = signs[e, 1], signs[e, 5], signs[e, 6]
            t0, t1, t2, t3 = T[r, 0], T[r, 1], T[r, 2], T[r, 3]
            E[0] = (t0 + t1 * sB1 + (t2 + t3 * sB1) * sE2x) / 4
            E[1] = (t0 - t1 * sB1 + (t2 - t3 * sB1) * sE2y) / 4
            E[2] = (t0 + t1 * sB1 - (t2 + t3 * sB1) * sE2x) / 4
            E[3] = (t0 - t1 * sB1 - (t2 - t3 * sB1) * sE2y) / 4
        elif ci == 1:
            E[1] = (T[r, 0] + T[r, 2] * signs[e, 0]) / 2
            E[3] = (T[r, 0] - T[r, 2] * signs[e, 0]) / 2
            E[2] = T[r, 1]
        elif ci == 2:
            E[0] = (T[r, 0] + T[r, 1] * signs[e, 2]) / 2
            E[2] = (T[r, 0] - T[r, 1] * signs[e, 2]) / 2
        elif ci == 3:
            E[1] = (T[r, 0] + T[r, 1] * signs[e, 0]) / 2
            E[2] = (T[r, 0] - T[r, 1] * signs[e, 0]) / 2
        else:
            E[0] = T[r, 0]
        for d in range(4):
            dE[e, (d + k) % 4] = E[d]


try:  # numba compiles the electron loops; without it the vectorised numpy versions give the same results
    import numba

    _sign1 = numba.njit(cache=True)(_sign1)
    _classify_kernel = numba.njit(cache=True, nogil=True)(_classify_loops)  # nogil: the ML calculator threads
    _features_kernel = numba.njit(cache=True, nogil=True)(_features_loops)
    _dE_kernel = numba.njit(cache=True)(_dE_loops)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is optional
    HAVE_NUMBA = False


@dataclass
class FKClassification:
    """Class, canonical frame and reference signs of each requested f-electron.

    ``cls`` (n,) indexes :data:`CLASS_NAMES`; ``frame`` (n,) is k; ``signs`` (n, 7) holds the reference signs used
    by the class (P4: s_A2, s_B1, s_B2, s_E1x, s_E1y, s_E2x, s_E2y; P3/P1/P2_B: s; P2_A: s1, s2, s3; unused
    entries 0); ``valid`` is False where a needed sign is exactly zero (the author code makes that a no-move)
    and for blocked electrons; ``allowed`` (n, 4) marks empty target sites. ``occupations`` (n, n_orb, 8), when
    set by :meth:`FKDescriptor.classify`, holds the gathered orbit images in each canonical frame, so that
    :meth:`FKDescriptor.features` of the same configuration does not gather them again.
    """

    sites: np.ndarray
    cls: np.ndarray
    frame: np.ndarray
    signs: np.ndarray
    valid: np.ndarray
    allowed: np.ndarray
    occupations: np.ndarray | None = None

    def members(self, name: str) -> np.ndarray:
        """Positions (into ``sites``) of the electrons of class ``name``."""
        return np.nonzero(self.cls == CLASS_NAMES.index(name))[0]


class FKDescriptor:
    """Reference-signed IR descriptor of the Falicov–Kimball kMC move (316 features for R_c = 10.01).

    Parameters
    ----------
    lattice : Lattice
        A square lattice (periodic L×L).
    rc : float
        Cutoff radius (orbits with i² + j² ≤ rc²) and the range of the cosine weight of the wedge sums.

    Examples
    --------
    >>> desc = FKDescriptor(square(30))
    >>> c = desc.classify(occ, sites)            # classes, frames, signs
    >>> X = desc.features(occ, c)                # {"P4": (n4, 316), "P3": ..., ...}
    >>> T = desc.targets_from_dE(dE, c)          # {"P4": (n4, 4), ...}; dE (n, 4) in order +x,-y,-x,+y
    >>> dE = desc.dE_from_targets(T, c)          # (n, 4), +inf for blocked directions
    """

    def __init__(self, lattice, rc: float = 10.01):
        if lattice.name != "square" or lattice.n_basis != 1:
            raise ConfigError("descriptor.lattice", f"FKDescriptor needs a square lattice, got {lattice.name!r}")
        self.lattice = lattice
        self.rc = float(rc)
        orbits = [(i, j) for i in range(1, int(np.floor(rc)) + 1) for j in range(i + 1) if i * i + j * j <= rc * rc]
        self.orbits = np.array(orbits, dtype=np.int64)
        kind = np.where(self.orbits[:, 1] == 0, 0, np.where(self.orbits[:, 0] == self.orbits[:, 1], 1, 2))
        self._kind_idx = [np.nonzero(kind == t)[0] for t in range(3)]  # axis, diagonal, generic
        sizes = np.where(kind == 2, 8, 4)
        self.n_features = int(sizes.sum())
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        # output columns of every orbit type, (n_orbits_of_type, 4 or 8)
        self._cols = [starts[idx][:, None] + np.arange(4 if t < 2 else 8)[None, :]
                      for t, idx in enumerate(self._kind_idx)]
        r = np.hypot(self.orbits[:, 0], self.orbits[:, 1])
        self.weights = 0.5 * (np.cos(np.pi * r / self.rc) + 1.0)
        canon = np.stack([_generic_images(i, j) for i, j in self.orbits])  # (n_orb, 8, 2)
        self._images = np.stack([_rotate_cw(canon, k) for k in range(4)])  # frame k -> actual offsets
        # gathers read a periodically padded copy of the occupations: flat offsets instead of two modulos per image
        self._pad = pad = int(np.max(np.abs(canon)))
        L1, L2 = self.lattice.shape
        self._image_offsets = self._images[..., 0] * (L2 + 2 * pad) + self._images[..., 1]  # (4, n_orb, 8)
        rows, cols = np.arange(-pad, L1 + pad) % L1, np.arange(-pad, L2 + pad) % L2
        self._padded_sites = (rows[:, None] * L2 + cols[None, :]).ravel()  # padded image -> site
        self._feature_terms = [self._term_table(ci) for ci in range(5)]
        # the same for the compiled loops: image offsets per frame and the term tables split into their parts
        self._image_dx = np.ascontiguousarray(self._images[..., 0])
        self._image_dy = np.ascontiguousarray(self._images[..., 1])
        self._feature_loops = []
        for inputs, factor in self._feature_terms:  # without the padding terms (factor ext[7]·ext[8] = 0)
            used = factor != 8 * 9 + 8
            start = np.concatenate([[0], np.cumsum(used.sum(1))])
            self._feature_loops.append((start, inputs[used], factor[used]))
        self._n_sites = lattice.N  # a computed property of the lattice; classify checks it per kMC batch
        self.use_numba = HAVE_NUMBA  # compiled electron loops (same results; the numpy code is the reference)

    # ------------------------------------------------------------------ gathering
    def _gather(self, occ: np.ndarray, sites: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Occupations at the 8 images of every orbit in each site's canonical frame, (n, n_orb, 8)."""
        L2, pad = self.lattice.shape[1], self._pad
        image = np.asarray(occ, dtype=float)[self._padded_sites]
        base = (sites // L2 + pad) * (L2 + 2 * pad) + sites % L2 + pad
        return image[base[:, None, None] + self._image_offsets[frame]]

    def _wedges(self, G: np.ndarray) -> np.ndarray:
        """Wedge sums W_a..W_h, (n, 8)."""
        return np.einsum("o,nok->nk", self.weights, G)

    # ------------------------------------------------------------------ classification
    def classify(self, occ: np.ndarray, sites) -> FKClassification:
        """Class, canonical frame and reference signs of the f-electrons at ``sites`` (occupied sites of ``occ``)."""
        occ = np.asarray(occ)
        sites = np.atleast_1d(np.asarray(sites, dtype=np.int64))
        if occ.shape != (self._n_sites,):
            raise ConfigError("occ", f"expected {self._n_sites} occupations, got shape {occ.shape}")
        if np.any(occ[sites] == 0):
            raise ConfigError("sites", "every site passed to the FK descriptor must hold an f-electron")
        if self.use_numba:
            n = len(sites)
            c = FKClassification(sites, np.empty(n, np.int64), np.empty(n, np.int64), np.empty((n, 7)),
                                 np.empty(n, bool), np.empty((n, 4), bool), np.empty((n, len(self.orbits), 8)))
            _classify_kernel(occ, sites, *self.lattice.shape, self._image_dx, self._image_dy, self.weights, c.cls,
                             c.frame, c.signs, c.valid, c.allowed, c.occupations)
            return c
        L1, L2 = self.lattice.shape
        x, y = sites // L2, sites % L2
        nn = ((x[:, None] + DIRECTIONS[:, 0]) % L1) * L2 + (y[:, None] + DIRECTIONS[:, 1]) % L2
        nocc = occ[nn] != 0  # (n, 4)
        k_occ = nocc.sum(1)
        n = len(sites)
        cls = np.full(n, 5, dtype=np.int64)
        frame = np.zeros(n, dtype=np.int64)
        cls[k_occ == 0] = 0
        cls[k_occ == 1] = 1
        frame[k_occ == 1] = np.argmax(nocc[k_occ == 1], axis=1)
        cls[k_occ == 3] = 4
        frame[k_occ == 3] = np.argmax(~nocc[k_occ == 3], axis=1)
        two = k_occ == 2
        opposite = two & (nocc[:, 0] == nocc[:, 2])
        cls[opposite] = 2
        frame[opposite] = np.where(nocc[opposite, 1], 0, 1)  # pair along y -> k = 0, along x -> k = 1
        adjacent = two & ~opposite
        cls[adjacent] = 3
        # occupied pair (k-1, k): k is the occupied direction whose predecessor is occupied too
        both = nocc & np.roll(nocc, 1, axis=1)
        frame[adjacent] = np.argmax(both[adjacent], axis=1)
        signs = np.zeros((n, 7))
        G = self._gather(occ, sites, frame)
        W = self._wedges(G)
        a, b, c, d, e, f, g, h = W.T
        p4 = cls == 0
        signs[p4] = _sign(np.stack([a - b + c - d + e - f + g - h, a + b - c - d + e + f - g - h,
                                    a - b - c + d + e - f - g + h, b - c - f + g, a + d - e - h,
                                    a + b - e - f, c + d - g - h], axis=1))[p4]
        c2a = (cls == 1) | (cls == 4)
        signs[c2a, 0] = _sign(a - b)[c2a]
        signs[cls == 3, 0] = _sign(a - h)[cls == 3]
        d2 = cls == 2
        signs[d2, :3] = _sign(np.stack([a - b + e - f, a - b - e + f, a + b - e - f], axis=1))[d2]
        needed = np.array([7, 1, 3, 1, 1, 0])[cls]
        valid = np.all((signs != 0) | (np.arange(7)[None, :] >= needed[:, None]), axis=1) & (cls != 5)
        return FKClassification(sites, cls, frame, signs, valid, ~nocc, G)

    # ------------------------------------------------------------------ features
    def features(self, occ: np.ndarray, c: FKClassification, dtype=np.float64,
                 classes=CLASS_NAMES[:5]) -> dict[str, np.ndarray]:
        """316 features per electron, grouped by class: {name: (n_class, n_features)} in ``c.members(name)`` order.

        ``occ`` must be the configuration ``c`` was classified on (its gathered images are reused when present).
        The features are sums of at most 8 signed occupations, i.e. small integers: float32 (what the networks
        take) holds them exactly, so ``dtype`` changes the storage, not the values. ``classes`` limits the output
        to those class names (the ML calculator computes each class in the thread that evaluates its networks).
        """
        out = {}
        for name in classes:
            ci = CLASS_NAMES.index(name)
            m = c.members(name)
            if self.use_numba and c.occupations is not None:
                out[name] = np.empty((len(m), self.n_features), dtype)
                _features_kernel(c.occupations.reshape(len(c.sites), -1), m, c.signs, *self._feature_loops[ci],
                                 out[name])
                continue
            G = c.occupations[m] if c.occupations is not None else self._gather(occ, c.sites[m], c.frame[m])
            G = G.reshape(len(m), len(self.orbits) * 8).astype(dtype, copy=False)
            # signs with a constant 1 and 0 appended, all their pairwise products, ±: the factor of every term
            ext = np.concatenate([c.signs[m].astype(dtype, copy=False), np.ones((len(m), 1), dtype),
                                  np.zeros((len(m), 1), dtype)], axis=1)
            pairs = (ext[:, :, None] * ext[:, None, :]).reshape(len(m), 81)
            factors = np.concatenate([pairs, -pairs], axis=1)
            inputs, factor = self._feature_terms[ci]
            out[name] = np.einsum("nfm,nfm->nf", np.take(G, inputs, axis=1), np.take(factors, factor, axis=1))
        return out

    def _term_table(self, ci: int) -> tuple[np.ndarray, np.ndarray]:
        """Feature ``f`` of class ``ci`` as Σ_m G[inputs[f, m]] · factors[factor[f, m]] (see :meth:`features`).

        Derived from the reference formulas of :meth:`_class_features`, which are linear in the gathered images G
        with coefficients ±(product of at most two reference signs): probed with unit images at all signs +1 (the
        coefficients), then with one sign flipped at a time (a coefficient that flips contains that sign).
        """
        n_in = len(self.orbits) * 8
        unit = np.eye(n_in).reshape(n_in, len(self.orbits), 8)
        coef = self._class_features(ci, unit, np.ones((n_in, 7)))  # (n_in, F)
        member = np.stack([self._class_features(ci, unit, 1.0 - 2.0 * np.eye(7)[[k] * n_in]) == -coef
                           for k in range(7)], axis=-1) & (coef != 0)[..., None]  # (n_in, F, 7)
        if np.any(member.sum(-1) > 2) or np.any((coef != 0) & (np.abs(coef) != 1)):
            raise RuntimeError(f"class {CLASS_NAMES[ci]}: feature terms are not ±(product of <= 2 signs)")
        n_terms = int((coef != 0).sum(0).max())
        inputs = np.zeros((self.n_features, 8), dtype=np.int64)
        factor = np.full((self.n_features, 8), 8 * 9 + 8, dtype=np.int64)  # padding: factor ext[7]·ext[8] = 0
        for f in range(self.n_features):
            for m, j in enumerate(np.flatnonzero(coef[:, f])):
                k = list(np.flatnonzero(member[j, f])) + [7, 7]  # unused slots: the constant 1 (index 7)
                factor[f, m] = k[0] * 9 + k[1] + (81 if coef[j, f] < 0 else 0)
                inputs[f, m] = j
        return inputs[:, :n_terms], factor[:, :n_terms]

    def _class_features(self, ci: int, G: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Reference formulas of the class features (ch2 spec §4.4) from gathered images G (n, n_orb, 8) and signs
        s (n, 7); :meth:`features` evaluates them through the term tables derived from them."""
        X = np.zeros((len(G), self.n_features))
        ax = G[:, self._kind_idx[0]][..., [0, 2, 4, 6]]  # axis letters a..d: (i,0),(0,-i),(-i,0),(0,i)
        dg = G[:, self._kind_idx[1]][..., [0, 1, 3, 5]]  # diagonal letters a..d: (i,i),(i,-i),(-i,-i),(-i,i)
        gen = G[:, self._kind_idx[2]]
        s = s[:, None, :]  # broadcast over orbits
        A = [ax[..., k] for k in range(4)]
        D = [dg[..., k] for k in range(4)]
        a, b, c, d, e, f, g, h = (gen[..., k] for k in range(8))
        if ci == 0:  # P4, D4
            sA2, sB1, sB2, sE1x, sE1y, sE2x, sE2y = (s[..., k] for k in range(7))
            fa = [A[0] + A[1] + A[2] + A[3], (A[0] - A[1] + A[2] - A[3]) * sB1,
                  (A[0] - A[2]) * sE2x + (A[1] - A[3]) * sE2y, ((A[0] - A[2]) * sE2x - (A[1] - A[3]) * sE2y) * sB1]
            fd = [D[0] + D[1] + D[2] + D[3], (D[0] - D[1] + D[2] - D[3]) * sB2,
                  (D[0] - D[2]) * sE1x + (D[1] - D[3]) * sE1y, ((D[0] - D[2]) * sE1x - (D[1] - D[3]) * sE1y) * sB2]
            u1, v1, u2, v2 = b - c - f + g, a + d - e - h, a - d - e + h, b + c - f - g
            fg = [a + b + c + d + e + f + g + h, (a - b + c - d + e - f + g - h) * sA2,
                  (a + b - c - d + e + f - g - h) * sB1, (a - b - c + d + e - f - g + h) * sB2,
                  u1 * sE1x + v1 * sE1y, (u1 * sE1x - v1 * sE1y) * sB2,
                  u2 * sE1x + v2 * sE1y, (u2 * sE1x - v2 * sE1y) * sB2]
        elif ci in (1, 4):  # P3, P1: mirror y -> -y in the canonical frame
            sg = s[..., 0]
            fa = [A[1] + A[3], A[0], A[2], (A[1] - A[3]) * sg]
            fd = [D[0] + D[1], D[2] + D[3], (D[0] - D[1]) * sg, (D[2] - D[3]) * sg]
            fg = [a + b, c + h, d + g, e + f, (a - b) * sg, (c - h) * sg, (d - g) * sg, (e - f) * sg]
        elif ci == 3:  # P2_B: mirror x <-> y
            sg = s[..., 0]
            fa = [A[0] + A[3], A[1] + A[2], (A[0] - A[3]) * sg, (A[1] - A[2]) * sg]
            fd = [D[0], D[2], D[1] + D[3], (D[1] - D[3]) * sg]
            fg = [a + h, b + g, c + f, d + e, (a - h) * sg, (b - g) * sg, (c - f) * sg, (d - e) * sg]
        else:  # P2_A: D2
            s1, s2, s3 = s[..., 0], s[..., 1], s[..., 2]
            fa = [A[0] + A[2], A[1] + A[3], (A[1] - A[3]) * s2, (A[0] - A[2]) * s3]
            fd = [D[0] + D[1] + D[2] + D[3], (D[0] - D[1] + D[2] - D[3]) * s1, (D[0] - D[1] - D[2] + D[3]) * s2,
                  (D[0] + D[1] - D[2] - D[3]) * s3]
            fg = [a + b + e + f, c + d + g + h, (a - b + e - f) * s1, (c - d + g - h) * s1,
                  (a - b - e + f) * s2, (c + d - g - h) * s2, (a + b - e - f) * s3, (c - d - g + h) * s3]
        for t, vals in enumerate((fa, fd, fg)):
            X[:, self._cols[t]] = np.stack(vals, axis=-1)
        return X

    # ------------------------------------------------------------------ targets
    def targets_from_dE(self, dE: np.ndarray, c: FKClassification) -> dict[str, np.ndarray]:
        """Invariant class targets from move energies ``dE`` (n, 4) in actual directions +x, -y, -x, +y.

        Blocked directions are ignored (any value, e.g. inf, is fine there).
        """
        dE = np.asarray(dE, dtype=float)
        out = {}
        for ci, name in enumerate(CLASS_NAMES[:5]):
            m = c.members(name)
            k, s = c.frame[m], c.signs[m]
            # canonical direction d sits at actual direction (d + k) mod 4
            E = dE[m[:, None], (np.arange(4)[None, :] + k[:, None]) % 4]
            if ci == 0:
                sB1, sE2x, sE2y = s[:, 1], s[:, 5], s[:, 6]
                dx, dy = E[:, 0] - E[:, 2], E[:, 1] - E[:, 3]
                T = [E.sum(1), (E[:, 0] - E[:, 1] + E[:, 2] - E[:, 3]) * sB1, dx * sE2x + dy * sE2y,
                     (dx * sE2x - dy * sE2y) * sB1]
            elif ci == 1:
                T = [E[:, 1] + E[:, 3], E[:, 2], (E[:, 1] - E[:, 3]) * s[:, 0]]
            elif ci == 2:
                T = [E[:, 0] + E[:, 2], (E[:, 0] - E[:, 2]) * s[:, 2]]
            elif ci == 3:
                T = [E[:, 1] + E[:, 2], (E[:, 1] - E[:, 2]) * s[:, 0]]
            else:
                T = [E[:, 0]]
            out[name] = np.stack(T, axis=1)
        return out

    def dE_from_targets(self, targets: dict[str, np.ndarray], c: FKClassification) -> np.ndarray:
        """Move energies (n, 4) in actual directions from class targets; +inf where a move is blocked or invalid."""
        n = len(c.sites)
        dE = np.full((n, 4), np.inf)
        for ci, name in enumerate(CLASS_NAMES[:5]):
            m = c.members(name)
            if len(m) == 0:
                continue
            T = np.asarray(targets[name], dtype=float).reshape(len(m), N_TARGETS[name])
            if self.use_numba:
                _dE_kernel(ci, T, m, c.frame, c.signs, dE)
                continue
            k, s = c.frame[m], c.signs[m]
            E = np.full((len(m), 4), np.inf)
            if ci == 0:
                sB1, sE2x, sE2y = s[:, 1], s[:, 5], s[:, 6]
                t0, t1, t2, t3 = T.T
                E[:, 0] = (t0 + t1 * sB1 + (t2 + t3 * sB1) * sE2x) / 4
                E[:, 1] = (t0 - t1 * sB1 + (t2 - t3 * sB1) * sE2y) / 4
                E[:, 2] = (t0 + t1 * sB1 - (t2 + t3 * sB1) * sE2x) / 4
                E[:, 3] = (t0 - t1 * sB1 - (t2 - t3 * sB1) * sE2y) / 4
            elif ci == 1:
                E[:, 1] = (T[:, 0] + T[:, 2] * s[:, 0]) / 2
                E[:, 3] = (T[:, 0] - T[:, 2] * s[:, 0]) / 2
                E[:, 2] = T[:, 1]
            elif ci == 2:
                E[:, 0] = (T[:, 0] + T[:, 1] * s[:, 2]) / 2
                E[:, 2] = (T[:, 0] - T[:, 1] * s[:, 2]) / 2
            elif ci == 3:
                E[:, 1] = (T[:, 0] + T[:, 1] * s[:, 0]) / 2
                E[:, 2] = (T[:, 0] - T[:, 1] * s[:, 0]) / 2
            else:
                E[:, 0] = T[:, 0]
            dE[m[:, None], (np.arange(4)[None, :] + k[:, None]) % 4] = E
        dE[~c.valid] = np.inf
        dE[~c.allowed] = np.inf
        return dE
