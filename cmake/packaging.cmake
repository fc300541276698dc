# Installation and the Debian package: what a site installs (the programs,
# man pages made by help2man from each program's --help, the systemd units,
# the example config, the docs) and CPack's DEB generator with its maintainer
# scripts (packaging/debian/). Included last from the top CMakeLists.txt.
include(GNUInstallDirs)

# Programs a site runs (bench is a development tool and is not installed).
set(SETTLE_INSTALLED_PROGRAMS settled settlectl reconcile drill insurer-sim settle-console)
set(SETTLE_UNIT_DIR lib/systemd/system)      # under the prefix: /usr/lib/systemd/system
set(SETTLE_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/settled)

if(SETTLE_UNIT_ONLY)
  return()
endif()

foreach(program IN LISTS SETTLE_INSTALLED_PROGRAMS)
  if(NOT TARGET ${program})
    message(FATAL_ERROR "packaging: the program ${program} is not built in this tree")
  endif()
endforeach()
install(TARGETS ${SETTLE_INSTALLED_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages from each program's --help and --version (help2man), gzipped as
# Debian installs them. settled is a daemon: section 8; the tools section 1.
find_program(HELP2MAN help2man)
set(SETTLE_MAN_PAGES "")
if(NOT HELP2MAN)
  message(WARNING "help2man not found (tools/setup.sh installs it): no man pages are built or installed")
else()
  set(_man_settled "8|the hospital's medical-insurance card settlement daemon")
  set(_man_settlectl "1|control and query settled: cashier transactions, operators, the ledger, trial calculations")
  set(_man_reconcile "1|reconcile a clearing date with the insurer through settled, every night")
  set(_man_drill "1|rehearse an insurer outage on the simulator and report whether the windows kept working")
  set(_man_settle-console "8|the insurance office's web console for settled, over HTTPS")
  set(_man_insurer-sim "1|simulate the insurer's settlement service over mutual TLS, with faults, for tests and drills")
  foreach(program IN LISTS SETTLE_INSTALLED_PROGRAMS)
    string(REPLACE "|" ";" _entry "${_man_${program}}")
    list(GET _entry 0 _section)
    list(GET _entry 1 _what)
    set(_include ${PROJECT_SOURCE_DIR}/packaging/man/tools.h2m)
    if(EXISTS ${PROJECT_SOURCE_DIR}/packaging/man/${program}.h2m)
      set(_include ${PROJECT_SOURCE_DIR}/packaging/man/${program}.h2m)
    endif()
    set(_page ${CMAKE_BINARY_DIR}/man/${program}.${_section}.gz)
    add_custom_command(
      OUTPUT ${_page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${HELP2MAN} --locale=C.UTF-8 --no-info --no-discard-stderr --section=${_section} --name=${_what}
              --include=${_include}
              --source=settle --manual=settle --output=${CMAKE_BINARY_DIR}/man/${program}.${_section}
              $<TARGET_FILE:${program}>
      COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/man/${program}.${_section}
      DEPENDS ${program} ${_include}
      COMMENT "help2man ${program}.${_section}"
      VERBATIM)
    list(APPEND SETTLE_MAN_PAGES ${_page})
    install(FILES ${_page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_section})
  endforeach()
  add_custom_target(settle_man_pages ALL DEPENDS ${SETTLE_MAN_PAGES})
endif()

# The systemd units.
install(FILES tools/settled/settled.service
              tools/reconcile/settle-reconcile.service
              tools/reconcile/settle-reconcile.timer
              tools/settlectl/settle-backup.service
              tools/settlectl/settle-backup.timer
              tools/console/settle-console.service
        DESTINATION ${SETTLE_UNIT_DIR})

# The config and the policy: the examples become the site's files in /etc
# (conffiles: dpkg keeps the site's edits); copies stay with the docs. /etc
# is decided at install time: `cmake --install build --prefix /usr` (and the
# package) put them in /etc, any other prefix in <prefix>/etc.
install(CODE "
  if(CMAKE_INSTALL_PREFIX MATCHES \"^/usr/?$\")
    set(_settle_etc /etc)
  else()
    set(_settle_etc \"\${CMAKE_INSTALL_PREFIX}/etc\")
  endif()
  file(INSTALL DESTINATION \"\${_settle_etc}/settled\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
       FILES \"${PROJECT_SOURCE_DIR}/docs/examples/settled.toml\" \"${PROJECT_SOURCE_DIR}/docs/examples/policy.toml\"
             \"${PROJECT_SOURCE_DIR}/docs/examples/notices.toml\")
")
install(FILES docs/examples/settled.toml docs/examples/policy.toml docs/examples/notices.toml docs/examples/trial-split.json
              docs/examples/console.toml
        DESTINATION ${SETTLE_DOC_DIR}/examples)
file(GLOB SETTLE_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${SETTLE_DOCS} README.md DESTINATION ${SETTLE_DOC_DIR})
install(DIRECTORY docs/console DESTINATION ${SETTLE_DOC_DIR})  # the console's screenshots

# The Debian package: settle_<version>_<arch>.deb (`cmake --build build
# --target package`, or `cpack` in the build folder).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME settle)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "settle")
set(CPACK_PACKAGE_CONTACT "settle maintainers <settle@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "hospital medical-insurance card settlement daemon (settled) and its tools")
set(CPACK_PACKAGE_DESCRIPTION
    "settled settles outpatient and inpatient charges at the hospital's payment windows with the insurer: it reads the patient's social-security card through a PC/SC reader, splits the charge into the fund's part, the personal account's part and cash, and settles it online over mutual TLS, or offline against the red list while the insurer is unreachable. Also settlectl (the command-line client), reconcile (the nightly reconciliation), drill (the outage drill) and insurer-sim (the insurer simulator).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Installed with DESTDIR and the prefix /usr, so /etc is /etc in the package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# useradd/groupadd come with passwd (required priority); pcscd serves the readers.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "pcscd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
include(CPack)
