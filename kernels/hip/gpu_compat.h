#ifndef TRIPTYCH_KERNELS_HIP_GPU_COMPAT_H_
#define TRIPTYCH_KERNELS_HIP_GPU_COMPAT_H_

// Portability header for the .hip sources in this folder: they are written
// against the HIP runtime API and compile three ways:
//  * hipcc (AMD) as they are;
//  * nvcc (`nvcc -x cu`) through the hip* -> cuda* aliases below (Debian's
//    HIP headers cannot target NVIDIA: their nvidia platform path expects
//    the separate hipother/nvidia headers, so this small map is used);
//  * the host C++ compiler against AMD's HIP CPU Runtime (header-only,
//    ../shared/third_party/hip-cpu), which runs every block and thread of a
//    kernel on the host; the build defines TRIPTYCH_HIP_CPU.
//
// Only the subset of the API the kernels use is mapped. The one launch form
// all three accept is hipLaunchKernelGGL(kernel, grid, block, shmem, stream,
// args...) (a template kernel in parentheses: `(K<T, 4>)`); g++ has no
// <<<...>>> syntax. Device intrinsics that g++ lacks (__uint_as_float and
// friends) are not used: device_math.h bit-casts with memcpy.

#if defined(TRIPTYCH_HIP_CPU)
#include <hip/hip_runtime.h>
#define TRIPTYCH_GPU_RUNTIME "hip-cpu"
#elif defined(__HIPCC__) || defined(__HIP__)
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
using hipEvent_t = cudaEvent_t;
#define hipEventCreateWithFlags cudaEventCreateWithFlags
#define hipEventDisableTiming cudaEventDisableTiming
#define hipEventDestroy cudaEventDestroy
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipLaunchKernelGGL(kernel, grid, block, shmem, stream, ...) \
  kernel<<<grid, block, shmem, stream>>>(__VA_ARGS__)
#else
#error "gpu_compat.h is for hipcc, nvcc or the HIP CPU runtime"
#endif

#endif  // TRIPTYCH_KERNELS_HIP_GPU_COMPAT_H_
