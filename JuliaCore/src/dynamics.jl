#= Time-stepping kernels: the twins of latticeml.dynamics.kernels.

Each stepper exists in place (`name!`, overwriting its first argument, e.g. a numpy array owned by the caller and
passed without a copy) and as a pure function returning a new array, as in the Python protocol. Arrays keep the
numpy layout: spins and angular velocities are (N, 3) with one site per row. =#

"""
    cayley_rotate!(spins, omega, dt) -> spins

Rotate every spin S_i (row i of the (N, 3) `spins`) by the Cayley transform Cay(u), u = ω_i dt/2:
Cay(u)x = [(1 − |u|²)x + 2u×x + 2(u·x)u] / (1 + |u|²). It solves x′ = x + u×(x + x′) exactly, the implicit
midpoint step of dx/dt = ω×x, and is a rotation (by 2 atan|u| about u), so |S_i| is preserved.
"""
function cayley_rotate!(spins::AbstractMatrix{<:Real}, omega::AbstractMatrix{<:Real}, dt::Real)
    size(spins) == size(omega) && size(spins, 2) == 3 ||
        throw(DimensionMismatch("spins $(size(spins)) and omega $(size(omega)) must both be (N, 3)"))
    half = dt / 2
    @inbounds for i in axes(spins, 1)
        ux, uy, uz = half * omega[i, 1], half * omega[i, 2], half * omega[i, 3]
        x, y, z = spins[i, 1], spins[i, 2], spins[i, 3]
        u2 = ux^2 + uy^2 + uz^2
        ux_dot = ux * x + uy * y + uz * z
        scale = 1 / (1 + u2)
        spins[i, 1] = ((1 - u2) * x + 2 * (uy * z - uz * y) + 2 * ux_dot * ux) * scale
        spins[i, 2] = ((1 - u2) * y + 2 * (uz * x - ux * z) + 2 * ux_dot * uy) * scale
        spins[i, 3] = ((1 - u2) * z + 2 * (ux * y - uy * x) + 2 * ux_dot * uz) * scale
    end
    return spins
end

"""    cayley_rotate(spins, omega, dt) -> new spins (see [`cayley_rotate!`](@ref))"""
cayley_rotate(spins::AbstractMatrix{<:Real}, omega::AbstractMatrix{<:Real}, dt::Real) =
    cayley_rotate!(Matrix{Float64}(spins), omega, dt)

"""
    langevin_ou!(p, mass, gamma, T, dt, xi) -> p

Exact Ornstein-Uhlenbeck update of the momenta over `dt`, the "O" part of BAOAB:
p′ = c p + sqrt(m T (1 − c²)) ξ with c = exp(−γ dt) and standard normal `xi` drawn by the caller. `mass` is a number
or an array that broadcasts against `p`.
"""
function langevin_ou!(p::AbstractArray{<:Real}, mass, gamma::Real, T::Real, dt::Real, xi::AbstractArray{<:Real})
    c = exp(-gamma * dt)
    p .= c .* p .+ sqrt.(mass .* T .* (1 - c^2)) .* xi
    return p
end

"""    langevin_ou(p, mass, gamma, T, dt, xi) -> new momenta (see [`langevin_ou!`](@ref))"""
langevin_ou(p::AbstractArray{<:Real}, mass, gamma::Real, T::Real, dt::Real, xi::AbstractArray{<:Real}) =
    langevin_ou!(Array{Float64}(p), mass, gamma, T, dt, xi)

"""
    brownian_step!(q, force, gamma, T, dt, xi) -> q

Euler-Maruyama step of overdamped dynamics γ dq/dt = F(q) + noise with ⟨noise(t) noise(t′)⟩ = 2γT δ(t − t′):
q′ = q + (dt/γ) F + sqrt(2T dt/γ) ξ, with standard normal `xi` drawn by the caller.
"""
function brownian_step!(q::AbstractArray{<:Real}, force::AbstractArray{<:Real}, gamma::Real, T::Real, dt::Real,
        xi::AbstractArray{<:Real})
    q .+= (dt / gamma) .* force .+ sqrt(2T * dt / gamma) .* xi
    return q
end

"""    brownian_step(q, force, gamma, T, dt, xi) -> new positions (see [`brownian_step!`](@ref))"""
brownian_step(q::AbstractArray{<:Real}, force::AbstractArray{<:Real}, gamma::Real, T::Real, dt::Real,
    xi::AbstractArray{<:Real}) = brownian_step!(Array{Float64}(q), force, gamma, T, dt, xi)

"""
    metropolis_hop_probabilities(dE, T, n_directions=4) -> p

Probability of each proposed hop of one kinetic Monte Carlo attempt, (1/z) min(1, exp(−ΔE/T)) with z =
`n_directions` (4 on the square lattice, spec ch2 Eq. 2.2). `dE = Inf` marks a blocked move and gives 0; at `T = 0`
only moves with ΔE ≤ 0 are made.
"""
function metropolis_hop_probabilities(dE::AbstractArray{<:Real}, T::Real, n_directions::Integer=4)
    # exp(−max(ΔE, 0)/T) = min(1, exp(−ΔE/T)) without overflow for ΔE < 0
    accept = T > 0 ? exp.(-max.(dE, 0.0) ./ T) : Float64.(dE .<= 0)
    return accept ./ n_directions
end
