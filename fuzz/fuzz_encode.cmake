# fuzz_encode.cmake - libFuzzer target for the span encoders (OTLP/JSON, Zipkin JSON, OTLP
# protobuf) on hostile span contents (fuzz_encode.c); jansson checks the JSON. Included
# from fuzz/CMakeLists.txt.
find_package(PkgConfig)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(FUZZ_ENC_JANSSON IMPORTED_TARGET jansson)
endif()
if(FUZZ_ENC_JANSSON_FOUND)
  add_executable(fuzz_encode fuzz_encode.c)
  target_compile_options(fuzz_encode PRIVATE ${DPT_FUZZ_FLAGS})
  target_link_options(fuzz_encode PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_encode PRIVATE dpt_fuzz_lib PkgConfig::FUZZ_ENC_JANSSON)
endif()
