"""Rodrigues rotation of x by angle θ about the unit axis n."""
rotate(x, n, θ) = x * cos(θ) + cross(n, x) * sin(θ) + n * dot(n, x) * (1 - cos(θ))

@testset "Cayley rotation is the rotation by 2 atan(|ω|dt/2) about ω" begin
    rng = Xoshiro(21)
    spins = random_unit_spins(rng, 7)
    omega = randn(rng, 7, 3)
    dt = 0.3
    rotated = cayley_rotate(spins, omega, dt)
    for i in 1:7
        w = omega[i, :]
        @test rotated[i, :] ≈ rotate(spins[i, :], w / norm(w), 2atan(norm(w) * dt / 2)) atol = 1e-13
    end
    @test [norm(row) for row in eachrow(rotated)] ≈ ones(7) atol = 1e-14
    # in place on numpy's row-major layout: the caller's buffer is overwritten, nothing else changes
    stored = rowmajor(spins)
    @test cayley_rotate!(stored, rowmajor(omega), dt) === stored
    @test stored ≈ rotated atol = 1e-15
    @test_throws DimensionMismatch cayley_rotate(spins, omega[:, 1:2], dt)
end

@testset "Ornstein-Uhlenbeck momenta: exact decay and the Maxwell variance" begin
    p = [1.0 -2.0; 0.5 3.0]
    xi = [0.3 -0.1; 1.2 0.7]
    mass, gamma, T, dt = 2.0, 0.7, 0.4, 0.1
    c = exp(-gamma * dt)
    expected = c .* p .+ sqrt(mass * T * (1 - c^2)) .* xi
    @test langevin_ou(p, mass, gamma, T, dt, xi) ≈ expected
    @test langevin_ou(p, mass, gamma, 0.0, dt, xi) ≈ c .* p
    buffer = copy(p)
    @test langevin_ou!(buffer, mass, gamma, T, dt, xi) === buffer && buffer ≈ expected
    # from rest, many steps reach ⟨p²⟩ = m T (seeded; 1e5 samples give a 0.5% statistical error)
    rng = Xoshiro(22)
    momenta = zeros(100_000)
    for _ in 1:200
        langevin_ou!(momenta, mass, gamma, T, dt, randn(rng, length(momenta)))
    end
    @test sum(abs2, momenta) / length(momenta) ≈ mass * T rtol = 0.03
end

@testset "Brownian Euler-Maruyama step" begin
    q = [0.1, -0.4, 2.0]
    force = [1.0, 0.5, -3.0]
    xi = [0.2, -1.1, 0.0]
    gamma, T, dt = 1.5, 0.3, 0.01
    expected = q .+ (dt / gamma) .* force .+ sqrt(2T * dt / gamma) .* xi
    @test brownian_step(q, force, gamma, T, dt, xi) ≈ expected
    buffer = copy(q)
    @test brownian_step!(buffer, force, gamma, T, dt, xi) === buffer && buffer ≈ expected
end

@testset "Metropolis hop probabilities" begin
    dE = [-1.0, 0.0, 0.5, Inf]
    @test metropolis_hop_probabilities(dE, 0.5) ≈ [1, 1, exp(-1), 0] ./ 4
    @test metropolis_hop_probabilities(dE, 0.0) == [1, 1, 0, 0] ./ 4
    @test metropolis_hop_probabilities(dE, 0.5, 6) ≈ [1, 1, exp(-1), 0] ./ 6
end
