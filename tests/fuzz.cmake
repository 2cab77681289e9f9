# fuzz.cmake - registers fuzz.all, which builds the libFuzzer targets with clang in build-fuzz/
# and runs each for 15 s over a copy of its corpus (fuzz/run.sh); included from tests/CMakeLists.txt.
find_program(HOCVU_CLANG NAMES clang clang-14)
if(NOT HOCVU_CLANG)
  message(STATUS "clang not found: fuzz.all is not registered (apt-get install clang libclang-rt-14-dev)")
  return()
endif()
add_test(NAME fuzz.all COMMAND bash ${CMAKE_SOURCE_DIR}/fuzz/run.sh 15)
# The run is CPU-bound for two minutes; it takes the integration tests' lock so it never competes
# with their time-out measurements on a small CI machine (unit tests may still run beside it).
set_tests_properties(fuzz.all PROPERTIES
  LABELS fuzz
  TIMEOUT 600
  RESOURCE_LOCK hocvu_integration_servers
  ENVIRONMENT "HOCVU_FUZZ_CC=${HOCVU_CLANG}")
