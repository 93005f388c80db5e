"""Symmetry descriptors: point groups and IRs, IR decomposition of neighbourhoods, invariants (power spectrum,
bispectrum, reference phases), the Falicov–Kimball move descriptor, spin bond/chirality descriptors and ACSF.

The numpy paths need no torch; every feature map also accepts torch tensors (float32/float64, CPU/CUDA), so
autograd through a descriptor-based energy gives forces and exchange fields.
"""
from .acsf import ACSF, LatticeACSF, MagneticACSF, acsf_reference, cutoff_fn, magnetic_acsf_reference
from .decompose import Decomposition, Neighbourhood, decompose, decompose_rep, field_rep
from .fk import CLASS_NAMES, DIRECTIONS, N_TARGETS, FKClassification, FKDescriptor
from .groups import IrRep, PointGroup
from .invariants import (PHASE_MODES, IRDescriptor, LatticeIRDescriptor, bispectrum, clebsch_gordan, jacobian_rank,
                         power_spectrum, reference_map)
from .spin import SpinIRDescriptor

__all__ = ["PointGroup", "IrRep", "Neighbourhood", "Decomposition", "decompose", "decompose_rep", "field_rep",
           "clebsch_gordan", "power_spectrum", "bispectrum", "reference_map", "IRDescriptor", "LatticeIRDescriptor",
           "PHASE_MODES", "jacobian_rank", "FKDescriptor", "FKClassification", "CLASS_NAMES", "N_TARGETS", "DIRECTIONS",
           "SpinIRDescriptor", "ACSF", "LatticeACSF", "MagneticACSF", "acsf_reference", "magnetic_acsf_reference",
           "cutoff_fn"]
