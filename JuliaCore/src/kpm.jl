#= Kernel polynomial method: the twins of latticeml.electrons.kpm (spec ch3 §3).

The Fermi function of the rescaled 𝐇̃ = (𝐇 − b)/a, a = (E_max − E_min)/(2·0.99), b = (E_max + E_min)/2, is expanded
as f ≈ Σ_m g_m c_m T_m(𝐇̃) and applied to blocks of vectors by the three-term recurrence
v_{m+1} = 2𝐇̃ v_m − v_{m−1}. Reference: Weiße, Wellein, Alvermann, Fehske, Rev. Mod. Phys. 78, 275 (2006). =#

# the rescaled spectrum fills [−0.99, 0.99], away from the endpoints where T_m grows fastest under rounding
const SPECTRAL_MARGIN = 0.99

"""
    spectral_scale(bounds) -> (a, b)

The rescaling 𝐇̃ = (𝐇 − b)/a that maps `bounds = (E_min, E_max)` into [−0.99, 0.99].
"""
function spectral_scale(bounds)
    lo, hi = float.(bounds)
    hi > lo || throw(ArgumentError("spectral bounds must satisfy E_min < E_max, got $bounds"))
    return (hi - lo) / (2 * SPECTRAL_MARGIN), (hi + lo) / 2
end

"""
    jackson_kernel(num_moments) -> g

Jackson damping factors g_m, m = 0..M−1 (g_0 = 1), stored at index m + 1.
"""
function jackson_kernel(num_moments::Integer)
    M = num_moments
    q = π / (M + 1)
    return [((M - m + 1) * cos(q * m) + sin(q * m) * cot(q)) / (M + 1) for m in 0:(M-1)]
end

"""
    fermi_chebyshev_coefficients(mu, T, scale, num_moments; n_nodes=max(8M, 4096)) -> c

Chebyshev coefficients c_m (index m + 1) of x ↦ f(a x + b), f the Fermi function at (μ, T) and
`scale = (a, b)`. `T > 0`: c_m = (2 − δ_m0)⟨f(a cos θ + b) cos mθ⟩ over `n_nodes` Chebyshev-Gauss nodes, the DCT-II
of the Python kernel summed directly. `T = 0`: the step function's closed form c_0 = 1 − θ_F/π,
c_m = −2 sin(mθ_F)/(mπ), θ_F = arccos((μ − b)/a).
"""
function fermi_chebyshev_coefficients(mu::Real, T::Real, scale, num_moments::Integer;
        n_nodes::Integer=max(8 * num_moments, 4096))
    a, b = scale
    M = num_moments
    M >= 2 || throw(ArgumentError("need at least 2 Chebyshev moments, got $num_moments"))
    T >= 0 || throw(DomainError(T, "the electron temperature must be >= 0"))
    if T == 0
        theta_fermi = acos(clamp((mu - b) / a, -1.0, 1.0))
        return [m == 0 ? 1 - theta_fermi / π : -2 * sin(m * theta_fermi) / (m * π) for m in 0:(M-1)]
    end
    K = n_nodes
    theta = [π * (k + 0.5) / K for k in 0:(K-1)]
    occupation = [fermi_occupation(a * cos(t) + b - mu, T) for t in theta]
    coefficients = [2 * sum(occupation[k] * cos(m * theta[k]) for k in 1:K) / K for m in 0:(M-1)]
    coefficients[1] /= 2
    return coefficients
end

"""
    chebyshev_apply(H, V, coefficients, scale) -> W

W = Σ_m c_m T_m(𝐇̃) V with 𝐇̃ = (𝐇 − b)/a, for a block of column vectors `V`; `H` is any matrix with `mul!`
(dense, `SparseMatrixCSC`, or a GPU array).
"""
function chebyshev_apply(H::AbstractMatrix, V::AbstractMatrix, coefficients::AbstractVector{<:Real}, scale)
    a, b = scale
    v_prev = ComplexF64.(V)
    W = coefficients[1] .* v_prev
    length(coefficients) == 1 && return W
    v = similar(v_prev)
    mul!(v, H, v_prev)
    v .= (v .- b .* v_prev) ./ a
    W .+= coefficients[2] .* v
    v_next = similar(v_prev)
    for c in view(coefficients, 3:length(coefficients))
        mul!(v_next, H, v)
        v_next .= (2 / a) .* (v_next .- b .* v) .- v_prev
        v_prev, v, v_next = v, v_next, v_prev
        W .+= c .* v
    end
    return W
end

"""
    probing_colours(shape, period) -> colour

Colour (1-based) of every site for colour probing with period d: the site of cell (n1, n2), index n1·L2 + n2 + 1,
has colour (n1 mod d)·d + (n2 mod d) + 1. `d` must divide L1 and L2 so that same-colour sites are d cells apart
also across the periodic boundary.
"""
function probing_colours(shape, period::Integer)
    L1, L2 = shape
    d = period
    d >= 1 && L1 % d == 0 && L2 % d == 0 ||
        throw(ArgumentError("probing period $period must divide the lattice size $shape"))
    return [(n1 % d) * d + n2 % d + 1 for n1 in 0:(L1-1) for n2 in 0:(L2-1)]
end

