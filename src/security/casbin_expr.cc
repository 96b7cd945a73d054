#include "security/casbin_expr.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "security/builtin_functions.h"
#include "security/text_util.h"

namespace security {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

[[noreturn]] void broken_invariant(const char* what) {
  std::fprintf(stderr, "casbin_expr: broken invariant: %s\n", what);
  std::abort();
}

// Parentheses and '!' nest at most this deep: the parser and the evaluator recurse.
constexpr int kMaxNesting = 64;

struct Token {
  enum class Kind {
    kIdent,
    kString,
    kDot,
    kLParen,
    kRParen,
    kComma,
    kEq,
    kNe,
    kAnd,
    kOr,
    kNot,
    kEnd
  };
  Kind kind;
  std::string text;  // the identifier, or the literal's value without quotes and escapes
  size_t column;     // 1-based
};

std::string describe(const Token& t) {
  switch (t.kind) {
    case Token::Kind::kIdent:
      return cat("identifier \"", t.text, "\"");
    case Token::Kind::kString:
      return "string literal";
    case Token::Kind::kEnd:
      return "end of matcher";
    default:
      return cat("\"", t.text, "\"");
  }
}

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

absl::StatusOr<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  auto two = [&](char a, char b) {
    return text[i] == a && i + 1 < text.size() && text[i + 1] == b;
  };
  while (i < text.size()) {
    char c = text[i];
    size_t column = i + 1;
    if (c == ' ' || c == '\t') {
      ++i;
    } else if (is_ident_start(c)) {
      size_t end = i;
      while (end < text.size() && is_ident_char(text[end])) ++end;
      tokens.push_back({Token::Kind::kIdent, std::string(text.substr(i, end - i)), column});
      i = end;
    } else if (c == '"') {
      std::string value;
      ++i;
      for (;;) {
        if (i >= text.size()) {
          return absl::InvalidArgumentError(
              cat("unterminated string literal starting at column ", column));
        }
        if (text[i] == '"') break;
        if (text[i] == '\\') {
          if (i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
            value += text[i + 1];
            i += 2;
            continue;
          }
          return absl::InvalidArgumentError(cat("unsupported escape in string literal at column ",
                                                i + 1, " (only \\\" and \\\\)"));
        }
        value += text[i++];
      }
      ++i;
      tokens.push_back({Token::Kind::kString, std::move(value), column});
    } else if (two('=', '=')) {
      tokens.push_back({Token::Kind::kEq, "==", column});
      i += 2;
    } else if (two('!', '=')) {
      tokens.push_back({Token::Kind::kNe, "!=", column});
      i += 2;
    } else if (two('&', '&')) {
      tokens.push_back({Token::Kind::kAnd, "&&", column});
      i += 2;
    } else if (two('|', '|')) {
      tokens.push_back({Token::Kind::kOr, "||", column});
      i += 2;
    } else if (c == '!') {
      tokens.push_back({Token::Kind::kNot, "!", column});
      ++i;
    } else if (c == '.') {
      tokens.push_back({Token::Kind::kDot, ".", column});
      ++i;
    } else if (c == '(') {
      tokens.push_back({Token::Kind::kLParen, "(", column});
      ++i;
    } else if (c == ')') {
      tokens.push_back({Token::Kind::kRParen, ")", column});
      ++i;
    } else if (c == ',') {
      tokens.push_back({Token::Kind::kComma, ",", column});
      ++i;
    } else {
      // Numbers, arithmetic, single quotes, `in` lists' brackets...: not in the subset.
      return absl::InvalidArgumentError(
          cat("unsupported character '", std::string(1, c), "' at column ", column));
    }
  }
  tokens.push_back({Token::Kind::kEnd, "", text.size() + 1});
  return tokens;
}

}  // namespace

