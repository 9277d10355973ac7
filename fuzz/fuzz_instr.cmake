# fuzz_instr.cmake - libFuzzer target for libdptrace-instr's parsers of request data:
# url.full / url.query redaction, Host and URL host:port, the SQL sanitizer and
# summarizer (fuzz_instr.c). Included from fuzz/CMakeLists.txt; needs no library.
set(DPT_INSTR_DIR ${PROJECT_SOURCE_DIR}/src/instr)
add_executable(fuzz_instr fuzz_instr.c ${DPT_INSTR_DIR}/url.c ${DPT_INSTR_DIR}/sql.c)
target_include_directories(fuzz_instr PRIVATE ${DPT_INSTR_DIR})
target_compile_options(fuzz_instr PRIVATE ${DPT_FUZZ_FLAGS})
target_link_options(fuzz_instr PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(fuzz_instr PRIVATE dpt_fuzz_lib)
