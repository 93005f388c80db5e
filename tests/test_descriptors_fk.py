"""Falicov–Kimball move descriptor (ch2 spec §4.3–4.4): 316 features, invariance, covariant ΔE reconstruction."""
import numpy as np
import pytest

from latticeml.descriptors import CLASS_NAMES, DIRECTIONS, N_TARGETS, FKDescriptor
from latticeml.errors import ConfigError
from latticeml.lattice import square, triangular


@pytest.fixture(scope="module")
def desc():
    return FKDescriptor(square(24))


def _direction_map(op):
    """new[d] = index of O(g)·e_d among the four directions."""
    return np.array([int(np.nonzero(np.all(DIRECTIONS == np.round(op.R @ DIRECTIONS[d]), axis=1))[0][0])
                     for d in range(4)])


def test_feature_count_and_orbits(desc):
    assert desc.n_features == 316 and len(desc.orbits) == 48
    assert tuple(desc.orbits[0]) == (1, 0) and tuple(desc.orbits[1]) == (1, 1) and tuple(desc.orbits[-1]) == (10, 0)


def test_classification(desc):
    lat = desc.lattice
    occ = np.zeros(lat.N, np.int8)
    c0 = lat.site_index([5, 5])
    occ[c0] = 1
    expect = []
    for nbrs, name, frame in [([], "P4", 0), ([(0, -1)], "P3", 1), ([(1, 0), (-1, 0)], "P2_A", 1),
                              ([(0, 1), (0, -1)], "P2_A", 0), ([(0, 1), (1, 0)], "P2_B", 0),
                              ([(1, 0), (0, -1)], "P2_B", 1), ([(1, 0), (0, 1), (0, -1)], "P1", 2),
                              ([(1, 0), (0, 1), (0, -1), (-1, 0)], "blocked", 0)]:
        o = occ.copy()
        for dx, dy in nbrs:
            o[lat.site_index([5 + dx, 5 + dy])] = 1
        c = desc.classify(o, [c0])
        expect.append((CLASS_NAMES[c.cls[0]], int(c.frame[0])) == (name, frame))
    assert all(expect)
    with pytest.raises(ConfigError):
        desc.classify(occ, [c0 + 1])


def _random_model(desc, seed=0):
    rng = np.random.default_rng(seed)
    maps = {n: 0.1 * rng.standard_normal((desc.n_features, k)) for n, k in N_TARGETS.items()}
    return lambda X: {n: np.tanh(X[n] @ maps[n]) for n in X}


@pytest.mark.parametrize("density", [0.19, 0.45])
def test_features_invariant_and_dE_equivariant_under_d4(desc, density):
    """For every D4 operation g about the electron, features are unchanged and predicted ΔE permute like g
    permutes the four directions (all classes, many random configurations)."""
    lat = desc.lattice
    rng = np.random.default_rng(1)
    model = _random_model(desc)
    seen = set()
    for trial in range(3):
        occ = (rng.random(lat.N) < density).astype(np.int8)
        sites = np.nonzero(occ)[0][:60]
        c = desc.classify(occ, sites)
        X = desc.features(occ, c)
        dE = desc.dE_from_targets(model(X), c)
        for op in lat.point_group:
            dmap = _direction_map(op)
            for s_i, s in enumerate(sites):
                perm = lat.site_permutation(op, center=s)
                occ_g = np.empty_like(occ)
                occ_g[perm] = occ
                cg = desc.classify(occ_g, [s])
                assert cg.cls[0] == c.cls[s_i] and cg.valid[0] == c.valid[s_i]
                if not c.valid[s_i]:
                    continue
                name = CLASS_NAMES[cg.cls[0]]
                seen.add(name)
                Xg = desc.features(occ_g, cg)[name][0]
                assert np.array_equal(Xg, X[name][np.searchsorted(c.members(name), s_i)])
                expect = np.empty(4)
                expect[dmap] = dE[s_i]
                got = desc.dE_from_targets(model(desc.features(occ_g, cg)), cg)[0]
                assert np.array_equal(np.isinf(got), np.isinf(expect))
                assert np.allclose(got, expect, atol=1e-12)  # BLAS may round a batch of 1 differently
    assert seen >= {"P4", "P3", "P2_A", "P2_B"}


