"""
GPU device for LatticeMLCore, loaded with `using CUDA`: [`LatticeMLCore.use_cuda!`](@ref) routes `eigh`,
`density_matrix`, `spin_blocks` and dense `kpm_spin_blocks` through CUDA (cuSOLVER eigen-decomposition, cuBLAS
products), copying inputs to the GPU and results back on every call.
"""
module LatticeMLCoreCUDAExt

using CUDA: CUDA, CuArray
using LatticeMLCore: LatticeMLCore, ComputeDevice, HostDevice, DEVICE

"""The first CUDA GPU, as seen by CUDA.jl."""
struct CUDADevice <: ComputeDevice end

LatticeMLCore.to_device(::CUDADevice, x::AbstractArray) = CuArray(convert(Array, x))
LatticeMLCore.to_device(::CUDADevice, x::CuArray) = x
LatticeMLCore.from_device(::CUDADevice, x::AbstractArray) = Array(x)

function LatticeMLCore.use_cuda!(enable::Bool=true)
    if enable
        CUDA.functional() || error("CUDA.jl finds no usable GPU (CUDA.functional() is false); the kernels stay on the host")
        DEVICE[] = CUDADevice()
    else
        DEVICE[] = HostDevice()
    end
    return LatticeMLCore.current_device()
end

end
