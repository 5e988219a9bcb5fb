# memory_ops_bench: relevancy (Quest) scan in GB/s of summaries against a
# plain memory-read baseline, BM25 postings/s and queries/s on a generated
# 100k-document corpus, dense inner products, key summaries. Included from
# bench/CMakeLists.txt.
add_executable(memory_ops_bench ${CMAKE_CURRENT_LIST_DIR}/memory_ops_bench.cc)
target_link_libraries(memory_ops_bench PRIVATE triptych_memory_kernels
  benchmark::benchmark_main)
