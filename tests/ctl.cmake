# ctl.cmake - registers the hocvuctl integration test, a bash script that starts its own
# throwaway PostgreSQL 15 (tests/integration/ctl.sh); included from tests/CMakeLists.txt.
add_test(NAME integration.ctl
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/ctl.sh $<TARGET_FILE:hocvuctl>)
set_tests_properties(integration.ctl PROPERTIES
  LABELS integration
  TIMEOUT 180
  RESOURCE_LOCK hocvu_integration_servers)
