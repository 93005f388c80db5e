"""Point groups, IR matrices, CG coefficients and orbit-by-orbit IR decompositions (ch7 spec §1.4–1.6, App. A)."""
import re

import numpy as np
import pytest

from latticeml.descriptors import (Neighbourhood, PointGroup, clebsch_gordan, decompose, field_rep)
from latticeml.lattice import diamond, point_group_ops, simple_cubic, square, triangular

ORDERS = {"D4": 8, "D6": 12, "Td": 24, "Oh": 48}


@pytest.fixture(scope="module", params=list(ORDERS))
def group(request):
    return PointGroup.from_ops(point_group_ops(request.param), request.param)


def test_group_axioms_and_irreps(group):
    assert group.order == ORDERS[group.name]
    table = group.table  # closure: every product is found
    assert all(sorted(row) == list(range(group.order)) for row in table)
    assert sum(ir.dim ** 2 for ir in group.irreps) == group.order
    for ir in group.irreps:
        D = ir.D
        assert np.allclose(np.einsum("gij,gkj->gik", D, D), np.eye(ir.dim), atol=1e-12)
        for a in range(group.order):
            assert np.allclose(D[table[a]], np.einsum("ij,gjk->gik", D[a], D), atol=1e-12)
    chi = np.array([ir.character for ir in group.irreps])
    assert np.allclose(chi @ chi.T / group.order, np.eye(len(chi)), atol=1e-12)


def test_canonical_conventions():
    d4 = PointGroup.from_ops(point_group_ops("D4"), "D4")
    assert np.allclose(d4.irrep("E").D, d4.R)  # E = O(g)
    c4 = [g for g in range(8) if np.allclose(d4.R[g], [[0, -1], [1, 0]])][0]
    diag_mirror = [g for g in range(8) if np.allclose(d4.R[g], [[0, 1], [1, 0]])][0]
    assert d4.irrep("B1").character[c4] == -1 and d4.irrep("B1").character[diag_mirror] == -1
    d6 = PointGroup.from_ops(point_group_ops("D6"), "D6")
    mirror_x = [g for g in range(12) if np.allclose(d6.R[g], [[1, 0], [0, -1]])][0]
    assert d6.irrep("B1").character[mirror_x] == 1  # +1 on mirrors containing a NN bond
    td = PointGroup.from_ops(point_group_ops("Td"), "Td")
    assert np.allclose(td.irrep("T2").D, td.R)  # the vector is T2


def test_generic_group_without_names():
    """A new group needs only its matrices: C4v under another name gets G1..G5 with the same characters."""
    g = PointGroup(np.array([op.R for op in point_group_ops("D4")]), name="mine")
    assert [ir.name for ir in g.irreps][:1] == ["G1"] and sorted(ir.dim for ir in g.irreps) == [1, 1, 1, 1, 2]


def test_clebsch_gordan_intertwines(group):
    for ir in group.irreps:
        for ir1 in group.irreps:
            for ir2 in group.irreps:
                C = clebsch_gordan(group, ir.name, ir1.name, ir2.name)
                if C is None:
                    continue
                lhs = np.einsum("kl,glm->gkm", C, np.einsum("gab,gcd->gacbd", ir1.D, ir2.D).reshape(
                    group.order, ir1.dim * ir2.dim, -1))
                assert np.allclose(lhs, np.einsum("gkl,lm->gkm", ir.D, C), atol=1e-12)
                assert np.allclose(C @ C.T, np.eye(ir.dim), atol=1e-12)


def test_d4_ExE_rows_match_spec():
    d4 = PointGroup.from_ops(point_group_ops("D4"), "D4")
    s = 1 / np.sqrt(2)  # rows over (xx', xy', yx', yy')
    expect = {"A1": [s, 0, 0, s], "A2": [0, s, -s, 0], "B1": [s, 0, 0, -s], "B2": [0, s, s, 0]}
    for name, row in expect.items():
        assert np.allclose(clebsch_gordan(d4, name, "E", "E")[0], row)


def _shell_content(dec, o):
    return {k: int((v == o).sum()) for k, v in dec.copy_orbit.items() if (v == o).sum()}


