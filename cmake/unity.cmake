# Unity builds: a target's sources compiled a few at a time in one compiler
# run, so that the headers they share (Asio, Beast, spdlog, SQLite, fmt,
# nlohmann-json) are parsed once per batch instead of once per file; the test
# command's compile is for a large part those headers. Included by the
# top-level file.

# settle_unity(<target> <batch>): <batch> sources per compiler run. A source
# that must stay alone says so with SKIP_UNITY_BUILD_INCLUSION beside the call.
function(settle_unity target batch)
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${batch})
  # In a unity file GCC takes each included .cpp for a header and reports the
  # file-local types held by its coroutine frames and classes
  # (-Wsubobject-linkage): they are local to the one unity file all the same.
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
endfunction()