"""
    kpm_spin_blocks(H, mu, T, bounds, num_moments=1000; kernel=nothing, lattice_shape=nothing,
                    probing_period=nothing, block_size=512, sites=nothing) -> F

Local 2×2 density-matrix blocks F[i, a, b] = f(𝐇)_{2(i−1)+a, 2(i−1)+b} (the convention of [`spin_blocks`](@ref)) by a
Chebyshev expansion of the Fermi function at (μ, T).

# Arguments
- `H`: the 2N×2N Hamiltonian, dense (on the GPU after [`use_cuda!`](@ref)) or `SparseMatrixCSC` (on the host);
  `bounds = (E_min, E_max)` must enclose its spectrum.
- `num_moments`: M (1000 gives a relative error of H_⊥ of 3e−4 at T = 0.01, spec ch3 §3).
- `kernel`: `nothing` (plain truncation) or `"jackson"`.
- `probing_period`: `nothing` for the exact blocks from all 2N unit vectors, `block_size` at a time; an integer d
  for colour probing with 2d² vectors, which needs `lattice_shape = (L1, L2)` and is biased by F_ij between
  same-colour sites.
- `sites`: `nothing` for every site, or 1-based site indices: the exact blocks of these sites only, in that order,
  at a cost proportional to their number; not with `probing_period`.
"""
function kpm_spin_blocks(H::AbstractMatrix, mu::Real, T::Real, bounds, num_moments::Integer=1000;
        kernel::Union{Nothing,AbstractString}=nothing, lattice_shape=nothing,
        probing_period::Union{Nothing,Integer}=nothing, block_size::Integer=512,
        sites::Union{Nothing,AbstractVector{<:Integer}}=nothing)
    n = size(H, 1)
    iseven(n) || throw(DimensionMismatch("H has $n orbitals; a spinful basis needs 2 per site (2i + spin)"))
    nsites = n ÷ 2
    scale = spectral_scale(bounds)
    coefficients = fermi_chebyshev_coefficients(mu, T, scale, num_moments)
    if kernel == "jackson"
        coefficients .*= jackson_kernel(num_moments)
    elseif kernel !== nothing
        throw(ArgumentError("unknown KPM kernel \"$kernel\"; use nothing or \"jackson\""))
    end
    if sites !== nothing && probing_period !== nothing
        throw(ArgumentError("exact blocks of chosen sites do not combine with probing; drop one of them"))
    end
    # a sparse H stays on the host; a dense one is made complex so that products with the complex vectors use BLAS
    device = H isa SparseMatrixCSC ? HostDevice() : DEVICE[]
    operator = to_device(device, H isa SparseMatrixCSC ? H : ComplexF64.(H))
    if probing_period === nothing
        wanted = sites === nothing ? collect(1:nsites) : collect(Int, sites)
        all(in(1:nsites), wanted) || throw(ArgumentError("site indices must lie in 1:$nsites"))
        blocks = zeros(ComplexF64, length(wanted), 2, 2)
        # position 2(k−1) + s of `orbitals` is spin s of the k-th wanted site
        orbitals = vec([2(site-1)+spin for spin in 1:2, site in wanted])
        for start in 1:block_size:length(orbitals)
            columns = start:min(start + block_size - 1, length(orbitals))
            unit_vectors = zeros(ComplexF64, n, length(columns))
            for (c, position) in enumerate(columns)
                unit_vectors[orbitals[position], c] = 1
            end
            W = from_device(device, chebyshev_apply(operator, to_device(device, unit_vectors), coefficients, scale))
            for (c, position) in enumerate(columns)
                row, spin_b = (position - 1) ÷ 2 + 1, (position - 1) % 2 + 1
                for spin_a in 1:2
                    blocks[row, spin_a, spin_b] = W[2(wanted[row]-1)+spin_a, c]
                end
            end
        end
        return blocks
    end
    blocks = zeros(ComplexF64, nsites, 2, 2)
    lattice_shape === nothing && throw(ArgumentError("colour probing needs lattice_shape = (L1, L2)"))
    colour = probing_colours(lattice_shape, probing_period)
    length(colour) == nsites ||
        throw(DimensionMismatch("lattice_shape $lattice_shape has $(length(colour)) sites, H has $nsites"))
    # probe vector 2(c−1) + s is 1 on spin s of every site of colour c
    probes = zeros(ComplexF64, n, 2 * probing_period^2)
    for site in 1:nsites, spin in 1:2
        probes[2(site-1)+spin, 2(colour[site]-1)+spin] = 1
    end
    W = similar(probes)
    for start in 1:block_size:size(probes, 2)
        columns = start:min(start + block_size - 1, size(probes, 2))
        W[:, columns] = from_device(device,
            chebyshev_apply(operator, to_device(device, probes[:, columns]), coefficients, scale))
    end
    for site in 1:nsites, spin_a in 1:2, spin_b in 1:2
        blocks[site, spin_a, spin_b] = W[2(site-1)+spin_a, 2(colour[site]-1)+spin_b]
    end
    return blocks
end

"""
    csc_matrix(nrows, ncols, colptr, rowval, nzval) -> SparseMatrixCSC

A `SparseMatrixCSC` from the 0-based compressed-column arrays of `scipy.sparse.csc_matrix` (`indptr`, `indices`,
`data`), used by the Python wrapper to hand over a sparse Hamiltonian.
"""
csc_matrix(nrows::Integer, ncols::Integer, colptr::AbstractVector{<:Integer}, rowval::AbstractVector{<:Integer},
    nzval::AbstractVector) = SparseMatrixCSC(nrows, ncols, Vector{Int}(colptr) .+ 1, Vector{Int}(rowval) .+ 1,
    Vector(nzval))
