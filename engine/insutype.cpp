// The insurance types of the national medical-insurance information platform
// (国家医疗保障信息平台 险种类型 insutype code table).
#include "engine/insutype.hpp"

#include <array>

namespace settle {
namespace {

constexpr std::array<InsutypeName, 14> kTable{{
    {"310", "职工基本医疗保险", "employee basic medical insurance"},
    {"320", "公务员医疗补助", "civil servants' medical subsidy"},
    {"330", "大额医疗费用补助", "large medical expense subsidy"},
    {"340", "离休人员医疗保障", "retired cadres' medical care"},
    {"350", "一至六级残废军人医疗补助", "disabled servicemen (grades 1-6) medical subsidy"},
    {"360", "老红军医疗保障", "Red Army veterans' medical care"},
    {"370", "企业补充医疗保险", "enterprise supplementary medical insurance"},
    {"380", "新型农村合作医疗", "new rural cooperative medical scheme"},
    {"390", "城乡居民基本医疗保险", "resident basic medical insurance"},
    {"391", "城镇居民基本医疗保险", "urban resident basic medical insurance"},
    {"392", "城乡居民大病医疗保险", "resident critical illness insurance"},
    {"399", "其他特殊人员医疗保障", "other special groups' medical care"},
    {"410", "长期照护保险", "long-term care insurance"},
    {"510", "生育保险", "maternity insurance"},
}};

}  // namespace

std::span<const InsutypeName> insutype_table() { return kTable; }

const InsutypeName* find_insutype(std::string_view code) {
  for (const InsutypeName& n : kTable)
    if (n.code == code) return &n;
  return nullptr;
}

std::string_view insutype_chinese(std::string_view code) {
  const InsutypeName* n = find_insutype(code);
  return n != nullptr ? n->chinese : code;
}

}  // namespace settle
