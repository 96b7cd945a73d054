#include "security/member_rules.h"

#include <algorithm>
#include <cstdio>

#include "security/text_util.h"

namespace security {
namespace {

MemberRefusal refuse(MemberRefusalKind kind, std::string detail) {
  return MemberRefusal{.kind = kind, .detail = std::move(detail)};
}

// The canonical text of each URL a member has, for comparison (a member's own URLs were
// checked when they were added; one that no longer parses is compared as written).
std::string canonical(const std::string& url) {
  absl::StatusOr<Url> parsed = parse_url(url);
  return parsed.ok() ? parsed->text() : url;
}

std::optional<MemberRefusal> check_not_in_use(const std::vector<std::string>& urls,
                                              const std::vector<MemberView>& members,
                                              uint64_t except_id) {
  for (const MemberView& m : members) {
    if (m.id == except_id) continue;
    for (const std::string& theirs : m.peer_urls) {
      for (const std::string& url : urls) {
        if (canonical(theirs) == canonical(url)) {
          return refuse(MemberRefusalKind::kUrlInUse,
                        cat("peer URL ", url, " is already member ", hex(m.id), "'s"));
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string hex(uint64_t id) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%llx", static_cast<unsigned long long>(id));
  return buffer;
}

std::optional<MemberRefusal> check_peer_urls(const std::vector<std::string>& urls,
                                             const std::vector<Network>& allowed) {
  if (urls.empty()) return refuse(MemberRefusalKind::kBadUrl, "no peer URL is given");
  std::vector<std::string> seen;
  for (const std::string& text : urls) {
    absl::StatusOr<Url> url = parse_url(text);
    if (!url.ok()) return refuse(MemberRefusalKind::kBadUrl, std::string(url.status().message()));
    if (std::find(seen.begin(), seen.end(), url->text()) != seen.end()) {
      return refuse(MemberRefusalKind::kBadUrl, cat("peer URL ", text, " is given twice"));
    }
    seen.push_back(url->text());
    if (absl::Status s = check_allowed(*url, allowed, "peer URL"); !s.ok()) {
      return refuse(MemberRefusalKind::kUrlNotAllowed, std::string(s.message()));
    }
  }
  return std::nullopt;
}

std::optional<MemberRefusal> check_member_add(const std::vector<std::string>& urls, bool learner,
                                              const std::vector<MemberView>& members,
                                              const ClusterLimits& limits,
                                              const std::vector<Network>& allowed) {
  if (auto r = check_peer_urls(urls, allowed)) return r;
  if (auto r = check_not_in_use(urls, members, /*except_id=*/0)) return r;
  const size_t learners =
      std::count_if(members.begin(), members.end(), [](const MemberView& m) { return m.learner; });
  const size_t voters = members.size() - learners;
  if (learner && learners >= limits.max_learners) {
    return refuse(MemberRefusalKind::kTooManyLearners,
                  cat("the cluster has ", learners, " learner", learners == 1 ? "" : "s",
                      ", the most --max-learners allows (", limits.max_learners, ")"));
  }
  if (!learner && voters >= limits.max_voters) {
    return refuse(MemberRefusalKind::kTooManyVoters,
                  cat("the cluster has ", voters, " voting members, the most --max-voters allows (",
                      limits.max_voters, ")"));
  }
  return std::nullopt;
}

std::optional<MemberRefusal> check_member_update(uint64_t id, const std::vector<std::string>& urls,
                                                 const std::vector<MemberView>& members,
                                                 const std::vector<Network>& allowed) {
  if (std::none_of(members.begin(), members.end(),
                   [id](const MemberView& m) { return m.id == id; })) {
    return refuse(MemberRefusalKind::kUnknownMember, cat("no member has the id ", hex(id)));
  }
  if (auto r = check_peer_urls(urls, allowed)) return r;
  return check_not_in_use(urls, members, /*except_id=*/id);
}

}  // namespace security