// Recursive descent, lowest precedence first (as govaluate: || < && < == != < !):
//   or      := and ("||" and)*
//   and     := compare ("&&" compare)*
//   compare := unary (("==" | "!=") unary)?
//   unary   := "!" unary | primary
//   primary := "(" or ")" | string | ("r" | "p") "." field | name "(" [or ("," or)*] ")"
class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, const ExprSchema& schema, CasbinExpr& out)
      : tokens_(std::move(tokens)), schema_(schema), out_(out) {}

  absl::Status parse_all() {
    absl::StatusOr<Parsed> root = parse_or(0);
    if (!root.ok()) return root.status();
    if (peek().kind == Token::Kind::kRParen) {
      return absl::InvalidArgumentError(
          cat("unbalanced parentheses: \")\" at column ", peek().column, " closes nothing"));
    }
    if (peek().kind != Token::Kind::kEnd) {
      return absl::InvalidArgumentError(
          cat("unexpected ", describe(peek()), " at column ", peek().column));
    }
    if (absl::Status s = want_bool(*root, "the matcher"); !s.ok()) return s;
    out_.root_ = root->node;
    return absl::OkStatus();
  }

 private:
  struct Parsed {
    size_t node;
    bool is_bool;
    size_t column;  // where the expression starts, for messages
  };

  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() { return tokens_[pos_ == tokens_.size() - 1 ? pos_ : pos_++]; }

  size_t add(CasbinExpr::Node node) {
    out_.nodes_.push_back(std::move(node));
    return out_.nodes_.size() - 1;
  }

  static absl::Status want_bool(const Parsed& p, std::string_view what) {
    if (p.is_bool) return absl::OkStatus();
    return absl::InvalidArgumentError(
        cat(what, " needs a boolean, but the string value at column ", p.column, " is not one"));
  }
  static absl::Status want_string(const Parsed& p, std::string_view what) {
    if (!p.is_bool) return absl::OkStatus();
    return absl::InvalidArgumentError(cat(
        what, " needs a string, but the boolean expression at column ", p.column, " is not one"));
  }

  // or and and: a chain of one operator becomes one n-ary node, so a long chain does not
  // make the evaluator recurse deeply.
  absl::StatusOr<Parsed> parse_or(int depth) {
    absl::StatusOr<Parsed> first = parse_and(depth);
    if (!first.ok() || peek().kind != Token::Kind::kOr) return first;
    CasbinExpr::AnyOf any;
    if (absl::Status s = want_bool(*first, "\"||\""); !s.ok()) return s;
    any.operands.push_back(first->node);
    while (peek().kind == Token::Kind::kOr) {
      next();
      absl::StatusOr<Parsed> operand = parse_and(depth);
      if (!operand.ok()) return operand.status();
      if (absl::Status s = want_bool(*operand, "\"||\""); !s.ok()) return s;
      any.operands.push_back(operand->node);
    }
    return Parsed{add(std::move(any)), true, first->column};
  }

  absl::StatusOr<Parsed> parse_and(int depth) {
    absl::StatusOr<Parsed> first = parse_compare(depth);
    if (!first.ok() || peek().kind != Token::Kind::kAnd) return first;
    CasbinExpr::AllOf all;
    if (absl::Status s = want_bool(*first, "\"&&\""); !s.ok()) return s;
    all.operands.push_back(first->node);
    while (peek().kind == Token::Kind::kAnd) {
      next();
      absl::StatusOr<Parsed> operand = parse_compare(depth);
      if (!operand.ok()) return operand.status();
      if (absl::Status s = want_bool(*operand, "\"&&\""); !s.ok()) return s;
      all.operands.push_back(operand->node);
    }
    return Parsed{add(std::move(all)), true, first->column};
  }

  absl::StatusOr<Parsed> parse_compare(int depth) {
    absl::StatusOr<Parsed> lhs = parse_unary(depth);
    if (!lhs.ok()) return lhs;
    Token::Kind op = peek().kind;
    if (op != Token::Kind::kEq && op != Token::Kind::kNe) return lhs;
    std::string what = cat("\"", next().text, "\"");
    absl::StatusOr<Parsed> rhs = parse_unary(depth);
    if (!rhs.ok()) return rhs;
    if (absl::Status s = want_string(*lhs, what); !s.ok()) return s;
    if (absl::Status s = want_string(*rhs, what); !s.ok()) return s;
    size_t node = add(
        CasbinExpr::Compare{.equal = op == Token::Kind::kEq, .lhs = lhs->node, .rhs = rhs->node});
    return Parsed{node, true, lhs->column};
  }

  absl::StatusOr<Parsed> parse_unary(int depth) {
    if (peek().kind != Token::Kind::kNot) return parse_primary(depth);
    size_t column = next().column;
    if (depth >= kMaxNesting) return too_deep(column);
    absl::StatusOr<Parsed> operand = parse_unary(depth + 1);
    if (!operand.ok()) return operand;
    if (absl::Status s = want_bool(*operand, "\"!\""); !s.ok()) return s;
    return Parsed{add(CasbinExpr::Not{.operand = operand->node}), true, column};
  }

  static absl::Status too_deep(size_t column) {
    return absl::InvalidArgumentError(
        cat("expression nested more than ", kMaxNesting, " levels deep at column ", column));
  }

  absl::StatusOr<Parsed> parse_primary(int depth) {
    const Token& t = next();
    switch (t.kind) {
      case Token::Kind::kLParen: {
        if (depth >= kMaxNesting) return too_deep(t.column);
        absl::StatusOr<Parsed> inner = parse_or(depth + 1);
        if (!inner.ok()) return inner;
        if (peek().kind != Token::Kind::kRParen) {
          return absl::InvalidArgumentError(
              cat("unbalanced parentheses: \"(\" at column ", t.column, " is not closed (found ",
                  describe(peek()), " at column ", peek().column, ")"));
        }
        next();
        return Parsed{inner->node, inner->is_bool, t.column};
      }
      case Token::Kind::kString:
        return Parsed{add(CasbinExpr::StringLiteral{.value = t.text}), false, t.column};
      case Token::Kind::kIdent:
        if (peek().kind == Token::Kind::kDot) return parse_field(t);
        if (peek().kind == Token::Kind::kLParen) return parse_call(t, depth);
        return absl::InvalidArgumentError(
            cat("unexpected identifier \"", t.text, "\" at column ", t.column));
      case Token::Kind::kRParen:
        return absl::InvalidArgumentError(
            cat("unbalanced parentheses: \")\" at column ", t.column, " closes nothing"));
      default:
        return absl::InvalidArgumentError(cat("unexpected ", describe(t), " at column ", t.column));
    }
  }

  absl::StatusOr<Parsed> parse_field(const Token& object) {
    next();  // the dot
    const Token& field = next();
    if (field.kind != Token::Kind::kIdent) {
      return absl::InvalidArgumentError(
          cat("expected a field name after \"", object.text, ".\" at column ", field.column));
    }
    const std::vector<std::string>* fields = nullptr;
    std::string_view kind;
    if (object.text == "r") {
      fields = &schema_.request_fields;
      kind = "request";
    } else if (object.text == "p") {
      fields = &schema_.policy_fields;
      kind = "policy";
    } else {
      return absl::InvalidArgumentError(cat("unknown name \"", object.text, "\" at column ",
                                            object.column, " (only r.<field> and p.<field>)"));
    }
    for (size_t i = 0; i < fields->size(); ++i) {
      if ((*fields)[i] != field.text) continue;
      if (peek().kind == Token::Kind::kDot) {
        return absl::InvalidArgumentError(cat("attribute access after \"", object.text, ".",
                                              field.text, "\" at column ", peek().column,
                                              " is not supported"));
      }
      CasbinExpr::Node node = object.text == "r" ? CasbinExpr::Node(CasbinExpr::RequestField{i})
                                                 : CasbinExpr::Node(CasbinExpr::PolicyField{i});
      return Parsed{add(std::move(node)), false, object.column};
    }
    return absl::InvalidArgumentError(cat("unknown ", kind, " field \"", object.text, ".",
                                          field.text, "\" at column ", object.column, " (",
                                          object.text, " = ", join(*fields, ", "), ")"));
  }

  absl::StatusOr<std::vector<Parsed>> parse_args(const Token& name, int depth) {
    next();  // the '('
    if (depth >= kMaxNesting) return too_deep(name.column);
    std::vector<Parsed> args;
    if (peek().kind == Token::Kind::kRParen) {
      next();
      return args;
    }
    for (;;) {
      absl::StatusOr<Parsed> arg = parse_or(depth + 1);
      if (!arg.ok()) return arg.status();
      if (absl::Status s = want_string(*arg, cat("an argument of ", name.text, "()")); !s.ok()) {
        return s;
      }
      args.push_back(*arg);
      const Token& t = next();
      if (t.kind == Token::Kind::kRParen) return args;
      if (t.kind != Token::Kind::kComma) {
        return absl::InvalidArgumentError(cat("unbalanced parentheses: the call to ", name.text,
                                              " at column ", name.column, " is not closed (found ",
                                              describe(t), " at column ", t.column, ")"));
      }
    }
  }

  absl::StatusOr<Parsed> parse_call(const Token& name, int depth) {
    std::vector<std::string> known;
    for (size_t role = 0; role < schema_.role_functions.size(); ++role) {
      const ExprSchema::RoleFunction& f = schema_.role_functions[role];
      known.push_back(f.name);
      if (f.name != name.text) continue;
      absl::StatusOr<std::vector<Parsed>> args = parse_args(name, depth);
      if (!args.ok()) return args.status();
      size_t want = f.has_domain ? 3 : 2;
      if (args->size() != want) {
        return absl::InvalidArgumentError(
            cat(name.text, "() at column ", name.column, " takes ", want,
                " arguments as defined in [role_definition], got ", args->size()));
      }
      CasbinExpr::RoleCall call{.role = role, .args = {}};
      for (const Parsed& a : *args) call.args.push_back(a.node);
      return Parsed{add(std::move(call)), true, name.column};
    }
    using Function = CasbinExpr::BuiltinCall::Function;
    Function function;
    if (name.text == "keyMatch") {
      function = Function::kKeyMatch;
    } else if (name.text == "keyMatch2") {
      function = Function::kKeyMatch2;
    } else if (name.text == "regexMatch") {
      function = Function::kRegexMatch;
    } else {
      known.insert(known.end(), {"keyMatch", "keyMatch2", "regexMatch"});
      return absl::InvalidArgumentError(cat("unknown function \"", name.text, "\" at column ",
                                            name.column, " (known: ", join(known, ", "), ")"));
    }
    absl::StatusOr<std::vector<Parsed>> args = parse_args(name, depth);
    if (!args.ok()) return args.status();
    if (args->size() != 2) {
      return absl::InvalidArgumentError(
          cat(name.text, "() at column ", name.column, " takes 2 arguments, got ", args->size()));
    }
    CasbinExpr::BuiltinCall call{.function = function,
                                 .key = (*args)[0].node,
                                 .pattern = (*args)[1].node,
                                 .literal_regex = nullptr,
                                 .policy_regex = std::nullopt};
    if (function != Function::kKeyMatch) {
      const CasbinExpr::Node& pattern = out_.nodes_[call.pattern];
      if (const auto* literal = std::get_if<CasbinExpr::StringLiteral>(&pattern)) {
        std::string regex =
            function == Function::kKeyMatch2 ? key_match2_regex(literal->value) : literal->value;
        absl::StatusOr<std::shared_ptr<const Regex>> re = compile_regex(regex);
        if (!re.ok()) {
          return absl::InvalidArgumentError(
              cat(re.status().message(), " in ", name.text, "() at column ", name.column));
        }
        call.literal_regex = *std::move(re);
      } else if (const auto* field = std::get_if<CasbinExpr::PolicyField>(&pattern)) {
        PolicyRegex wanted{.kind = function == Function::kKeyMatch2
                                       ? PolicyRegex::Kind::kKeyMatch2
                                       : PolicyRegex::Kind::kRegexMatch,
                           .field = field->index};
        std::vector<PolicyRegex>& slots = out_.policy_regexes_;
        size_t slot = 0;
        while (slot < slots.size() && !(slots[slot] == wanted)) ++slot;
        if (slot == slots.size()) slots.push_back(wanted);
        call.policy_regex = slot;
      }
    }
    return Parsed{add(std::move(call)), true, name.column};
  }

  std::vector<Token> tokens_;  // ends with a kEnd token
  size_t pos_ = 0;
  const ExprSchema& schema_;
  CasbinExpr& out_;
};

