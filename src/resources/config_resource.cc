#include "resources/config_resource.h"

#include <sys/stat.h>

#include <algorithm>

#include "base/log.h"
#include "config/app.h"
#include "config/app_files.h"
#include "resources/script_events.h"

namespace dpd::resources {
namespace {

constexpr std::string_view kNotAllowed = "Not Allowed";
constexpr std::string_view kNotFound = "resource not found";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A file below a resource: config.json or an event script (*.js), by a plain name.
bool IsFileName(std::string_view file) { return file == "config.json" || (EndsWith(file, ".js") && file.size() > 3); }

std::int64_t ChangeTime(const std::filesystem::path& file) {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 ? st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec : 0;
}

// The config API's errors as Deployd's internal resources write them: {"statusCode", "message"} (+ "status").
Reply Refuse(int status, std::string_view message) {
  Reply r = Reply::Error(status, message);
  r.json = json::object{{"statusCode", status}, {"message", message}};
  return r;
}
Reply BadRequest(std::string_view message) { return Refuse(400, message); }

}  // namespace

ConfigResource::ConfigResource(Parts parts) : Resource("__resources", "InternalResources"), parts_(std::move(parts)) {}

std::optional<json::object> ConfigResource::Config(const std::string& name) const {
  auto text = config::ReadResourceFile(parts_.root, name, "config.json");
  if (!text.ok()) return std::nullopt;
  auto parsed = json::Parse(*text);
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  return std::move(parsed->as_object());
}

std::optional<Reply> ConfigResource::CheckName(const std::string& name) const {
  if (!config::IsValidResourceName(name)) {
    return BadRequest("Invalid resource name \"" + name +
                      "\": use letters, digits, '-', '_' and '.', segments separated by '/', not starting with __");
  }
  if (name == "types" || (parts_.reserved && parts_.reserved("/" + name))) {
    return BadRequest("\"/" + name + "\" is reserved by dpd");
  }
  return std::nullopt;
}

boost::asio::awaitable<Reply> ConfigResource::Handle(Context& ctx) {
  if (!ctx.is_root) co_return Refuse(401, kNotAllowed);
  std::string rest = ctx.url.size() > 1 ? ctx.url.substr(1) : std::string();
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  // "<name>" or "<name>/<file>": a last segment that names a file (config.json, *.js) is a file unless the whole
  // path is a resource.
  std::string name = rest, file;
  if (std::size_t slash = rest.rfind('/'); slash != std::string::npos && IsFileName(rest.substr(slash + 1))) {
    if (!Config(rest)) {
      name = rest.substr(0, slash);
      file = rest.substr(slash + 1);
    }
  }
  if (ctx.method == "GET") {
    if (rest.empty()) co_return List();
    if (rest == "types") co_return Types();
    co_return Read(name, file);
  }
  if (ctx.method == "POST" || ctx.method == "PUT") {
    if (rest.empty()) co_return BadRequest("You must provide a resource");
    if (!file.empty()) co_return WriteFile(ctx, name, file);
    co_return co_await WriteConfig(ctx, name);
  }
  if (ctx.method == "DELETE") {
    if (rest.empty()) co_return BadRequest("You must provide a resource");
    co_return co_await Delete(name);
  }
  co_return Reply::Error(404, kNotFound);
}

Reply ConfigResource::List() const {
  auto app = config::LoadApp(parts_.root, parts_.environment, parts_.script.source_bytes);
  if (!app.ok()) return Reply::FromStatus(app.status());
  std::vector<std::pair<std::int64_t, const config::ResourceConfig*>> order;
  for (const auto& rc : app->resources) order.emplace_back(ChangeTime(rc.config_file), &rc);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->name < b.second->name;
  });
  json::array out;
  for (const auto& [t, rc] : order) {
    json::object c = rc->settings;
    c["id"] = rc->name;
    out.push_back(std::move(c));
  }
  return Reply::Json(std::move(out));
}

