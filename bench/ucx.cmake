# ucx_bench: cross-process UCX put bandwidth (shm and tcp, with and without
# peer error handling) through triptych_transport. Included from
# bench/CMakeLists.txt. Compare with ucx_perftest (docs/TRANSPORT.md).
add_executable(ucx_bench ${CMAKE_CURRENT_LIST_DIR}/ucx_bench.cc
                         ${PROJECT_SOURCE_DIR}/transport/fork_peer.cc)
target_link_libraries(ucx_bench PRIVATE triptych_transport benchmark::benchmark)
