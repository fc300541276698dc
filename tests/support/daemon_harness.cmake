# The end-to-end stack library (tests/support/daemon_harness.*): real
# insurer-sim, pcscd with virtual cards, settlectl and settled for the daemon's
# integration and fault tests. Included from tests/support/CMakeLists.txt.
if(TARGET settled AND TARGET settlectl AND TARGET insurer-sim)
  add_library(settle_daemon_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/daemon_harness.cpp)
  target_include_directories(settle_daemon_harness PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(settle_daemon_harness PUBLIC settle_pcsc_harness settle_json settle_engine doctest::doctest fmt::fmt)
  target_compile_definitions(settle_daemon_harness PRIVATE
    SETTLE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SETTLE_BINARY_DIR="${PROJECT_BINARY_DIR}"
    SETTLE_SIM_BINARY="$<TARGET_FILE:insurer-sim>"
    SETTLE_SETTLED_BINARY="$<TARGET_FILE:settled>"
    SETTLE_SETTLECTL_BINARY="$<TARGET_FILE:settlectl>")
  add_dependencies(settle_daemon_harness settled settlectl insurer-sim virtual-card)
endif()
