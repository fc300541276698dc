# The end-to-end stack library (tests/support/daemon_harness.*): real
# insurer-sim, pcscd with virtual cards, settlectl and settled for the daemon's
# integration and fault tests. Included from tests/support/CMakeLists.txt.
if(TARGET settled AND TARGET settlectl AND TARGET insurer-sim)
  # settle_daemon_harness for doctest programs; settle_stack is the same code
  # for tools (the outage drill), whose failed checks throw instead.
  foreach(lib settle_daemon_harness settle_stack)
    add_library(${lib} STATIC ${CMAKE_CURRENT_LIST_DIR}/daemon_harness.cpp)
    target_include_directories(${lib} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${lib} PUBLIC settle_pcsc_harness settle_json settle_engine insurer_sim_control_client fmt::fmt)
    target_compile_definitions(${lib} PRIVATE
      SETTLE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SETTLE_BINARY_DIR="${PROJECT_BINARY_DIR}"
      SETTLE_SIM_BINARY="$<TARGET_FILE:insurer-sim>"
      SETTLE_SETTLED_BINARY="$<TARGET_FILE:settled>"
      SETTLE_SETTLECTL_BINARY="$<TARGET_FILE:settlectl>")
    add_dependencies(${lib} settled settlectl insurer-sim virtual-card)
  endforeach()
  target_link_libraries(settle_daemon_harness PUBLIC doctest::doctest)
  target_compile_definitions(settle_stack PRIVATE SETTLE_HARNESS_NO_DOCTEST)
endif()
