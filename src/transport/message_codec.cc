#include "transport/message_codec.h"

#include <string>
#include <type_traits>
#include <variant>

#include "raft/config.h"

namespace transport {
namespace {

namespace pb = raftkv::peer;
using raft::LogId;
using raft::LogIndex;
using raft::NodeId;
using raft::Term;

void put_id(const LogId& id, pb::LogId* out) {
  out->set_term(id.term.value());
  out->set_index(id.index.value());
}

LogId get_id(const pb::LogId& in) { return {Term(in.term()), LogIndex(in.index())}; }

void put_membership(const raft::Membership& m, pb::Membership* out) {
  for (NodeId id : m.voters) out->add_voters(id.value());
  for (NodeId id : m.voters_outgoing) out->add_voters_outgoing(id.value());
  for (NodeId id : m.learners) out->add_learners(id.value());
}

absl::StatusOr<raft::Membership> get_membership(const pb::Membership& in) {
  raft::Membership m;
  auto fill = [](const auto& ids, std::set<NodeId>& out) {
    for (uint64_t id : ids) {
      if (id == 0) return false;
      out.insert(NodeId(id));
    }
    return true;
  };
  if (!fill(in.voters(), m.voters) || !fill(in.voters_outgoing(), m.voters_outgoing) ||
      !fill(in.learners(), m.learners)) {
    return absl::InvalidArgumentError("membership names node id 0");
  }
  // What raft::decode_membership requires of a snapshot file or a log entry too.
  if (m.voters.empty()) return absl::InvalidArgumentError("membership has no voter");
  for (NodeId id : m.learners) {
    if (m.is_voter(id)) {
      return absl::InvalidArgumentError("membership has node " + std::to_string(id.value()) +
                                        " as both voter and learner");
    }
  }
  return m;
}

}  // namespace

void encode(const raft::Message& in, pb::Message* out) {
  out->set_from(in.from.value());
  out->set_to(in.to.value());
  out->set_term(in.term.value());
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, raft::RequestVote>) {
          auto* b = out->mutable_request_vote();
          b->set_pre_vote(body.pre_vote);
          put_id(body.last_log, b->mutable_last_log());
          b->set_transfer(body.transfer);
        } else if constexpr (std::is_same_v<T, raft::VoteResponse>) {
          auto* b = out->mutable_vote_response();
          b->set_pre_vote(body.pre_vote);
          b->set_granted(body.granted);
        } else if constexpr (std::is_same_v<T, raft::AppendEntries>) {
          auto* b = out->mutable_append_entries();
          put_id(body.prev, b->mutable_prev());
          b->set_commit(body.commit.value());
          b->mutable_entries()->Reserve(static_cast<int>(body.entries.size()));
          for (const raft::Entry& e : body.entries) {
            pb::Entry* pe = b->add_entries();
            pe->set_term(e.term.value());
            pe->set_index(e.index.value());
            pe->set_type(static_cast<uint32_t>(e.type));
            pe->set_data(e.data);
          }
        } else if constexpr (std::is_same_v<T, raft::AppendResponse>) {
          auto* b = out->mutable_append_response();
          b->set_success(body.success);
          b->set_match(body.match.value());
          b->set_rejected(body.rejected.value());
          put_id(body.hint, b->mutable_hint());
        } else if constexpr (std::is_same_v<T, raft::Heartbeat>) {
          auto* b = out->mutable_heartbeat();
          b->set_commit(body.commit.value());
          b->set_context(body.round.value());
        } else if constexpr (std::is_same_v<T, raft::HeartbeatResponse>) {
          out->mutable_heartbeat_response()->set_context(body.round.value());
        } else if constexpr (std::is_same_v<T, raft::TimeoutNow>) {
          out->mutable_timeout_now();
        } else if constexpr (std::is_same_v<T, raft::ReadIndexRequest>) {
          out->mutable_read_index_request()->set_id(body.id.value());
        } else if constexpr (std::is_same_v<T, raft::ReadIndexResponse>) {
          auto* b = out->mutable_read_index_response();
          b->set_id(body.id.value());
          b->set_index(body.index.value());
          b->set_ok(body.ok);
        } else if constexpr (std::is_same_v<T, raft::InstallSnapshot>) {
          pb::SnapshotMeta* m = out->mutable_install_snapshot()->mutable_meta();
          put_id(body.meta.last, m->mutable_last());
          put_membership(body.meta.membership, m->mutable_membership());
          m->mutable_timeouts()->set_heartbeat_ticks(body.meta.timeouts.heartbeat_ticks);
          m->mutable_timeouts()->set_election_min(body.meta.timeouts.election_min_ticks);
          m->mutable_timeouts()->set_election_max(body.meta.timeouts.election_max_ticks);
        }
      },
      in.body);
}