absl::StatusOr<CasbinExpr> CasbinExpr::parse(std::string_view text, const ExprSchema& schema) {
  absl::StatusOr<std::vector<Token>> tokens = tokenize(text);
  if (!tokens.ok()) return tokens.status();
  CasbinExpr expr;
  ExprParser parser(*std::move(tokens), schema, expr);
  if (absl::Status s = parser.parse_all(); !s.ok()) return s;
  return expr;
}

absl::StatusOr<bool> CasbinExpr::evaluate(const ExprInput& input) const {
  return eval_bool(root_, input);
}

std::string_view CasbinExpr::eval_string(size_t node, const ExprInput& input) const {
  return std::visit(
      Overloaded{
          [](const StringLiteral& n) -> std::string_view { return n.value; },
          [&](const RequestField& n) -> std::string_view { return input.request[n.index]; },
          [&](const PolicyField& n) -> std::string_view { return input.policy[n.index]; },
          [](const auto&) -> std::string_view {
            broken_invariant("parse() type-checked every string operand");
          },
      },
      nodes_[node]);
}

absl::StatusOr<bool> CasbinExpr::eval_bool(size_t node, const ExprInput& input) const {
  return std::visit(
      Overloaded{
          [&](const Not& n) -> absl::StatusOr<bool> {
            absl::StatusOr<bool> v = eval_bool(n.operand, input);
            if (!v.ok()) return v;
            return !*v;
          },
          [&](const AllOf& n) -> absl::StatusOr<bool> {
            for (size_t operand : n.operands) {
              absl::StatusOr<bool> v = eval_bool(operand, input);
              if (!v.ok() || !*v) return v;
            }
            return true;
          },
          [&](const AnyOf& n) -> absl::StatusOr<bool> {
            for (size_t operand : n.operands) {
              absl::StatusOr<bool> v = eval_bool(operand, input);
              if (!v.ok() || *v) return v;
            }
            return false;
          },
          [&](const Compare& n) -> absl::StatusOr<bool> {
            return (eval_string(n.lhs, input) == eval_string(n.rhs, input)) == n.equal;
          },
          [&](const RoleCall& n) -> absl::StatusOr<bool> {
            std::string_view domain = n.args.size() == 3 ? eval_string(n.args[2], input) : "";
            return input.roles[n.role].has_link(eval_string(n.args[0], input),
                                                eval_string(n.args[1], input), domain);
          },
          [&](const BuiltinCall& n) -> absl::StatusOr<bool> { return eval_builtin(n, input); },
          [](const auto&) -> absl::StatusOr<bool> {
            broken_invariant("parse() type-checked every boolean operand");
          },
      },
      nodes_[node]);
}

absl::StatusOr<bool> CasbinExpr::eval_builtin(const BuiltinCall& call,
                                              const ExprInput& input) const {
  std::string_view key = eval_string(call.key, input);
  if (call.function == BuiltinCall::Function::kKeyMatch) {
    return key_match(key, eval_string(call.pattern, input));
  }
  const Regex* re = call.literal_regex.get();
  if (call.policy_regex.has_value()) re = input.policy_regexes[*call.policy_regex].get();
  if (re != nullptr) return regex_search_bounded(key, *re);
  std::string_view pattern = eval_string(call.pattern, input);
  return call.function == BuiltinCall::Function::kKeyMatch2 ? key_match2(key, pattern)
                                                            : regex_match(key, pattern);
}

}  // namespace security
