#= Exact diagonalization and Fermi statistics: the twins of latticeml.electrons.ed.

Conventions shared with the Python kernels: eigenvalues ascending, eigenvectors in the columns of `psi`
(`psi[:, n]` belongs to `eps[n]`), k_B = 1, and the Fermi function f(x) = 1/(exp(x/T) + 1) with the
T = 0 limit f = 1, 1/2, 0 for x < 0, x = 0, x > 0. =#

"""
    eigh(h) -> (eps, psi)

Eigen-decomposition of the real-symmetric or complex-Hermitian matrix `h`: ascending eigenvalues `eps` and
orthonormal eigenvectors in the columns of `psi`. Only the lower triangle is read, as in `scipy.linalg.eigh`.
Eigenvectors of degenerate levels are fixed only up to a unitary rotation within each level; compare
gauge-invariant quantities ([`density_matrix`](@ref), [`spin_blocks`](@ref)) across backends.
Runs on the GPU after [`use_cuda!`](@ref).
"""
function eigh(h::AbstractMatrix{<:Number})
    device = DEVICE[]
    # `eigen` works on a copy, so the caller's array is left untouched; `:L` reads the lower triangle
    decomposition = eigen(Hermitian(to_device(device, h), :L))
    return from_device(device, decomposition.values), from_device(device, decomposition.vectors)
end

"""
    fermi(eps, mu, T) -> f

Fermi-Dirac occupations f(ε − μ) = 1/(exp((ε − μ)/T) + 1), evaluated without overflow; `T = 0` gives the step
function with f = 1/2 at ε = μ.
"""
function fermi(eps::AbstractArray{<:Real}, mu::Real, T::Real)
    T >= 0 || throw(DomainError(T, "fermi: the temperature must be >= 0"))
    return fermi_occupation.(eps .- mu, T)
end

function fermi_occupation(x::Real, T::Real)
    T > 0 || return x < 0 ? 1.0 : (x > 0 ? 0.0 : 0.5)
    # exp of a non-positive argument only: no overflow for |x| ≫ T
    if x > 0
        e = exp(-x / T)
        return e / (1 + e)
    end
    return 1 / (1 + exp(x / T))
end

"""
    chemical_potential(eps, n_target, T) -> mu

Chemical potential μ with Σ_n f(ε_n − μ) = `n_target` (a number of particles, 0 < n_target < length(eps)).
`T > 0`: bisection down to adjacent floating-point numbers, for an integer filling on the log-balance of electrons
above and holes below the filled shell, which stays steep inside gaps ≫ T. `T = 0`: the T → 0 limit, midway across
the gap for a filled shell, otherwise the energy of the partly filled (possibly degenerate) level.
"""
function chemical_potential(eps::AbstractVector{<:Real}, n_target::Real, T::Real)
    # as the Python kernel: an empty or full band (within 1e-9) has no chemical potential
    1e-9 <= n_target <= length(eps) - 1e-9 || throw(DomainError(n_target,
        "the particle number must lie strictly between 0 and the number of levels $(length(eps)) " *
        "(at least 1e-9 from either)"))
    T >= 0 || throw(DomainError(T, "chemical_potential: the temperature must be >= 0"))
    sorted = sort(eps)
    T == 0 && return zero_temperature_mu(sorted, n_target)
    if abs(n_target - round(n_target)) <= 1e-12
        # Σf = k ⇔ electrons above level k = holes below it. Σf − k underflows to exactly 0 across a gap ≫ T, where
        # a plain root search would stop anywhere; the logarithms of the two tails do not
        k = round(Int, n_target)
        below, above = view(sorted, 1:k), view(sorted, (k+1):length(sorted))
        tail = (60 + log(length(sorted))) * T
        balance(mu) = logsumexp(log_expit.((mu .- above) ./ T)) - logsumexp(log_expit.((below .- mu) ./ T))
        return increasing_root(balance, sorted[k] - tail, sorted[k+1] + tail)
    end
    # every level is full 60 T below the lowest level and empty 60 T above the highest (e^{-60} ≈ 1e-26)
    excess(mu) = sum(x -> fermi_occupation(x - mu, T), sorted) - n_target
    return increasing_root(excess, sorted[1] - 60T, sorted[end] + 60T)
end

"""Root of the increasing function `g` in [lo, hi] by bisection down to adjacent floating-point numbers."""
function increasing_root(g, lo::Real, hi::Real)
    while true
        mid = (lo + hi) / 2
        (mid == lo || mid == hi) && return mid
        g(mid) < 0 ? (lo = mid) : (hi = mid)
    end
end

# log(1/(1 + e^{−z})) without overflow
log_expit(z::Real) = z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z))

function logsumexp(x::AbstractVector{<:Real})
    top = maximum(x)
    return top + log(sum(v -> exp(v - top), x))
end

# levels closer than this, relative to the spectral scale, count as one degenerate level at T = 0
const DEGENERATE_RTOL = 1e-12

