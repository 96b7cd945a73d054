#include "security/role_manager.h"

#include <algorithm>
#include <set>
#include <utility>

namespace security {

void RoleManager::add_link(std::string_view name1, std::string_view name2,
                           std::string_view domain) {
  auto d = domains_.find(domain);
  if (d == domains_.end()) d = domains_.emplace(std::string(domain), Links{}).first;
  auto n = d->second.find(name1);
  if (n == d->second.end())
    n = d->second.emplace(std::string(name1), std::vector<std::string>{}).first;
  std::vector<std::string>& roles = n->second;
  if (std::find(roles.begin(), roles.end(), name2) == roles.end()) roles.emplace_back(name2);
}

const RoleManager::Links* RoleManager::links_of(std::string_view domain) const {
  auto d = domains_.find(domain);
  return d == domains_.end() ? nullptr : &d->second;
}

bool RoleManager::has_link(std::string_view name1, std::string_view name2,
                           std::string_view domain) const {
  if (name1 == name2) return true;
  return visit_implicit_roles(name1, domain,
                              [&](const std::string& role) { return role == name2; });
}

std::vector<std::string> RoleManager::get_roles(std::string_view name,
                                                std::string_view domain) const {
  const Links* links = links_of(domain);
  if (links == nullptr) return {};
  auto n = links->find(name);
  return n == links->end() ? std::vector<std::string>{} : n->second;
}

std::vector<std::string> RoleManager::get_implicit_roles(std::string_view name,
                                                         std::string_view domain) const {
  std::vector<std::string> found;
  visit_implicit_roles(name, domain, [&](const std::string& role) {
    found.push_back(role);
    return false;
  });
  return found;
}

bool RoleManager::visit_implicit_roles(std::string_view name, std::string_view domain,
                                       const std::function<bool(const std::string&)>& visit) const {
  const Links* links = links_of(domain);
  if (links == nullptr) return false;
  // Breadth-first, one level per link followed: level k holds the names first reached by a
  // chain of k links. A name seen before is not expanded again, so cycles end. The views
  // point into links_, which does not change while this const method runs.
  std::set<std::string_view> seen{name};
  std::vector<std::string_view> level{name};
  for (int depth = 1; depth <= kMaxHierarchyDepth && !level.empty(); ++depth) {
    std::vector<std::string_view> next;
    for (std::string_view n : level) {
      auto it = links->find(n);
      if (it == links->end()) continue;
      for (const std::string& role : it->second) {
        if (!seen.insert(role).second) continue;
        if (visit(role)) return true;
        next.push_back(role);
      }
    }
    level = std::move(next);
  }
  return false;
}

std::vector<std::string> RoleManager::get_users(std::string_view role,
                                                std::string_view domain) const {
  std::vector<std::string> users;
  const Links* links = links_of(domain);
  if (links == nullptr) return users;
  for (const auto& [name, roles] : *links) {
    if (std::find(roles.begin(), roles.end(), role) != roles.end()) users.push_back(name);
  }
  return users;
}

}  // namespace security
