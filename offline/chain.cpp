// The hash chain of the ledger's money history: the canonical digest (as an
// SQL function and in C++), the table of chained kinds from which the v7
// triggers, the back-fill and the verifying walk are all generated, and the
// Ed25519 checkpoints. Rules: docs/ledger-integrity.md.
#include "offline/chain.hpp"
#include "offline/digest.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <string>
#include <unistd.h>

namespace settle::ledger::chain {
namespace {

// ---- the canonical digest --------------------------------------------------

// SHA-256 over values, each written as a type tag and its bytes (integers as
// 8 bytes big-endian; text and blobs with an 8-byte length first), so that no
// two different lists of values encode alike.
class Digest {
 public:
  Digest() { buf_.reserve(512); }

  void null() { tag('N'); }
  void integer(std::int64_t v) {
    tag('I');
    be64(static_cast<std::uint64_t>(v));
  }
  void real(double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    tag('R');
    be64(bits);
  }
  void text(std::string_view s) { bytes('T', s.data(), s.size()); }
  void blob(const void* p, std::size_t n) { bytes('B', p, n); }
  // The values are gathered and hashed in one update: a chained row is
  // digested twice per write (its content, its link), and each OpenSSL call
  // goes through the provider's dispatch.
  Hash finish() {
    // SHA-256 fetched once (digest.hpp), not looked up by every init; one context per thread.
    const EVP_MD* const sha256 = digest::sha256_md();
    thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    Hash h{};
    unsigned int n = 0;
    const bool ok = sha256 != nullptr && ctx != nullptr && EVP_DigestInit_ex2(ctx.get(), sha256, nullptr) == 1 &&
                    EVP_DigestUpdate(ctx.get(), buf_.data(), buf_.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx.get(), h.data(), &n) == 1;
    // Without SHA-256 no digest can be trusted: a ledger must not be written.
    if (!ok || n != h.size()) std::abort();
    return h;
  }

