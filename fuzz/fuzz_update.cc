// Update commands ($inc $push $pushAll $pull $pullAll $addUnique, spec §5.7) from a raw body applied to a stored
// document: never a crash, whatever the body and the document hold.
#include <cstdint>
#include <string_view>

#include "common/fuzz_util.h"
#include "query/update.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // "<body>\n<document>": the second part is the stored document the commands apply to (or a fixed one).
  const std::size_t nl = text.find('\n');
  auto body = dpd::json::Parse(text.substr(0, nl), limits);
  if (!body.ok() || !body->is_object()) return 0;
  dpd::json::object doc;
  if (nl != std::string_view::npos) {
    auto stored = dpd::json::Parse(text.substr(nl + 1), limits);
    if (stored.ok() && stored->is_object()) doc = stored->as_object();
  } else {
    doc = dpd::json::Parse(R"({"n": 1, "tags": ["a", 1, null, {"k": 2}], "s": "x"})")->as_object();
  }
  auto commands = dpd::query::ExtractCommands(body->as_object());
  dpd::query::ApplyCommands(commands, doc);
  (void)dpd::json::Write(dpd::json::value(doc));
  return 0;
}
