# package.cmake - what `cmake --install` puts where, and the Debian package CPack builds from it
# (included from the top-level CMakeLists.txt).
#
#   cmake --install build                          /usr/local: bin/hocvud, hocvuctl, hocvu-bench,
#                                                  share/hocvu/{sql,data}, share/doc/hocvu,
#                                                  lib/systemd/system units, etc/hocvu example
#   cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr && cmake --build build &&
#   cpack --config build/CPackConfig.cmake -G DEB  hocvu_VERSION_ARCH.deb with the same files
#                                                  under /usr and /etc (deploy/check-deb.sh
#                                                  builds it, installs it and starts it)
include(GNUInstallDirs)

set(HOCVU_INSTALL_TARGETS hocvud hocvuctl)
if(TARGET hocvu-bench)
  list(APPEND HOCVU_INSTALL_TARGETS hocvu-bench)
endif()
install(TARGETS ${HOCVU_INSTALL_TARGETS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY sql/ DESTINATION ${CMAKE_INSTALL_DATADIR}/hocvu/sql)
install(DIRECTORY data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/hocvu/data)
# A source tree with only what the programs need (the Dockerfile's build stage) stops here:
# docs, units and the Debian package need README, docs/ and deploy/.
if(NOT EXISTS ${CMAKE_SOURCE_DIR}/deploy/systemd/hocvud.service)
  message(STATUS "deploy/ absent: only the programs, sql/ and data/ are installed; no package")
  return()
endif()
install(FILES README.md docs/openapi.yaml docs/SCALING.md docs/SECURITY.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME DEPLOY.md)
install(DIRECTORY deploy/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES deploy/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The units name the binaries where this prefix puts them (deploy/systemd/ has /usr/local/bin).
foreach(unit hocvud.service hocvu-reconcile.service hocvu-reconcile.timer)
  file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/${unit} text)
  string(REPLACE "/usr/local/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" text "${text}")
  file(WRITE ${CMAKE_BINARY_DIR}/units/${unit} "${text}")
  install(FILES ${CMAKE_BINARY_DIR}/units/${unit} DESTINATION lib/systemd/system)
endforeach()
# Only the example: /etc/hocvu/hocvud.env is the operator's and no package ever writes it.
install(FILES deploy/systemd/hocvud.env.example
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/hocvu
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

set(CPACK_PACKAGE_NAME hocvu)
set(CPACK_PACKAGE_VENDOR "hocvu")
set(CPACK_PACKAGE_CONTACT "hocvu maintainers <hocvu@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "certification counting for Binh dan hoc vu so: signed webhook ingest, progress APIs")
set(CPACK_PACKAGE_DESCRIPTION
    "hocvud verifies Standard Webhooks-signed certificate events, counts each certified adult once per ward in PostgreSQL (Redis as a fast path) and serves progress APIs, reports, a dashboard and Prometheus metrics. hocvuctl migrates, imports wards, targets and cohorts, freezes reports and reconciles; hocvu-bench load-tests it.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql, redis-server, prometheus-node-exporter")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm ${CMAKE_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/hocvu/hocvud.env.example\n")
include(CPack)