function zero_temperature_mu(sorted::AbstractVector{<:Real}, n_target::Real)
    k = floor(Int, n_target + 1e-12)  # full levels below the Fermi level
    tol = DEGENERATE_RTOL * max(1.0, maximum(abs, sorted))
    filled_shell = abs(n_target - round(n_target)) <= 1e-12 && sorted[k+1] - sorted[k] > tol
    return filled_shell ? (sorted[k] + sorted[k+1]) / 2 : float(sorted[k+1])
end

"""
    band_energy(eps, mu, T) -> E

Internal energy of the filled levels, E = Σ_n ε_n f(ε_n − μ) (the energy of the Metropolis rule, spec ch2 §2).
"""
band_energy(eps::AbstractVector{<:Real}, mu::Real, T::Real) = sum(x -> x * fermi_occupation(x - mu, T), eps)

"""
    grand_potential(eps, mu, T) -> Ω

Grand potential Ω = −T Σ_n ln(1 + exp(−(ε_n − μ)/T)), evaluated without overflow; `T = 0` gives Σ_{ε_n < μ} (ε_n − μ).
"""
grand_potential(eps::AbstractVector{<:Real}, mu::Real, T::Real) = sum(x -> level_grand_potential(x - mu, T), eps)

function level_grand_potential(x::Real, T::Real)
    T > 0 || return min(float(x), 0.0)
    # −T ln(1 + e^{−x/T}) = min(x, 0) − T ln(1 + e^{−|x|/T})
    return min(float(x), 0.0) - T * log1p(exp(-abs(x) / T))
end

"""
    density_matrix(eps, psi, mu, T) -> rho

One-body density matrix ρ_pq = Σ_n f(ε_n − μ) ψ_n(p) conj(ψ_n(q)) = ⟨c_q† c_p⟩ (Hellmann-Feynman: ∂Ω/∂h_pq = ρ_qp).
Runs on the GPU after [`use_cuda!`](@ref).
"""
function density_matrix(eps::AbstractVector{<:Real}, psi::AbstractMatrix{<:Number}, mu::Real, T::Real)
    device = DEVICE[]
    vectors = to_device(device, psi)
    weighted = vectors .* transpose(fermi(to_device(device, eps), mu, T))
    return from_device(device, weighted * vectors')
end

"""
    spin_blocks(eps, psi, mu, T) -> F

On-site 2×2 blocks of the spinful density matrix, an `(N, 2, 2)` complex array with
F[i, a, b] = Σ_n f(ε_n − μ) ψ_n(2(i−1) + a) conj(ψ_n(2(i−1) + b)): orbital `2(i−1) + a` is site `i`, spin `a`
(1 = up, 2 = down), the 1-based form of the Python convention `2i + spin`. The local exchange field of the s-d
model is H_i^α = J tr(σ^α F_i) (spec ch3 §3). Costs three matrix-vector products; runs on the GPU after
[`use_cuda!`](@ref).
"""
function spin_blocks(eps::AbstractVector{<:Real}, psi::AbstractMatrix{<:Number}, mu::Real, T::Real)
    norb = size(psi, 1)
    iseven(norb) || throw(DimensionMismatch("psi has $norb rows; a spinful basis needs 2 per site (2i + spin)"))
    device = DEVICE[]
    vectors = to_device(device, psi)
    occupation = fermi(to_device(device, eps), mu, T)
    up = view(vectors, 1:2:norb, :)
    down = view(vectors, 2:2:norb, :)
    blocks = similar(vectors, ComplexF64, (norb ÷ 2, 2, 2))
    blocks[:, 1, 1] .= abs2.(up) * occupation
    blocks[:, 2, 2] .= abs2.(down) * occupation
    blocks[:, 1, 2] .= (up .* conj.(down)) * occupation
    blocks[:, 2, 1] .= conj.(view(blocks, :, 1, 2))
    return from_device(device, blocks)
end

"""
    hellmann_feynman(eps, psi, mu, T, derivatives) -> forces

Generalized forces −Re Tr(ρ ∂H/∂x_k) for each derivative matrix ∂H/∂x_k (dense or sparse) in `derivatives`:
−∂Ω/∂x_k at fixed μ, which equals −∂F/∂x_k at fixed particle number because F is stationary in μ.
"""
function hellmann_feynman(eps::AbstractVector{<:Real}, psi::AbstractMatrix{<:Number}, mu::Real, T::Real,
        derivatives::AbstractVector{<:AbstractMatrix})
    rho = density_matrix(eps, psi, mu, T)
    return [-real(trace_of_product(rho, derivative)) for derivative in derivatives]
end

# Tr(ρ D) = Σ_pq ρ_pq D_qp; `dot` conjugates its first argument, and (D')_pq = conj(D_qp)
trace_of_product(rho::AbstractMatrix, derivative::AbstractMatrix) = dot(derivative', rho)

function trace_of_product(rho::AbstractMatrix, derivative::SparseMatrixCSC)
    rows, cols, values = findnz(derivative)
    return sum(values[k] * rho[cols[k], rows[k]] for k in eachindex(values); init=zero(eltype(rho)))
end
