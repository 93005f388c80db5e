@testset "clean square lattice band structure (L = $L)" for L in (5, 6)
    k = 2π .* (0:(L-1)) ./ L
    exact = sort(vec(-2 .* (cos.(k) .+ cos.(k)')))
    eps, psi = eigh(fk_hamiltonian(square_adjacency(L), zeros(L^2), 0.0))
    @test eps ≈ exact atol = 1e-12
    @test psi' * psi ≈ I atol = 1e-12
end

@testset "eigh reads numpy's row-major layout and leaves it untouched" begin
    h = random_hermitian(Xoshiro(11), 8)
    stored = rowmajor(h)
    eps, psi = eigh(stored)
    @test eps ≈ eigvals(Hermitian(h)) atol = 1e-12
    @test psi * Diagonal(eps) * psi' ≈ h atol = 1e-12
    @test stored == h
end

@testset "fermi is overflow-safe and a step at T = 0" begin
    eps = [-1e3, -1.0, 0.0, 1.0, 1e3]
    @test fermi(eps, 0.0, 1e-6) == [1.0, 1.0, 0.5, 0.0, 0.0]
    @test fermi(eps, 0.0, 0.0) == [1.0, 1.0, 0.5, 0.0, 0.0]
    @test fermi([0.3], 0.1, 0.2)[1] ≈ 1 / (exp(1.0) + 1) rtol = 1e-14
    @test_throws DomainError fermi(eps, 0.0, -1.0)
end

@testset "particle-number sum rule on the degenerate clean band (T = $T)" for T in (1e-3, 0.05, 1.0)
    eps = eigh(fk_hamiltonian(square_adjacency(8), zeros(64), 0.0))[1]
    for n in (0.55 * 64, 32.0, 1.5, 62.7)
        mu = chemical_potential(eps, n, T)
        @test abs(sum(fermi(eps, mu, T)) - n) < 1e-10
    end
end

@testset "fixed μ and fixed N are consistent" begin
    eps = sort(randn(Xoshiro(1), 200))
    for mu in (-1.0, 0.1, 0.7), T in (0.01, 0.3)
        n = sum(fermi(eps, mu, T))
        @test abs(chemical_potential(eps, n, T) - mu) < 1e-10
    end
    @test_throws DomainError chemical_potential(collect(0.0:3.0), 4.0, 0.1)
end

@testset "zero-temperature limits" begin
    eps = [-2.0, -1.0, -1.0, 0.5, 0.5, 0.5, 3.0]
    @test chemical_potential(eps, 3.0, 0.0) ≈ -0.25
    # degeneracies 2 below and 3 above the gap shift the finite-T μ by T ln(2/3)/2
    T = 1e-3
    @test chemical_potential(eps, 3.0, T) ≈ -0.25 + 0.5 * T * log(2 / 3) atol = 1e-9
    @test chemical_potential(eps, 4.2, 0.0) == 0.5
    mu = chemical_potential(eps, 3.0, 1e-4)
    @test band_energy(eps, mu, 1e-4) ≈ -4.0 atol = 1e-10
    @test grand_potential(eps, -0.25, 0.0) ≈ -4.0 + 3 * 0.25
end

@testset "thermodynamic identities" begin
    eps = sort(8 .* rand(Xoshiro(2), 100) .- 4)
    T, mu, d = 0.2, 0.3, 1e-5
    f = fermi(eps, mu, T)
    # dΩ/dμ = −N
    @test (grand_potential(eps, mu + d, T) - grand_potential(eps, mu - d, T)) / 2d ≈ -sum(f) rtol = 1e-8
    # Ω + μN = E − TS with the Fermi entropy S
    S = -sum(@. f * log(f) + (1 - f) * log1p(-f))
    @test grand_potential(eps, mu, T) + mu * sum(f) ≈ band_energy(eps, mu, T) - T * S atol = 1e-10
end

@testset "Hellmann-Feynman forces are finite differences of Ω" begin
    rng = Xoshiro(3)
    n, T, mu, d = 12, 0.3, 0.2, 1e-5
    h0 = random_hermitian(rng, n)
    derivatives = [random_hermitian(rng, n) for _ in 1:3]
    x = randn(rng, 3)
    h_of(x) = h0 + sum(x[k] * derivatives[k] for k in 1:3)
    eps, psi = eigh(h_of(x))
    forces = hellmann_feynman(eps, psi, mu, T, derivatives)
    @test hellmann_feynman(eps, psi, mu, T, sparse.(derivatives)) ≈ forces atol = 1e-13
    for k in 1:3
        e = d .* (1:3 .== k)
        omega_plus = grand_potential(eigh(h_of(x + e))[1], mu, T)
        omega_minus = grand_potential(eigh(h_of(x - e))[1], mu, T)
        @test forces[k] ≈ -(omega_plus - omega_minus) / 2d atol = 1e-8
    end
end

@testset "the density matrix is the Fermi function of h" begin
    h = random_hermitian(Xoshiro(4), 10)
    eps, psi = eigh(h)
    rho = density_matrix(eps, psi, 0.1, 0.0)
    # T = 0 with μ in a gap: a projector on the levels below μ, commuting with h
    @test rho * rho ≈ rho atol = 1e-12
    @test real(tr(rho)) ≈ count(<(0.1), eps)
    @test rho * h ≈ h * rho atol = 1e-12
    @test density_matrix(eps, rowmajor(psi), 0.1, 0.0) ≈ rho atol = 1e-14
end

@testset "spin blocks are the site blocks of the density matrix" begin
    nsites = 6
    eps, psi = eigh(random_hermitian(Xoshiro(5), 2nsites))
    rho = density_matrix(eps, psi, 0.2, 0.4)
    blocks = spin_blocks(eps, psi, 0.2, 0.4)
    @test size(blocks) == (nsites, 2, 2) && eltype(blocks) == ComplexF64
    for i in 1:nsites, a in 1:2, b in 1:2
        @test blocks[i, a, b] ≈ rho[2(i-1)+a, 2(i-1)+b] atol = 1e-13
    end
    @test spin_blocks(eps, rowmajor(psi), 0.2, 0.4) ≈ blocks atol = 1e-14
end
