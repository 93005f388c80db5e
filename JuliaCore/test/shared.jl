# Fixtures shared by the test files: small lattices and Hamiltonians built without the Python package.

"""Site index (1-based) of cell (n1, n2) of an L×L lattice: n1·L + n2 + 1, the Python order plus one."""
site_index(L, n1, n2) = mod(n1, L) * L + mod(n2, L) + 1

"""Nearest-neighbour adjacency of the periodic L×L square lattice."""
function square_adjacency(L)
    A = zeros(L^2, L^2)
    for n1 in 0:(L-1), n2 in 0:(L-1)
        i = site_index(L, n1, n2)
        for (d1, d2) in ((1, 0), (0, 1))
            j = site_index(L, n1 + d1, n2 + d2)
            A[i, j] = A[j, i] = 1
        end
    end
    return A
end

"""Falicov-Kimball one-body matrix h = −t·A + U·diag(occ) (spec ch2 §1)."""
fk_hamiltonian(A, occ, U; t=1.0) = -t .* A .+ U .* Diagonal(Float64.(occ))

"""Neighbours of site i in the author order +x, −y, −x, +y (spec ch2 §3)."""
function hop_targets(L, i)
    n1, n2 = divrem(i - 1, L)
    return [site_index(L, n1 + 1, n2), site_index(L, n1, n2 - 1), site_index(L, n1 - 1, n2),
        site_index(L, n1, n2 + 1)]
end

"""Every hop of an f-electron to an empty nearest neighbour, as an (M, 2) matrix of (from, to) rows."""
function nearest_neighbour_moves(L, occ)
    pairs = [(i, j) for i in findall(!iszero, occ) for j in hop_targets(L, i) if occ[j] == 0]
    return [first.(pairs) last.(pairs)]
end

"""A random configuration with n_f f-electrons (Int8 0/1 per site, as in Python)."""
function random_occupation(rng, nsites, n_f)
    occ = zeros(Int8, nsites)
    occ[randperm(rng, nsites)[1:n_f]] .= 1
    return occ
end

"""Exact energy of the Metropolis rule (internal or free) by full diagonalization."""
function full_energy(h, n_c, T, kind)
    eps = eigh(h)[1]
    mu = chemical_potential(eps, n_c, T)
    return kind == "internal" ? band_energy(eps, mu, T) : grand_potential(eps, mu, T) + mu * n_c
end

"""ΔE of each move by diagonalizing the hopped configuration from scratch (the reference of the low-rank kernel)."""
function full_move_energies(A, occ, moves, U, n_c, T, kind)
    e0 = full_energy(fk_hamiltonian(A, occ, U), n_c, T, kind)
    return map(eachrow(moves)) do (from, to)
        trial = copy(occ)
        trial[from], trial[to] = 0, 1
        full_energy(fk_hamiltonian(A, trial, U), n_c, T, kind) - e0
    end
end

function fast_move_energies(A, occ, moves, U, n_c, T, kind)
    eps, psi = eigh(fk_hamiltonian(A, occ, U))
    return fk_move_energies(eps, psi, occ, moves, U, n_c, T, kind)
end

function random_hermitian(rng, n)
    X = randn(rng, ComplexF64, n, n)
    return (X + X') / 2
end

"""
    rowmajor(A)

The same matrix as `A` stored row by row, as a numpy C-order array appears in Julia through juliacall
(a strided array with strides (ncols, 1)): the layout the kernels receive from Python.
"""
rowmajor(A::AbstractMatrix) = transpose(permutedims(A))

"""Population standard deviation (numpy's `std`), without the Statistics dependency."""
std_of(x) = sqrt(sum(abs2, x .- sum(x) / length(x)) / length(x))

"""The s-d (Kondo-lattice) matrix −A⊗1 − J Σ_i S_i·σ on the site blocks, orbital 2(i−1) + spin (spec ch3 §3)."""
function sd_hamiltonian(A, spins; J=1.0)
    H = ComplexF64.(kron(-A, Matrix(I, 2, 2)))
    for i in axes(spins, 1)
        sx, sy, sz = spins[i, 1], spins[i, 2], spins[i, 3]
        H[2i-1:2i, 2i-1:2i] .-= J .* [sz sx-im*sy; sx+im*sy -sz]
    end
    return H
end

function random_unit_spins(rng, n)
    S = randn(rng, n, 3)
    return S ./ sqrt.(sum(abs2, S; dims=2))
end
