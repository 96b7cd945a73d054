// etcd's Maintenance.Snapshot stream, cut from a snapshot held in memory, and the file
// `etcdctl snapshot save` writes from it. etcd streams its bbolt file; raftkv streams its
// own snapshot (KvStateMachine::snapshot(): what a Raft snapshot holds) in a frame that
// etcdctl 3.4 accepts. The file, all integers little-endian:
//
//   magic "RAFTKV-SNAPSHOT\n" (16 bytes) | format version u32 (1) | zero u32
//   snapshot length u64 | the snapshot's bytes
//   zero bytes up to the next multiple of 512
//   SHA-256 of every byte before it (32 bytes); nothing after.
//
// The padding is for etcdctl 3.4, which takes a file whose size is not 32 past a multiple
// of 512 (bbolt's pages) as lacking its checksum and refuses to save it. The stream sends
// the frame in blobs of at most kSnapshotChunkBytes, each with the bytes still to come
// after it (the checksum not counted, as etcd counts), then the checksum as a blob of its
// own, as etcd does.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "etcd/rpc.pb.h"

namespace server {

// etcd's server sends 32 KiB a message.
inline constexpr size_t kSnapshotChunkBytes = 32 * 1024;
inline constexpr size_t kSnapshotTrailerBytes = 32;  // SHA-256
inline constexpr std::string_view kSnapshotFileMagic{"RAFTKV-SNAPSHOT\n", 16};
inline constexpr uint32_t kSnapshotFileVersion = 1;
inline constexpr size_t kSnapshotHeaderBytes = 32;
inline constexpr size_t kSnapshotAlignBytes = 512;

class SnapshotStream {
 public:
  // `snapshot` must outlive the stream. chunk_bytes >= 1.
  explicit SnapshotStream(std::string_view snapshot, size_t chunk_bytes = kSnapshotChunkBytes);

  // Fills `out`'s blob and remaining_bytes with the next message (its header is the
  // caller's); false once every message was given.
  bool next(etcdserverpb::SnapshotResponse* out);
  // Bytes of the file before its checksum: header, snapshot and padding.
  uint64_t framed_bytes() const { return total_; }

 private:
  struct DigestFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  // Appends the framed bytes [from, from + n) to `out`.
  void copy(uint64_t from, uint64_t n, std::string* out) const;

  std::string header_;         // kSnapshotHeaderBytes
  std::string_view snapshot_;  // then this, then zeros up to total_
  size_t chunk_bytes_;
  uint64_t total_ = 0;  // a multiple of kSnapshotAlignBytes
  uint64_t sent_ = 0;   // framed bytes given so far, <= total_
  bool trailer_sent_ = false;
  std::unique_ptr<EVP_MD_CTX, DigestFree> sha_;  // over the framed bytes [0, sent_)
};

// The snapshot inside a file `etcdctl snapshot save` wrote from raftkv (a view into
// `file`), after checking the magic, version, length, padding and SHA-256. An error
// (kInvalidArgument, or kDataLoss for a damaged one) says what is wrong; an etcd (bbolt)
// file is named as such.
absl::StatusOr<std::string_view> read_snapshot_file(std::string_view file);

}  // namespace server
