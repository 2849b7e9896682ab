# What `cmake --install` puts where, and the Debian package `make package` builds from it (CPack, DEB).
# Installed: the dpd binary, its man page, the dpd@ systemd unit and the package's doc files — and, when setup
# unpacked libnode privately (NodeSource's nodejs conflicts with Debian's libnode108), that libnode copy under
# lib/dpd with the binary's RUNPATH pointing there; with Debian's libnode108 installed, the package depends on it.
include(GNUInstallDirs)

set(DPD_MAN_PAGE ${PROJECT_BINARY_DIR}/dpd.1)
add_custom_command(
  OUTPUT ${DPD_MAN_PAGE}.gz
  COMMAND ${CMAKE_COMMAND} -DDPD=$<TARGET_FILE:dpd> -DIN=${PROJECT_SOURCE_DIR}/packaging/dpd.1.in
          -DOUT=${DPD_MAN_PAGE} -DVERSION=${PROJECT_VERSION} -P ${PROJECT_SOURCE_DIR}/cmake/man_page.cmake
  COMMAND gzip -9nf ${DPD_MAN_PAGE}
  DEPENDS dpd ${PROJECT_SOURCE_DIR}/packaging/dpd.1.in ${PROJECT_SOURCE_DIR}/cmake/man_page.cmake
  COMMENT "Writing the man page dpd.1")
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/changelog.gz
  COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/changelog > ${PROJECT_BINARY_DIR}/changelog.gz
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/changelog)
add_custom_target(dpd_docs ALL DEPENDS ${DPD_MAN_PAGE}.gz ${PROJECT_BINARY_DIR}/changelog.gz)

install(TARGETS dpd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${DPD_MAN_PAGE}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
# The unit names the binary where this install puts it (/usr/bin in the package, /usr/local/bin by default): it is
# written at install time, when the prefix is known.
install(CODE "
  set(DPD_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(unit \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/dpd@.service\")
  message(STATUS \"Installing: \${unit}\")
  configure_file(${PROJECT_SOURCE_DIR}/packaging/dpd@.service.in \${unit} @ONLY)
  file(CHMOD \${unit} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/copyright ${PROJECT_BINARY_DIR}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

if(NOT DPD_LIBNODE_PREFIX STREQUAL "/usr")
  get_filename_component(libnode_file ${LIBNODE} REALPATH)
  install(FILES ${libnode_file} DESTINATION lib/dpd RENAME libnode.so.108)
  install(FILES ${DPD_LIBNODE_PREFIX}/usr/share/doc/libnode108/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR}
          RENAME copyright.libnode108)
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
          RENAME dpd)
  set_target_properties(dpd PROPERTIES INSTALL_RPATH "$ORIGIN/../lib/dpd")
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${PROJECT_BINARY_DIR}/_CPack_Packages/Linux/DEB/dpd-${PROJECT_VERSION}-Linux/usr/lib/dpd")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dpd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "dpd developers <dpd@example.org>")
set(CPACK_DEBIAN_PACKAGE_SECTION web)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Deployd-compatible realtime API server")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "dpd serves a Deployd app folder - JSON collections, users and sessions,
event scripts, socket.io realtime, /dpd.js and a dashboard - from one
native binary, on an embedded SQLite store or on MongoDB. Apps and
databases written for Deployd 1.2 run unchanged. The dpd@ systemd unit
runs one app folder of /var/lib/dpd per instance.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# node-*: the JavaScript files Debian's libnode loads at run time, for the resource-module host.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, node-acorn, node-cjs-module-lexer, node-undici")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
