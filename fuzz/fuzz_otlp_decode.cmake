# fuzz_otlp_decode.cmake - libFuzzer target for `dptrace collect`'s request decoder
# (protobuf and OTLP/JSON, fuzz_otlp_decode.c), included from fuzz/CMakeLists.txt.
find_package(PkgConfig)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(FUZZ_DEC_JANSSON IMPORTED_TARGET jansson)
endif()
if(FUZZ_DEC_JANSSON_FOUND)
  set(DPT_CLI_DIR ${PROJECT_SOURCE_DIR}/tools/dptrace)
  add_executable(fuzz_otlp_decode fuzz_otlp_decode.c ${DPT_CLI_DIR}/otlp_decode.c
    ${DPT_CLI_DIR}/otlp_read.c ${DPT_CLI_DIR}/util.c)
  target_include_directories(fuzz_otlp_decode PRIVATE ${DPT_CLI_DIR} ${PROJECT_SOURCE_DIR}/src/common)
  target_compile_options(fuzz_otlp_decode PRIVATE ${DPT_FUZZ_FLAGS})
  target_link_options(fuzz_otlp_decode PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_otlp_decode PRIVATE PkgConfig::FUZZ_DEC_JANSSON m)
endif()
