# The office console's browser test, included from tests/CMakeLists.txt:
# stack.sh starts the whole stack (insurer-sim, pcscd with a virtual card,
# settled, the console over HTTPS) and console_test.mjs drives Debian's
# Chromium through playwright-core (tools/console/web/node_modules).
if(NOT TARGET settle-console OR NOT TARGET console-web)
  return()
endif()
find_program(SETTLE_NODE node)
find_program(SETTLE_CHROMIUM NAMES chromium chromium-browser)
if(NOT SETTLE_NODE OR NOT SETTLE_CHROMIUM)
  message(STATUS "console_browser test left out: node or chromium not found")
  return()
endif()
add_test(NAME console_browser
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/stack.sh ${CMAKE_BINARY_DIR}
          -- ${SETTLE_NODE} ${CMAKE_CURRENT_LIST_DIR}/console_test.mjs)
# It holds the machine's one pcscd, as the daemon's end-to-end tests do.
set_tests_properties(console_browser PROPERTIES LABELS "integration;browser" TIMEOUT 300
  RESOURCE_LOCK pcscd ENVIRONMENT "CHROMIUM=${SETTLE_CHROMIUM}")