 private:
  void tag(char t) { buf_.push_back(t); }
  void be64(std::uint64_t v) {
    char b[8];
    for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
    buf_.append(b, sizeof b);
  }
  void bytes(char t, const void* p, std::size_t n) {
    tag(t);
    be64(n);
    if (n > 0) buf_.append(static_cast<const char*>(p), n);
  }
  std::string buf_;
};

void sql_digest(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  Digest d;
  for (int i = 0; i < argc; ++i) {
    sqlite3_value* v = argv[i];
    switch (sqlite3_value_type(v)) {
      case SQLITE_INTEGER: d.integer(sqlite3_value_int64(v)); break;
      case SQLITE_FLOAT: d.real(sqlite3_value_double(v)); break;
      case SQLITE_TEXT:
        d.text({reinterpret_cast<const char*>(sqlite3_value_text(v)),
                static_cast<std::size_t>(sqlite3_value_bytes(v))});
        break;
      case SQLITE_BLOB: d.blob(sqlite3_value_blob(v), static_cast<std::size_t>(sqlite3_value_bytes(v))); break;
      default: d.null(); break;
    }
  }
  const Hash h = d.finish();
  sqlite3_result_blob(ctx, h.data(), static_cast<int>(h.size()), SQLITE_TRANSIENT);
}

Hash link_hash(const Hash& prev, std::int64_t seq, std::string_view kind, std::string_view ref, const Hash& content) {
  Digest d;
  d.text("link");
  d.blob(prev.data(), prev.size());
  d.integer(seq);
  d.text(kind);
  d.text(ref);
  d.blob(content.data(), content.size());
  return d.finish();
}

constexpr std::string_view kGenesisRef = "settle ledger chain v1";

Hash genesis_hash() {
  Digest d;
  d.text("genesis");
  d.text(kGenesisRef);
  return d.finish();
}

// ---- the chained kinds --------------------------------------------------------

enum class On : std::uint8_t {
  insert,       // one entry when the row is inserted; the content never changes
  once,         // one entry when the row first meets `when` (inserted so, or updated to it)
  every_change  // an entry at insert and at every change of the columns
};

struct KeyCol {
  std::string_view name;
  bool integer;
};

struct Kind {
  std::string_view name;                // chain.kind
  std::string_view table;
  std::vector<KeyCol> key;              // chain.ref: the key columns joined by ':' (only the last may hold ':')
  std::vector<std::string_view> cols;   // the content, in this order (the key is among them)
  On on = On::insert;
  std::string_view when;                // a condition on the row ({r}.col ...), "" for every row
  int since = 7;                        // the schema version whose migration chains it
};

// Every chained kind. The columns are the ones the ledger's triggers keep
// fixed (or sets once); the columns that may change are chained as their own
// kind with On::every_change. A kind is never edited once shipped: a new
// column is a new kind (or a new version of the chain).
const std::vector<Kind>& kinds() {
  static const std::vector<Kind> all{
      {"settlement", "settlements", {{"setl_id", true}},
       {"setl_id", "request_id", "window_id", "operator_id", "card_no", "card_sn", "psn_no", "insutype",
        "visit_type", "med_type", "mode", "total_fen", "fund_fen", "account_fen", "cash_fen", "fulamt_ownpay_fen",
        "preselfpay_fen", "inscp_fen", "deductible_part_fen", "reasons", "msgid", "receipt_no", "created_at_ms",
        "clearing_date", "offline_reason", "resettles_setl_id", "adm_id", "stay_lines_upto", "stay_cancels_upto"},
       On::insert, ""},
      {"settlement_state", "settlements", {{"setl_id", true}},
       {"setl_id", "state", "insurer_setl_id", "mdtrt_id"}, On::every_change, ""},
      {"settlement_line", "settlement_lines", {{"setl_id", true}, {"line_no", true}},
       {"setl_id", "line_no", "code", "name", "class", "amount_fen", "selfpay_ratio_ppm"}, On::insert, ""},
      {"classb_ratio", "settlement_classb_ratios", {{"setl_id", true}, {"code", false}},
       {"setl_id", "code", "selfpay_ratio_ppm"}, On::insert, ""},
      {"refund", "refunds", {{"refund_id", true}},
       {"refund_id", "request_id", "setl_id", "window_id", "operator_id", "refund_total_fen", "fund_fen",
        "account_fen", "cash_fen", "insurer_refund_id", "msgid", "created_at_ms", "clearing_date"},
       On::insert, ""},
      {"refund_line", "refund_lines", {{"refund_id", true}, {"line_no", true}},
       {"refund_id", "line_no", "code", "amount_fen"}, On::insert, ""},
      {"adjustment", "adjustments", {{"adj_id", true}},
       {"adj_id", "setl_id", "kind", "local_fund_fen", "insurer_fund_fen", "local_account_fen",
        "insurer_account_fen", "local_cash_fen", "insurer_cash_fen", "msgid", "note", "created_at_ms"},
       On::insert, ""},
      {"correction", "corrections", {{"correction_id", true}},
       {"correction_id", "target", "setl_id", "item_id", "action", "fund_fen", "account_fen", "cash_fen", "reason",
        "recorded_by", "recorded_at_ms"},
       On::insert, ""},
      {"correction_decision", "corrections", {{"correction_id", true}},
       {"correction_id", "state", "decided_by", "decided_at_ms", "decision_note", "adj_id"}, On::once,
       "{r}.state <> 'recorded'"},
      {"answer", "requests", {{"request_id", false}},
       {"request_id", "method", "payload_hash", "created_at_ms", "answer", "answered_at_ms"}, On::once,
       "{r}.state = 'answered'"},
      {"stay", "stays", {{"adm_id", true}},
       {"adm_id", "request_id", "window_id", "operator_id", "card_no", "card_sn", "dept", "diagnosis",
        "admit_at_ms", "mode", "msgid", "created_at_ms"},
       On::insert, ""},
      {"stay_state", "stays", {{"adm_id", true}},
       {"adm_id", "state", "mdtrt_id", "psn_no", "insutype", "discharge_at_ms"}, On::every_change, ""},
      {"stay_line", "stay_lines", {{"adm_id", true}, {"feedetl_sn", false}},
       {"adm_id", "feedetl_sn", "line_no", "code", "name", "class", "amount_fen", "selfpay_ratio_ppm", "added_by"},
       On::insert, ""},
      {"stay_line_cancel", "stay_lines", {{"adm_id", true}, {"feedetl_sn", false}},
       {"adm_id", "feedetl_sn", "cancelled_by", "cancel_no"}, On::once, "{r}.cancelled_by IS NOT NULL"},
      {"closeout", "closeouts", {{"closeout_id", true}},
       {"closeout_id", "request_id", "operator_name", "window_id", "from_ms", "to_ms", "upto_setl_id",
        "upto_refund_id", "recorded_at_ms", "source", "document", "digest"},
       On::insert, ""},
      {"closeout_item", "closeout_items", {{"kind", false}, {"ref_id", true}},
       {"kind", "ref_id", "closeout_id"}, On::insert, ""},
      {"audit", "audit", {{"audit_id", true}},
       {"audit_id", "at_ms", "operator_name", "window_id", "action", "detail", "object", "outcome", "source"},
       On::insert, ""},
      {"event", "events", {{"event_id", true}},
       {"event_id", "at_ms", "entity", "entity_id", "from_state", "to_state", "detail"}, On::insert, ""},
      {"checkpoint", "chain_checkpoints", {{"checkpoint_id", true}},
       {"checkpoint_id", "at_ms", "reason", "head_seq", "head_hash", "counts", "key_id", "signature"}, On::insert,
       ""},
      // v8: outage records.
      {"outage", "outages", {{"outage_id", true}}, {"outage_id", "kind", "cause", "started_at_ms"}, On::insert, "", 8},
      {"outage_end", "outages", {{"outage_id", true}}, {"outage_id", "ended_at_ms", "end_note"}, On::once,
       "{r}.ended_at_ms IS NOT NULL", 8},
      {"outage_note", "outage_notes", {{"note_id", true}},
       {"note_id", "outage_id", "at_ms", "kind", "target", "detail", "by"}, On::insert, "", 8},
      // v9: settlements re-entered from the paper emergency ledger.
      {"reentry_batch", "reentry_batches", {{"batch_id", true}},
       {"batch_id", "batch_ref", "content_hash", "entered_by", "entered_at_ms", "row_count", "total_fen", "cash_fen"},
       On::insert, "", 9},
      {"reentry_decision", "reentry_batches", {{"batch_id", true}},
       {"batch_id", "state", "decided_by", "decided_at_ms", "decision_note"}, On::once, "{r}.state <> 'entered'", 9},
      {"reentry_row", "reentry_rows", {{"batch_id", true}, {"row_no", true}},
       {"batch_id", "row_no", "at_ms", "window_id", "operator_id", "card_no", "psn_name", "total_fen", "cash_fen"},
       On::insert, "", 9},
      {"reentry_line", "reentry_lines", {{"batch_id", true}, {"row_no", true}, {"line_no", true}},
       {"batch_id", "row_no", "line_no", "code", "name", "class", "amount_fen"}, On::insert, "", 9},
      {"reentry_result", "reentry_results", {{"batch_id", true}, {"row_no", true}},
       {"batch_id", "row_no", "setl_id", "estimate_fund_fen"}, On::insert, "", 9},
      // v11: a settlement's credential, insured area and facts, when not the
      // defaults every row written before v11 holds.
      {"settlement_credential", "settlements", {{"setl_id", true}},
       {"setl_id", "cert_type", "insuplc_admdvs", "facts"}, On::insert,
       "{r}.cert_type <> 3 OR {r}.insuplc_admdvs <> '' OR {r}.facts IS NOT NULL", 11},
      // v12: a stay's insured area, once known (rows written before hold '').
      {"stay_area", "stays", {{"adm_id", true}}, {"adm_id", "insuplc_admdvs"}, On::once, "{r}.insuplc_admdvs <> ''", 12},
  };
  return all;
}

// The column that numbers a kind's rows in the order they are written, for
// the kinds whose rows are all written (or, for a stored answer, answered)
// after a checkpoint numbered above every row of that moment: an insert
// kind's growing key, or its parent's when its rows are written in the
// parent's transaction; a request's arrival number. A checkpoint signs each
// one's highest number (v13 on), and the next walk from it looks for rows
// without an entry above that only. The kinds not here may meet their
// condition long after their row was written (a stay's lines, decisions, an
// outage's end, a re-entered row's result) and are counted whole.
std::string_view top_of(const Kind& k) {
  static const std::map<std::string_view, std::string_view> tops{
      {"settlement", "setl_id"},      {"settlement_credential", "setl_id"}, {"settlement_line", "setl_id"},
      {"classb_ratio", "setl_id"},    {"refund", "refund_id"},              {"refund_line", "refund_id"},
      {"adjustment", "adj_id"},       {"correction", "correction_id"},      {"answer", "seq"},
      {"stay", "adm_id"},             {"closeout", "closeout_id"},          {"closeout_item", "closeout_id"},
      {"audit", "audit_id"},          {"event", "event_id"},                {"checkpoint", "checkpoint_id"},
      {"outage", "outage_id"},        {"outage_note", "note_id"},           {"reentry_batch", "batch_id"},
      {"reentry_row", "batch_id"},    {"reentry_line", "batch_id"},
  };
  const auto it = tops.find(k.name);
  return it == tops.end() ? std::string_view{} : it->second;
}

std::string replace_row(std::string_view text, std::string_view row) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.substr(i, 3) == "{r}") {
      out += row;
      i += 3;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// The ref of row `r`: its key columns as text joined by ':'.
std::string ref_sql(const Kind& k, std::string_view r) {
  std::string out;
  for (const KeyCol& c : k.key) {
    if (!out.empty()) out += " || ':' || ";
    out += c.integer ? fmt::format("CAST({}.{} AS TEXT)", r, c.name) : fmt::format("{}.{}", r, c.name);
  }
  return out;
}

// settle_digest('<kind>', r.col1, r.col2, ...)
std::string content_sql(const Kind& k, std::string_view r) {
  std::string out = fmt::format("settle_digest('{}'", k.name);
  for (std::string_view c : k.cols) out += fmt::format(", {}.{}", r, c);
  return out + ")";
}

// How a chain trigger appends its entry. v7: the head read from `chain`
// itself (ORDER BY seq DESC LIMIT 1) and the entry's ref and content in a
// subquery; SQLite makes three temporary b-trees for that at every run. head
// (v14 on): the head read from the one-row table chain_head and advanced in
// the same trigger. The entries (and their bytes) are the same.
enum class TriggerForm : std::uint8_t { v7, head };

// The statement that appends one entry (the chain's next seq and link) from
// a ref and a content given as SQL expressions.
std::string append_sql(std::string_view kind, std::string_view ref, std::string_view content) {
  return fmt::format(
      "INSERT INTO chain(seq, kind, ref, content, hash)\n"
      "  SELECT h.seq + 1, '{0}', e.ref, e.c, settle_digest('link', h.hash, h.seq + 1, '{0}', e.ref, e.c)\n"
      "  FROM (SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1) AS h,\n"
      "       (SELECT {1} AS ref, {2} AS c) AS e",
      kind, ref, content);
}

// The same from v14 on: the head is read from chain_head and advanced, so
// that the append reads neither `chain` (SQLite would first copy the rows to
// insert into a temporary table) nor a subquery (made into a temporary table
// at every run). The content's digest is written twice instead of kept in a
// subquery: computing it again costs less than that table.
std::string append_head_sql(std::string_view kind, std::string_view ref, std::string_view content) {
  return fmt::format(
      "INSERT INTO chain(seq, kind, ref, content, hash)\n"
      "  SELECT h.seq + 1, '{0}', {1}, {2}, settle_digest('link', h.hash, h.seq + 1, '{0}', {1}, {2})\n"
      "  FROM chain_head AS h WHERE h.id = 1;\n"
      "UPDATE chain_head SET seq = seq + 1, hash = (SELECT c.hash FROM chain AS c WHERE c.seq = chain_head.seq + 1)\n"
      "  WHERE id = 1",
      kind, ref, content);
}

// The triggers that chain kind `k`; with `index`, also the index its
// every_change entries are found by (made once, with the kind).
std::string trigger_sql(const Kind& k, TriggerForm form = TriggerForm::v7, bool index = true) {
  const std::string ref = ref_sql(k, "NEW");
  const std::string content = content_sql(k, "NEW");
  const std::string append =
      form == TriggerForm::v7 ? append_sql(k.name, ref, content) : append_head_sql(k.name, ref, content);
  std::string out;
  const std::string when_new = k.when.empty() ? "" : replace_row(k.when, "NEW");
  out += fmt::format("CREATE TRIGGER chain_{0}_insert AFTER INSERT ON {1}{2}\nBEGIN\n{3};\nEND;\n", k.name, k.table,
                     when_new.empty() ? "" : " WHEN " + when_new, append);
  if (k.on == On::once) {
    const std::string when_old = replace_row(k.when, "OLD");
    out += fmt::format("CREATE TRIGGER chain_{0}_update AFTER UPDATE ON {1} WHEN ({2}) AND NOT ({3})\nBEGIN\n{4};\nEND;\n",
                       k.name, k.table, when_new, when_old, append);
  } else if (k.on == On::every_change) {
    std::string of;
    std::string changed;
    for (std::string_view c : k.cols) {
      if (std::any_of(k.key.begin(), k.key.end(), [&](const KeyCol& kc) { return kc.name == c; })) continue;
      if (!of.empty()) of += ", ", changed += " OR ";
      of += c;
      changed += fmt::format("NEW.{0} IS NOT OLD.{0}", c);
    }
    out += fmt::format("CREATE TRIGGER chain_{0}_update AFTER UPDATE OF {1} ON {2} WHEN {3}\nBEGIN\n{4};\nEND;\n",
                       k.name, of, k.table, changed, append);
    // The latest entry of a row is found through this index (verify).
    if (index) out += fmt::format("CREATE INDEX chain_latest_{0} ON chain(ref, seq) WHERE kind = '{0}';\n", k.name);
  }
  return out;
}

Hash to_hash(const sql::Statement& st, int col) {
  Hash h{};
  const auto b = st.column_blob(col);
  if (b.size() == h.size()) std::memcpy(h.data(), b.data(), h.size());
  return h;
}

sql::BytesView view(const Hash& h) { return {reinterpret_cast<const std::byte*>(h.data()), h.size()}; }

sql::DbError crypto_error(std::string what) { return sql::DbError{sql::Errc::other, 0, std::move(what)}; }

std::string counts_text(const std::map<std::string, std::int64_t>& counts) {
  std::string out;
  for (const auto& [k, n] : counts) {
    if (!out.empty()) out += ",";
    out += fmt::format("{}={}", k, n);
  }
  return out;
}

std::map<std::string, std::int64_t> parse_counts(std::string_view text) {
  std::map<std::string, std::int64_t> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::int64_t n = 0;
      for (char c : item.substr(eq + 1))
        if (c >= '0' && c <= '9') n = n * 10 + (c - '0');
      out[std::string(item.substr(0, eq))] = n;
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string key_id_of(EVP_PKEY* pkey) {
  std::uint8_t raw[64];
  std::size_t n = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1) return "";
  Digest d;
  d.blob(raw, n);
  return hex(d.finish()).substr(0, 16);
}

bool verify_with(EVP_PKEY* pkey, std::string_view message, const std::vector<std::uint8_t>& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx, signature.data(), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// A key file's text, refused when other users may read it.
sql::Result<std::string> read_key_file(const std::string& path, bool must_be_private) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return crypto_error(fmt::format("checkpoint key {}: {}", path, std::strerror(errno)));
  if (must_be_private && (st.st_mode & S_IRWXO) != 0)
    return crypto_error(fmt::format("checkpoint key {} is open to other users (mode {:04o}): make it 0600 (or 0640 "
                                    "with the service's group)",
                                    path, st.st_mode & 07777));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return crypto_error(fmt::format("checkpoint key {}: {}", path, std::strerror(errno)));
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return text;
}

EVP_PKEY* pem_private(const std::string& text) {
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

EVP_PKEY* pem_public(const std::string& text) {
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

}  // namespace

std::string hex(const Hash& h) { return digest::lower_hex(h.data(), h.size()); }

sql::Status register_functions(sql::Db& db) {
  const int rc = sqlite3_create_function_v2(db.handle(), "settle_digest", -1,
                                            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                                            sql_digest, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return db.last_error("registering settle_digest");
  return settle::Ok{};
}

const std::string& schema_sql() {
  static const std::string sql = [] {
    std::string s = R"SQL(
-- The chain: entry 0 is the genesis; entry n holds the kind and key of a row
-- of the money history, the digest of its content, and the digest of entry
-- n-1's hash with its own fields (docs/ledger-integrity.md).
CREATE TABLE chain (
  seq      INTEGER PRIMARY KEY CHECK (seq >= 0),
  kind     TEXT NOT NULL,
  ref      TEXT NOT NULL,
  content  BLOB NOT NULL CHECK (length(content) = 32),
  hash     BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE TRIGGER chain_no_update BEFORE UPDATE ON chain
BEGIN SELECT RAISE(ABORT, 'chain: the chain is append-only'); END;
CREATE TRIGGER chain_no_delete BEFORE DELETE ON chain
BEGIN SELECT RAISE(ABORT, 'chain: the chain is append-only'); END;
INSERT INTO chain(seq, kind, ref, content, hash)
  VALUES(0, 'genesis', 'settle ledger chain v1', zeroblob(32), settle_digest('genesis', 'settle ledger chain v1'));

-- Signed checkpoints of the chain's head (Ed25519, the key outside the file).
CREATE TABLE chain_checkpoints (
  checkpoint_id  INTEGER PRIMARY KEY,
  at_ms          INTEGER NOT NULL,
  reason         TEXT NOT NULL,
  head_seq       INTEGER NOT NULL CHECK (head_seq >= 0),
  head_hash      BLOB NOT NULL CHECK (length(head_hash) = 32),
  counts         TEXT NOT NULL,
  key_id         TEXT NOT NULL,
  signature      BLOB NOT NULL
) STRICT;
CREATE TRIGGER chain_checkpoints_no_update BEFORE UPDATE ON chain_checkpoints
BEGIN SELECT RAISE(ABORT, 'chain_checkpoints: append-only'); END;
CREATE TRIGGER chain_checkpoints_no_delete BEFORE DELETE ON chain_checkpoints
BEGIN SELECT RAISE(ABORT, 'chain_checkpoints: append-only'); END;
)SQL";
    for (const Kind& k : kinds())
      if (k.since == 7) s += trigger_sql(k);
    return s;
  }();
  return sql;
}

std::string kinds_sql(int version) {
  std::string s;
  for (const Kind& k : kinds())
    if (k.since == version) s += trigger_sql(k);
  return s;
}

std::string table_triggers_sql(std::string_view table) {
  std::string s;
  for (const Kind& k : kinds())
    if (k.table == table) s += trigger_sql(k);
  return s;
}

const std::string& head_sql() {
  static const std::string sql = [] {
    std::string s = R"SQL(
-- The chain's last entry, kept by the chain triggers: an append reads it
-- instead of the chain's end, and moves it to the entry it wrote.
CREATE TABLE chain_head (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  seq   INTEGER NOT NULL CHECK (seq >= 0),
  hash  BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
INSERT INTO chain_head(id, seq, hash) SELECT 1, seq, hash FROM chain ORDER BY seq DESC LIMIT 1;
CREATE TRIGGER chain_head_forward BEFORE UPDATE ON chain_head
WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1
  OR NEW.hash IS NOT (SELECT c.hash FROM chain AS c WHERE c.seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'chain_head: the head only moves to the entry after it'); END;
CREATE TRIGGER chain_head_no_delete BEFORE DELETE ON chain_head
BEGIN SELECT RAISE(ABORT, 'chain_head: the head is never deleted'); END;
)SQL";
    for (const Kind& k : kinds()) {
      s += fmt::format("DROP TRIGGER chain_{}_insert;\n", k.name);
      if (k.on != On::insert) s += fmt::format("DROP TRIGGER chain_{}_update;\n", k.name);
      s += trigger_sql(k, TriggerForm::head, false);
    }
    return s;
  }();
  return sql;
}

sql::Status backfill(sql::Db& db) {
  for (const Kind& k : kinds()) {
    if (k.since != 7) continue;  // later kinds' tables are made with their triggers
    std::string order;
    for (const KeyCol& c : k.key) order += (order.empty() ? "" : ", ") + fmt::format("t.{}", c.name);
    const std::string where = k.when.empty() ? "" : " WHERE " + replace_row(k.when, "t");
    auto rows = db.prepare(fmt::format("SELECT {}, {} FROM {} AS t{} ORDER BY {}", ref_sql(k, "t"),
                                       content_sql(k, "t"), k.table, where, order));
    if (!rows) return rows.error();
    auto add = db.prepare(append_sql(k.name, "?1", "?2"));
    if (!add) return add.error();
    for (;;) {
      auto r = rows->step();
      if (!r) return r.error();
      if (!*r) break;
      add->reset();
      SETTLE_SQL_TRY(add->bind(1, rows->column_text_view(0)));
      const Hash c = to_hash(*rows, 1);
      SETTLE_SQL_TRY(add->bind(2, view(c)));
      SETTLE_SQL_TRY(add->run());
    }
  }
  return settle::Ok{};
}

sql::Result<Head> head(sql::Db& db) {
  auto st = db.cached("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1");
  if (!st) return st.error();
  auto row = (*st)->step();
  if (!row) return row.error();
  if (!*row) return sql::DbError{sql::Errc::not_found, 0, "the ledger's chain has no genesis entry"};
  Head h{(*st)->column_int64(0), to_hash(**st, 1)};
  (*st)->reset();
  return h;
}

// ---- keys -------------------------------------------------------------------

struct Signer::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};
struct Verifier::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

Signer::~Signer() = default;
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Verifier::~Verifier() = default;
Verifier::Verifier(Verifier&&) noexcept = default;
Verifier& Verifier::operator=(Verifier&&) noexcept = default;

sql::Result<Signer> Signer::load(const std::string& path) {
  auto text = read_key_file(path, true);
  if (!text) return text.error();
  EVP_PKEY* pkey = pem_private(*text);
  if (pkey == nullptr || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return crypto_error(fmt::format("checkpoint key {} is not an Ed25519 private key in PEM (make one with "
                                    "`settlectl ledger keygen`)",
                                    path));
  }
  Signer s;
  s.key_ = std::make_unique<Key>();
  s.key_->pkey = pkey;
  s.key_id_ = key_id_of(pkey);
  return s;
}

sql::Result<Signer> Signer::generate(const std::string& path) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (pkey == nullptr) return crypto_error("could not generate an Ed25519 key");
  Signer s;
  s.key_ = std::make_unique<Key>();
  s.key_->pkey = pkey;
  s.key_id_ = key_id_of(pkey);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    BIO_free(bio);
    return crypto_error(fmt::format("cannot create checkpoint key {}: {}", path, std::strerror(errno)));
  }
  const bool ok = ::write(fd, data, static_cast<std::size_t>(n)) == n && ::fsync(fd) == 0;
  ::close(fd);
  BIO_free(bio);
  if (!ok) {
    ::unlink(path.c_str());
    return crypto_error(fmt::format("cannot write checkpoint key {}: {}", path, std::strerror(errno)));
  }
  return s;
}

std::vector<std::uint8_t> Signer::sign(std::string_view message) const {
  std::vector<std::uint8_t> sig(64);
  std::size_t n = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_->pkey) == 1 &&
                  EVP_DigestSign(ctx, sig.data(), &n, reinterpret_cast<const unsigned char*>(message.data()),
                                 message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  sig.resize(n);
  return sig;
}

bool Signer::verify(std::string_view message, const std::vector<std::uint8_t>& signature) const {
  return verify_with(key_->pkey, message, signature);
}

std::string Signer::public_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_->pkey);
  char* data = nullptr;
  const long n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

