#  Every build option of docusnap lives here.
option (DS_WERROR "Treat compiler warnings as errors" ON)
option (DS_BUILD_BENCH "Build the benchmark tool" ON)

set (DS_SANITIZER "none" CACHE STRING "Sanitizer: none, address, undefined, thread")
set_property (CACHE DS_SANITIZER PROPERTY STRINGS none address undefined thread)
if (NOT DS_SANITIZER MATCHES "^(none|address|undefined|thread|address,undefined)$")
    message (FATAL_ERROR "DS_SANITIZER must be none, address, undefined, address,undefined or thread")
endif ()
if (NOT DS_SANITIZER STREQUAL "none")
    add_compile_options (-fsanitize=${DS_SANITIZER} -fno-omit-frame-pointer
                         -fno-sanitize-recover=all)
    add_link_options (-fsanitize=${DS_SANITIZER})
endif ()

if (NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set (CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif ()

option (DS_FUZZ "Build libFuzzer targets (needs clang)" OFF)
if (DS_FUZZ AND NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message (FATAL_ERROR "DS_FUZZ needs clang: CC=clang cmake -DDS_FUZZ=ON ...")
endif ()
if (DS_FUZZ)
    #  Coverage instrumentation for all our code; the targets add the driver
    add_compile_options (-fsanitize=fuzzer-no-link)
endif ()
