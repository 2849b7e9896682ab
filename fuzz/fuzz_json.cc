// JSON with dpd's limits: never a crash or a hang; what parses writes back to text that parses to the same value.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/fuzz_util.h"
#include "json/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits();
  auto parsed = dpd::json::Parse(text, limits);
  if (!parsed.ok()) return 0;
  const std::string written = dpd::json::Write(*parsed);
  auto again = dpd::json::Parse(written, limits);
  if (!again.ok() || !dpd::fuzz::SameJson(*again, *parsed))
    dpd::fuzz::Fail();  // the round trip lost or changed something
  (void)dpd::json::WritePretty(*parsed);
  (void)dpd::json::ApproximateSize(*parsed);
  return 0;
}