Reply ConfigResource::Types() const {
  json::object out;
  for (const ResourceType* t : parts_.types->types()) {
    json::object entry{{"type", t->name}};
    if (!t->traits.default_path.empty()) entry["defaultPath"] = t->traits.default_path;
    if (!t->traits.label.empty()) entry["label"] = t->traits.label;
    json::array pages;
    for (const auto& p : t->traits.dashboard_pages) pages.emplace_back(json::string(p));
    if (pages.empty() && !t->traits.events.empty()) pages = json::array{"Config", "Events"};
    entry["dashboardPages"] = std::move(pages);
    if (!t->traits.settings_form.is_null()) entry["basicDashboard"] = t->traits.settings_form;
    if (!t->traits.collection) {  // a module type's own event files (the dashboard's Events tabs)
      json::array events;
      for (const auto& e : t->traits.events) events.emplace_back(json::string(e));
      entry["events"] = std::move(events);
    }
    out[t->name] = std::move(entry);
  }
  return Reply::Json(std::move(out));
}

Reply ConfigResource::Read(const std::string& name, const std::string& file) const {
  if (!config::IsValidResourceName(name)) return Reply::Error(404, kNotFound);
  if (file.empty()) {
    auto c = Config(name);
    if (!c) return Reply::Error(404, kNotFound);
    (*c)["id"] = name;
    return Reply::Json(std::move(*c));
  }
  auto text = config::ReadResourceFile(parts_.root, name, file);
  if (!text.ok()) return Reply::Error(404, kNotFound);
  if (EndsWith(file, ".json")) {
    auto parsed = json::Parse(*text);
    if (!parsed.ok() || !parsed->is_object()) return Reply::Error(404, kNotFound);
    parsed->as_object()["id"] = name + "/" + file;  // Deployd's id for a file
    return Reply::Json(std::move(*parsed));
  }
  return Reply::Json(json::object{{"value", *text}});
}

Reply ConfigResource::Reloaded(Reply answer) const {
  if (parts_.reload) {
    if (Status s = parts_.reload(); !s.ok()) spdlog::error("config api: reload failed: {}", s.message());
  }
  return answer;
}

boost::asio::awaitable<Reply> ConfigResource::WriteConfig(Context& ctx, const std::string& name) {
  if (!ctx.body || !ctx.body->is_object()) co_return BadRequest("The body must be a JSON object");
  json::object body = ctx.body->as_object();
  if (auto bad = CheckName(name)) co_return *bad;
  std::optional<json::object> current = Config(name);

  // A body "id" other than the name renames (moves) the resource.
  std::string target = name;
  if (const json::value* id = body.if_contains("id"); id && id->is_string() && id->as_string() != name) {
    target = std::string(id->as_string());
    if (!current) co_return Reply::Error(404, kNotFound);
    if (auto bad = CheckName(target)) co_return *bad;
    if (Config(target)) co_return BadRequest("A resource named \"" + target + "\" already exists");
  }
  const bool set_all = body.contains("$setAll") && body.at("$setAll") == true;
  json::object answer = body;
  answer.stable_erase("$setAll");
  json::object written = set_all || !current ? json::object() : *current;
  for (const auto& kv : body) {
    if (kv.key() == "$setAll" || kv.key() == "id") continue;
    written[kv.key()] = kv.value();
  }
  // Validate what would be on disk before writing any of it.
  const json::value* type = written.if_contains("type");
  if (type == nullptr || !type->is_string()) co_return BadRequest("A resource needs a \"type\" (e.g. \"Collection\")");
  const ResourceType* rt = parts_.types->Find(type->as_string());
  if (rt == nullptr) {
    co_return BadRequest("Cannot find type \"" + std::string(type->as_string()) + "\" for resource " + target);
  }
  config::ResourceConfig rc;
  rc.name = target;
  rc.type = rt->name;
  rc.settings = written;
  if (rt->validate) {
    if (Status s = rt->validate(rc); !s.ok()) co_return BadRequest(s.message());
  }
  if (target != name && current) {
    const ResourceType* old_type = current->contains("type") && current->at("type").is_string()
                                       ? parts_.types->Find(current->at("type").as_string())
                                       : nullptr;
    {
      std::lock_guard lock(write_mu_);
      if (Status s = config::MoveResource(parts_.root, name, target); !s.ok())
        co_return Refuse(s.http_status(), s.message());
    }
    if (old_type != nullptr && old_type->traits.collection && parts_.store != nullptr) {
      if (Status s = co_await parts_.store->Rename(name, target); !s.ok()) {
        spdlog::error("config api: documents of {} not moved to {}: {}", name, target, s.message());
        co_return Reply::FromStore(s);
      }
    }
  }
  {
    std::lock_guard lock(write_mu_);
    if (Status s = config::WriteConfig(parts_.root, target, written); !s.ok())
      co_return Refuse(s.http_status(), s.message());
  }
  spdlog::info("config api: resource {} written{}", target, target != name ? " (renamed from " + name + ")" : "");
  answer["id"] = target;
  co_return Reloaded(Reply::Json(std::move(answer)));
}