def test_targets_round_trip_and_blocked_moves(desc):
    lat = desc.lattice
    rng = np.random.default_rng(2)
    occ = (rng.random(lat.N) < 0.4).astype(np.int8)
    sites = np.nonzero(occ)[0]
    c = desc.classify(occ, sites)
    dE = rng.standard_normal((len(sites), 4))
    T = desc.targets_from_dE(dE, c)
    assert all(T[n].shape == (len(c.members(n)), k) for n, k in N_TARGETS.items())
    back = desc.dE_from_targets(T, c)
    ok = c.allowed & c.valid[:, None]
    assert np.allclose(back[ok], dE[ok], atol=1e-14)
    assert np.all(np.isinf(back[~ok]))
    # every allowed move of a valid electron is reconstructed: the targets carry no more, no less
    assert sum(N_TARGETS[CLASS_NAMES[k]] for k in c.cls[c.valid]) == ok.sum()


def test_zero_reference_sign_is_flagged(desc):
    """A lone f-electron has an empty neighbourhood: every reference sign is 0, so the move is flagged invalid."""
    occ = np.zeros(desc.lattice.N, np.int8)
    occ[0] = 1
    c = desc.classify(occ, [0])
    assert CLASS_NAMES[c.cls[0]] == "P4" and not c.valid[0]
    assert np.all(np.isinf(desc.dE_from_targets({"P4": np.zeros((1, 4))}, c)))


def test_needs_square_lattice():
    with pytest.raises(ConfigError):
        FKDescriptor(triangular(12))


def test_feature_term_tables_equal_the_reference_formulas(desc):
    """``features`` (term tables, reused gathered images, float32 or float64) equals the reference formulas of
    ``_class_features`` on freshly gathered images exactly, for every class and random reference signs."""
    rng = np.random.default_rng(5)
    occ = (rng.random(desc.lattice.N) < 0.35).astype(np.int8)
    c = desc.classify(occ, np.flatnonzero(occ))
    c.signs = rng.choice([-1.0, 1.0], size=c.signs.shape)  # every sign pattern, not only the realised ones
    X64, X32 = desc.features(occ, c), desc.features(occ, c, dtype=np.float32)
    for ci, name in enumerate(CLASS_NAMES[:5]):
        m = c.members(name)
        assert len(m) > 0, name
        ref = desc._class_features(ci, desc._gather(occ, c.sites[m], c.frame[m]), c.signs[m])
        np.testing.assert_array_equal(X64[name], ref)
        assert X32[name].dtype == np.float32
        np.testing.assert_array_equal(X32[name], ref)


@pytest.mark.parametrize("density", [0.19, 0.5, 0.85])
def test_compiled_loops_equal_the_numpy_reference(desc, density):
    """The numba loops of classify, features and dE_from_targets give the numpy code's results exactly."""
    import dataclasses

    from latticeml.descriptors.fk import HAVE_NUMBA

    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(7)
    occ = (rng.random(desc.lattice.N) < density).astype(np.int8)
    sites = rng.permutation(np.flatnonzero(occ))
    T = None
    out = {}
    for use_numba in (False, True):
        desc.use_numba = use_numba
        try:
            c = desc.classify(occ, sites)
            if T is None:
                T = {name: rng.normal(size=(len(c.members(name)), N_TARGETS[name])) for name in CLASS_NAMES[:5]}
            out[use_numba] = (c, desc.features(occ, c, np.float32), desc.dE_from_targets(T, c))
        finally:
            desc.use_numba = HAVE_NUMBA
    (c1, X1, E1), (c0, X0, E0) = out[True], out[False]
    for f in dataclasses.fields(c0):
        a, b = getattr(c1, f.name), getattr(c0, f.name)
        assert a.dtype == b.dtype and np.array_equal(a, b), f.name
    for name in CLASS_NAMES[:5]:
        assert X1[name].dtype == np.float32 and np.array_equal(X1[name], X0[name]), name
    np.testing.assert_array_equal(E1, E0)
