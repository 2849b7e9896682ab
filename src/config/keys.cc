#include "config/keys.h"

#include "base/file.h"
#include "base/random.h"
#include "json/json.h"

namespace dpd::config {

Result<std::vector<std::string>> ReadKeys(const std::filesystem::path& file) {
  auto text = ReadFile(file);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::vector<std::string>{};
    return text.status();
  }
  auto parsed = json::Parse(*text);
  if (!parsed.ok() || !parsed->is_object()) {
    return Status::BadRequest(file.string() + ": not a JSON object of keys");
  }
  std::vector<std::string> keys;
  for (const auto& kv : parsed->as_object()) {
    if (kv.value().is_bool() && kv.value().as_bool()) keys.emplace_back(kv.key());
  }
  return keys;
}

Result<std::string> GenerateKey(const std::filesystem::path& file) {
  auto existing = ReadKeys(file);
  if (!existing.ok()) return existing.status();
  json::object keys;
  for (const auto& k : *existing) keys[k] = true;
  std::string key = RandomHex(256);
  keys[key] = true;
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (Status s = WriteFileAtomic(file, json::Write(keys), 0600); !s.ok()) return s;
  return key;
}

}  // namespace dpd::config