Reply ConfigResource::WriteFile(Context& ctx, const std::string& name, const std::string& file) {
  if (!config::IsValidResourceName(name)) return BadRequest("Invalid resource name \"" + name + "\"");
  std::optional<json::object> current = Config(name);
  if (!current) return Reply::Error(404, kNotFound);
  const json::value* type = current->if_contains("type");
  const ResourceType* rt = type && type->is_string() ? parts_.types->Find(type->as_string()) : nullptr;
  const bool is_event =
      rt != nullptr && std::find(rt->traits.events.begin(), rt->traits.events.end(), file) != rt->traits.events.end();
  if (!is_event) {
    return BadRequest("\"" + file + "\" is not an event of " + name + (rt ? "" : " (its type is unknown)") +
                      "; write config.json through /__resources/" + name);
  }
  const json::value* value = ctx.body && ctx.body->is_object() ? ctx.body->as_object().if_contains("value") : nullptr;
  if (value == nullptr || !value->is_string()) return BadRequest("The body must be {\"value\": \"<script>\"}");
  const std::string_view text = value->as_string();
  // {"value", "$check": true}: compiled, not written (the dashboard shows a syntax error before saving). A dpd
  // addition; Deployd writes whatever it is given, and so does a write here.
  if (const json::value* check = ctx.body->as_object().if_contains("$check"); check && *check == true) {
    Status s = CheckEventScript("resources/" + name + "/" + file, std::string(text), parts_.script);
    if (s.ok()) return Reply::Json(json::object{{"ok", true}});
    Reply r = Refuse(400, s.message());
    // "<file>:<line>: …" → the line, for the editor to mark.
    const std::string& m = s.message();
    if (std::size_t a = m.find(".js:"); a != std::string::npos) {
      const long line = std::strtol(m.c_str() + a + 4, nullptr, 10);
      if (line > 0) r.json.as_object()["line"] = line;
    }
    return r;
  }
  if (text.size() > parts_.script.source_bytes) {
    return Refuse(413, "An event script may have " + std::to_string(parts_.script.source_bytes) +
                           " bytes at most (script.source_bytes)");
  }
  {
    std::lock_guard lock(write_mu_);
    if (Status s = config::WriteResourceFile(parts_.root, name, file, text); !s.ok()) {
      return Refuse(s.http_status(), s.message());
    }
  }
  spdlog::info("config api: resources/{}/{} written", name, file);
  return Reloaded(Reply::Json(json::object{{"value", text}, {"id", name}}));
}

boost::asio::awaitable<Reply> ConfigResource::Delete(const std::string& name) {
  if (!config::IsValidResourceName(name)) co_return Reply::Error(404, kNotFound);
  std::optional<json::object> current = Config(name);
  if (!current) co_return Reply::Error(404, kNotFound);
  const json::value* type = current->if_contains("type");
  const ResourceType* rt = type && type->is_string() ? parts_.types->Find(type->as_string()) : nullptr;
  {
    std::lock_guard lock(write_mu_);
    if (Status s = config::DeleteResource(parts_.root, name); !s.ok()) co_return Refuse(s.http_status(), s.message());
  }
  // As Deployd: a deleted collection's documents go with it.
  if (rt != nullptr && rt->traits.collection && parts_.store != nullptr) {
    if (Status s = co_await parts_.store->Drop(name); !s.ok()) {
      spdlog::error("config api: documents of deleted {} not removed: {}", name, s.message());
    }
  }
  spdlog::info("config api: resource {} deleted", name);
  co_return Reloaded(Reply::Empty(200));
}

}  // namespace dpd::resources
