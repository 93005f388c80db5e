"""Spin snapshots for external viewers: legacy VTK (ParaView) and OVF 2.0 text (OOMMF/mumax/Muview).

Both writers take site positions (N, 2 or 3) and unit spins (N, 3) in the site order of the lattice; the readers
return the same arrays, so files round-trip to the printed precision (17 significant digits).

* VTK: ``DATASET POLYDATA`` with one vertex per site, point data ``spin`` (vectors) and ``Sz`` (scalars).
* OVF 2.0: a rectangular node grid, x fastest. The triangular lattice is oblique, so the (n1, n2) image is written
  as an L1 × L2 grid with the true Cartesian positions stated in the header (``# Desc:``); viewers draw it sheared.
  3-D Bravais lattices (simple cubic) are written as an L1 × L2 × L3 grid (z = n3); lattices with a basis are
  refused.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LatticeMLError

__all__ = ["write_vtk", "read_vtk", "write_ovf", "read_ovf"]


def _as3d(positions: np.ndarray) -> np.ndarray:
    pos = np.asarray(positions, dtype=float)
    return np.hstack([pos, np.zeros((len(pos), 3 - pos.shape[1]))]) if pos.shape[1] < 3 else pos


def write_vtk(path: str | Path, positions: np.ndarray, spins: np.ndarray, title: str = "latticeml spins") -> Path:
    """Write a legacy-VTK ASCII file with one vertex per site and the spin vectors as point data."""
    path = Path(path)
    pos = _as3d(positions)
    spins = np.asarray(spins, dtype=float)
    N = len(pos)
    lines = ["# vtk DataFile Version 3.0", title.replace("\n", " ")[:255], "ASCII", "DATASET POLYDATA",
             f"POINTS {N} double"]
    lines += [" ".join(f"{x:.17g}" for x in p) for p in pos]
    lines += [f"VERTICES {N} {2 * N}"] + [f"1 {i}" for i in range(N)]
    lines += [f"POINT_DATA {N}", "VECTORS spin double"] + [" ".join(f"{x:.17g}" for x in s) for s in spins]
    lines += ["SCALARS Sz double 1", "LOOKUP_TABLE default"] + [f"{s:.17g}" for s in spins[:, 2]]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_vtk(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read (positions (N, 3), spins (N, 3)) back from a file written by :func:`write_vtk`."""
    tokens = Path(path).read_text().split("\n")
    i = next(k for k, line in enumerate(tokens) if line.startswith("POINTS"))
    N = int(tokens[i].split()[1])
    pos = np.array([[float(x) for x in line.split()] for line in tokens[i + 1:i + 1 + N]])
    j = next(k for k, line in enumerate(tokens) if line.startswith("VECTORS"))
    spins = np.array([[float(x) for x in line.split()] for line in tokens[j + 1:j + 1 + N]])
    return pos, spins


def _ovf_grid(lattice) -> tuple[int, int, int]:
    """(xnodes, ynodes, znodes) of a lattice's OVF node grid; refuses lattices that are not one node per cell."""
    shape = tuple(getattr(lattice, "shape", ()) or ())
    name = getattr(lattice, "name", type(lattice).__name__)
    if len(shape) not in (2, 3) or getattr(lattice, "n_basis", 1) != 1:
        raise LatticeMLError(f"OVF export needs a 2-D or 3-D Bravais lattice (one site per cell); lattice "
                             f"'{name}' is not one: write VTK instead (output: {{vtk: true}})")
    return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)


def write_ovf(path: str | Path, lattice, spins: np.ndarray, title: str = "latticeml spins") -> Path:
    """Write OVF 2.0 text: node (n1, n2[, n3]) of the lattice image, x = n1 fastest, then y = n2, then z = n3
    (2-D lattices have one z node)."""
    path = Path(path)
    L1, L2, L3 = _ovf_grid(lattice)
    img = np.asarray(spins, dtype=float).reshape(L1, L2, L3, 3)  # site order: C order of (n1, n2, n3)
    names = ("n1", "n2", "n3")[:lattice.dim]
    vectors = ", ".join(f"a{k + 1} = {tuple(float(x) for x in a)}" for k, a in enumerate(lattice.vectors))
    desc = (f"{lattice.name} lattice, node ({', '.join(names)}) at r = "
            f"{' + '.join(f'{n}*a{k + 1}' for k, n in enumerate(names))}, {vectors}")
    header = [
        "# OOMMF OVF 2.0", "# Segment count: 1", "# Begin: Segment", "# Begin: Header",
        f"# Title: {title}",
        f"# Desc: {desc}",
        "# meshtype: rectangular", "# meshunit: a", "# xmin: 0", "# ymin: 0", "# zmin: 0",
        f"# xmax: {L1}", f"# ymax: {L2}", f"# zmax: {L3}", "# valuedim: 3", "# valuelabels: S_x S_y S_z",
        "# valueunits: 1 1 1", "# xbase: 0.5", "# ybase: 0.5", "# zbase: 0.5",
        f"# xnodes: {L1}", f"# ynodes: {L2}", f"# znodes: {L3}",
        "# xstepsize: 1", "# ystepsize: 1", "# zstepsize: 1", "# End: Header", "# Begin: Data Text",
    ]
    data = [" ".join(f"{x:.17g}" for x in img[n1, n2, n3])
            for n3 in range(L3) for n2 in range(L2) for n1 in range(L1)]
    path.write_text("\n".join(header + data + ["# End: Data Text", "# End: Segment"]) + "\n")
    return path


def read_ovf(path: str | Path) -> np.ndarray:
    """Read an OVF 2.0 text file into the site-ordered spins (N, 3) (site = (n1*L2 + n2)*L3 + n3, as written by
    :func:`write_ovf`; L3 = 1 for 2-D lattices)."""
    header, rows = {}, []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip().lower()] = value.strip()
        elif line.strip():
            rows.append([float(x) for x in line.split()])
    if header.get("begin") is None or "xnodes" not in header:
        raise ValueError(f"{path}: not an OVF 2.0 text file")
    L1, L2, L3 = int(header["xnodes"]), int(header["ynodes"]), int(header.get("znodes", 1))
    if len(rows) != L1 * L2 * L3:
        raise ValueError(f"{path}: {len(rows)} data rows for {L1} x {L2} x {L3} nodes")
    data = np.array(rows).reshape(L3, L2, L1, -1)  # x fastest
    return data.transpose(2, 1, 0, 3).reshape(L1 * L2 * L3, -1)
