#  Helper functions that keep each directory's CMakeLists short.

#  ds_service (NAME SOURCES... LIBS ...): a static ds_NAME_lib from the
#  service's classes and a thin docusnap-NAME binary from main.c.
function (ds_service name)
    cmake_parse_arguments (ARG "" "" "SOURCES;LIBS" ${ARGN})
    add_library (ds_${name}_lib STATIC ${ARG_SOURCES})
    target_include_directories (ds_${name}_lib PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
    target_link_libraries (ds_${name}_lib PUBLIC docusnap ${ARG_LIBS})
    add_executable (docusnap-${name} main.c)
    target_link_libraries (docusnap-${name} PRIVATE ds_${name}_lib)
endfunction ()

#  ds_test (NAME [LIBS ...] [FIXTURES ...]): tests/test_NAME.c as ctest
#  test it.NAME, 30 s timeout, exit code 77 means skipped.
function (ds_test name)
    cmake_parse_arguments (ARG "" "TIMEOUT" "LIBS;FIXTURES" ${ARGN})
    if (NOT ARG_TIMEOUT)
        set (ARG_TIMEOUT 30)
    endif ()
    add_executable (test_${name} test_${name}.c)
    target_link_libraries (test_${name} PRIVATE ds_testutil ${ARG_LIBS})
    add_test (NAME it.${name} COMMAND test_${name}
              WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties (it.${name} PROPERTIES
        TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77
        ENVIRONMENT "DS_BIN_DIR=${CMAKE_BINARY_DIR}/bin;DS_FIXTURES=${CMAKE_CURRENT_BINARY_DIR}/fixtures;DS_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
    if (ARG_FIXTURES)
        set_tests_properties (it.${name} PROPERTIES FIXTURES_REQUIRED "${ARG_FIXTURES}")
    endif ()
endfunction ()
