@testset "equals full diagonalization on random configurations (L = $L, $kind)" for (L, seed) in ((8, 0), (12, 1)),
    kind in ("internal", "free")

    rng = Xoshiro(seed)
    A = square_adjacency(L)
    occ = random_occupation(rng, L^2, round(Int, 0.18778 * L^2))
    moves = nearest_neighbour_moves(L, occ)
    moves = moves[randperm(rng, size(moves, 1))[1:min(40, end)], :]
    n_c = 0.55 * L^2
    full = full_move_energies(A, occ, moves, 2.0, n_c, 0.05, kind)
    @test std_of(full) > 1e-2  # the moves are not trivially degenerate
    @test fast_move_energies(A, occ, moves, 2.0, n_c, 0.05, kind) ≈ full atol = 1e-9
end

@testset "exact across parameters and long-range moves (U = $U, filling $filling, T = $T)" for (U, filling, T) in
    ((2.0, 0.1, 0.05), (8.0, 0.9, 0.05), (-3.0, 0.55, 0.2), (2.0, 0.55, 0.01))

    rng = Xoshiro(7)
    A = square_adjacency(8)
    occ = random_occupation(rng, 64, 20)
    # arbitrary (not nearest-neighbour) hops are rank-2 updates too
    moves = [rand(rng, findall(==(1), occ), 12) rand(rng, findall(==(0), occ), 12)]
    for kind in ("internal", "free")
        @test fast_move_energies(A, occ, moves, U, filling * 64, T, kind) ≈
              full_move_energies(A, occ, moves, U, filling * 64, T, kind) atol = 1e-9
    end
end

@testset "degenerate configurations ($kind)" for kind in ("internal", "free")
    L = 8
    A = square_adjacency(L)
    n_c = 0.55 * L^2
    # one f-electron on the clean lattice: its four nearest-neighbour hops are equivalent by translation (ΔE = 0);
    # a longer hop is not
    single = zeros(Int8, L^2)
    single[28] = 1
    moves = [fill(28, 5) [hop_targets(L, 28); 1]]
    fast = fast_move_energies(A, single, moves, 2.0, n_c, 0.05, kind)
    @test fast[1:4] ≈ zeros(4) atol = 1e-10
    @test fast ≈ full_move_energies(A, single, moves, 2.0, n_c, 0.05, kind) atol = 1e-9
    # the half-filled checkerboard: gapped, degenerate bands, every nearest-neighbour hop equivalent and costly
    board = Int8[iseven(sum(divrem(i - 1, L))) for i in 1:(L^2)]
    moves = nearest_neighbour_moves(L, board)[1:7:end, :]
    fast = fast_move_energies(A, board, moves, 2.0, L^2 / 2, 0.05, kind)
    @test fast ≈ full_move_energies(A, board, moves, 2.0, L^2 / 2, 0.05, kind) atol = 1e-9
    @test fast ≈ fill(fast[1], length(fast)) atol = 1e-9
    @test fast[1] > 0.05
end

@testset "blocked moves, argument checks and numpy layout" begin
    L = 6
    A = square_adjacency(L)
    occ = zeros(Int8, L^2)
    occ[[1, 2]] .= 1
    eps, psi = eigh(fk_hamiltonian(A, occ, 2.0))
    # empty source, occupied target, and a hop onto itself are all blocked
    moves = [3 4; 1 2; 1 1; 1 7]
    dE = fk_move_energies(eps, psi, occ, moves, 2.0, 0.55 * L^2, 0.05, "internal")
    @test dE[1:3] == [Inf, Inf, Inf]
    @test isfinite(dE[4])
    @test fk_move_energies(eps, rowmajor(psi), occ, rowmajor(moves), 2.0, 0.55 * L^2, 0.05, "internal") ≈ dE
    @test_throws ArgumentError fk_move_energies(eps, psi, occ, moves, 2.0, 0.55 * L^2, 0.05, "grand")
    @test_throws ArgumentError fk_move_energies(eps, psi, occ, moves, 2.0, 0.55 * L^2, 0.0, "internal")
end
