"""Exact electronic solvers: diagonalization and Fermi statistics (:mod:`.ed`), exact low-rank move energies
(:mod:`.lowrank`), kernel polynomial methods (:mod:`.kpm`)."""
from .ed import (band_energy, chemical_potential, density_matrix, eigh, fermi, fixed_n_occupations, free_energy,
                 grand_potential, hellmann_feynman, spin_blocks)
from .lowrank import fermi_poles, fk_move_energies, update_eigh_after_move

__all__ = ["eigh", "fermi", "chemical_potential", "fixed_n_occupations", "band_energy", "grand_potential",
           "free_energy", "density_matrix", "spin_blocks", "hellmann_feynman", "fermi_poles", "fk_move_energies",
           "update_eigh_after_move"]
