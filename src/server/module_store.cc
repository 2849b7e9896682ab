#include "server/module_store.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <mutex>
#include <set>

#include "base/log.h"
#include "base/random.h"
#include "query/parse.h"
#include "query/update.h"

namespace dpd::server {
namespace {

// A schema naming every top-level field of `raw`, typed by its value (an operator object by its first operand).
query::Schema SchemaFor(const json::object& raw) {
  query::Schema schema;
  auto type_of = [](const json::value& v) -> std::optional<query::Type> {
    if (v.is_string()) return query::Type::kString;
    if (v.is_number()) return query::Type::kNumber;
    if (v.is_bool()) return query::Type::kBoolean;
    if (v.is_array()) return query::Type::kArray;
    return std::nullopt;
  };
  for (const auto& kv : raw) {
    if (kv.key().empty() || kv.key().front() == '$' || kv.key() == "id") continue;
    query::Property p;
    p.name = std::string(kv.key());
    p.has_type = true;
    std::optional<query::Type> t = type_of(kv.value());
    if (!t && kv.value().is_object()) {
      for (const auto& op : kv.value().as_object()) {
        const json::value& operand = op.value().is_array() && !op.value().as_array().empty()
                                         ? op.value().as_array().front()
                                         : op.value();
        if ((t = type_of(operand))) break;
      }
      if (!t) t = query::Type::kObject;
    }
    p.type = t.value_or(query::Type::kString);
    schema.properties.push_back(std::move(p));
  }
  return schema;
}

json::value DocumentJson(const store::Document& d) {
  json::object o = d.fields;
  o["id"] = d.id;
  return o;
}

struct State {
  store::Store* store;
  Limits limits;
  std::mutex mu;
  std::set<std::string> prepared;  // guarded by mu
};

boost::asio::awaitable<Result<json::value>> Run(std::shared_ptr<State> st, std::string op, std::string name,
                                                json::array args) {
  store::Store& store = *st->store;
  {
    std::lock_guard lock(st->mu);
    if (!st->prepared.count(name)) {
      if (Status s = store.Prepare(store::CollectionSpec{name, {}}); !s.ok()) co_return s;
      st->prepared.insert(name);
    }
  }
  auto query_of = [&](std::size_t i) -> Result<query::Query> {
    json::object raw = i < args.size() && args[i].is_object() ? args[i].as_object() : json::object();
    return query::ParseQuery(raw, SchemaFor(raw), st->limits.query);
  };
  if (op == "insert") {
    json::array in = args.empty() ? json::array{} : args[0].is_array() ? args[0].as_array() : json::array{args[0]};
    json::array out;
    for (auto& v : in) {
      if (!v.is_object()) co_return Status::BadRequest("insert takes an object");
      store::Document d;
      d.fields = v.as_object();
      const json::value* given = d.fields.if_contains("id");
      d.id = given && given->is_string() ? std::string(given->as_string()) : NewDocumentId();
      d.fields.erase("id");
      if (Status s = co_await store.Insert(name, d); !s.ok()) co_return s;
      out.push_back(DocumentJson(d));
    }
    if (!args.empty() && args[0].is_array()) co_return json::value(std::move(out));
    co_return out.empty() ? json::value(nullptr) : out[0];
  }
  if (op == "rename") {
    if (args.empty() || !args[0].is_string()) co_return Status::BadRequest("rename takes a name");
    if (Status s = co_await store.Rename(name, args[0].as_string()); !s.ok()) co_return s;
    co_return json::value(nullptr);
  }
  auto q = query_of(0);
  if (!q.ok()) co_return q.status();
  if (op == "count") {
    auto n = co_await store.Count(name, q->filter);
    if (!n.ok()) co_return n.status();
    co_return json::value(*n);
  }
  if (op == "first") q->limit = 1;
  auto docs = co_await store.Find(name, *q, st->limits.query.max_limit);
  if (!docs.ok()) co_return docs.status();
  if (op == "find" || op == "first") {
    if (op == "first") co_return docs->empty() ? json::value(nullptr) : DocumentJson(docs->front());
    // Deployd answers a find by id with the one object.
    if (q->id) co_return docs->empty() ? json::value(nullptr) : DocumentJson(docs->front());
    json::array out;
    for (const auto& d : *docs) out.push_back(DocumentJson(d));
    co_return json::value(std::move(out));
  }
  if (op == "remove") {
    std::vector<std::string> ids;
    for (const auto& d : *docs) ids.push_back(d.id);
    auto n = co_await store.Remove(name, ids);
    if (!n.ok()) co_return n.status();
    co_return json::value(json::object{{"count", *n}});
  }
  if (op == "update") {
    json::object changes = args.size() > 1 && args[1].is_object() ? args[1].as_object() : json::object();
    store::Patch patch;
    patch.commands = query::ExtractCommands(changes);
    for (const auto& kv : changes) {
      if (kv.key() == "id" || (kv.value().is_object() && !kv.value().as_object().empty() &&
                               kv.value().as_object().begin()->key().starts_with("$")))
        continue;
      patch.set[kv.key()] = kv.value();
    }
    std::int64_t n = 0;
    for (const auto& d : *docs) {
      auto r = co_await store.Update(name, d.id, patch);
      if (r.ok()) ++n;
    }
    co_return json::value(json::object{{"count", n}});
  }
  co_return Status::BadRequest("unknown store operation " + op);
}

}  // namespace

script::ModuleStore MakeModuleStore(store::Store* store, boost::asio::any_io_executor executor, const Limits& limits) {
  auto st = std::make_shared<State>();
  st->store = store;
  st->limits = limits;
  return [st, executor](const std::string& op, const std::string& collection, json::array args,
                        std::function<void(bool, std::string)> done) {
    boost::asio::co_spawn(executor, Run(st, op, collection, std::move(args)),
                          [done](std::exception_ptr e, Result<json::value> r) {
                            if (e) {
                              done(false, json::Write(json::value(json::string("store call failed"))));
                            } else if (!r.ok()) {
                              done(false, json::Write(json::value(json::string(r.status().message()))));
                            } else {
                              done(true, json::Write(*r));
                            }
                          });
  };
}

}  // namespace dpd::server
