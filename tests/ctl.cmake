# ctl.cmake - registers the hocvuctl integration test, which starts its own PostgreSQL 15.
add_test(NAME integration.ctl
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/ctl.sh $<TARGET_FILE:hocvuctl>)
set_tests_properties(integration.ctl PROPERTIES LABELS integration TIMEOUT 180)
