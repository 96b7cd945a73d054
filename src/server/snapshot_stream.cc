#include "server/snapshot_stream.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>

#include "log/log.h"

namespace server {
namespace {

void put_le(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_le(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

uint64_t align_up(uint64_t n) {
  return (n + kSnapshotAlignBytes - 1) / kSnapshotAlignBytes * kSnapshotAlignBytes;
}

}  // namespace

SnapshotStream::SnapshotStream(std::string_view snapshot, size_t chunk_bytes)
    : snapshot_(snapshot), chunk_bytes_(std::max<size_t>(chunk_bytes, 1)), sha_(EVP_MD_CTX_new()) {
  header_.reserve(kSnapshotHeaderBytes);
  header_.append(kSnapshotFileMagic);
  put_le(&header_, kSnapshotFileVersion, 4);
  put_le(&header_, 0, 4);
  put_le(&header_, snapshot.size(), 8);
  total_ = align_up(header_.size() + snapshot.size());
  // OpenSSL always has SHA-256; failing here is a broken installation or no memory.
  if (sha_ == nullptr || EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr) != 1) {
    raftlog::error("server", "fatal error, stopping",
                   {{"error", "invariant broken: OpenSSL cannot start a SHA-256 digest"}});
    std::abort();
  }
}

void SnapshotStream::copy(uint64_t from, uint64_t n, std::string* out) const {
  const uint64_t end = from + n;
  const uint64_t head = header_.size(), body_end = head + snapshot_.size();
  if (from < head) {
    const uint64_t k = std::min(end, head) - from;
    out->append(header_, from, k);
    from += k;
  }
  if (from < end && from < body_end) {
    const uint64_t k = std::min(end, body_end) - from;
    out->append(snapshot_.substr(from - head, k));
    from += k;
  }
  if (from < end) out->append(end - from, '\0');  // the padding
}

bool SnapshotStream::next(etcdserverpb::SnapshotResponse* out) {
  if (sent_ < total_) {
    const uint64_t n = std::min<uint64_t>(chunk_bytes_, total_ - sent_);
    std::string* blob = out->mutable_blob();
    blob->clear();
    copy(sent_, n, blob);
    EVP_DigestUpdate(sha_.get(), blob->data(), blob->size());
    sent_ += n;
    out->set_remaining_bytes(total_ - sent_);
    return true;
  }
  if (trailer_sent_) return false;
  trailer_sent_ = true;
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(sha_.get(), sum, &n);
  out->set_blob(sum, n);
  out->set_remaining_bytes(0);
  return true;
}

absl::StatusOr<std::string_view> read_snapshot_file(std::string_view file) {
  if (file.size() < kSnapshotHeaderBytes + kSnapshotTrailerBytes) {
    return absl::InvalidArgumentError("not a raftkv snapshot file: " + std::to_string(file.size()) +
                                      " bytes is shorter than its header and checksum (" +
                                      std::to_string(kSnapshotHeaderBytes + kSnapshotTrailerBytes) +
                                      " bytes)");
  }
  if (file.substr(0, kSnapshotFileMagic.size()) != kSnapshotFileMagic) {
    return absl::InvalidArgumentError(
        "not a raftkv snapshot file: it does not start with \"RAFTKV-SNAPSHOT\" (a file saved "
        "from etcd is a bbolt database, which raftkv cannot read)");
  }
  const uint64_t version = get_le(file.substr(16), 4);
  if (version != kSnapshotFileVersion) {
    return absl::InvalidArgumentError("raftkv snapshot file format version " +
                                      std::to_string(version) + " is not supported (expected " +
                                      std::to_string(kSnapshotFileVersion) + ")");
  }
  const std::string_view framed = file.substr(0, file.size() - kSnapshotTrailerBytes);
  unsigned char sum[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(framed.data()), framed.size(), sum);
  if (file.substr(framed.size()) != std::string_view(reinterpret_cast<char*>(sum), sizeof sum)) {
    return absl::DataLossError(
        "raftkv snapshot file is damaged: its SHA-256 does not match its last 32 bytes");
  }
  const uint64_t length = get_le(file.substr(24), 8);
  if (length > framed.size() - kSnapshotHeaderBytes ||
      align_up(kSnapshotHeaderBytes + length) != framed.size()) {
    return absl::DataLossError("raftkv snapshot file says its snapshot is " +
                               std::to_string(length) + " bytes, which does not fit its " +
                               std::to_string(file.size()) + " bytes");
  }
  const std::string_view padding = framed.substr(kSnapshotHeaderBytes + length);
  if (std::any_of(padding.begin(), padding.end(), [](char c) { return c != '\0'; })) {
    return absl::DataLossError("raftkv snapshot file has non-zero bytes in its padding");
  }
  return framed.substr(kSnapshotHeaderBytes, length);
}

}  // namespace server
