# fuzz_otlp_file.cmake - libFuzzer target for the dptrace CLI's file reader and trace set
# (fuzz_otlp_file.c), included from fuzz/CMakeLists.txt. Needs jansson, like the CLI.
find_package(PkgConfig)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(FUZZ_JANSSON IMPORTED_TARGET jansson)
endif()
if(FUZZ_JANSSON_FOUND)
  set(DPT_CLI_DIR ${PROJECT_SOURCE_DIR}/tools/dptrace)
  add_executable(fuzz_otlp_file fuzz_otlp_file.c ${DPT_CLI_DIR}/otlp_read.c
    ${DPT_CLI_DIR}/traceset.c ${DPT_CLI_DIR}/util.c)
  target_include_directories(fuzz_otlp_file PRIVATE ${DPT_CLI_DIR} ${PROJECT_SOURCE_DIR}/src/common)
  target_compile_options(fuzz_otlp_file PRIVATE ${DPT_FUZZ_FLAGS})
  target_link_options(fuzz_otlp_file PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_otlp_file PRIVATE PkgConfig::FUZZ_JANSSON)
endif()
