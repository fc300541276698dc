// Person generation: every field derived from (seed, n) through a small
// mixing function, so runs are repeatable and need no state; ID numbers are
// unique by construction (birth date and order code encode n).
#include "tools/insurer-sim/generator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace settle::sim {
namespace {

constexpr std::array<int, 17> kWeights{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
constexpr std::string_view kCheck = "10X98765432";

constexpr std::array<std::string_view, 24> kSurnames{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
                                                     "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋"};
constexpr std::array<std::string_view, 32> kGiven{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇",
                                                  "艳", "杰", "娟", "涛", "明", "超", "秀", "霞", "平", "刚", "桂",
                                                  "英", "华", "玉", "兰", "建", "国", "文", "红", "志", "海"};
// Insured areas of persons insured elsewhere (none is the default home area).
constexpr std::array<std::string_view, 4> kOtherAreas{"310101", "440103", "510104", "330106"};
constexpr std::array<std::string_view, 8> kRegions{"110101", "110102", "110105", "110106", "110108", "310101", "440103", "510104"};

// splitmix64: a full-period mixer; (seed, n, k) -> 64 random bits.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Dice {
 public:
  Dice(std::uint64_t seed, std::int64_t n) : state_(mix(seed ^ mix(static_cast<std::uint64_t>(n)))) {}
  std::uint64_t next() { return state_ = mix(state_); }
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n)); }

 private:
  std::uint64_t state_;
};

