// The public Raft: each call forwarded to the RaftCore it owns, so that raft.h names
// none of the core's internal types (its log, progress, role states, generator).
#include <utility>

#include "raft/raft_core.h"

namespace raft {

Raft::Raft(const Config& config, Membership membership, Restored restored)
    : core_(std::make_unique<RaftCore>(config, std::move(membership), std::move(restored))) {}
Raft::Raft(const Raft& other) : core_(std::make_unique<RaftCore>(*other.core_)) {}
Raft& Raft::operator=(const Raft& other) {
  if (this != &other) core_ = std::make_unique<RaftCore>(*other.core_);
  return *this;
}
Raft::Raft(Raft&& other) noexcept = default;
Raft& Raft::operator=(Raft&& other) noexcept = default;
Raft::~Raft() = default;

void Raft::tick() { core_->tick(); }
void Raft::step(Message message) { core_->step(std::move(message)); }
void Raft::peer_closed(NodeId peer) { core_->peer_closed(peer); }
ProposeResult Raft::propose(std::string data) { return core_->propose(std::move(data)); }
ProposeResult Raft::propose_timeouts(const Timeouts& timeouts) {
  return core_->propose_timeouts(timeouts);
}
ProposeResult Raft::change_membership(std::set<NodeId> voters, std::set<NodeId> learners) {
  return core_->change_membership(std::move(voters), std::move(learners));
}
ProposeResult Raft::add_node(NodeId id) { return core_->add_node(id); }
ProposeResult Raft::remove_node(NodeId id) { return core_->remove_node(id); }
Error Raft::transfer_leadership(NodeId to) { return core_->transfer_leadership(to); }
CompactResult Raft::compact(LogIndex index) { return core_->compact(index); }
CompactResult Raft::snapshot_meta_at(LogIndex index) const {
  return core_->snapshot_meta_at(index);
}
bool Raft::snapshot_due() const { return core_->snapshot_due(); }
const SnapshotMeta& Raft::snapshot_meta() const { return core_->snapshot_meta(); }
Error Raft::read_index(ReadId id) { return core_->read_index(id); }
bool Raft::has_ready() const { return core_->has_ready(); }
Ready Raft::ready() { return core_->ready(); }
void Raft::advance() { core_->advance(); }
NodeStatus Raft::status() const { return core_->status(); }
NodeId Raft::id() const { return core_->id(); }
Role Raft::role() const { return core_->role(); }
Term Raft::term() const { return core_->term(); }
NodeId Raft::vote() const { return core_->vote(); }
NodeId Raft::leader() const { return core_->leader(); }
const Membership& Raft::membership() const { return core_->membership(); }
const DropCounters& Raft::drops() const { return core_->drops(); }
HardState Raft::hard_state() const { return core_->hard_state(); }
const Timeouts& Raft::timeouts() const { return core_->timeouts(); }
NodeId Raft::transfer_target() const { return core_->transfer_target(); }
bool Raft::membership_change_pending() const { return core_->membership_change_pending(); }
uint64_t Raft::fingerprint() const { return core_->fingerprint(); }

}  // namespace raft
