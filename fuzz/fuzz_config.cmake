# fuzz_config.cmake - the libFuzzer target for the configuration values (fuzz_config.c),
# included from fuzz/CMakeLists.txt; built like the propagation targets.
add_executable(fuzz_config fuzz_config.c)
target_compile_options(fuzz_config PRIVATE ${DPT_FUZZ_FLAGS})
target_link_options(fuzz_config PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(fuzz_config PRIVATE dpt_fuzz_lib)
