# grammar_mask_bench: structured-output mask cost per token on 32k and 128k
# vocabularies (docs/BENCHMARKS.md). Included from bench/CMakeLists.txt.
add_executable(grammar_mask_bench ${CMAKE_CURRENT_LIST_DIR}/grammar_mask_bench.cc)
target_link_libraries(grammar_mask_bench PRIVATE triptych_grammar triptych_tokenizer
                      triptych_gguf benchmark::benchmark)
