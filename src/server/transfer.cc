#include "server/transfer.h"

#include <algorithm>
#include <iostream>
#include <set>

#include "resources/registry.h"
#include "server/app_server.h"
#include "store/mongo/mongo_store.h"
#include "store/run_sync.h"
#include "store/sqlite/sqlite_store.h"

namespace dpd::server {
namespace {

constexpr std::size_t kPage = 1000;

using store::RunSync;

void Progress(bool on, const std::string& what, std::size_t n, bool done = false) {
  if (!on) return;
  std::cerr << "\r" << what << ": " << n << " documents" << (done ? "\n" : "") << std::flush;
}

}  // namespace

Result<std::unique_ptr<store::Store>> OpenStore(const std::string& db, const std::filesystem::path& app_root,
                                                std::chrono::milliseconds read_budget, bool alone) {
  if (db.rfind("mongodb://", 0) == 0 || db.rfind("mongodb+srv://", 0) == 0) {
    store::mongo::MongoOptions mo;
    mo.uri = db;
    mo.read_budget_ms = read_budget.count();
    auto mongo = store::mongo::MongoStore::Open(mo);
    if (!mongo.ok()) return mongo.status();
    return std::unique_ptr<store::Store>(std::move(*mongo));
  }
  if (!db.empty()) {
    if (Status s = ValidateStoreUrl(db); !s.ok()) return s;
  }
  // sqlite:<path>[?synchronous=normal|full] — FULL (the default) makes an acknowledged write survive power loss.
  std::string spec = db.empty() ? "data/app.sqlite" : db.substr(7);
  store::sqlite::SqliteOptions options;
  if (std::size_t qm = spec.find('?'); qm != std::string::npos) {
    std::string params = spec.substr(qm + 1);
    spec.resize(qm);
    if (params == "synchronous=normal") {
      options.synchronous_full = false;
    } else if (params != "synchronous=full") {
      return Status::BadRequest("unknown sqlite option \"" + params + "\" (synchronous=normal|full)");
    }
  }
  std::filesystem::path file = spec;
  if (file.is_relative()) file = app_root / file;
  options.file = file;
  options.read_budget = read_budget;
  options.hold_read_snapshots = alone;
  auto sqlite = store::sqlite::SqliteStore::Open(options);
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<store::Store>(std::move(*sqlite));
}

std::vector<std::string> DataCollections(const config::App& app, bool sessions) {
  // The built-in types; a type registered at run time (a resource module) that stores documents is added there.
  static const resources::TypeRegistry types = resources::TypeRegistry::WithBuiltins();
  std::set<std::string> names;
  for (const auto& r : app.resources) {
    const resources::ResourceType* type = types.Find(r.type);
    if (type != nullptr && type->traits.collection) names.insert(r.name);
  }
  if (sessions) names.insert("sessions");
  return {names.begin(), names.end()};
}

Result<std::size_t> ExportData(store::Store& store, const std::vector<std::string>& collections, std::ostream& out,
                               bool progress) {
  std::size_t total = 0;
  for (const auto& name : collections) {
    if (Status s = store.Prepare({name, {}}); !s.ok()) return s;
    query::Query q;
    q.sort.push_back({"id", false});
    q.limit = kPage;
    std::size_t n = 0;
    for (;;) {
      auto page = RunSync(store.Find(name, q, kPage));
      if (!page.ok()) return page.status();
      for (auto& d : *page) {
        json::object doc = std::move(d.fields);
        doc.stable_erase("id");
        doc["id"] = d.id;
        out << json::Write(json::object{{"collection", name}, {"doc", std::move(doc)}}) << '\n';
        ++n;
      }
      Progress(progress, "export " + name, n);
      if (page->size() < kPage) break;
      q.skip += static_cast<std::int64_t>(page->size());
    }
    Progress(progress, "export " + name, n, true);
    total += n;
  }
  out.flush();
  if (!out) return Status::Internal("export: write failed");
  return total;
}

Result<std::size_t> ImportData(store::Store& store, std::istream& in, bool progress) {
  std::set<std::string> prepared;
  std::string line;
  std::size_t n = 0, line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto parsed = json::Parse(line);
    const json::value* collection =
        parsed.ok() && parsed->is_object() ? parsed->as_object().if_contains("collection") : nullptr;
    const json::value* doc = parsed.ok() && parsed->is_object() ? parsed->as_object().if_contains("doc") : nullptr;
    if (collection == nullptr || !collection->is_string() || doc == nullptr || !doc->is_object()) {
      return Status::BadRequest("import: line " + std::to_string(line_no) + " is not {\"collection\", \"doc\"}");
    }
    const std::string name(collection->as_string());
    const json::value* id = doc->as_object().if_contains("id");
    if (id == nullptr || !id->is_string() || id->as_string().empty()) {
      return Status::BadRequest("import: line " + std::to_string(line_no) + " has no string id");
    }
    if (prepared.insert(name).second) {
      if (Status s = store.Prepare({name, {}}); !s.ok()) return s;
    }
    store::Document d{std::string(id->as_string()), doc->as_object()};
    d.fields.stable_erase("id");
    Status s = RunSync(store.Insert(name, d));
    if (!s.ok() && s.code() != Code::kUnavailable) {
      Status replaced = RunSync(store.Replace(name, d));  // the id exists already
      if (replaced.ok()) s = replaced;
    }
    if (!s.ok()) return Status(s.code(), "import: line " + std::to_string(line_no) + ": " + s.message());
    if (++n % 1000 == 0) Progress(progress, "import", n);
  }
  Progress(progress, "import", n, true);
  return n;
}

}  // namespace dpd::server
