# The outage drill run as the IT staff run it: a short drill (2 windows, a few
# seconds per phase, all three insurer faults) against the real stack; its
# exit status and its report files are checked. Uses pcscd: RESOURCE_LOCK.
if(TARGET drill)
  settle_test(drill_test LABEL integration TIMEOUT 180 SOURCES drill_test.cpp LIBS settle_json settle_pdf_print)
  add_dependencies(drill_test drill)
  target_compile_definitions(drill_test PRIVATE DRILL_PATH="$<TARGET_FILE:drill>")
  set_tests_properties(drill_test PROPERTIES RESOURCE_LOCK pcscd)
endif()
