// The overload set that std::visit dispatches through (as Scylla's raft does): one
// lambda per alternative, chosen by type, so reordering a std::variant's alternatives
// cannot route a value to the wrong handler.
#pragma once

namespace raft {

// Overloaded{[](const A&) {...}, [](const B&) {...}} is callable with an A or a B.
// A visit that misses an alternative does not compile.
template <typename... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <typename... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace raft
