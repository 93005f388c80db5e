"""
    LatticeMLCore

The kernels of latticeml in Julia, one to one with the Python kernel protocol (`latticeml.backends.KERNELS`):
exact diagonalization and Fermi statistics, the fast low-rank ΔE of Falicov-Kimball hops, Chebyshev (KPM) local
density matrices, and the time-stepping kernels of the LLG, Langevin, Brownian and kinetic Monte Carlo steppers.
Arrays keep numpy's shapes ((N, 3) spins, (N, 2, 2) blocks); site indices are 1-based. Loading CUDA.jl adds a GPU
device for the dense kernels ([`use_cuda!`](@ref)).
"""
module LatticeMLCore

using LinearAlgebra: Hermitian, dot, eigen, mul!
using SparseArrays: SparseMatrixCSC, findnz

include("device.jl")
export use_cuda!, current_device

include("ed.jl")
export eigh, fermi, chemical_potential, band_energy, grand_potential, density_matrix, spin_blocks, hellmann_feynman

include("lowrank.jl")
export fk_move_energies

include("kpm.jl")
export kpm_spin_blocks, fermi_chebyshev_coefficients, jackson_kernel, chebyshev_apply, spectral_scale

include("dynamics.jl")
export cayley_rotate!, cayley_rotate, langevin_ou!, langevin_ou, brownian_step!, brownian_step,
    metropolis_hop_probabilities

end
