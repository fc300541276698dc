// SHA-256 as lowercase hex, of a text or of a file read in pieces: the
// content hashes of re-entry batches, close-out documents, cashier payloads
// and backups (the hash chain has its own canonical digest: chain.hpp); and
// the ledger's one hex writer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace settle::digest {

std::string sha256_hex(std::string_view text);
// `n` bytes as lowercase hex (two digits a byte).
std::string lower_hex(const unsigned char* data, std::size_t n);
// nullopt when the file cannot be opened or read.
std::optional<std::string> sha256_file_hex(const std::string& path);

}  // namespace settle::digest