absl::StatusOr<raft::Message> decode(const pb::Message& in) {
  raft::Message m;
  m.from = NodeId(in.from());
  m.to = NodeId(in.to());
  m.term = Term(in.term());
  if (m.from == raft::kNoNode || m.to == raft::kNoNode) {
    return absl::InvalidArgumentError("peer message without a sender or a recipient");
  }
  switch (in.body_case()) {
    case pb::Message::kRequestVote:
      m.body = raft::RequestVote{in.request_vote().pre_vote(), get_id(in.request_vote().last_log()),
                                 in.request_vote().transfer()};
      break;
    case pb::Message::kVoteResponse:
      m.body = raft::VoteResponse{in.vote_response().pre_vote(), in.vote_response().granted()};
      break;
    case pb::Message::kAppendEntries: {
      const pb::AppendEntries& b = in.append_entries();
      raft::AppendEntries ae;
      ae.prev = get_id(b.prev());
      ae.commit = LogIndex(b.commit());
      ae.entries.reserve(static_cast<size_t>(b.entries_size()));
      for (const pb::Entry& pe : b.entries()) {
        if (pe.type() > static_cast<uint32_t>(raft::EntryType::kTimeouts)) {
          return absl::InvalidArgumentError("entry " + std::to_string(pe.index()) +
                                            " has unknown type " + std::to_string(pe.type()));
        }
        ae.entries.push_back(raft::Entry{Term(pe.term()), LogIndex(pe.index()),
                                         static_cast<raft::EntryType>(pe.type()), pe.data()});
      }
      m.body = std::move(ae);
      break;
    }
    case pb::Message::kAppendResponse: {
      const pb::AppendResponse& b = in.append_response();
      m.body = raft::AppendResponse{b.success(), LogIndex(b.match()), LogIndex(b.rejected()),
                                    get_id(b.hint())};
      break;
    }
    case pb::Message::kHeartbeat:
      m.body = raft::Heartbeat{LogIndex(in.heartbeat().commit()),
                               raft::HeartbeatRound(in.heartbeat().context())};
      break;
    case pb::Message::kHeartbeatResponse:
      m.body = raft::HeartbeatResponse{raft::HeartbeatRound(in.heartbeat_response().context())};
      break;
    case pb::Message::kTimeoutNow:
      m.body = raft::TimeoutNow{};
      break;
    case pb::Message::kReadIndexRequest:
      m.body = raft::ReadIndexRequest{raft::ReadId(in.read_index_request().id())};
      break;
    case pb::Message::kReadIndexResponse: {
      const pb::ReadIndexResponse& b = in.read_index_response();
      m.body = raft::ReadIndexResponse{raft::ReadId(b.id()), LogIndex(b.index()), b.ok()};
      break;
    }
    case pb::Message::kInstallSnapshot: {
      const pb::SnapshotMeta& pm = in.install_snapshot().meta();
      auto membership = get_membership(pm.membership());
      if (!membership.ok()) return membership.status();
      raft::SnapshotMeta meta;
      meta.last = get_id(pm.last());
      meta.membership = *std::move(membership);
      meta.timeouts = raft::Timeouts{pm.timeouts().heartbeat_ticks(), pm.timeouts().election_min(),
                                     pm.timeouts().election_max()};
      // The follower puts these timeouts in force (Raft::handle_install_snapshot).
      if (raft::Error e = raft::validate(meta.timeouts); !e.is_ok()) {
        return absl::InvalidArgumentError("snapshot timeouts: " + e.message());
      }
      m.body = raft::InstallSnapshot{std::move(meta)};
      break;
    }
    case pb::Message::BODY_NOT_SET:
      return absl::InvalidArgumentError("peer message from " + std::to_string(in.from()) +
                                        " has no body");
  }
  return m;
}

}  // namespace transport