sql::Result<Verifier> Verifier::load(const std::string& path) {
  auto text = read_key_file(path, false);
  if (!text) return text.error();
  EVP_PKEY* pkey = pem_public(*text);
  if (pkey == nullptr) pkey = pem_private(*text);
  if (pkey == nullptr || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return crypto_error(fmt::format("{} is not an Ed25519 key in PEM (public or private)", path));
  }
  Verifier v;
  v.key_ = std::make_unique<Key>();
  v.key_->pkey = pkey;
  v.key_id_ = key_id_of(pkey);
  return v;
}

Verifier Verifier::of(const Signer& s) {
  Verifier v;
  v.key_ = std::make_unique<Key>();
  EVP_PKEY_up_ref(s.key_->pkey);
  v.key_->pkey = s.key_->pkey;
  v.key_id_ = s.key_id_;
  return v;
}

bool Verifier::verify(std::string_view message, const std::vector<std::uint8_t>& signature) const {
  return verify_with(key_->pkey, message, signature);
}

// ---- checkpoints -------------------------------------------------------------

std::string Checkpoint::message() const {
  if (tops.empty())  // written before v13
    return fmt::format("settle ledger checkpoint v1\nat_ms={}\nreason={}\nhead_seq={}\nhead_hash={}\ncounts={}\nkey_id={}\n",
                       at_ms, reason, head_seq, hex(head_hash), counts, key_id);
  return fmt::format(
      "settle ledger checkpoint v2\nat_ms={}\nreason={}\nhead_seq={}\nhead_hash={}\ncounts={}\ntops={}\nkey_id={}\n", at_ms,
      reason, head_seq, hex(head_hash), counts, tops, key_id);
}

