#pragma once
// Regular expressions for `$regex`, on RE2: linear time in the input, so no pattern can make a query hang
// (RELIABILITY.md B3 ReDoS). JavaScript syntax that RE2 lacks (look-around, back-references) is refused.
// Thread-safety: a compiled Regex is immutable and safe to share.

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace re2 {
class RE2;
}

namespace dpd::query {

class Regex {
 public:
  // Compiles `pattern` with options from "imsx"; BadRequest with the reason when it cannot be used.
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern, std::string_view options,
                                                     std::size_t max_length);
  ~Regex();
  // Unanchored search, as JavaScript's RegExp.test.
  bool Search(std::string_view text) const;

 private:
  Regex() = default;
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace dpd::query
