// The region-specific layout of the social security card in one table: the
// SSSE application's DF name, the elementary files, record numbers, expected
// lengths and the PIN reference. A region is added by adding a row here.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace settle::reader {

// Where one data element lives: in which EF, under which record number, how
// many bytes to ask for (Le, tag and length included) and how many value
// bytes the element has at most.
struct RecordSpec {
  std::uint16_t ef = 0;
  std::uint8_t record_no = 0;
  std::uint8_t le = 0;
  std::uint8_t value_max = 0;
};

struct CardProfile {
  std::string_view region;
  std::span<const std::uint8_t> ssse_df_name;  // SELECT by DF name, GBK bytes
  RecordSpec card_sn;     // 卡识别码
  RecordSpec card_type;   // 卡类别
  RecordSpec card_no;     // 卡号
  RecordSpec id_no;       // 社会保障号码 (= citizen ID number)
  RecordSpec name;        // 姓名, GBK
  RecordSpec gender;      // 性别, GB/T 2261.1 code as one ASCII digit
  RecordSpec birth_date;  // 出生日期, 4 bytes BCD YYYYMMDD
  std::uint8_t card_sn_len = 0;   // exact length of the card identification code
  std::uint8_t card_no_len = 0;   // exact length of the card number
  std::uint8_t pin_reference = 0; // P2 of VERIFY
  std::uint8_t pin_max_tries = 0; // what a fresh card allows (informative)
  // A PIN pad cannot set Lc from what the holder types, so the pad path uses a
  // fixed PIN length; cashier-entered PINs may be 4-12 digits.
  std::uint8_t pinpad_pin_digits = 0;
};

// "sx1.sh.社会保障" in GBK.
inline constexpr std::array<std::uint8_t, 15> kSsseDfName{0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9,
                                                          0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};

inline constexpr CardProfile kDefaultProfile{
    .region = "default",
    .ssse_df_name = kSsseDfName,
    .card_sn = {0xEF05, 0x01, 0x12, 16},
    .card_type = {0xEF05, 0x02, 0x03, 1},
    .card_no = {0xEF05, 0x07, 0x0B, 9},
    .id_no = {0xEF06, 0x08, 0x14, 18},
    .name = {0xEF06, 0x09, 0x20, 30},
    .gender = {0xEF06, 0x0A, 0x03, 1},
    .birth_date = {0xEF06, 0x0D, 0x06, 4},
    .card_sn_len = 16,
    .card_no_len = 9,
    .pin_reference = 0x00,
    .pin_max_tries = 3,
    .pinpad_pin_digits = 6,
};

inline constexpr std::array<const CardProfile*, 1> kProfiles{&kDefaultProfile};

// The profile for a region name, or nullptr.
inline const CardProfile* find_profile(std::string_view region) noexcept {
  for (const CardProfile* p : kProfiles) {
    if (p->region == region) return p;
  }
  return nullptr;
}

}  // namespace settle::reader
