# config_file.cmake - libdptrace-config (OTEL_CONFIG_FILE, the declarative configuration
# file), included from the top-level CMakeLists.txt after DPT_PC_REL_PREFIX is set. Built
# only when libyaml is found (Debian: libyaml-dev); the core stays libc + pthreads.
file(GLOB DPT_CONFIG_FILE_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.c)
set(DPT_HAVE_CONFIG_FILE OFF)
if(PKG_CONFIG_FOUND AND DPT_CONFIG_FILE_SOURCES)
  pkg_check_modules(YAML IMPORTED_TARGET yaml-0.1)
endif()
if(YAML_FOUND)
  set(DPT_HAVE_CONFIG_FILE ON)
  add_library(dptrace-config SHARED ${DPT_CONFIG_FILE_SOURCES})
  add_library(dptrace-config_static STATIC ${DPT_CONFIG_FILE_SOURCES})
  set_target_properties(dptrace-config_static PROPERTIES OUTPUT_NAME dptrace-config)
  set_target_properties(dptrace-config PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION 0)
  foreach(t dptrace-config dptrace-config_static)
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/src/common ${PROJECT_SOURCE_DIR}/src/config
      ${CMAKE_CURRENT_LIST_DIR})
    target_compile_options(${t} PRIVATE -fvisibility=hidden)
  endforeach()
  target_link_libraries(dptrace-config PUBLIC dptrace PRIVATE PkgConfig::YAML m)
  target_link_libraries(dptrace-config_static PUBLIC dptrace_static PkgConfig::YAML m)
  # Its own export set (the package's "config" component): a consumer that does not ask for
  # it never needs libyaml.
  install(TARGETS dptrace-config dptrace-config_static EXPORT dptrace-configTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT dptrace-configTargets NAMESPACE dptrace:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dptrace)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/dptrace-config.pc.in ${CMAKE_BINARY_DIR}/dptrace-config.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/dptrace-config.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
else()
  message(STATUS "libdptrace-config: libyaml not found (apt-get install libyaml-dev), not building it")
endif()