// Days since 1940-01-01 -> (y, m, d), proleptic Gregorian.
void civil(std::int64_t days, int& y, int& m, int& d) {
  using namespace std::chrono;
  const sys_days base = sys_days(year(1940) / January / 1) + std::chrono::days(days);
  const year_month_day ymd(base);
  y = static_cast<int>(ymd.year());
  m = static_cast<int>(static_cast<unsigned>(ymd.month()));
  d = static_cast<int>(static_cast<unsigned>(ymd.day()));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

char id_check_char(std::string_view first17) {
  SETTLE_ASSERT(first17.size() == 17);
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return kCheck[static_cast<std::size_t>(sum % 11)];
}

bool valid_id_number(std::string_view id) {
  if (id.size() != 18 || !std::all_of(id.begin(), id.begin() + 17, is_digit)) return false;
  const int month = (id[10] - '0') * 10 + (id[11] - '0'), day = (id[12] - '0') * 10 + (id[13] - '0');
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  return id[17] == id_check_char(id.substr(0, 17));
}

// The card identification code: 16 characters as the card's record holds
// them (card-profile.md), or 32 hex digits as some issuers print them.
bool valid_card_sn(std::string_view sn) {
  return (sn.size() == 16 || sn.size() == 32) && std::all_of(sn.begin(), sn.end(), [](char c) {
           return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
         });
}

bool valid_area(std::string_view area) { return area.size() == 6 && std::all_of(area.begin(), area.end(), is_digit); }

std::span<const std::string_view> other_areas() { return kOtherAreas; }

bool valid_card_no(std::string_view no) {
  return no.size() == 9 && std::all_of(no.begin(), no.end(), [](char c) {
           return is_digit(c) || (c >= 'A' && c <= 'Z');
         });
}

PersonRow generated_person(std::uint64_t seed, std::int64_t n, const GenOptions& opt) {
  Dice dice(seed, n);
  PersonRow p;
  p.psn_no = psn_no_of(n + 1);
  p.card_no = fmt::format("G{:08}", n + 1);
  static constexpr char hex[] = "0123456789ABCDEF";
  p.card_sn.reserve(32);
  for (int i = 0; i < 32; ++i) p.card_sn.push_back(hex[dice.below(16)]);
  // Birth date and order code encode n: (n / 999) days after 1940-01-01, order n % 999 + 1.
  int y = 0, m = 0, d = 0;
  civil(n / 999, y, m, d);
  const std::int64_t order = n % 999 + 1;
  const std::string first17 =
      fmt::format("{}{:04}{:02}{:02}{:03}", kRegions[static_cast<std::size_t>(dice.below(kRegions.size()))], y, m, d, order);
  p.certno = first17 + id_check_char(first17);
  p.gend = order % 2 == 1 ? "1" : "2";
  p.brdy = fmt::format("{:04}-{:02}-{:02}", y, m, d);
  p.name = std::string(kSurnames[static_cast<std::size_t>(dice.below(kSurnames.size()))]);
  const std::int64_t given = 1 + dice.below(2);
  for (std::int64_t i = 0; i < given; ++i) p.name += kGiven[static_cast<std::size_t>(dice.below(kGiven.size()))];
  const bool employee = dice.below(10) < 7;
  p.insutype = employee ? "310" : "390";
  p.psn_type = employee ? (y < 1965 ? "21" : "11") : "1501";
  p.balance = Amount::fen(employee ? dice.below(500'000) : dice.below(50'000));
  p.deductible_used = Amount::fen(dice.below(employee ? 180'001 : 10'001));
  p.fund_paid_ytd = Amount::fen(dice.below(employee ? 1'000'000 : 100'000));
  for (std::size_t f = 0; f < 4; ++f)
    if (dice.below(1000) < opt.flag_permille[f]) p.flags.set(static_cast<PersonFlag>(f));
  if (opt.frozen > 0 && opt.persons > 0 && (n * opt.frozen) / opt.persons != ((n + 1) * opt.frozen) / opt.persons)
    p.flags.set(PersonFlag::account_frozen);
  p.insuplc_admdvs = opt.home_area;
  if (dice.below(1000) < opt.elsewhere_permille) {
    auto i = static_cast<std::size_t>(dice.below(kOtherAreas.size()));
    if (kOtherAreas[i] == opt.home_area) i = (i + 1) % kOtherAreas.size();
    p.insuplc_admdvs = std::string(kOtherAreas[i]);
  }
  return p;
}

Result<GenStats> generate(const std::string& path, const GenOptions& opt) {
  if (opt.persons <= 0) return make_error(Reason::invalid_request, "persons", "--persons must be above 0");
  if (!valid_area(opt.home_area))
    return make_error(Reason::invalid_request, "area", fmt::format("--area \"{}\": must be 6 digits", opt.home_area));
  if (opt.elsewhere_permille < 0 || opt.elsewhere_permille > 1000)
    return make_error(Reason::invalid_request, "elsewhere-share", "--elsewhere-share must be 0..1000 (per mille)");
  {
    auto store = Store::open(path);  // creates the schema
    if (!store) return store.error();
    auto n = store->db().query_int64("SELECT count(*) FROM persons");
    if (!n) return db_error(n.error());
    if (n->value_or(0) != 0)
      return make_error(Reason::invalid_request, "db",
                        fmt::format("{} already holds {} persons; generate into a new file", path, n->value_or(0)));
  }
  const auto start = std::chrono::steady_clock::now();
  auto db = sql::Db::open(path);
  if (!db) return db_error(db.error());
  // Bulk load: no journal, no fsync; the file is new and useless if this fails.
  if (auto s = db->exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144"); !s)
    return db_error(s.error());
  if (auto s = db->exec(person_index_drop()); !s) return db_error(s.error());
  auto ins = db->prepare(
      "INSERT INTO persons(psn_no, card_no, card_sn, certno, name, gend, brdy, insutype, psn_type, flags, balance_fen, "
      "deductible_used_fen, fund_paid_ytd_fen, version, insuplc_admdvs) "
      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,1,?14)");
  if (!ins) return db_error(ins.error());
  for (std::int64_t done = 0; done < opt.persons;) {
    if (auto s = db->exec("BEGIN"); !s) return db_error(s.error());
    const std::int64_t end = std::min(opt.persons, done + opt.batch_rows);
    for (; done < end; ++done) {
      const PersonRow p = generated_person(opt.seed, done, opt);
      if (auto b = ins->bind_all(p.psn_no, p.card_no, p.card_sn, p.certno, p.name, p.gend, p.brdy, p.insutype,
                                 p.psn_type, static_cast<std::int64_t>(p.flags.bits()), p.balance.fen(),
                                 p.deductible_used.fen(), p.fund_paid_ytd.fen(), p.insuplc_admdvs);
          !b)
        return db_error(b.error());
      if (auto r = ins->run(); !r) return db_error(r.error());
      ins->reset();
    }
    if (auto s = db->exec("COMMIT"); !s) return db_error(s.error());
  }
  // Unique by construction; a clash here would be a generator bug and fails the load.
  if (auto s = db->exec(person_index_ddl()); !s) return db_error(s.error());
  if (auto s = db->exec("INSERT INTO meta(key, value) VALUES ('redlist_version', 1) "
                        "ON CONFLICT(key) DO UPDATE SET value = max(value, 1)");
      !s)
    return db_error(s.error());
  if (auto s = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL"); !s) return db_error(s.error());
  GenStats st;
  st.persons = opt.persons;
  st.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  return st;
}

Result<std::string> add_person(Store& store, PersonRow p) {
  if (!valid_card_no(p.card_no))
    return make_error(Reason::invalid_request, "card_no", "card_no must be 9 characters (digits and capital letters)");
  if (!valid_card_sn(p.card_sn)) return make_error(Reason::invalid_request, "card_sn", "card_sn must be 16 or 32 letters or digits");
  if (!valid_id_number(p.certno))
    return make_error(Reason::invalid_request, "id_no",
                      fmt::format("\"{}\" is not a valid 18-character ID number (GB 11643 check character)", p.certno));
  if (p.name.empty() || p.name.size() > 100) return make_error(Reason::invalid_request, "name", "name must be 1-100 bytes");
  if (p.insutype != "310" && p.insutype != "390")
    return make_error(Reason::invalid_request, "insutype", "insutype must be 310 or 390");
  if (!valid_area(p.insuplc_admdvs))
    return make_error(Reason::invalid_request, "insuplc_admdvs",
                      fmt::format("insured area \"{}\" must be 6 digits (医保区划)", p.insuplc_admdvs));
  if (p.balance.is_negative() || p.deductible_used.is_negative() || p.fund_paid_ytd.is_negative())
    return make_error(Reason::invalid_amount, "balance", "amounts must not be negative");
  if (p.gend.empty()) p.gend = ((p.certno[16] - '0') % 2 == 1) ? "1" : "2";
  if (p.brdy.empty()) p.brdy = fmt::format("{}-{}-{}", p.certno.substr(6, 4), p.certno.substr(10, 2), p.certno.substr(12, 2));
  if (p.psn_type.empty()) p.psn_type = p.insutype == "310" ? "11" : "1501";
  auto tx = sql::Transaction::begin(store.db());
  if (!tx) return db_error(tx.error());
  auto id = store.insert_person(std::move(p));
  if (!id) return id.error();
  if (auto c = tx->commit(); !c) return db_error(c.error());
  return id;
}

Status init_demo(Store& store) {
  struct Demo {
    const char* psn_no;
    const char* card_no;
    const char* card_sn;
    const char* id;
    const char* name;
    const char* insutype;
    std::int64_t balance_fen;
    std::uint8_t flags;
  };
  // The demo virtual card is the first; the others show each rule.
  const Demo demo[] = {
      {"11000000000000001", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "11010519491231002X", "张三", "310", 50'000, 0},
      {"11000000000000002", "D00000002", "1123456789ABCDEF0123456789ABCDEF", "110105198001010011", "李四", "390", 10'000, 0},
      {"11000000000000003", "D00000003", "2123456789ABCDEF0123456789ABCDEF", "110105197505050022", "王五", "310", 30'000,
       static_cast<std::uint8_t>(1U << static_cast<unsigned>(PersonFlag::supervised))},
      {"11000000000000004", "D00000004", "3123456789ABCDEF0123456789ABCDEF", "110105196512120033", "赵六", "310", 20'000,
       static_cast<std::uint8_t>(1U << static_cast<unsigned>(PersonFlag::account_frozen))},
  };
  for (const Demo& d : demo) {
    auto existing = store.person_by_card_no(d.card_no);
    if (!existing) return existing.error();
    if (*existing) continue;  // idempotent
    PersonRow p;
    p.psn_no = d.psn_no;
    p.card_no = d.card_no;
    p.card_sn = d.card_sn;
    std::string id = d.id;
    id[17] = id_check_char(std::string_view(id).substr(0, 17));  // the demo numbers are made valid, never trusted
    p.certno = id;
    p.name = d.name;
    p.insutype = d.insutype;
    p.balance = Amount::fen(d.balance_fen);
    p.flags = PersonFlags::from_bits(d.flags);
    auto r = add_person(store, p);
    if (!r) return r.error();
  }
  return Ok{};
}

}  // namespace settle::sim
