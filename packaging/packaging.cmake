# Installation (`cmake --install`) and the Debian package (`cpack -G DEB`), included by the top
# CMakeLists.txt. docs/deploying.md ("Installing on a host") says what goes where and why;
# scripts/package.sh builds the .deb and checks it as CI does.
#
# Paths follow GNUInstallDirs: with CMAKE_INSTALL_PREFIX=/usr (the package's; scripts/package.sh
# configures it) the binary is /usr/bin/pemx, the config /etc/pemx/pemx.toml (the one case where
# GNUInstallDirs leaves the prefix: CMAKE_INSTALL_FULL_SYSCONFDIR is /etc), the store
# /var/lib/pemx. The page and the OpenAPI document are compiled into the binary (http_front's
# static_files.hpp), so nothing of web/ is installed: the page always matches the binary.
include(GNUInstallDirs)

set(PEMX_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/pemx")
set(PEMX_CONFIG_FILE "${PEMX_CONFIG_DIR}/pemx.toml")
set(PEMX_DATA_DIR "${CMAKE_INSTALL_FULL_DATADIR}/pemx")
# systemd's StateDirectory=pemx: the store's folder whatever the prefix.
set(PEMX_STATE_DIR "/var/lib/pemx")
set(PEMX_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
set(PEMX_SYSUSERS_DIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")

# The installed config: pemx.toml with the store under /var/lib/pemx and the example schemas'
# installed paths. Each replaced text must still be in pemx.toml: a change there that breaks
# one stops the configure, instead of installing a config that no longer suits the package.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/pemx.toml)
file(READ ${CMAKE_SOURCE_DIR}/pemx.toml pemx_config)
function(pemx_config_replace from to)
  string(FIND "${pemx_config}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "packaging/packaging.cmake: pemx.toml no longer contains \"${from}\": "
                        "update the installed config's replacements to the new pemx.toml")
  endif()
  string(REPLACE "${from}" "${to}" replaced "${pemx_config}")
  set(pemx_config "${replaced}" PARENT_SCOPE)
endfunction()
pemx_config_replace("path = \"pemx.db\"" "path = \"${PEMX_STATE_DIR}/pemx.db\"")
pemx_config_replace("= \"schemas/" "= \"${PEMX_DATA_DIR}/schemas/")
pemx_config_replace("# PEMX configuration. Every key is documented in docs/configuration.md."
  "# PEMX configuration, as installed by the pemx package: a conffile, kept on upgrades.\n\
# Every key is documented in ${CMAKE_INSTALL_FULL_DOCDIR}/configuration.md. Check a change with\n\
#   pemx check-config --config ${PEMX_CONFIG_FILE} --role=dist\n\
# and apply it with `systemctl reload pemx@dist` (rules) or `systemctl restart pemx@dist`.")
file(WRITE ${CMAKE_BINARY_DIR}/packaging/pemx.toml.tmp "${pemx_config}")
configure_file(${CMAKE_BINARY_DIR}/packaging/pemx.toml.tmp ${CMAKE_BINARY_DIR}/packaging/pemx.toml
               COPYONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/pemx@.service.in
               ${CMAKE_BINARY_DIR}/packaging/pemx@.service @ONLY)

install(TARGETS pemx RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_BINARY_DIR}/packaging/pemx.toml DESTINATION ${PEMX_CONFIG_DIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/schemas/ DESTINATION ${CMAKE_INSTALL_DATADIR}/pemx/schemas)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.json" PATTERN "*.png")
# The Grafana dashboard and the Prometheus alerting rules (deploy/README.md), to import.
install(FILES ${CMAKE_SOURCE_DIR}/deploy/grafana/pemx.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/pemx/grafana)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/prometheus/pemx-alerts.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/pemx/prometheus)
install(FILES ${CMAKE_BINARY_DIR}/packaging/pemx@.service DESTINATION ${PEMX_SYSTEMD_UNIT_DIR})
install(FILES ${CMAKE_CURRENT_LIST_DIR}/pemx.sysusers DESTINATION ${PEMX_SYSUSERS_DIR}
        RENAME pemx.conf)

# --- the Debian package ----------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pemx)
set(CPACK_PACKAGE_VENDOR "PEMX")
set(CPACK_PACKAGE_CONTACT "PEMX maintainers <pemx@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Product Events Message Exchange: routes, stores and serves product events from Kafka")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# The .deb installs what the tree was configured for; anything but /usr is not a Debian layout.
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "packaging: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}; a .deb wants "
                 "/usr (scripts/package.sh configures it)")
endif()
set(CPACK_STRIP_FILES ON)  # RelWithDebInfo's debug sections are most of the binary's size
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Dependencies: the Debian packages of the shared libraries pemx links, found by dpkg-shlibdeps
# (dpkg-dev, part of build-essential); without it, the libraries of Debian 12 by name.
find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
if(DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6, libstdc++6, libgcc-s1, librdkafka1, libsqlite3-0, libssl3, libspdlog1.10-fmt9,
       libtomlplusplus3, libjemalloc2, libpq5, libsodium23")
endif()
# The maintainer scripts create the system user and reload systemd; conffiles keeps an edited
# /etc/pemx/pemx.toml on upgrades.
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "${PEMX_CONFIG_FILE}\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/deb/postinst ${CMAKE_CURRENT_LIST_DIR}/deb/prerm
    ${CMAKE_CURRENT_LIST_DIR}/deb/postrm ${CMAKE_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
