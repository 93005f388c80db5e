#= Where the dense kernels run. The host is the default; the CUDA extension adds a GPU device, and `use_cuda!`
(defined there) selects it. Kernels move their inputs with `to_device` and their results back with `from_device`,
so callers (numpy through juliacall included) always see host arrays. =#

"""Where [`eigh`](@ref), [`density_matrix`](@ref), [`spin_blocks`](@ref) and [`kpm_spin_blocks`](@ref) run."""
abstract type ComputeDevice end

"""The CPU, with BLAS/LAPACK on column-major `Array`s."""
struct HostDevice <: ComputeDevice end

const DEVICE = Ref{ComputeDevice}(HostDevice())

"""
    to_device(device, x)

`x` as an array of `device`. On the host: a column-major `Array` (itself when it is one already; a copy of a
strided view such as a numpy C-order array wrapped by juliacall, so BLAS and LAPACK apply).
"""
to_device(::HostDevice, x::AbstractArray) = convert(Array, x)
to_device(::HostDevice, x::SparseMatrixCSC) = x

"""    from_device(device, x)

`x` as a host `Array`."""
from_device(::HostDevice, x::AbstractArray) = x

"""
    use_cuda!(enable=true)

Run the dense kernels on the GPU (`enable = true`) or back on the host. Needs `using CUDA` first, which loads the
`LatticeMLCoreCUDAExt` extension, and a functional GPU. Inputs are copied to the GPU and results back on every
call, which pays off for the O(N³) kernels from N of a few thousand orbitals.
"""
function use_cuda! end

"""The device the dense kernels run on now, as text."""
current_device() = string(nameof(typeof(DEVICE[])))

"""
    backend_info() -> String

One line on this package, the Julia runtime and the compute device, for `latticeml info`.
"""
function backend_info()
    version = pkgversion(@__MODULE__)
    device = current_device()
    return "LatticeMLCore $version on Julia $VERSION, $(Threads.nthreads()) thread(s), device $device"
end

function __init__()
    # a MethodError for `use_cuda!` before `using CUDA` names the missing step
    Base.Experimental.register_error_hint(MethodError) do io, exc, _, _
        if exc.f === use_cuda!
            print(io, "\nuse_cuda! is defined by the CUDA extension: run `using CUDA` first (and add CUDA.jl to the",
                " environment if it is missing).")
        end
    end
end
