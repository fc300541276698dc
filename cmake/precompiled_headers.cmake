# Precompiled headers, parsed once per build tree instead of once per source
# file. Used from the top-level CMakeLists.txt (option SETTLE_PCH) once every
# target exists. With GCC 12 only in Debug builds (a developer's Debug tree);
# with clang in the sanitizer tree (the test run's: its compile is about a
# fifth shorter with them); see settle_precompile_headers().
# Three kinds, each holding only headers of what a target links:
#   fmt   fmt and the standard headers most sources include;
#   json  the same and nlohmann/json;
#   asio  the same and Boost.Asio/Beast with their SSL parts.
# A target gets the largest kind its link closure allows, but "asio" only when
# at least half its sources reach Boost.Asio through their includes (followed
# through the project's own headers); the other sources of an "asio" target
# are compiled without a precompiled header: loading the big one costs such a
# file more than it saves (~1 s each at -O2).
#
# Each kind is built once per build tree (per set of compile options that come
# with the linked libraries, e.g. pcsc-lite's -pthread) by an object library of
# its own, and reused by every target of that kind (REUSE_FROM). GCC takes the
# header only when the compile flags agree (-Winvalid-pch says when it does
# not; kept a warning, not an error: the file then compiles without it).

# What <target> links with the headers it may include: its own link libraries
# and, recursively, their public ones (a static library's private dependencies
# show as $<LINK_ONLY:...> and are left out, as they are from its users).
function(settle_usage_closure target out)
  set(seen)
  set(todo ${target})
  while(todo)
    list(POP_FRONT todo t)
    if(NOT TARGET ${t})
      continue()
    endif()
    get_target_property(aliased ${t} ALIASED_TARGET)
    if(aliased)
      set(t ${aliased})
    endif()
    if(t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${t})
    set(libs)
    if(t STREQUAL target)
      get_target_property(libs ${t} LINK_LIBRARIES)
    endif()
    get_target_property(ilibs ${t} INTERFACE_LINK_LIBRARIES)
    foreach(l IN LISTS libs ilibs)
      if(l AND NOT l MATCHES "^\\$<" AND NOT l MATCHES "-NOTFOUND$")
        list(APPEND todo ${l})
      endif()
    endforeach()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

