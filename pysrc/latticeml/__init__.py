"""latticeml: large-scale dynamics of electronic lattice models, made affordable by machine learning.

Classical fields on a lattice, electrons integrated out exactly, ML models that learn the resulting energies and
forces. The exact physics imports without torch; :mod:`latticeml.ml` loads torch when used.
"""
__version__ = "0.1.0"

from . import lattice  # noqa: E402
from .calculators import Calculator, Result  # noqa: E402

__all__ = ["__version__", "lattice", "Calculator", "Result"]
