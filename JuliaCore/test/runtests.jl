# The analytic and exact-reference checks of the Python kernel tests (tests/test_ed.py, tests/test_fk_lowrank.py,
# tests/test_sd.py, the dynamics kernels), run against the Julia twins: `julia --project=JuliaCore -e
# 'using Pkg; Pkg.test()'`.
using LatticeMLCore: band_energy, brownian_step, brownian_step!, cayley_rotate, cayley_rotate!, chemical_potential,
    density_matrix, eigh, fermi, fermi_chebyshev_coefficients, fk_move_energies, grand_potential, hellmann_feynman,
    jackson_kernel, kpm_spin_blocks, langevin_ou, langevin_ou!, metropolis_hop_probabilities, spectral_scale,
    spin_blocks
using LinearAlgebra: Diagonal, Hermitian, I, cross, dot, eigvals, norm, tr
using Random: Xoshiro, randperm
using SparseArrays: sparse
using Test: @test, @test_throws, @testset

include("shared.jl")

@testset "LatticeMLCore" begin
    @testset "exact diagonalization" begin
        include("test_ed.jl")
    end
    @testset "low-rank hop energies" begin
        include("test_lowrank.jl")
    end
    @testset "kernel polynomial method" begin
        include("test_kpm.jl")
    end
    @testset "time-stepping kernels" begin
        include("test_dynamics.jl")
    end
end
