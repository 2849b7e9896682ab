#include "query/regex.h"

#include <re2/re2.h>

namespace dpd::query {

Regex::~Regex() = default;

Result<std::shared_ptr<const Regex>> Regex::Compile(std::string_view pattern, std::string_view options,
                                                    std::size_t max_length) {
  if (pattern.size() > max_length) {
    return Status::BadRequest("$regex pattern longer than " + std::to_string(max_length) + " characters");
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
  return std::shared_ptr<const Regex>(std::move(r));
}

bool Regex::Search(std::string_view text) const { return RE2::PartialMatch(text, *re_); }

}  // namespace dpd::query
