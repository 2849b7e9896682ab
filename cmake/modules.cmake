# dpd_module(<name> SOURCES ... DEPS <modules> [LIBS <third-party targets>])
#
# Declares src/<name> as the CMake library dpd_<name>. DEPS must be a subset of the modules allowed for <name> in
# the layering table of ARCHITECTURE.md §3 (DPD_ALLOWED_<name>); the layering check (cmake/check_layering.cmake,
# run on every build) fails the build when a source file includes a header of a module it may not use, or a
# third-party header reserved for another module (V8, Beast, sqlite3, libmongoc).
include(${CMAKE_CURRENT_LIST_DIR}/layering_rules.cmake)

function(dpd_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  foreach(dep IN LISTS M_DEPS)
    if(NOT dep IN_LIST DPD_ALLOWED_${name})
      message(FATAL_ERROR "module ${name} may not depend on ${dep} (ARCHITECTURE.md §3)")
    endif()
  endforeach()
  add_library(dpd_${name} STATIC ${M_SOURCES})
  target_include_directories(dpd_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(dpd_${name} PRIVATE ${DPD_WARNINGS})
  list(TRANSFORM M_DEPS PREPEND dpd_ OUTPUT_VARIABLE dep_targets)
  target_link_libraries(dpd_${name} PUBLIC ${dep_targets} ${M_LIBS})
  add_dependencies(dpd_${name} layering)
endfunction()

# dpd_test(<name> SOURCES ... LIBS ...): a gtest binary registered with ctest.
function(dpd_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_compile_options(${name} PRIVATE ${DPD_WARNINGS})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest_main GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
endfunction()

add_custom_target(layering ALL
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR}/src
           -P ${PROJECT_SOURCE_DIR}/cmake/check_layering.cmake
  COMMENT "Checking module layering (ARCHITECTURE.md §3)")
