"""Calculators: exact (ED, KPM, ...) and learned models behind one protocol (see :mod:`.base`).

Concrete calculators are imported lazily so that ``import latticeml`` stays light and torch-free.
"""
from .base import Calculator, Result

__all__ = ["Calculator", "Result"]
