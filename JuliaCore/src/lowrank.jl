#= Fast exact ΔE of Falicov-Kimball hops: the twin of latticeml.electrons.lowrank (spec ch2 §8, option 1).

A hop of an f-electron from site i to site j changes the one-body matrix by a rank-two term,
h' = h + U (e_j e_jᵀ − e_i e_iᵀ). In the eigenbasis of h this is diag(ε) + U (a aᵀ − b bᵀ) with a = ψ[j, :] and
b = ψ[i, :], whose spectrum follows from two rank-one updates, each solved by its secular equation
1 + ρ Σ_m w_m² / (p_m − λ) = 0 (Golub 1973; LAPACK dlaed4). Degenerate levels, plentiful on the square lattice,
are first merged into one pole: a level of multiplicity g keeps g − 1 (or g − 2) of its copies unchanged.
Cost per move: O(N) per secular-function evaluation, O(N²) per move, against O(N³) for a fresh diagonalization. =#

"""
    fk_move_energies(eps, psi, occ, moves, U, n_c, T, energy_kind) -> dE

Exact energy change of each Falicov-Kimball hop in `moves` from the current eigen-decomposition (`eps`, `psi`) of
h = −t·A + U·diag(occ), without diagonalizing again.

# Arguments
- `occ`: f occupations (0 or 1) per site.
- `moves`: `(M, 2)` integer matrix of **1-based** (from, to) sites; the Python wrapper adds 1 to its 0-based moves.
- `U`: the f-c interaction; `n_c`: the number of c electrons (fixed for every configuration); `T`: temperature.
- `energy_kind`: `"internal"` for E = Σ ε f(ε − μ) at the μ that keeps `n_c` electrons (the authors' choice,
  spec ch2 §2) or `"free"` for F = Ω(μ) + μ n_c.

A move whose source is empty, whose target is occupied, or that stays on its site is blocked and gets `dE = Inf`.
`T > 0` is required, as in Python.
Moves are evaluated on all Julia threads.
"""
function fk_move_energies(eps::AbstractVector{<:Real}, psi::AbstractMatrix{<:Real}, occ::AbstractVector{<:Real},
        moves::AbstractMatrix{<:Integer}, U::Real, n_c::Real, T::Real, energy_kind::AbstractString="internal")
    kind = Symbol(energy_kind)
    kind in (:internal, :free) ||
        throw(ArgumentError("energy_kind = \"$energy_kind\" must be \"internal\" or \"free\""))
    T > 0 || throw(ArgumentError("fk_move_energies needs a temperature T > 0 (got $T); diagonalize anew at T = 0"))
    size(moves, 2) == 2 || throw(DimensionMismatch("moves must be (M, 2) (from, to) pairs, got $(size(moves))"))
    # the secular solver needs ascending levels; rows[:, i] = ψ[i, :] in that order, contiguous in memory
    order = sortperm(eps)
    levels = Vector{Float64}(eps[order])
    rows = permutedims(Matrix{Float64}(psi[:, order]))
    occupied = occ .!= 0
    pairs = Matrix{Int}(moves)
    energy_before = fk_energy(levels, n_c, T, kind)
    tol = 1e-10 * max(1.0, maximum(abs, levels))
    dE = Vector{Float64}(undef, size(pairs, 1))
    Threads.@threads for k in eachindex(dE)
        from, to = pairs[k, 1], pairs[k, 2]
        dE[k] = if occupied[from] && !occupied[to]
            new_levels = hopped_spectrum(levels, view(rows, :, to), view(rows, :, from), U, tol)
            fk_energy(new_levels, n_c, T, kind) - energy_before
        else
            Inf
        end
    end
    return dE
end

"""Energy of the Metropolis rule for levels `eps` holding `n_c` electrons (see [`fk_move_energies`](@ref))."""
function fk_energy(eps::AbstractVector{<:Real}, n_c::Real, T::Real, kind::Symbol)
    mu = chemical_potential(eps, n_c, T)
    kind === :internal && return band_energy(eps, mu, T)
    return grand_potential(eps, mu, T) + mu * n_c
end

# weights below this carry no information at double precision and would put a root on top of its pole
const NEGLIGIBLE_WEIGHT = 1e-24

