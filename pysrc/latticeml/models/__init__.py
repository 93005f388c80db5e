"""Physical models: each module builds a model's single-particle matrix h(fields) (and ∂h/∂field where needed)."""
from .falicov_kimball import fk_hamiltonian, hop_table, n_f_for, random_occupation

__all__ = ["fk_hamiltonian", "hop_table", "n_f_for", "random_occupation"]
