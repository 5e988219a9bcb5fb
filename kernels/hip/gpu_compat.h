#ifndef TRIPTYCH_KERNELS_HIP_GPU_COMPAT_H_
#define TRIPTYCH_KERNELS_HIP_GPU_COMPAT_H_

// Portability header for the .hip sources in this folder: they are written
// against the HIP runtime API and compile with hipcc (AMD) as they are, and
// with nvcc (`nvcc -x cu`) through the hip* -> cuda* aliases below. Debian's
// HIP headers cannot target NVIDIA (their nvidia platform path expects the
// separate hipother/nvidia headers), so this small map is used instead.
//
// Only the subset of the API the kernels use is mapped; kernels launch with
// the <<<grid, block, shmem, stream>>> syntax both compilers accept.

#if defined(__HIPCC__) || defined(__HIP__)
#include <hip/hip_runtime.h>
#define TRIPTYCH_GPU_RUNTIME "hip"
#elif defined(__CUDACC__)
#include <cuda_runtime.h>
#define TRIPTYCH_GPU_RUNTIME "cuda"

using hipError_t = cudaError_t;
using hipStream_t = cudaStream_t;
using hipMemcpyKind = cudaMemcpyKind;
#define hipSuccess cudaSuccess
#define hipGetDeviceCount cudaGetDeviceCount
#define hipSetDevice cudaSetDevice
#define hipGetErrorString cudaGetErrorString
#define hipGetLastError cudaGetLastError
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemcpy cudaMemcpy
#define hipMemset cudaMemset
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipStreamCreate cudaStreamCreate
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamSynchronize cudaStreamSynchronize
#define hipDeviceProp_t cudaDeviceProp
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipGetDevice cudaGetDevice
#else
#error "gpu_compat.h is for hipcc or nvcc"
#endif

#endif  // TRIPTYCH_KERNELS_HIP_GPU_COMPAT_H_
