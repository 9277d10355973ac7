# fuzz_argv_redact.cmake - libFuzzer target for the command-line redaction of `dptrace exec`
# (tools/dptrace/argv_redact.c), included from fuzz/CMakeLists.txt.
set(DPT_CLI_DIR ${PROJECT_SOURCE_DIR}/tools/dptrace)
add_executable(fuzz_argv_redact fuzz_argv_redact.c ${DPT_CLI_DIR}/argv_redact.c)
target_include_directories(fuzz_argv_redact PRIVATE ${DPT_CLI_DIR})
target_compile_options(fuzz_argv_redact PRIVATE ${DPT_FUZZ_FLAGS})
target_link_options(fuzz_argv_redact PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(fuzz_argv_redact PRIVATE dpt_fuzz_lib)
