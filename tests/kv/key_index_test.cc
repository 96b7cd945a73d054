// The key index: the ordered map that ranges walk and the hash that finds one key hold the
// same nodes through every insertion, append, erase and move.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kv/store_state.h"

namespace {

std::vector<std::string> keys_in_order(const kv::KeyIndex& index) {
  std::vector<std::string> out;
  for (const auto& [key, history] : index) out.push_back(key);
  return out;
}

TEST(KeyIndex, FindsWhatWasInsertedAndNothingAfterItIsErased) {
  kv::KeyIndex index;
  auto [b, added_b] = index.insert("b");
  auto [a, added_a] = index.insert("a");
  ASSERT_TRUE(added_a && added_b);
  EXPECT_EQ(index.insert("a").first, a) << "a second insert finds the first node";
  EXPECT_FALSE(index.insert("a").second);
  EXPECT_EQ(index.find("a"), a);
  EXPECT_EQ(index.find("b"), b);
  EXPECT_EQ(index.find("c"), nullptr);
  EXPECT_EQ(keys_in_order(index), (std::vector<std::string>{"a", "b"}));

  index.erase(a);
  EXPECT_EQ(index.find("a"), nullptr);
  EXPECT_EQ(index.find("b"), b) << "another key's node stays where it was";
  EXPECT_EQ(keys_in_order(index), (std::vector<std::string>{"b"}));
  EXPECT_EQ(index.size(), 1u);
}

TEST(KeyIndex, AppendedKeysAreFoundAndKeepTheirOrder) {
  kv::KeyIndex index;
  std::vector<kv::KeyIndex::Node*> nodes;
  for (int i = 0; i < 1000; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%05d", i);
    nodes.push_back(index.append(key, kv::KeyHistory{}));
  }
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(index.find(nodes[i]->first), nodes[i]) << nodes[i]->first;
  }
  EXPECT_EQ(index.last_key(), "k00999");
  EXPECT_EQ(index.lower_bound("k00500")->first, "k00500");
}

TEST(KeyIndex, AMovedIndexFindsItsNodes) {
  kv::KeyIndex from;
  kv::KeyIndex::Node* n = from.insert("key").first;
  kv::KeyIndex to(std::move(from));
  EXPECT_EQ(to.find("key"), n);
  to.erase(n);
  EXPECT_TRUE(to.empty());
}

TEST(KeyIndexDeathTest, ErasingANodeItsHashLacksStopsTheStore) {
  // A node of another index, with a key this one also holds: the map would lose the key
  // while the hash kept pointing at it, so the store stops instead.
  kv::KeyIndex index;
  index.insert("same");
  kv::KeyIndex other;
  kv::KeyIndex::Node* foreign = other.insert("same").first;
  EXPECT_DEATH(index.erase(foreign), "key index: erasing a key its hash does not hold");
}

}  // namespace