def test_square_jt_multiplicities_and_W():
    lat = square(16)
    nb = Neighbourhood.from_lattice(lat, 7.0)
    M = field_rep(nb.group, ("A1", "B1", "A1"))
    dec = decompose(nb, M)
    assert len(nb) == 149 and dec.multiplicities == {"A1": 70, "A2": 43, "B1": 65, "B2": 47, "E": 111}
    assert np.allclose(dec.W @ dec.W.T, np.eye(447), atol=1e-12)
    rng = np.random.default_rng(0)
    U = rng.standard_normal((149, 3))
    f = dec.coefficients(U.ravel())
    for g in range(8):
        fg = dec.coefficients(nb.transform(U, g, M).ravel())
        for ir in nb.group.irreps:
            assert np.allclose(fg[ir.name], f[ir.name] @ ir.D[g].T, atol=1e-12)


def test_scalar_shell_decompositions_square_and_triangular():
    nb = Neighbourhood.from_lattice(square(12), 2.3, include_center=False)
    dec = decompose(nb, field_rep(nb.group, "scalar"))
    assert _shell_content(dec, 0) == {"A1": 1, "B1": 1, "E": 1}  # axis (1,0)
    assert _shell_content(dec, 1) == {"A1": 1, "B2": 1, "E": 1}  # diagonal (1,1)
    assert _shell_content(dec, 3) == {"A1": 1, "A2": 1, "B1": 1, "B2": 1, "E": 2}  # general (2,1)
    nb = Neighbourhood.from_lattice(triangular(12), 2.7, include_center=False)
    dec = decompose(nb, field_rep(nb.group, "scalar"))
    assert _shell_content(dec, 0) == {"A1": 1, "B1": 1, "E1": 1, "E2": 1}
    assert _shell_content(dec, 1) == {"A1": 1, "B2": 1, "E1": 1, "E2": 1}
    assert _shell_content(dec, 3) == {"A1": 1, "A2": 1, "B1": 1, "B2": 1, "E1": 2, "E2": 2}


def test_cubic_eg_doublet_decomposes():
    nb = Neighbourhood.from_lattice(simple_cubic(6), 1.01, include_center=False)
    dec = decompose(nb, field_rep(nb.group, ("Eg",)))  # 6 sites × e_g doublet = 12 dims
    assert sum(n * nb.group.irrep(k).dim for k, n in dec.multiplicities.items()) == 12
    assert dec.multiplicities == {"A1g": 1, "A2g": 1, "Eg": 2, "T1g": 0, "T2g": 0, "A1u": 0, "A2u": 0, "Eu": 0,
                                  "T1u": 1, "T2u": 1}


# ---------------------------------------------------------------------- Appendix A (diamond, Td)
def test_appendix_a_diamond_block_decompositions():
    lat = diamond(3)
    nb = Neighbourhood.from_lattice(lat, 1.01, include_center=False, sublattice=0)
    dec = decompose(nb, field_rep(nb.group, "vector"))
    sizes = {len(o): _shell_content(dec, k) for k, o in enumerate(nb.orbits)}
    assert sizes[4] == {"A1": 1, "E": 1, "T1": 1, "T2": 2}
    assert sizes[6] == {"A1": 1, "E": 1, "T1": 2, "T2": 3}
    assert sizes[12] == {"A1": 2, "A2": 1, "E": 3, "T1": 4, "T2": 5}


def _vec(expr, labels):
    v = np.zeros(3 * len(labels))
    for sgn, coef, lab, c in re.findall(r"([+-]?)(\d*)([a-l])_([xyz])", expr.replace(" ", "")):
        v[3 * labels.index(lab) + "xyz".index(c)] += (-1 if sgn == "-" else 1) * (int(coef) if coef else 1)
    return v


