#include "raft/message.h"

#include "raft/overloaded.h"

namespace raft {

std::string_view kind_name(const Message& m) {
  if (m.body.valueless_by_exception()) {
    return "invalid";
  }
  return std::visit(Overloaded{
                        [](const RequestVote&) { return "RequestVote"; },
                        [](const VoteResponse&) { return "VoteResponse"; },
                        [](const AppendEntries&) { return "AppendEntries"; },
                        [](const AppendResponse&) { return "AppendResponse"; },
                        [](const Heartbeat&) { return "Heartbeat"; },
                        [](const HeartbeatResponse&) { return "HeartbeatResponse"; },
                        [](const TimeoutNow&) { return "TimeoutNow"; },
                        [](const ReadIndexRequest&) { return "ReadIndexRequest"; },
                        [](const ReadIndexResponse&) { return "ReadIndexResponse"; },
                        [](const InstallSnapshot&) { return "InstallSnapshot"; },
                    },
                    m.body);
}

}  // namespace raft
