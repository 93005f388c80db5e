"""Spin snapshot export (legacy VTK, OVF 2.0) round trips, and the spin-texture plots."""
import numpy as np
import pytest

from latticeml.analysis.spin import structure_factor
from latticeml.io.export import read_ovf, read_vtk, write_ovf, write_vtk
from latticeml.errors import LatticeMLError
from latticeml.lattice import diamond, simple_cubic, triangular
from latticeml.models import sd


@pytest.fixture(scope="module")
def snapshot():
    lat = triangular(12, 6)
    return lat, sd.random_spins(lat.N, 11)


def test_vtk_round_trip(tmp_path, snapshot):
    lat, S = snapshot
    path = write_vtk(tmp_path / "s.vtk", lat.positions, S)
    pos, spins = read_vtk(path)
    np.testing.assert_array_equal(spins, S)
    np.testing.assert_array_equal(pos[:, :2], lat.positions)
    text = path.read_text()
    assert text.startswith("# vtk DataFile Version 3.0") and f"POINT_DATA {lat.N}" in text


def test_ovf_round_trip_and_layout(tmp_path, snapshot):
    lat, S = snapshot
    path = write_ovf(tmp_path / "s.ovf", lat, S)
    np.testing.assert_array_equal(read_ovf(path), S)
    lines = [x for x in path.read_text().splitlines() if not x.startswith("#")]
    assert len(lines) == lat.N
    # x = n1 runs fastest: the second data row is cell (1, 0)
    np.testing.assert_array_equal([float(v) for v in lines[1].split()], S[lat.site_index([1, 0])])
    assert "# xnodes: 12" in path.read_text() and "# ynodes: 6" in path.read_text()


def test_ovf_round_trip_simple_cubic(tmp_path):
    lat = simple_cubic(3, 4, 5)
    S = sd.random_spins(lat.N, 5)
    path = write_ovf(tmp_path / "c.ovf", lat, S)
    np.testing.assert_array_equal(read_ovf(path), S)
    text = path.read_text()
    assert "# xnodes: 3" in text and "# ynodes: 4" in text and "# znodes: 5" in text and "# zmax: 5" in text
    lines = [x for x in text.splitlines() if not x.startswith("#")]
    assert len(lines) == lat.N
    # x = n1 fastest, then y = n2, then z = n3: row 1 is cell (1, 0, 0), row L1 is (0, 1, 0), row L1*L2 is (0, 0, 1)
    for row, cell in ((1, [1, 0, 0]), (3, [0, 1, 0]), (12, [0, 0, 1])):
        np.testing.assert_array_equal([float(v) for v in lines[row].split()], S[lat.site_index(cell)])


def test_write_ovf_refuses_lattices_with_a_basis(tmp_path):
    lat = diamond(2)
    with pytest.raises(LatticeMLError, match="OVF export needs a 2-D or 3-D Bravais lattice.*diamond.*vtk"):
        write_ovf(tmp_path / "d.ovf", lat, sd.random_spins(lat.N, 1))


def test_read_ovf_refuses_other_files(tmp_path):
    bad = tmp_path / "bad.ovf"
    bad.write_text("1 2 3\n")
    with pytest.raises(ValueError):
        read_ovf(bad)


def test_spin_plots_write_png(tmp_path):
    from latticeml.plots import plot_spin_texture, plot_structure_factor

    lat = triangular(12)
    S = sd.skyrmion_lattice(lat)
    fig = plot_spin_texture(lat, S, path=tmp_path / "tex.png", title="SkL")
    assert (tmp_path / "tex.png").stat().st_size > 1000 and len(fig.axes) == 2
    fig = plot_structure_factor(lat, structure_factor(lat, S), path=tmp_path / "sq.png", log=True)
    assert (tmp_path / "sq.png").stat().st_size > 1000
