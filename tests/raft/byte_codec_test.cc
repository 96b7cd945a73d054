// The byte codec: fields land little-endian in the exact bytes the storage format
// documents, read back as written, and a read past the end fails without moving.
#include "raft/byte_codec.h"

#include <gtest/gtest.h>

namespace raft {
namespace {

TEST(ByteCodec, IntegersAreWrittenLittleEndianAtFixedWidths) {
  std::string out;
  ByteWriter w(&out);
  w.u8(0xab);
  w.u32(0x01020304);
  w.u64(0x1122334455667788);
  w.bytes(std::string_view("xy"));
  EXPECT_EQ(out, std::string("\xab\x04\x03\x02\x01\x88\x77\x66\x55\x44\x33\x22\x11xy", 15));
  EXPECT_EQ(w.size(), 15u);
}

TEST(ByteCodec, AReservedFieldIsFilledInPlace) {
  std::string out = "head";
  ByteWriter w(&out);
  const size_t at = w.reserve_u64();
  w.u8(7);
  w.fill_u64(at, 0x0807060504030201);
  EXPECT_EQ(out, std::string("head\x01\x02\x03\x04\x05\x06\x07\x08\x07", 13));
}

TEST(ByteCodec, WhatIsWrittenReadsBack) {
  std::string out;
  ByteWriter w(&out);
  w.u8(0);
  w.u32(0xffffffff);
  w.u64(0xfedcba9876543210);
  w.u64(1);
  w.bytes("payload");
  ByteReader r(out);
  uint8_t a = 1;
  uint32_t b = 0;
  uint64_t c = 0, d = 0;
  std::string_view e;
  ASSERT_TRUE(r.u8(&a) && r.u32(&b) && r.u64(&c) && r.u64(&d) && r.bytes(3, &e));
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 0xffffffffu);
  EXPECT_EQ(c, 0xfedcba9876543210u);
  EXPECT_EQ(d, 1u);
  EXPECT_EQ(e, "pay");
  EXPECT_EQ(r.position(), 24u);
  EXPECT_EQ(r.rest(), "load");
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.rest(), "");
}

TEST(ByteCodec, AReadPastTheEndFailsAndMovesNothing) {
  const std::string three("\x01\x02\x03", 3);
  ByteReader r(three);
  uint32_t v = 42;
  EXPECT_FALSE(r.u32(&v));
  EXPECT_EQ(v, 42u);  // untouched
  EXPECT_EQ(r.position(), 0u);
  uint64_t w = 0;
  EXPECT_FALSE(r.u64(&w));
  std::string_view s;
  EXPECT_FALSE(r.bytes(4, &s));
  EXPECT_EQ(r.remaining(), 3u);
  // What does fit still reads.
  uint8_t b = 0;
  ASSERT_TRUE(r.u8(&b));
  EXPECT_EQ(b, 1u);
  ASSERT_TRUE(r.bytes(2, &s));
  EXPECT_EQ(s, std::string_view("\x02\x03", 2));
  EXPECT_FALSE(r.u8(&b));
  EXPECT_TRUE(r.done());
}

TEST(ByteCodec, AnEmptyInputReadsNothing) {
  ByteReader r(std::string_view{});
  uint8_t b = 0;
  std::string_view s;
  EXPECT_FALSE(r.u8(&b));
  EXPECT_TRUE(r.bytes(0, &s));
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(r.done());
}

}  // namespace
}  // namespace raft
