"""Lattices: periodic Bravais lattices with a basis, neighbour shells, point-group permutations, amorphous boxes."""
from .amorphous import AmorphousBox, amorphous_box
from .builders import diamond, point_group_ops, simple_cubic, square, triangular
from .core import Lattice, PointOp, Shell

__all__ = ["Lattice", "PointOp", "Shell", "square", "triangular", "simple_cubic", "diamond", "point_group_ops",
           "AmorphousBox", "amorphous_box"]
