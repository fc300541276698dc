// The national code table of insurance types (险种类型, insutype), the one
// place their names are kept: the sheets, the reconciliation and the drill
// reports print them beside the code.
#pragma once

#include <span>
#include <string_view>

namespace settle {

struct InsutypeName {
  std::string_view code;     // "310"
  std::string_view chinese;  // "职工基本医疗保险"
  std::string_view english;  // "employee basic medical insurance"
};

// Every code of the table, in its order.
std::span<const InsutypeName> insutype_table();
// The entry of a code; nullptr for a code the table does not have.
const InsutypeName* find_insutype(std::string_view code);
// The Chinese name of a code, else the code itself.
std::string_view insutype_chinese(std::string_view code);

}  // namespace settle