# Every target defined in <dir> and below.
function(settle_targets_below dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    settle_targets_below(${sub} more)
    list(APPEND targets ${more})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# TRUE in ${out} if <file> includes Boost.Asio or Beast, directly or through
# the project's own headers ("..." includes found beside it or from the source
# root). Answers are kept for the whole configure run.
function(settle_reaches_asio file out)
  get_property(known GLOBAL PROPERTY settle_asio_${file} SET)
  if(known)
    get_property(answer GLOBAL PROPERTY settle_asio_${file})
    set(${out} ${answer} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY settle_asio_${file} FALSE)  # include cycles end here
  set(answer FALSE)
  if(EXISTS ${file})
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    get_filename_component(here ${file} DIRECTORY)
    foreach(line IN LISTS lines)
      if(line MATCHES "<boost/(asio|beast)")
        set(answer TRUE)
        break()
      endif()
      if(line MATCHES "\"([^\"]+)\"")
        set(header ${CMAKE_MATCH_1})
        foreach(candidate ${here}/${header} ${PROJECT_SOURCE_DIR}/${header})
          if(EXISTS ${candidate})
            get_filename_component(candidate ${candidate} ABSOLUTE)
            settle_reaches_asio(${candidate} reaches)
            if(reaches)
              set(answer TRUE)
            endif()
            break()
          endif()
        endforeach()
        if(answer)
          break()
        endif()
      endif()
    endforeach()
  endif()
  set_property(GLOBAL PROPERTY settle_asio_${file} ${answer})
  set(${out} ${answer} PARENT_SCOPE)
endfunction()

# The object library that builds one kind's header (its name: <name>).
function(settle_pch_owner name kind opts)
  set(src ${CMAKE_BINARY_DIR}/CMakeFiles/${name}.cpp)
  if(NOT EXISTS ${src})
    file(WRITE ${src} "// The precompiled header's own translation unit (empty).\n")
  endif()
  add_library(${name} OBJECT ${src})
  set(std_headers <algorithm> <array> <chrono> <cstdint> <cstdlib> <functional> <map> <memory>
      <mutex> <optional> <set> <string> <string_view> <utility> <variant> <vector>)
  set(headers ${std_headers} <fmt/format.h>)
  set(libs fmt::fmt)
  if(kind STREQUAL "json" OR kind STREQUAL "asio")
    list(APPEND headers <nlohmann/json.hpp>)
    list(APPEND libs nlohmann_json::nlohmann_json)
  endif()
  if(kind STREQUAL "asio")
    list(APPEND headers
      <boost/asio/as_tuple.hpp> <boost/asio/awaitable.hpp> <boost/asio/bind_executor.hpp>
      <boost/asio/co_spawn.hpp> <boost/asio/connect.hpp> <boost/asio/detached.hpp>
      <boost/asio/experimental/awaitable_operators.hpp> <boost/asio/generic/stream_protocol.hpp>
      <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp> <boost/asio/local/stream_protocol.hpp>
      <boost/asio/post.hpp> <boost/asio/redirect_error.hpp> <boost/asio/steady_timer.hpp>
      <boost/asio/strand.hpp> <boost/asio/thread_pool.hpp> <boost/asio/use_awaitable.hpp>
      <boost/asio/write.hpp> <boost/asio/ssl.hpp>
      <boost/beast/core.hpp> <boost/beast/http.hpp> <boost/beast/ssl.hpp>)
    list(APPEND libs Boost::headers OpenSSL::SSL Threads::Threads)
  endif()
  target_link_libraries(${name} PRIVATE ${libs})
  target_compile_options(${name} PRIVATE ${opts})
  target_precompile_headers(${name} PRIVATE ${headers})
endfunction()

# Gives each target of the tree (executables, static and object libraries) the
# precompiled header of its kind; new targets need nothing here.
function(settle_precompile_headers)
  if(NOT SETTLE_PCH OR SETTLE_FUZZ)
    return()  # the clang fuzz tree (clang 14: coroutines + PCH fail) goes without
  endif()
  # clang: the sanitizer tree only (the one clang tree the test run compiles
  # whole; its unit tests are built and run with the headers).
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT (CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND SETTLE_SANITIZE))
    message(STATUS "Precompiled headers: off (set up for GCC, and for clang's sanitizer tree)")
    return()
  endif()
  # GCC 12 does not keep a header's "#pragma GCC diagnostic" in a precompiled
  # header (GCC bug 64117). libstdc++'s char_traits.h silences -Warray-bounds
  # and -Wstringop-overflow that way, so an optimized build with the header
  # reports false positives in std::string code and -Werror stops it (seen
  # in tests/engine/policy_file_test.cpp at -O2). Those warnings need the
  # optimizer: a Debug build (-O0) is not affected.
  if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13 AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    message(STATUS "Precompiled headers: off (GCC ${CMAKE_CXX_COMPILER_VERSION} with optimization)")
    return()
  endif()

  settle_targets_below(${PROJECT_SOURCE_DIR} targets)
  set(owners)
  set(summary)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|OBJECT_LIBRARY)$" OR t MATCHES "^settle_pch_")
      continue()
    endif()
    get_target_property(own ${t} PRECOMPILE_HEADERS)
    get_target_property(reuse ${t} PRECOMPILE_HEADERS_REUSE_FROM)
    if(own OR reuse)
      continue()
    endif()
    settle_usage_closure(${t} closure)
    # fmt::fmt brings FMT_SHARED, which the header is built with: every kind
    # needs it in the closure.
    if(NOT "fmt::fmt" IN_LIST closure)
      continue()
    endif()
    set(kind fmt)
    if("nlohmann_json::nlohmann_json" IN_LIST closure)
      set(kind json)
    endif()
    set(plain)  # the sources of an "asio" target that do not reach Boost.Asio
    if("Boost::headers" IN_LIST closure)
      get_target_property(sources ${t} SOURCES)
      get_target_property(dir ${t} SOURCE_DIR)
      set(asio_sources 0)
      foreach(s IN LISTS sources)
        if(NOT s MATCHES "\\.(cpp|cc|cxx)$")
          continue()
        endif()
        if(NOT IS_ABSOLUTE ${s})
          set(s ${dir}/${s})
        endif()
        settle_reaches_asio(${s} reaches)
        if(reaches)
          math(EXPR asio_sources "${asio_sources} + 1")
        else()
          list(APPEND plain ${s})
        endif()
      endforeach()
      list(LENGTH plain plain_sources)
      if(asio_sources GREATER 0 AND asio_sources GREATER_EQUAL plain_sources)
        set(kind asio)
      else()
        set(plain)  # mostly other sources: the smaller kind for all of them
      endif()
    endif()
    # Compile options that come with what the target links (pcsc-lite's
    # -pthread, which defines _REENTRANT) must be the header's own too: one
    # header per kind and set of such options. Macros (-D) are left to GCC's
    # check: FMT_SHARED is in every closure, and the others (spdlog's) do not
    # reach these headers.
    set(opts)
    foreach(dep IN LISTS closure)
      if(TARGET ${dep})
        get_target_property(o ${dep} INTERFACE_COMPILE_OPTIONS)
        if(o)
          list(APPEND opts ${o})
        endif()
      endif()
    endforeach()
    list(FILTER opts EXCLUDE REGEX "^(\\$<|-D)")
    list(REMOVE_DUPLICATES opts)
    list(SORT opts)
    string(MAKE_C_IDENTIFIER "settle_pch_${kind}${opts}" owner)
    if(NOT TARGET ${owner})
      settle_pch_owner(${owner} ${kind} "${opts}")
      list(APPEND owners ${owner})
    endif()
    target_precompile_headers(${t} REUSE_FROM ${owner})
    if(plain)
      set_source_files_properties(${plain} TARGET_DIRECTORY ${t} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
    # A header GCC cannot use is reported (-Winvalid-pch), not an error.
    target_compile_options(${t} PRIVATE -Wno-error=invalid-pch)
    list(APPEND summary "${t}:${kind}")
  endforeach()
  list(LENGTH summary n)
  message(STATUS "Precompiled headers: ${owners} (for ${n} targets)")
endfunction()