namespace {

// Each topped kind's highest row number now (the file is at `version`).
sql::Result<std::string> tops_now(sql::Db& db, std::int64_t version) {
  std::map<std::string, std::int64_t> tops;
  for (const Kind& k : kinds()) {
    const std::string_view top = top_of(k);
    if (top.empty() || k.since > version) continue;
    auto st = db.cached(fmt::format("SELECT coalesce(max({}), 0) FROM {}", top, k.table));
    if (!st) return st.error();
    auto row = (*st)->step();
    if (!row) return row.error();
    tops[std::string(k.name)] = *row ? (*st)->column_int64(0) : 0;
    (*st)->reset();
  }
  return counts_text(tops);
}

}  // namespace

sql::Result<std::optional<Checkpoint>> write_checkpoint(sql::Db& db, const Signer& signer, std::string_view reason,
                                                        std::int64_t now_ms, bool only_if_advanced) {
  auto h = head(db);
  if (!h) return h.error();
  auto last = db.cached("SELECT head_seq, counts FROM chain_checkpoints ORDER BY checkpoint_id DESC LIMIT 1");
  if (!last) return last.error();
  auto row = (*last)->step();
  if (!row) return row.error();
  std::int64_t from = 0;  // entries after the genesis are counted from here
  std::map<std::string, std::int64_t> counts;
  if (*row) {
    from = (*last)->column_int64(0);
    counts = parse_counts((*last)->column_text_view(1));
  }
  (*last)->reset();
  // The last checkpoint's own entry follows its head: nothing else since.
  if (only_if_advanced && *row && h->seq <= from + 1) return std::optional<Checkpoint>{};
  auto count = db.cached("SELECT kind, count(*) FROM chain WHERE seq > ?1 AND seq <= ?2 GROUP BY kind");
  if (!count) return count.error();
  SETTLE_SQL_TRY((*count)->bind_all(from, h->seq));
  for (;;) {
    auto r = (*count)->step();
    if (!r) return r.error();
    if (!*r) break;
    counts[(*count)->column_text((0))] += (*count)->column_int64(1);
  }
  Checkpoint cp;
  cp.at_ms = now_ms;
  cp.reason = std::string(reason);
  cp.head_seq = h->seq;
  cp.head_hash = h->hash;
  cp.counts = counts_text(counts);
  auto version = db.query_int64("PRAGMA user_version");
  if (!version) return version.error();
  const bool with_tops = version->value_or(0) >= kTopsSince;
  if (with_tops) {
    auto tops = tops_now(db, version->value_or(0));
    if (!tops) return tops.error();
    cp.tops = std::move(tops).value();
  }
  cp.key_id = signer.key_id();
  cp.signature = signer.sign(cp.message());
  if (cp.signature.empty()) return crypto_error("signing the checkpoint failed");
  auto ins = db.cached(with_tops ? "INSERT INTO chain_checkpoints(at_ms, reason, head_seq, head_hash, counts, key_id, "
                                   "signature, tops) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                                 : "INSERT INTO chain_checkpoints(at_ms, reason, head_seq, head_hash, counts, key_id, "
                                   "signature) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!ins) return ins.error();
  SETTLE_SQL_TRY((*ins)->bind_all(cp.at_ms, cp.reason, cp.head_seq, view(cp.head_hash), cp.counts, cp.key_id,
                                  sql::BytesView(reinterpret_cast<const std::byte*>(cp.signature.data()),
                                                 cp.signature.size())));
  if (with_tops) SETTLE_SQL_TRY((*ins)->bind(8, cp.tops));
  SETTLE_SQL_TRY((*ins)->run());
  cp.checkpoint_id = db.last_insert_rowid();
  return std::optional<Checkpoint>(std::move(cp));
}

// ---- the verifying walk ---------------------------------------------------------

namespace {

// What the walk needs of one kind: the statement reading a row's current
// content by its key.
struct KindCheck {
  const Kind* kind = nullptr;
  sql::Statement lookup;  // the content, then the row's number when the kind has a top
  bool topped = false;
};

// Splits a ref into the kind's key parts (the last part takes the rest).
std::vector<std::string_view> split_ref(std::string_view ref, std::size_t parts) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i + 1 < parts; ++i) {
    const auto colon = ref.find(':');
    if (colon == std::string_view::npos) return {};
    out.push_back(ref.substr(0, colon));
    ref.remove_prefix(colon + 1);
  }
  out.push_back(ref);
  return out;
}

bool parse_int(std::string_view s, std::int64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  bool neg = s.front() == '-';
  if (neg) s.remove_prefix(1);
  if (s.empty()) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (neg) v = -v;
  return true;
}

class Walk {
 public:
  Walk(sql::Db& db, const VerifyOptions& opt) : db_(db), opt_(opt) {}

  sql::Result<VerifyReport> run() {
    // A file of an older schema has only the kinds chained up to its version.
    auto version = db_.query_int64("PRAGMA user_version");
    if (!version) return version.error();
    version_ = version->value_or(0);
    SETTLE_SQL_TRY(prepare());
    auto cps = load_checkpoints();
    if (!cps) return cps.error();
    SETTLE_SQL_TRY(walk_chain(*cps));
    SETTLE_SQL_TRY(rows_without_entries());
    return std::move(report_);
  }

 private:
  void problem(std::int64_t seq, std::string_view kind, std::string_view ref, std::string_view what,
               std::string message) {
    if (report_.problems.size() < opt_.max_problems)
      report_.problems.push_back(
          Problem{seq, std::string(kind), std::string(ref), std::string(what), std::move(message)});
  }

  bool present(const Kind& k) const { return k.since <= version_; }

  sql::Status prepare() {
    for (const Kind& k : kinds()) {
      if (!present(k)) continue;
      std::string where;
      for (std::size_t i = 0; i < k.key.size(); ++i)
        where += fmt::format("{}t.{} = ?{}", i == 0 ? "" : " AND ", k.key[i].name, i + 1);
      const bool topped = version_ >= kTopsSince && !top_of(k).empty();
      auto st = db_.prepare(fmt::format("SELECT {}{} FROM {} AS t WHERE {}", content_sql(k, "t"),
                                        topped ? fmt::format(", t.{}", top_of(k)) : "", k.table, where));
      if (!st) return st.error();
      checks_.emplace(std::string(k.name), KindCheck{&k, std::move(st).value(), topped});
    }
    return settle::Ok{};
  }

  sql::Result<std::vector<Checkpoint>> load_checkpoints() {
    std::vector<Checkpoint> out;
    // From a checkpoint: it and the ones after (those before were checked by
    // the walks that started from them).
    auto st = db_.prepare(fmt::format(
        "SELECT checkpoint_id, at_ms, reason, head_seq, head_hash, counts, key_id, signature, {} FROM "
        "chain_checkpoints WHERE checkpoint_id >= ?1 ORDER BY checkpoint_id",
        version_ >= kTopsSince ? "tops" : "''"));
    if (!st) return st.error();
    SETTLE_SQL_TRY(st->bind(1, opt_.from_checkpoint.value_or(0)));
    for (;;) {
      auto r = st->step();
      if (!r) return r.error();
      if (!*r) break;
      Checkpoint cp;
      cp.checkpoint_id = st->column_int64(0);
      cp.at_ms = st->column_int64(1);
      cp.reason = st->column_text(2);
      cp.head_seq = st->column_int64(3);
      cp.head_hash = to_hash(*st, 4);
      cp.counts = st->column_text(5);
      cp.key_id = st->column_text(6);
      const auto sig = st->column_blob(7);
      cp.signature.resize(sig.size());
      if (!sig.empty()) std::memcpy(cp.signature.data(), sig.data(), sig.size());
      cp.tops = st->column_text(8);
      out.push_back(std::move(cp));
    }
    report_.checkpoints = static_cast<std::int64_t>(out.size());
    if (!out.empty()) report_.last_checkpoint = out.back();
    report_.key_checked = opt_.key != nullptr;
    for (const Checkpoint& cp : out) {
      if (opt_.key == nullptr) continue;
      if (cp.key_id != opt_.key->key_id()) {
        problem(cp.head_seq, "checkpoint", std::to_string(cp.checkpoint_id), "signature",
                fmt::format("checkpoint {} was signed by key {}, not by the given key {}", cp.checkpoint_id,
                            cp.key_id, opt_.key->key_id()));
      } else if (!opt_.key->verify(cp.message(), cp.signature)) {
        problem(cp.head_seq, "checkpoint", std::to_string(cp.checkpoint_id), "signature",
                fmt::format("checkpoint {}'s signature does not match its head, counts and time: the checkpoint "
                            "was edited",
                            cp.checkpoint_id));
      } else {
        ++report_.checkpoints_signed;
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Checkpoint& a, const Checkpoint& b) { return a.head_seq < b.head_seq; });
    return out;
  }

  void check_row(std::int64_t seq, std::string_view kind, std::string_view ref, const Hash& content) {
    const auto it = checks_.find(std::string(kind));
    if (it == checks_.end()) {
      problem(seq, kind, ref, "inserted", fmt::format("entry {} names an unknown kind \"{}\"", seq, kind));
      return;
    }
    const Kind& k = *it->second.kind;
    sql::Statement& st = it->second.lookup;
    const auto parts = split_ref(ref, k.key.size());
    bool bound = parts.size() == k.key.size();
    st.reset();
    for (std::size_t i = 0; bound && i < parts.size(); ++i) {
      std::int64_t v = 0;
      if (k.key[i].integer)
        bound = parse_int(parts[i], v) && st.bind(static_cast<int>(i) + 1, v).ok();
      else
        bound = st.bind(static_cast<int>(i) + 1, parts[i]).ok();
    }
    auto r = bound ? st.step() : sql::Result<bool>(false);
    if (!r || !*r) {
      problem(seq, kind, ref, "deleted",
              fmt::format("entry {}: {} {} is gone from {} (deleted)", seq, kind, ref, k.table));
      return;
    }
    if (it->second.topped) {
      const auto top = tops_.find(k.name);
      if (top != tops_.end() && st.column_int64(1) > top->second) ++above_[std::string(k.name)];
    }
    // A row chained at every change keeps only its latest entry's content:
    // checked after the walk, against the latest one.
    if (k.on == On::every_change) {
      if (opt_.from_checkpoint) changed_[std::string(kind)].insert(std::string(ref));
      return;
    }
    if (to_hash(st, 0) != content)
      problem(seq, kind, ref, "edited",
              fmt::format("entry {}: {} {} in {} no longer has the content it was recorded with (edited)", seq,
                          kind, ref, k.table));
  }

  sql::Status walk_chain(const std::vector<Checkpoint>& cps) {
    auto total = db_.query_int64("SELECT coalesce(max(seq), -1) FROM chain");
    if (!total) return total.error();
    std::size_t next_cp = 0;
    Hash prev{};
    std::int64_t expect = 0;
    if (opt_.from_checkpoint) {
      const auto it = std::find_if(cps.begin(), cps.end(),
                                   [&](const Checkpoint& c) { return c.checkpoint_id == *opt_.from_checkpoint; });
      if (it == cps.end()) {
        problem(-1, "checkpoint", std::to_string(*opt_.from_checkpoint), "checkpoint",
                fmt::format("checkpoint {} to start from is not in the ledger", *opt_.from_checkpoint));
        return settle::Ok{};
      }
      if (opt_.key != nullptr && (it->key_id != opt_.key->key_id() || !opt_.key->verify(it->message(), it->signature)))
        return settle::Ok{};  // its signature problem is reported: nothing after it can be trusted either
      prev = it->head_hash;
      expect = it->head_seq + 1;
      from_head_ = it->head_seq;
      for (const auto& [kind, top] : parse_counts(it->tops)) tops_.emplace(kind, top);
      report_.counts = parse_counts(it->counts);
      report_.from_seq = expect;
      next_cp = static_cast<std::size_t>(std::distance(cps.begin(), it)) + 1;
      while (next_cp < cps.size() && cps[next_cp].head_seq <= it->head_seq) ++next_cp;
    }
    // Up to the head this read sees: the range is the entries since `expect`.
    auto st = db_.prepare("SELECT seq, kind, ref, content, hash FROM chain WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq");
    if (!st) return st.error();
    SETTLE_SQL_TRY(st->bind_all(expect, total->value_or(-1)));
    for (;;) {
      auto r = st->step();
      if (!r) return r.error();
      if (!*r) break;
      const std::int64_t seq = st->column_int64(0);
      const std::string kind = st->column_text(1);
      const std::string ref = st->column_text(2);
      const Hash content = to_hash(*st, 3);
      const Hash hash = to_hash(*st, 4);
      if (seq == 0) {
        if (kind != "genesis" || ref != kGenesisRef || hash != genesis_hash())
          problem(0, kind, ref, "genesis", "entry 0 is not the chain's genesis: the chain was rebuilt");
      } else {
        if (seq != expect)
          problem(seq, kind, ref, "gap",
                  fmt::format("entries {} to {} are missing (deleted from the chain)", expect, seq - 1));
        if (link_hash(prev, seq, kind, ref, content) != hash)
          problem(seq, kind, ref, "link",
                  fmt::format("entry {} ({} {}) does not follow from the entry before it: an entry was edited, "
                              "deleted, reordered or inserted here",
                              seq, kind, ref));
        check_row(seq, kind, ref, content);
        ++report_.counts[kind];
      }
      prev = hash;
      expect = seq + 1;
      ++report_.entries;
      while (next_cp < cps.size() && cps[next_cp].head_seq == seq) {
        const Checkpoint& cp = cps[next_cp++];
        if (cp.head_hash != hash)
          problem(seq, kind, ref, "checkpoint",
                  fmt::format("checkpoint {} ({}) signed entry {} with another hash: the chain up to it was "
                              "rewritten",
                              cp.checkpoint_id, cp.reason, seq));
        else if (parse_counts(cp.counts) != report_.counts)
          problem(seq, kind, ref, "checkpoint",
                  fmt::format("checkpoint {} ({}) counted other entries up to entry {}: {} then, {} now",
                              cp.checkpoint_id, cp.reason, seq, cp.counts, counts_text(report_.counts)));
      }
      if (opt_.progress && seq % 100'000 == 0) opt_.progress(seq, total->value_or(0));
    }
    if (report_.entries == 0 && !opt_.from_checkpoint)
      problem(0, "genesis", "", "genesis", "the chain is empty (its genesis is gone)");
    for (; next_cp < cps.size(); ++next_cp)
      problem(cps[next_cp].head_seq, "checkpoint", std::to_string(cps[next_cp].checkpoint_id), "checkpoint",
              fmt::format("checkpoint {} ({}) signed entry {}, which is no longer in the chain (entries were "
                          "deleted from its end)",
                          cps[next_cp].checkpoint_id, cps[next_cp].reason, cps[next_cp].head_seq));
    report_.head_seq = expect - 1;
    report_.head_hash = prev;
    for (auto& [name, check] : checks_) check.lookup.reset();  // no statement left holding a table
    return settle::Ok{};
  }

  // Rows with no entry (inserted past the chain), and rows chained at every
  // change whose latest entry is not their content now (edited).
  sql::Status rows_without_entries() {
    for (const Kind& k : kinds()) {
      if (!present(k)) continue;
      const std::string ref = ref_sql(k, "t");
      const std::string where = k.when.empty() ? "" : " WHERE " + replace_row(k.when, "t");
      if (k.on == On::every_change) {
        // The whole table, or (walking from a checkpoint) the rows that changed since.
        std::string only;
        if (opt_.from_checkpoint) {
          // By the key where it is one column (a lookup each), else by the ref.
          const bool by_key = k.key.size() == 1;
          std::string list;
          for (const std::string& r : changed_[std::string(k.name)]) {
            std::int64_t v = 0;
            if (!list.empty()) list += ", ";
            if (by_key && k.key[0].integer && parse_int(r, v))
              list += std::to_string(v);
            else
              list += "'" + replace_quotes(r) + "'";
          }
          if (list.empty()) continue;
          only = fmt::format(" WHERE {} IN ({})", by_key ? fmt::format("t.{}", k.key[0].name) : ref, list);
        }
        auto st = db_.prepare(fmt::format(
            "SELECT {0}, {1}, (SELECT c.content FROM chain AS c WHERE c.kind = '{2}' AND c.ref = {0} "
            "ORDER BY c.seq DESC LIMIT 1) FROM {3} AS t{4}",
            ref, content_sql(k, "t"), k.name, k.table, only));
        if (!st) return st.error();
        for (;;) {
          auto r = st->step();
          if (!r) return r.error();
          if (!*r) break;
          if (st->is_null(2))
            problem(-1, k.name, st->column_text(0), "inserted",
                    fmt::format("{} {} in {} has no chain entry (inserted past the chain)", k.name,
                                st->column_text(0), k.table));
          else if (to_hash(*st, 1) != to_hash(*st, 2))
            problem(-1, k.name, st->column_text(0), "edited",
                    fmt::format("{} {} in {} differs from its last chained state (edited)", k.name,
                                st->column_text(0), k.table));
        }
        continue;
      }
      if (const auto top = tops_.find(k.name); top != tops_.end()) {
        SETTLE_SQL_TRY(rows_above_top(k, top->second));
        continue;
      }
      auto rows = db_.query_int64(fmt::format("SELECT count(*) FROM {} AS t{}", k.table, where));
      if (!rows) return rows.error();
      const auto it = report_.counts.find(std::string(k.name));
      const std::int64_t entries = it == report_.counts.end() ? 0 : it->second;
      if (rows->value_or(0) <= entries) continue;
      SETTLE_SQL_TRY(list_unchained(k, where, -1));
    }
    return settle::Ok{};
  }

  // Walking from a checkpoint that signed the kind's top: the rows numbered
  // above it (written since) against the entries walked for rows above it.
  // Bounded by the highest number this read sees, so the read stays on the
  // rows written since.
  sql::Status rows_above_top(const Kind& k, std::int64_t top) {
    const std::string_view col = top_of(k);
    auto high = db_.query_int64(fmt::format("SELECT max({}) FROM {}", col, k.table));
    if (!high) return high.error();
    if (!high->has_value() || **high <= top) return settle::Ok{};
    std::string where = fmt::format(" WHERE t.{0} > {1} AND t.{0} <= {2}", col, top, **high);
    if (!k.when.empty()) where += " AND (" + replace_row(k.when, "t") + ")";
    auto rows = db_.query_int64(fmt::format("SELECT count(*) FROM {} AS t{}", k.table, where));
    if (!rows) return rows.error();
    const auto it = above_.find(k.name);
    if (rows->value_or(0) <= (it == above_.end() ? 0 : it->second)) return settle::Ok{};
    return list_unchained(k, where, from_head_);
  }

  // Some row of `where` has no entry: find which, against a temporary set of
  // the kind's refs in the chain (after entry `after_seq`; -1: all).
  sql::Status list_unchained(const Kind& k, const std::string& where, std::int64_t after_seq) {
    SETTLE_SQL_TRY(db_.exec("CREATE TEMP TABLE IF NOT EXISTS chain_seen(ref TEXT PRIMARY KEY) WITHOUT ROWID; "
                            "DELETE FROM temp.chain_seen"));
    SETTLE_SQL_TRY(db_.exec(fmt::format(
        "INSERT OR IGNORE INTO temp.chain_seen(ref) SELECT ref FROM chain WHERE seq > {} AND kind = '{}'", after_seq,
        k.name)));
    const std::string ref = ref_sql(k, "t");
    auto st = db_.prepare(fmt::format("SELECT {0} FROM {1} AS t{2}{3} {0} NOT IN (SELECT ref FROM temp.chain_seen)",
                                      ref, k.table, where, where.empty() ? " WHERE" : " AND"));
    if (!st) return st.error();
    for (;;) {
      auto r = st->step();
      if (!r) return r.error();
      if (!*r) break;
      problem(-1, k.name, st->column_text(0), "inserted",
              fmt::format("{} {} in {} has no chain entry (inserted past the chain)", k.name, st->column_text(0),
                          k.table));
    }
    st->reset();
    return db_.exec("DELETE FROM temp.chain_seen");
  }

  static std::string replace_quotes(std::string_view s) {
    std::string out;
    for (char c : s) {
      out += c;
      if (c == '\'') out += '\'';
    }
    return out;
  }

  sql::Db& db_;
  std::int64_t version_ = 0;  // the file's schema version
  const VerifyOptions& opt_;
  VerifyReport report_;
  std::map<std::string, KindCheck> checks_;
  std::map<std::string, std::set<std::string>> changed_;  // every_change refs walked (from a checkpoint)
  // Walking from a checkpoint: its head, the tops it signed, and by kind the
  // entries walked whose row is numbered above its top.
  std::int64_t from_head_ = -1;
  std::map<std::string, std::int64_t, std::less<>> tops_;
  std::map<std::string, std::int64_t, std::less<>> above_;
};

}  // namespace

sql::Result<VerifyReport> verify(sql::Db& db, const VerifyOptions& options) {
  // One read transaction: the walk sees one state of the file.
  SETTLE_SQL_TRY(db.exec("BEGIN"));
  Walk walk(db, options);
  auto out = walk.run();
  (void)db.exec("COMMIT");
  return out;
}

}  // namespace settle::ledger::chain
