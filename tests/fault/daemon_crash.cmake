# The daemon's crash and lost-reply test (daemon_crash_test.cpp): the real
# settled, insurer-sim and pcscd through the end-to-end harness; it takes the
# pcscd lock (one pcscd per machine). Included from tests/fault/CMakeLists.txt.
if(TARGET settle_daemon_harness)
  settle_test(test_fault_daemon_crash LABEL fault SOURCES daemon_crash_test.cpp
              LIBS settle_daemon_harness settle_json TIMEOUT 240)
  set_tests_properties(test_fault_daemon_crash PROPERTIES RESOURCE_LOCK pcscd)
endif()
