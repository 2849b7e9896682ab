#pragma once
// Regular expressions for `$regex`, on RE2: linear time in the input, so no pattern can make a query hang
// (RELIABILITY.md B3 ReDoS). JavaScript syntax that RE2 lacks (look-around, back-references) is refused.
// Thread-safety: a compiled Regex is immutable and safe to share.

#include <cstdint>
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
  // Compiles `pattern` with options from "imsx"; BadRequest with the reason when it cannot be used — also when it
  // is longer than `max_length`, repeats a part more than `max_repeat` times ({n}, {n,m}) or compiles to more than
  // `max_program` RE2 instructions: RE2's time per input byte grows with its program, so these bound a query's
  // CPU cost (RELIABILITY.md B2), where the length alone does not (`.{0,1000}z`).
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern, std::string_view options,
                                                      std::size_t max_length, std::size_t max_program = SIZE_MAX,
                                                      std::size_t max_repeat = SIZE_MAX);
  ~Regex();
  // Unanchored search, as JavaScript's RegExp.test.
  bool Search(std::string_view text) const;

 private:
  Regex() = default;
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace dpd::query
