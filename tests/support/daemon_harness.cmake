# The end-to-end stack library (tests/support/daemon_harness.*): real
# insurer-sim, pcscd with virtual cards, settlectl and settled for the daemon's
# integration and fault tests. Included from tests/support/CMakeLists.txt.
if(TARGET settled AND TARGET settlectl AND TARGET insurer-sim)
  # One library for doctest programs and tools (the outage drill, the bench):
  # a failed check throws (tests/support/harness_checks.hpp).
  add_library(settle_stack STATIC ${CMAKE_CURRENT_LIST_DIR}/daemon_harness.cpp)
  settle_test_code(settle_stack)
  target_include_directories(settle_stack PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(settle_stack PUBLIC settle_pcsc_harness settle_json settle_engine insurer_sim_control_client fmt::fmt)
  target_compile_definitions(settle_stack PRIVATE
    SETTLE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SETTLE_BINARY_DIR="${PROJECT_BINARY_DIR}"
    SETTLE_SIM_BINARY="$<TARGET_FILE:insurer-sim>"
    SETTLE_SETTLED_BINARY="$<TARGET_FILE:settled>"
    SETTLE_SETTLECTL_BINARY="$<TARGET_FILE:settlectl>")
  add_dependencies(settle_stack settled settlectl insurer-sim virtual-card)
  # The name the tests link: the same library, with doctest for their own checks.
  add_library(settle_daemon_harness INTERFACE)
  target_link_libraries(settle_daemon_harness INTERFACE settle_stack doctest::doctest)
endif()
