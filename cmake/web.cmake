# web.cmake - compiles web/dashboard.html into the hocvu library (hv_web_dashboard() serves it),
# so GET / needs no files at run time and the page always matches the binary. Included from the
# top-level CMakeLists.txt after the hocvu target exists.
set(HOCVU_DASHBOARD_HTML ${CMAKE_SOURCE_DIR}/web/dashboard.html)
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/generated/dashboard_html.c
  COMMAND ${CMAKE_COMMAND} -DIN=${HOCVU_DASHBOARD_HTML}
          -DOUT=${CMAKE_BINARY_DIR}/generated/dashboard_html.c -DNAME=hv_dashboard_html
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_file.cmake
  DEPENDS ${HOCVU_DASHBOARD_HTML} ${CMAKE_SOURCE_DIR}/cmake/embed_file.cmake
  COMMENT "Embedding web/dashboard.html" VERBATIM)
target_sources(hocvu PRIVATE ${CMAKE_BINARY_DIR}/generated/dashboard_html.c)