"""
    hopped_spectrum(eps, a, b, U, tol) -> eps′

Ascending eigenvalues of diag(eps) + U (a aᵀ − b bᵀ) for ascending `eps`; levels closer than `tol` count as one.
"""
function hopped_spectrum(eps::AbstractVector{Float64}, a::AbstractVector{Float64}, b::AbstractVector{Float64},
        U::Real, tol::Real)
    iszero(U) && return copy(eps)
    unchanged = Float64[]
    sizehint!(unchanged, length(eps))
    # each degenerate level becomes at most two poles: one carrying all of b (and the part of a along it), one
    # carrying the rest of a; its other copies are eigenvectors of h' with the same eigenvalue
    poles, alpha, beta = Float64[], Float64[], Float64[]
    for run in level_runs(eps, tol)
        level = sum(view(eps, run)) / length(run)
        saa = sum(abs2, view(a, run))
        sab = dot(view(a, run), view(b, run))
        sbb = sum(abs2, view(b, run))
        participating = 0
        a_rest = saa
        if sbb > NEGLIGIBLE_WEIGHT
            push!(poles, level)
            push!(alpha, sab / sqrt(sbb))
            push!(beta, sqrt(sbb))
            participating += 1
            a_rest = saa - sab^2 / sbb
        end
        if length(run) > participating && a_rest > max(NEGLIGIBLE_WEIGHT, 1e-13 * saa)
            push!(poles, level)
            push!(alpha, sqrt(a_rest))
            push!(beta, 0.0)
            participating += 1
        end
        append!(unchanged, Iterators.repeated(level, length(run) - participating))
    end

    # step 1: remove the f-electron at i, ρ = −U along b; poles without b keep their value and their a
    removes = beta .!= 0
    levels1 = poles[.!removes]
    alpha1 = alpha[.!removes]
    if any(removes)
        p, w, a_in = poles[removes], beta[removes], alpha[removes]
        for root in secular_roots(p, w, -U)
            # the new eigenvector is ∝ w_m / (p_m − λ); its overlap with e_j is the weight of step 2
            overlap, norm2 = 0.0, 0.0
            for m in eachindex(p)
                v = w[m] / pole_distance(p, m, root)
                overlap += v * a_in[m]
                norm2 += v * v
            end
            push!(levels1, p[root.origin] + root.offset)
            push!(alpha1, overlap / sqrt(norm2))
        end
    end
    order = sortperm(levels1)
    levels1, alpha1 = levels1[order], alpha1[order]

    # step 2: add the f-electron at j, ρ = +U along a
    q, wq = Float64[], Float64[]
    for run in level_runs(levels1, tol)
        level = sum(view(levels1, run)) / length(run)
        weight2 = sum(abs2, view(alpha1, run))
        if weight2 > NEGLIGIBLE_WEIGHT
            push!(q, level)
            push!(wq, sqrt(weight2))
            append!(unchanged, Iterators.repeated(level, length(run) - 1))
        else
            append!(unchanged, Iterators.repeated(level, length(run)))
        end
    end
    for root in secular_roots(q, wq, U)
        push!(unchanged, q[root.origin] + root.offset)
    end
    length(unchanged) == length(eps) ||
        error("hopped_spectrum lost levels: $(length(unchanged)) of $(length(eps)); report this as a bug")
    return sort!(unchanged)
end

"""Consecutive index ranges of the ascending `values` whose neighbours differ by at most `tol`."""
function level_runs(values::AbstractVector{Float64}, tol::Real)
    runs = UnitRange{Int}[]
    start = firstindex(values)
    for k in (start+1):lastindex(values)
        if values[k] - values[k-1] > tol
            push!(runs, start:(k-1))
            start = k
        end
    end
    push!(runs, start:lastindex(values))
    return runs
end

"""A root λ = poles[origin] + offset of a secular equation, kept relative to its nearer pole for accuracy."""
struct SecularRoot
    origin::Int
    offset::Float64
end

# p_m − λ without the cancellation of subtracting two nearly equal absolute values
pole_distance(p, m, root::SecularRoot) = (p[m] - p[root.origin]) - root.offset

function secular_value_and_slope(p, w2, rho, root::SecularRoot)
    value, slope = 1.0, 0.0
    for m in eachindex(p)
        inverse = 1 / pole_distance(p, m, root)
        value += rho * w2[m] * inverse
        slope += rho * w2[m] * inverse^2
    end
    return value, slope
end

"""
    secular_roots(p, w, rho) -> Vector{SecularRoot}

All roots of 1 + ρ Σ_m w_m² / (p_m − λ) = 0 for strictly ascending poles `p` and nonzero weights `w`. The roots
interlace the poles (ρ > 0: root k in (p_k, p_{k+1}), the last one below p_K + ρ|w|²; ρ < 0: mirrored), and the
function is monotone between poles, so safeguarded Newton steps inside a shrinking bracket always converge.
"""
function secular_roots(p::AbstractVector{Float64}, w::AbstractVector{Float64}, rho::Real)
    w2 = w .^ 2
    total = sum(w2)
    roots = Vector{SecularRoot}(undef, length(p))
    for k in eachindex(p)
        neighbour = rho > 0 ? k + 1 : k - 1
        if checkbounds(Bool, p, neighbour)
            half = (p[neighbour] - p[k]) / 2
            # f(midpoint) > 0 puts the root on the side of pole k for either sign of ρ
            value, _ = secular_value_and_slope(p, w2, rho, SecularRoot(k, half))
            origin, lo, hi = value > 0 ? (k, minmax(0.0, half)...) : (neighbour, minmax(0.0, -half)...)
        else
            origin, lo, hi = k, minmax(0.0, rho * total)...
        end
        roots[k] = bracketed_secular_root(p, w2, rho, origin, lo, hi)
    end
    return roots
end

function bracketed_secular_root(p, w2, rho, origin::Int, lo::Float64, hi::Float64)
    offset = (lo + hi) / 2
    for _ in 1:200
        value, slope = secular_value_and_slope(p, w2, rho, SecularRoot(origin, offset))
        value == 0 && break
        # f rises with λ for ρ > 0 and falls for ρ < 0
        (value > 0) == (rho > 0) ? (hi = offset) : (lo = offset)
        next = offset - value / slope
        lo < next < hi || (next = (lo + hi) / 2)
        (next == offset || hi - lo <= 4 * eps(max(abs(lo), abs(hi)))) && break
        offset = next
    end
    return SecularRoot(origin, offset)
end