APPENDIX_A = [  # (points, {IR: basis functions as printed in Appendix A})
    ({"a": (.5, .5, .5), "b": (-.5, -.5, .5), "c": (.5, -.5, -.5), "d": (-.5, .5, -.5)},
     {"A1": ["a_x + a_y + a_z - b_x - b_y + b_z + c_x - c_y - c_z - d_x + d_y - d_z"],
      "E": ["a_x + a_y - 2a_z - b_x - b_y - 2b_z + c_x - c_y + 2c_z - d_x + d_y + 2d_z",
            "-a_x + a_y + b_x - b_y - c_x - c_y + d_x + d_y"],
      "T1": ["a_y - a_z + b_y + b_z - c_y + c_z - d_y - d_z", "a_x - a_z + b_x + b_z - c_x - c_z - d_x + d_z",
             "-a_x + a_y + b_x - b_y + c_x + c_y - d_x - d_y"],
      "T2": ["a_x + b_x + c_x + d_x", "a_y + b_y + c_y + d_y", "a_z + b_z + c_z + d_z",
             "a_y + a_z + b_y - b_z - c_y - c_z - d_y + d_z", "a_x + a_z + b_x - b_z - c_x + c_z - d_x - d_z",
             "a_x + a_y - b_x - b_y - c_x + c_y + d_x - d_y"]}),
    ({"a": (2, 0, 0), "b": (0, 2, 0), "c": (0, 0, 2), "d": (0, 0, -2), "e": (0, -2, 0), "f": (-2, 0, 0)},
     {"A1": ["a_x + b_y + c_z - d_z - e_y - f_x"],
      "E": ["a_x + b_y - 2c_z + 2d_z - e_y - f_x", "-a_x + b_y - e_y + f_x"],
      "T1": ["b_x - c_x - d_x + e_x", "a_y - c_y - d_y + f_y", "-a_z + b_z + e_z - f_z", "-b_z + c_y - d_y + e_z",
             "-a_z + c_x - d_x + f_z", "a_y - b_x + e_x - f_y"],
      "T2": ["a_x + f_x", "b_y + e_y", "c_z + d_z", "b_z + c_y - d_y - e_z", "a_z + c_x - d_x - f_z",
             "a_y + b_x - e_x - f_y", "b_x + c_x + d_x + e_x", "a_y + c_y + d_y + f_y", "a_z + b_z + e_z + f_z"]}),
    (dict(zip("abcdefghijkl", [(1, 1, 0), (0, 1, 1), (1, 0, 1), (0, 1, -1), (1, 0, -1), (0, -1, 1), (-1, 0, -1),
                               (0, -1, -1), (-1, 0, 1), (1, -1, 0), (-1, 1, 0), (-1, -1, 0)])),
     {"A1": ["a_x + a_y + b_y + b_z + c_x + c_z + d_y - d_z + e_x - e_z - f_y + f_z - g_x - g_z - h_y - h_z - i_x"
             " + i_z + j_x - j_y - k_x + k_y - l_x - l_y",
             "a_z + b_x + c_y - d_x - e_y - f_x + g_y + h_x - i_y - j_z - k_z + l_z"],
      "A2": ["a_x - a_y + b_y - b_z - c_x + c_z + d_y + d_z - e_x - e_z - f_y - f_z + g_x - g_z - h_y + h_z + i_x"
             " + i_z + j_x + j_y - k_x - k_y - l_x + l_y"],
      "T1": ["a_x - c_x - e_x - g_x - i_x + j_x + k_x + l_x"],
      "T2": ["b_x + d_x + f_x + h_x", "c_y + e_y + g_y + i_y", "a_z + j_z + k_z + l_z",
             "a_x + c_x + e_x + g_x + i_x + j_x + k_x + l_x"]}),
]


@pytest.mark.parametrize("points,basis", APPENDIX_A, ids=["4-atom", "6-atom", "12-atom"])
def test_appendix_a_basis_functions_lie_in_their_irs(points, basis):
    """Each printed basis function lies in its IR's isotypic subspace (12-atom block: entries free of typos)."""
    td = PointGroup.from_ops(point_group_ops("Td"), "Td")
    labels = list(points)
    nb = Neighbourhood.from_vectors(np.array([points[k] for k in labels], float), td)
    T = nb.representation(field_rep(td, "vector"))
    for name, exprs in basis.items():
        ir = td.irrep(name)
        P = ir.dim / td.order * np.einsum("g,gij->ij", ir.character, T)  # isotypic projector
        for e in exprs:
            v = _vec(e, labels)
            assert np.allclose(P @ v, v, atol=1e-12), (name, e)
