// One role hierarchy of a Casbin model (the links of `g` or `g2` policy lines): who
// inherits whom, optionally within a domain, and the bounded breadth-first search that
// answers g(name1, name2[, domain]) exactly as Casbin's default role manager does.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace security {

// Casbin's default role manager follows at most this many links: g(a, b) holds when b is
// a itself or is reached from a by a chain of 1..10 links (a chain of 11 does not count).
// The bound also makes cycles harmless.
inline constexpr int kMaxHierarchyDepth = 10;

class RoleManager {
 public:
  // Links without a domain live in the domain "" (the model's g = _, _).
  RoleManager() = default;

  // Records that name1 inherits name2 within `domain`. Adding a link twice is a no-op.
  void add_link(std::string_view name1, std::string_view name2, std::string_view domain = "");

  // True iff name1 == name2 or name2 is reachable from name1 by at most kMaxHierarchyDepth
  // links of `domain` (only that domain's links are followed).
  bool has_link(std::string_view name1, std::string_view name2, std::string_view domain = "") const;

  // The roles name inherits directly, in the order their links were added.
  std::vector<std::string> get_roles(std::string_view name, std::string_view domain = "") const;

  // Every role has_link(name, role, domain) accepts, except name itself, in breadth-first
  // order (nearest first, then link order). Casbin's GetImplicitRolesForUser has no depth
  // bound; this one uses kMaxHierarchyDepth so it agrees with has_link and enforce.
  std::vector<std::string> get_implicit_roles(std::string_view name,
                                              std::string_view domain = "") const;

  // The names that inherit role directly, in name order.
  std::vector<std::string> get_users(std::string_view role, std::string_view domain = "") const;

 private:
  using Links = std::map<std::string, std::vector<std::string>, std::less<>>;
  const Links* links_of(std::string_view domain) const;
  // Calls visit on each role get_implicit_roles would return, in that order, until visit
  // returns true; returns whether it did.
  bool visit_implicit_roles(std::string_view name, std::string_view domain,
                            const std::function<bool(const std::string&)>& visit) const;

  // domain -> name -> the roles it inherits directly (no duplicates, in insertion order).
  std::map<std::string, Links, std::less<>> domains_;
};

}  // namespace security
