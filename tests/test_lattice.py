"""Lattice geometry: shell counts, adjacency, point-group permutations, images, amorphous boxes."""
import numpy as np
import pytest

from latticeml.lattice import amorphous_box, diamond, simple_cubic, square, triangular


def _shell_sizes(lat, cutoff):
    return [len(s.offsets) for s in lat.shells(cutoff)]


def test_square_shells_match_gauss_circle():
    lat = square(30)
    # sites with 0 < |r| <= 10.01 on the square lattice: Gauss circle count 317 minus the centre (ch2 spec §4.1)
    assert sum(_shell_sizes(lat, 10.01)) == 316
    assert _shell_sizes(lat, 2.3) == [4, 4, 4, 8]


def test_triangular_shells_and_ch3_counts():
    lat = triangular(24)
    sizes = _shell_sizes(lat, 6.0)
    assert sizes[:3] == [6, 6, 6]
    assert sum(sizes) == 126  # ch3 spec §1: 126 sites within 6a, nine shells of 6 and six of 12
    assert sorted(set(sizes)) == [6, 12] and sizes.count(6) == 9 and sizes.count(12) == 6


def test_diamond_and_cubic_shells():
    d = diamond(4)
    nn = d.shells(0.45)
    assert len(nn) == 1 and np.isclose(nn[0].distance, np.sqrt(3) / 4)
    assert len(nn[0].offsets) == 8  # 4 neighbours for each of the two sublattices
    assert _shell_sizes(simple_cubic(5), 1.5) == [6, 12]


@pytest.mark.parametrize("lat", [square(6), triangular(6), simple_cubic(4), diamond(3)])
def test_point_group_permutations_preserve_distances(lat):
    rng = np.random.default_rng(0)
    centre = int(rng.integers(lat.N)) if lat.n_basis == 1 else 0
    pairs = rng.integers(0, lat.N, size=(200, 2))
    d0 = lat.distance(pairs[:, 0], pairs[:, 1])
    for op in lat.point_group:
        perm = lat.site_permutation(op, center=centre)
        assert perm[centre] == centre
        assert np.allclose(lat.distance(perm[pairs[:, 0]], perm[pairs[:, 1]]), d0)
        assert len(np.unique(perm)) == lat.N


def test_group_orders():
    assert [len(x.point_group) for x in (square(4), triangular(4), simple_cubic(3), diamond(2))] == [8, 12, 48, 24]


def test_nonsymmetric_operation_is_refused():
    lat = square(4, 6)
    c4 = lat.point_group[1]
    with pytest.raises(ValueError, match="not a symmetry"):
        lat.site_permutation(c4)


def test_adjacency_and_neighbor_table():
    lat = square(5)
    A = lat.adjacency()
    assert np.allclose(A, A.T) and np.all(A.sum(1) == 4)
    idx = lat.neighbor_table(1.0)
    assert idx.shape == (25, 4)
    for i in range(lat.N):
        assert set(idx[i]) == set(np.nonzero(A[i])[0])
    tri = triangular(7)
    assert np.all(tri.adjacency(3).sum(1) == 6)


def test_image_roundtrip_and_order():
    lat = triangular(4, 5)
    f = np.arange(lat.N)
    img = lat.to_image(f)
    assert img.shape == (4, 5) and img[1, 2] == lat.site_index(np.array([1, 2]))
    assert np.array_equal(lat.from_image(img), f)
    spins = np.random.default_rng(1).normal(size=(lat.N, 3))
    assert np.array_equal(lat.from_image(lat.to_image(spins)), spins)


def test_translation_permutation():
    lat = square(4)
    perm = lat.translation_permutation((1, 0))
    assert perm[lat.site_index(np.array([3, 2]))] == lat.site_index(np.array([0, 2]))


def test_amorphous_box_min_distance_and_neighbors():
    box = amorphous_box(200, density=0.5, min_distance=0.8, seed=3)
    i, j, dr = box.neighbor_list(2.0)
    r = np.linalg.norm(dr, axis=1)
    assert r.min() >= 0.8 and r.max() <= 2.0
    # brute force check of the pair count
    d = box.minimum_image(box.positions[:, None] - box.positions[None])
    rr = np.linalg.norm(d, axis=-1)
    assert len(i) == np.count_nonzero((rr > 0) & (rr <= 2.0))
    with pytest.raises(ValueError, match="min_distance"):
        amorphous_box(50, density=5.0, min_distance=1.0, seed=0, max_tries=2000)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="positive"):
        square(0)
