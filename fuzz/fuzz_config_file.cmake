# fuzz_config_file.cmake - libFuzzer target for the declarative configuration file
# (libdptrace-config, fuzz_config_file.c), included from fuzz/CMakeLists.txt; needs libyaml.
find_package(PkgConfig)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(FUZZ_YAML IMPORTED_TARGET yaml-0.1)
endif()
if(FUZZ_YAML_FOUND)
  file(GLOB DPT_FUZZ_CF_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/config_file/*.c)
  add_executable(fuzz_config_file fuzz_config_file.c ${DPT_FUZZ_CF_SOURCES})
  target_include_directories(fuzz_config_file PRIVATE ${PROJECT_SOURCE_DIR}/src/common
    ${PROJECT_SOURCE_DIR}/src/config ${PROJECT_SOURCE_DIR}/src/config_file)
  target_compile_options(fuzz_config_file PRIVATE ${DPT_FUZZ_FLAGS})
  target_link_options(fuzz_config_file PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_config_file PRIVATE dpt_fuzz_lib PkgConfig::FUZZ_YAML m)
endif()
