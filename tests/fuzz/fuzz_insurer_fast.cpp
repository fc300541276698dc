// Differential fuzz target: a body read by the fast 9303/3202 scanners and by
// the generic codecs must give the same outcome, value or error; the fast
// 3202 writer must give Json::dump()'s bytes (docs/fuzzing.md).
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/detail_fast.hpp"
#include "protocol/insurer/redlist_fast.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace settle;
using namespace settle::insurer;

namespace {

constexpr std::string_view kMsgid = "H11010500001202611221700000001";

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fast path differs from the codecs: %s\n", what);
    std::abort();
  }
}

template <class T>
void same(const Result<T>& fast, const Result<T>& generic, bool fast_path, const char* what) {
  if (fast.ok() != generic.ok()) {
    std::fprintf(stderr, "%s: fast %s (fast path %d), codecs %s\n", what, fast.ok() ? "accepts" : "refuses",
                 fast_path ? 1 : 0, generic.ok() ? "accept" : "refuse");
    std::abort();
  }
  if (fast.ok()) {
    require(*fast == *generic, what);
    return;
  }
  require(!fast_path, "the fast path never answers with an error itself");
  require(fast.error() == generic.error(), what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  bool fast_path = false;
  auto red_fast = decode_red_list_reply(body, kMsgid, &fast_path);
  auto red = decode_reply<RedList>(body, kMsgid);
  same(red_fast, red, fast_path, "9303 page");

  auto detail_fast = decode_detail_reply(body, kMsgid, &fast_path);
  auto detail = decode_reply<DetailReconcile>(body, kMsgid);
  same(detail_fast, detail, fast_path, "3202 page");
  if (detail) {
    std::string text;
    append_detail_output(text, detail->page_num, detail->page_size, detail->total, detail->rows);
    require(text == detail->encode().dump(), "3202 page writer's text equals Json::dump()");
  }

  auto head = decode_response_head(body, kMsgid);
  auto full = decode_response(body, kMsgid);
  require(head.ok() == full.ok(), "envelope outcome");
  if (head) {
    require(head->infcode == full->infcode && head->inf_refmsgid == full->inf_refmsgid &&
                head->refmsg_time == full->refmsg_time && head->respond_time == full->respond_time &&
                head->err_msg == full->err_msg,
            "envelope fields");
  } else {
    require(head.error() == full.error(), "envelope error");
  }
  return 0;
}
