#include "query/regex.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

namespace dpd::query {
namespace {

// The largest count of a {n}, {n,} or {n,m} repetition in `pattern` (escapes and character classes skipped).
std::size_t LargestRepeat(std::string_view pattern) {
  std::size_t largest = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') ++i;  // "[]...]": a literal ] first
      continue;
    }
    if (c != '{') continue;
    std::size_t j = i + 1, n = 0, count = 0;
    bool digits = false;
    for (; j < pattern.size() && (std::isdigit(static_cast<unsigned char>(pattern[j])) || pattern[j] == ','); ++j) {
      if (pattern[j] == ',') {
        count = std::max(count, n);
        n = 0;
        continue;
      }
      digits = true;
      n = std::min<std::size_t>(n * 10 + static_cast<std::size_t>(pattern[j] - '0'), 1'000'000);
    }
    if (digits && j < pattern.size() && pattern[j] == '}') largest = std::max({largest, count, n});
  }
  return largest;
}

}  // namespace

Regex::~Regex() = default;

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern, std::string_view options,
                                                    std::size_t max_length, std::size_t max_program,
                                                    std::size_t max_repeat) {
  if (pattern.size() > max_length) {
    return Status::BadRequest("$regex pattern longer than " + std::to_string(max_length) + " characters");
  }
  if (max_repeat != SIZE_MAX && LargestRepeat(pattern) > max_repeat) {
    return Status::BadRequest("$regex repeats a part more than " + std::to_string(max_repeat) + " times");
  }
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(1 << 20);
  std::string prefix;
  for (char c : options) {
    switch (c) {
      case 'i': o.set_case_sensitive(false); break;
      case 'm': prefix += "(?m)"; break;
      case 's': o.set_dot_nl(true); break;
      case 'x': break;
      default: return Status::BadRequest("$options may only contain i, m, s, x");
    }
  }
  std::shared_ptr<Regex> r(new Regex());
  r->re_ = std::make_unique<RE2>(prefix + std::string(pattern), o);
  if (!r->re_->ok()) return Status::BadRequest("invalid $regex: " + r->re_->error());
  if (max_program != SIZE_MAX && static_cast<std::size_t>(r->re_->ProgramSize()) > max_program) {
    return Status::BadRequest("$regex too complex: compiles to " + std::to_string(r->re_->ProgramSize()) +
                              " instructions, more than " + std::to_string(max_program));
  }
  return std::shared_ptr<const Regex>(std::move(r));
}

bool Regex::Search(std::string_view text) const { return RE2::PartialMatch(text, *re_); }

}  // namespace dpd::query
