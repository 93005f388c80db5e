# a 4×4 s-d lattice with random spins: 32 orbitals, small enough for a full reference diagonalization
let L = 4, H = sd_hamiltonian(square_adjacency(L), random_unit_spins(Xoshiro(8), L^2))
    eps, psi = eigh(H)
    bounds = (eps[1] - 0.1, eps[end] + 0.1)

    @testset "exact blocks equal exact diagonalization (T = $T, M = $M)" for (T, M, tol) in
        ((0.2, 300, 1e-12), (0.1, 400, 1e-11))

        @test kpm_spin_blocks(H, 0.3, T, bounds, M) ≈ spin_blocks(eps, psi, 0.3, T) atol = tol
    end

    @testset "block batching, sparse H, numpy layout and probing with the full period agree" begin
        reference = kpm_spin_blocks(H, 0.3, 0.2, bounds, 300)
        @test kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; block_size=5) ≈ reference atol = 1e-14
        @test kpm_spin_blocks(sparse(H), 0.3, 0.2, bounds, 300) ≈ reference atol = 1e-13
        @test kpm_spin_blocks(rowmajor(H), 0.3, 0.2, bounds, 300) ≈ reference atol = 1e-14
        # colour probing is exact when the period is the lattice size (every site its own colour)
        @test kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; lattice_shape=(L, L), probing_period=L) ≈ reference atol = 1e-14
        @test_throws ArgumentError kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; probing_period=2)
        @test_throws ArgumentError kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; kernel="lorentz")
        # the blocks of chosen sites, in the order asked, equal those rows of the full result
        @test kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; sites=[6, 1, 12], block_size=3) ≈
              reference[[6, 1, 12], :, :] atol = 1e-14
        @test_throws ArgumentError kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; sites=[L^2 + 1])
        @test_throws ArgumentError kpm_spin_blocks(H, 0.3, 0.2, bounds, 300; sites=[1], lattice_shape=(L, L),
                                                   probing_period=2)
    end
end

@testset "Chebyshev coefficients reproduce the Fermi function" begin
    scale = spectral_scale((-5.0, 5.0))
    c = fermi_chebyshev_coefficients(0.4, 0.3, scale, 200)
    for x in (-0.9, -0.2, 0.0, 0.13, 0.95)
        # Σ_m c_m T_m(x) with T_m(x) = cos(m acos x)
        series = sum(c[m+1] * cos(m * acos(x)) for m in 0:199)
        @test series ≈ fermi([scale[1] * x + scale[2]], 0.4, 0.3)[1] atol = 1e-12
    end
    g = jackson_kernel(50)
    @test g[1] ≈ 1 atol = 1e-14
    @test all(diff(g) .< 0) && g[end] > 0
end
