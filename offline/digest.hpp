// SHA-256 as lowercase hex, of a text or of a file read in pieces: the
// content hashes of re-entry batches, close-out documents, cashier payloads
// and backups (the hash chain has its own canonical digest: chain.hpp); the
// ledger's one hex writer and its one fetch of OpenSSL's SHA-256.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

struct evp_md_st;  // OpenSSL's EVP_MD, named here without its headers

namespace settle::digest {

// OpenSSL's SHA-256, fetched once (a lookup by name at every use is a search
// of its provider tables): for this file's hashes and the hash chain's.
const evp_md_st* sha256_md();

std::string sha256_hex(std::string_view text);
// `n` bytes as lowercase hex (two digits a byte).
std::string lower_hex(const unsigned char* data, std::size_t n);
// nullopt when the file cannot be opened or read.
std::optional<std::string> sha256_file_hex(const std::string& path);

}  // namespace settle::digest
