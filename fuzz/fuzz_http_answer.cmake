# fuzz_http_answer.cmake - libFuzzer target for libdptrace-http's parsers of what a
# collector answers (gRPC trailers, error texts, partial success) and of
# OTEL_EXPORTER_OTLP_HEADERS (fuzz_http_answer.c compiles src/http's files itself, their
# parsers being static). Included from fuzz/CMakeLists.txt; needs libcurl and zlib.
find_package(PkgConfig)
find_package(ZLIB)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(FUZZ_HTTP_CURL IMPORTED_TARGET libcurl)
endif()
if(FUZZ_HTTP_CURL_FOUND AND ZLIB_FOUND)
  add_executable(fuzz_http_answer fuzz_http_answer.c)
  target_include_directories(fuzz_http_answer PRIVATE ${PROJECT_SOURCE_DIR}/src/http
    ${PROJECT_SOURCE_DIR}/src/common ${PROJECT_SOURCE_DIR}/src/core ${PROJECT_SOURCE_DIR}/src/export)
  target_compile_options(fuzz_http_answer PRIVATE ${DPT_FUZZ_FLAGS})
  target_link_options(fuzz_http_answer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_http_answer PRIVATE dpt_fuzz_lib PkgConfig::FUZZ_HTTP_CURL ZLIB::ZLIB)
endif()
