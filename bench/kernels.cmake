# kernels_bench: VecDot / MatMulRows throughput (GB/s of weight bytes) per
# weight type. Included from bench/CMakeLists.txt.
add_executable(kernels_bench ${CMAKE_CURRENT_LIST_DIR}/kernels_bench.cc)
target_link_libraries(kernels_bench PRIVATE triptych_kernels benchmark::benchmark_main)
