#include "store/mongo/mongo_store.h"

#include <mongoc/mongoc.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/log.h"
#include "query/matcher.h"

namespace dpd::store::mongo {
namespace asio = boost::asio;
namespace {

constexpr std::string_view kDefaultDatabase = "dpd";

// ---- JSON ↔ BSON ----
void AppendValue(bson_t* b, std::string_view key, const json::value& v);

void AppendObject(bson_t* b, const json::object& o) {
  for (const auto& kv : o) AppendValue(b, kv.key(), kv.value());
}

// A stored document in Deployd's format: "_id" (the id as a string) first, then its fields; "id"/"_id" fields are
// never written twice.
void AppendDocument(bson_t* b, const Document& doc) {
  bson_append_utf8(b, "_id", -1, doc.id.c_str(), static_cast<int>(doc.id.size()));
  for (const auto& kv : doc.fields) {
    if (kv.key() != "id" && kv.key() != "_id") AppendValue(b, kv.key(), kv.value());
  }
}

void AppendValue(bson_t* b, std::string_view key, const json::value& v) {
  const char* k = key.data();
  const int n = static_cast<int>(key.size());
  switch (v.kind()) {
    case boost::json::kind::null: bson_append_null(b, k, n); break;
    case boost::json::kind::bool_: bson_append_bool(b, k, n, v.get_bool()); break;
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: {
      // As the Node driver Deployd used: integers that fit int32 as int32, other numbers as doubles.
      const double d = v.to_number<double>();
      if (std::floor(d) == d && d >= -2147483648.0 && d <= 2147483647.0) {
        bson_append_int32(b, k, n, static_cast<std::int32_t>(d));
      } else {
        bson_append_double(b, k, n, d);
      }
      break;
    }
    case boost::json::kind::string:
      bson_append_utf8(b, k, n, v.get_string().data(), static_cast<int>(v.get_string().size()));
      break;
    case boost::json::kind::array: {
      bson_t child;
      bson_append_array_begin(b, k, n, &child);
      std::size_t i = 0;
      for (const auto& e : v.get_array()) {
        const std::string idx = std::to_string(i++);
        AppendValue(&child, idx, e);
      }
      bson_append_array_end(b, &child);
      break;
    }
    case boost::json::kind::object: {
      bson_t child;
      bson_append_document_begin(b, k, n, &child);
      AppendObject(&child, v.get_object());
      bson_append_document_end(b, &child);
      break;
    }
  }
}

json::value FromIter(bson_iter_t* it);

json::object FromDocument(const bson_t* doc) {
  json::object out;
  bson_iter_t it;
  if (bson_iter_init(&it, doc)) {
    while (bson_iter_next(&it)) out[bson_iter_key(&it)] = FromIter(&it);
  }
  return out;
}

json::value FromIter(bson_iter_t* it) {
  switch (bson_iter_type(it)) {
    case BSON_TYPE_DOUBLE: return bson_iter_double(it);
    case BSON_TYPE_INT32: return static_cast<std::int64_t>(bson_iter_int32(it));
    case BSON_TYPE_INT64: return bson_iter_int64(it);
    case BSON_TYPE_BOOL: return bson_iter_bool(it);
    case BSON_TYPE_UTF8: {
      std::uint32_t len = 0;
      const char* s = bson_iter_utf8(it, &len);
      return json::string(std::string_view(s, len));
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
      bson_iter_t child;
      if (!bson_iter_recurse(it, &child)) return nullptr;
      if (bson_iter_type(it) == BSON_TYPE_ARRAY) {
        json::array a;
        while (bson_iter_next(&child)) a.push_back(FromIter(&child));
        return a;
      }
      json::object o;
      while (bson_iter_next(&child)) o[bson_iter_key(&child)] = FromIter(&child);
      return o;
    }
    case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(it), hex);
      return json::string(hex);
    }
    case BSON_TYPE_DATE_TIME: {  // as JSON.stringify writes a Date
      const std::int64_t ms = bson_iter_date_time(it);
      std::time_t secs = static_cast<std::time_t>(ms / 1000);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      char buf[96];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
      return json::string(buf);
    }
    default: return nullptr;
  }
}

// A stored document as dpd sees it: _id (a string, or an ObjectId's hex) → id.
Document ToDocument(const bson_t* doc) {
  Document d;
  d.fields = FromDocument(doc);
  if (json::value* id = d.fields.if_contains("_id")) {
    if (id->is_string()) d.id = std::string(id->get_string());
    d.fields.stable_erase("_id");
  }
  return d;
}

std::string FieldPath(const std::string& path) { return path == "id" ? "_id" : path; }

// ---- the query AST → BSON ----
const char* OperatorName(query::Op op) {
  switch (op) {
    case query::Op::kEq: return "$eq";
    case query::Op::kNe: return "$ne";
    case query::Op::kGt: return "$gt";
    case query::Op::kGte: return "$gte";
    case query::Op::kLt: return "$lt";
    case query::Op::kLte: return "$lte";
    case query::Op::kIn: return "$in";
    case query::Op::kNin: return "$nin";
    case query::Op::kExists: return "$exists";
    case query::Op::kRegex: return "$regex";
    case query::Op::kAll: return "$all";
    case query::Op::kSize: return "$size";
    case query::Op::kElemMatch: return "$elemMatch";
    case query::Op::kMod: return "$mod";
  }
  return "$eq";
}

void AppendFilter(bson_t* out, const query::Filter& f);
void AppendOperator(bson_t* doc, const query::Condition& c);

// The inside of $elemMatch: operators on the element itself ({"$in": […]}) go in directly, not under a key.
void AppendElem(bson_t* out, const query::Filter& f) {
  using Kind = query::Filter::Kind;
  auto bare = [](const query::Filter& x) { return x.kind == Kind::kCondition && x.condition.path.empty(); };
  auto append_bare = [&](const query::Condition& c) {
    if (!c.negated) return AppendOperator(out, c);
    bson_t inner;
    bson_append_document_begin(out, "$not", -1, &inner);
    AppendOperator(&inner, c);
    bson_append_document_end(out, &inner);
  };
  if (bare(f)) return append_bare(f.condition);
  if (f.kind == Kind::kAnd && !f.children.empty() && std::all_of(f.children.begin(), f.children.end(), bare)) {
    for (const auto& c : f.children) append_bare(c.condition);
    return;
  }
  AppendFilter(out, f);
}

void AppendOperator(bson_t* doc, const query::Condition& c) {
  const char* op = OperatorName(c.op);
  if (c.op == query::Op::kElemMatch) {
    bson_t sub;
    bson_append_document_begin(doc, op, -1, &sub);
    if (c.elem) AppendElem(&sub, *c.elem);
    bson_append_document_end(doc, &sub);
    return;
  }
  if (c.op == query::Op::kRegex) {
    const std::string pattern = c.operand.is_string() ? std::string(c.operand.get_string()) : "";
    bson_append_utf8(doc, "$regex", -1, pattern.c_str(), static_cast<int>(pattern.size()));
    if (!c.regex_options.empty()) bson_append_utf8(doc, "$options", -1, c.regex_options.c_str(), -1);
    return;
  }
  AppendValue(doc, op, c.operand);
}

void AppendFilter(bson_t* out, const query::Filter& f) {
  using Kind = query::Filter::Kind;
  if (f.kind == Kind::kCondition) {
    const query::Condition& c = f.condition;
    const std::string path = FieldPath(c.path);
    bson_t ops;
    bson_append_document_begin(out, path.c_str(), static_cast<int>(path.size()), &ops);
    if (c.negated) {
      bson_t inner;
      bson_append_document_begin(&ops, "$not", -1, &inner);
      AppendOperator(&inner, c);
      bson_append_document_end(&ops, &inner);
    } else {
      AppendOperator(&ops, c);
    }
    bson_append_document_end(out, &ops);
    return;
  }
  if (f.children.empty() && f.kind == Kind::kOr) {  // matches nothing (MongoDB refuses an empty $or)
    bson_t none, empty;
    bson_append_document_begin(out, "_id", -1, &none);
    bson_append_array_begin(&none, "$in", -1, &empty);
    bson_append_array_end(&none, &empty);
    bson_append_document_end(out, &none);
    return;
  }
  if (f.children.empty()) return;  // an empty $and matches everything
  const char* name = f.kind == Kind::kOr ? "$or" : f.kind == Kind::kNor ? "$nor" : "$and";
  bson_t list;
  bson_append_array_begin(out, name, -1, &list);
  for (std::size_t i = 0; i < f.children.size(); ++i) {
    const std::string idx = std::to_string(i);
    bson_t child;
    bson_append_document_begin(&list, idx.c_str(), -1, &child);
    AppendFilter(&child, f.children[i]);
    bson_append_document_end(&list, &child);
  }
  bson_append_array_end(out, &list);
}

// ---- errors ----
bool IsUnavailable(const bson_error_t& e) {
  return e.domain == MONGOC_ERROR_SERVER_SELECTION || e.domain == MONGOC_ERROR_STREAM ||
         e.domain == MONGOC_ERROR_CLIENT;
}

struct Unique {
  std::vector<std::string> props;
};

}  // namespace

struct MongoStore::Impl {
  mongoc_uri_t* uri = nullptr;
  mongoc_client_pool_t* pool = nullptr;
  std::string database;
  std::unique_ptr<asio::thread_pool> threads;
  std::mutex mu;
  std::map<std::string, std::vector<std::string>, std::less<>> unique;  // collection → unique properties
  std::int32_t pool_max = 0;
  std::int64_t read_budget_ms = 0;       // maxTimeMS of reads (0 = none)
  std::array<std::mutex, 64> doc_locks;  // Update's read-modify-write, striped by collection + id
  std::atomic<std::int64_t> in_use{0}, calls{0}, unavailable{0}, waits{0};

  ~Impl() {
    threads.reset();  // joins: no call is still using the pool
    if (pool) mongoc_client_pool_destroy(pool);
    if (uri) mongoc_uri_destroy(uri);
  }

  // A client from the pool for the duration of one call.
  struct Client {
    explicit Client(Impl* im) : impl(im), client(Pop(im)) {
      impl->in_use.fetch_add(1);
      impl->calls.fetch_add(1);
    }
    ~Client() {
      mongoc_client_pool_push(impl->pool, client);
      impl->in_use.fetch_sub(1);
    }
    // A free client, or (counted as a wait) the next one given back.
    static mongoc_client_t* Pop(Impl* im) {
      if (mongoc_client_t* c = mongoc_client_pool_try_pop(im->pool)) return c;
      im->waits.fetch_add(1);
      return mongoc_client_pool_pop(im->pool);
    }
    Impl* impl;
    mongoc_client_t* client;
  };
  mongoc_collection_t* Collection(Client& c, std::string_view name) {
    return mongoc_client_get_collection(c.client, database.c_str(), std::string(name).c_str());
  }

  Status ErrorStatus(const bson_error_t& e, std::string_view collection) {
    if (e.code == 11000 || e.code == 11001) {
      std::lock_guard lock(mu);
      auto it = unique.find(collection);
      std::string prop;
      if (it != unique.end()) {
        for (const auto& p : it->second) {
          if (std::string_view(e.message).find(p) != std::string_view::npos) prop = p;
        }
        if (prop.empty() && !it->second.empty()) prop = it->second.front();
      }
      return DuplicateValue(prop.empty() ? "id" : prop);
    }
    if (e.code == 50) {  // MaxTimeMSExpired: the read's time budget
      return Status::OverBudget("the query took longer than " + std::to_string(read_budget_ms) + " ms");
    }
    if (IsUnavailable(e)) {
      unavailable.fetch_add(1);
      return Status::Unavailable(std::string("MongoDB unavailable: ") + e.message);
    }
    return Status::Internal(std::string("MongoDB: ") + e.message);
  }

  template <typename F>
  auto OffLoop(F f) -> asio::awaitable<decltype(f())> {
    using R = decltype(f());
    co_return co_await asio::co_spawn(
        threads->get_executor(), [f = std::move(f)]() mutable -> asio::awaitable<R> { co_return f(); },
        asio::use_awaitable);
  }

  Result<std::int64_t> RemoveNow(const std::string& name, const std::vector<std::string>& ids,
                                 const query::Filter* guard);
  Status ReplaceNow(const std::string& name, const Document& doc) {
    Client c(this);
    mongoc_collection_t* coll = Collection(c, name);
    bson_t selector = BSON_INITIALIZER;
    bson_append_utf8(&selector, "_id", -1, doc.id.c_str(), static_cast<int>(doc.id.size()));
    bson_t b = BSON_INITIALIZER;
    AppendDocument(&b, doc);
    bson_t reply;
    bson_error_t error;
    const bool ok = mongoc_collection_replace_one(coll, &selector, &b, nullptr, &reply, &error);
    Status st = Status::Ok();
    if (!ok) {
      st = ErrorStatus(error, name);
    } else {
      bson_iter_t it;
      if (bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 0) {
        st = Status::NotFound("no document " + doc.id);
      }
    }
    bson_destroy(&reply);
    bson_destroy(&b);
    bson_destroy(&selector);
    mongoc_collection_destroy(coll);
    return st;
  }

  Result<std::vector<Document>> FindNow(std::string_view collection, const query::Query& q, std::size_t limit) {
    Client c(this);
    mongoc_collection_t* coll = Collection(c, collection);
    bson_t filter = BSON_INITIALIZER;
    AppendFilter(&filter, q.filter);
    bson_t opts = BSON_INITIALIZER;
    if (!q.sort.empty()) {
      bson_t sort;
      bson_append_document_begin(&opts, "sort", -1, &sort);
      for (const auto& key : q.sort) {
        const std::string path = FieldPath(key.path);
        bson_append_int32(&sort, path.c_str(), -1, key.descending ? -1 : 1);
      }
      bson_append_document_end(&opts, &sort);
    }
    if (q.skip > 0) bson_append_int64(&opts, "skip", -1, q.skip);
    const std::int64_t n = q.limit > 0 ? std::min<std::int64_t>(q.limit, static_cast<std::int64_t>(limit))
                                       : static_cast<std::int64_t>(limit);
    bson_append_int64(&opts, "limit", -1, n);
    if (read_budget_ms > 0) bson_append_int64(&opts, "maxTimeMS", -1, read_budget_ms);
    mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, nullptr);
    std::vector<Document> out;
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) out.push_back(ToDocument(doc));
    bson_error_t error;
    Status st = Status::Ok();
    if (mongoc_cursor_error(cursor, &error)) st = ErrorStatus(error, collection);
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    if (!st.ok()) return st;
    return out;
  }
};

MongoStore::MongoStore() : impl_(std::make_unique<Impl>()) {}
MongoStore::~MongoStore() = default;

Result<std::unique_ptr<MongoStore>> MongoStore::Open(const MongoOptions& options) {
  static std::once_flag init;
  std::call_once(init, [] { mongoc_init(); });
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(options.uri.c_str(), &error);
  if (uri == nullptr) return Status::BadRequest(std::string("invalid MongoDB URI: ") + error.message);
  std::unique_ptr<MongoStore> store(new MongoStore());
  Impl& im = *store->impl_;
  im.uri = uri;
  im.read_budget_ms = options.read_budget_ms;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1) == -1) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
  }
  if (mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, -1) == -1) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 10000);
  }
  if (mongoc_uri_get_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, -1) == -1) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 5000);
  }
  std::int32_t max_pool = mongoc_uri_get_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, -1);
  if (max_pool <= 0) {
    max_pool = static_cast<std::int32_t>(10 * cores);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, max_pool);
  }
  const mongoc_write_concern_t* given = mongoc_uri_get_write_concern(uri);
  if (mongoc_write_concern_get_w(given) == MONGOC_WRITE_CONCERN_W_DEFAULT) {
    mongoc_write_concern_t* wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, 0);
    mongoc_write_concern_set_journal(wc, true);
    mongoc_uri_set_write_concern(uri, wc);
    mongoc_write_concern_destroy(wc);
  }
  const char* db = mongoc_uri_get_database(uri);
  im.database = db && *db ? db : std::string(kDefaultDatabase);
  im.pool = mongoc_client_pool_new(uri);
  if (im.pool == nullptr) return Status::BadRequest("MongoDB URI not usable: " + options.uri);
  mongoc_client_pool_set_error_api(im.pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(im.pool, "dpd");
  im.pool_max = max_pool;
  const unsigned threads = options.threads ? options.threads : std::min<unsigned>(64, static_cast<unsigned>(max_pool));
  im.threads = std::make_unique<asio::thread_pool>(threads);
  spdlog::info("MongoDB store database={} maxPoolSize={} store_threads={}", im.database, max_pool, threads);
  return store;
}

Status MongoStore::Ping() {
  Impl::Client c(impl_.get());
  bson_t cmd = BSON_INITIALIZER;
  bson_append_int32(&cmd, "ping", -1, 1);
  bson_error_t error;
  const bool ok = mongoc_client_command_simple(c.client, "admin", &cmd, nullptr, nullptr, &error);
  bson_destroy(&cmd);
  return ok ? Status::Ok() : impl_->ErrorStatus(error, "");
}

Status MongoStore::Prepare(const CollectionSpec& spec) {
  Impl& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    auto& u = im.unique[spec.name];
    u.clear();
    for (const auto& i : spec.indexes) {
      if (i.unique) u.push_back(i.path);
    }
  }
  if (spec.indexes.empty()) return Status::Ok();
  Impl::Client c(&im);
  mongoc_database_t* db = mongoc_client_get_database(c.client, im.database.c_str());
  bson_t cmd = BSON_INITIALIZER;
  bson_append_utf8(&cmd, "createIndexes", -1, spec.name.c_str(), -1);
  bson_t list;
  bson_append_array_begin(&cmd, "indexes", -1, &list);
  for (std::size_t i = 0; i < spec.indexes.size(); ++i) {
    const auto& index = spec.indexes[i];
    const std::string idx = std::to_string(i);
    const std::string name = index.path + "_1";
    bson_t entry, key;
    bson_append_document_begin(&list, idx.c_str(), -1, &entry);
    bson_append_document_begin(&entry, "key", -1, &key);
    bson_append_int32(&key, index.path.c_str(), -1, 1);
    bson_append_document_end(&entry, &key);
    bson_append_utf8(&entry, "name", -1, name.c_str(), -1);
    if (index.unique) bson_append_bool(&entry, "unique", -1, true);
    bson_append_document_end(&list, &entry);
  }
  bson_append_array_end(&cmd, &list);
  bson_error_t error;
  const bool ok = mongoc_database_write_command_with_opts(db, &cmd, nullptr, nullptr, &error);
  bson_destroy(&cmd);
  mongoc_database_destroy(db);
  if (ok) return Status::Ok();
  Status st = im.ErrorStatus(error, spec.name);
  if (st.code() == Code::kUnavailable) {
    // dpd starts while MongoDB is down; the indexes are created at the next start.
    spdlog::warn("MongoDB unavailable at start-up: indexes of {} not created ({})", spec.name, error.message);
    return Status::Ok();
  }
  return st;
}

boost::asio::awaitable<Result<std::vector<Document>>> MongoStore::Find(std::string_view collection,
                                                                       const query::Query& q,
                                                                       std::size_t default_limit) {
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &q, default_limit] { return im->FindNow(name, q, default_limit); });
}

boost::asio::awaitable<Result<std::vector<std::string>>> MongoStore::FindJson(std::string_view collection,
                                                                              const query::Query& q,
                                                                              std::size_t default_limit) {
  auto docs = co_await Find(collection, q, default_limit);
  if (!docs.ok()) co_return docs.status();
  std::vector<std::string> out;
  out.reserve(docs->size());
  for (auto& d : *docs) {
    json::object o = std::move(d.fields);
    o["id"] = d.id;
    out.push_back(json::Write(o));
  }
  co_return out;
}

boost::asio::awaitable<Result<std::int64_t>> MongoStore::Count(std::string_view collection,
                                                               const query::Filter& filter) {
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &filter]() -> Result<std::int64_t> {
    Impl::Client c(im);
    mongoc_collection_t* coll = im->Collection(c, name);
    bson_t f = BSON_INITIALIZER;
    AppendFilter(&f, filter);
    bson_error_t error;
    bson_t opts = BSON_INITIALIZER;
    if (im->read_budget_ms > 0) bson_append_int64(&opts, "maxTimeMS", -1, im->read_budget_ms);
    const std::int64_t n = mongoc_collection_count_documents(coll, &f, &opts, nullptr, nullptr, &error);
    bson_destroy(&opts);
    bson_destroy(&f);
    mongoc_collection_destroy(coll);
    if (n < 0) return im->ErrorStatus(error, name);
    return n;
  });
}

namespace {

// The pipeline MongoDB runs for `p` (query/aggregate.h): $match, $group, then the sort (with `_id` last, so ties
// come out as on SQLite), $skip and $limit (at most max_groups + 1, to tell when there are too many).
void AppendPipeline(bson_t* out, const query::Pipeline& p) {
  int stage = 0;
  auto begin = [&](bson_t* doc) { bson_append_document_begin(out, std::to_string(stage++).c_str(), -1, doc); };
  bson_t doc, body;
  begin(&doc);
  bson_append_document_begin(&doc, "$match", -1, &body);
  AppendFilter(&body, p.match);
  bson_append_document_end(&doc, &body);
  bson_append_document_end(out, &doc);

  begin(&doc);
  bson_append_document_begin(&doc, "$group", -1, &body);
  auto ref = [](const std::string& path) { return "$" + FieldPath(path); };
  if (p.keys.empty()) {
    bson_append_null(&body, "_id", -1);
  } else if (!p.object_key) {
    bson_append_utf8(&body, "_id", -1, ref(p.keys[0].path).c_str(), -1);
  } else {
    bson_t id;
    bson_append_document_begin(&body, "_id", -1, &id);
    for (const auto& k : p.keys) bson_append_utf8(&id, k.name.c_str(), -1, ref(k.path).c_str(), -1);
    bson_append_document_end(&body, &id);
  }
  using Kind = query::Accumulator::Kind;
  for (const auto& acc : p.outputs) {
    bson_t op;
    bson_append_document_begin(&body, acc.name.c_str(), -1, &op);
    switch (acc.kind) {
      case Kind::kCount: bson_append_int32(&op, "$sum", -1, 1); break;  // {$count: {}} needs MongoDB 5
      case Kind::kSum:
        if (acc.path.empty()) {
          AppendValue(&op, "$sum", json::value(acc.constant));
        } else {
          bson_append_utf8(&op, "$sum", -1, ref(acc.path).c_str(), -1);
        }
        break;
      case Kind::kAvg: bson_append_utf8(&op, "$avg", -1, ref(acc.path).c_str(), -1); break;
      case Kind::kMin:
      case Kind::kMax: {
        // Numbers and strings only, as on SQLite: anything else counts as missing.
        bson_t cond, args, in, type, kinds;
        bson_append_document_begin(&op, acc.kind == Kind::kMin ? "$min" : "$max", -1, &cond);
        bson_append_array_begin(&cond, "$cond", -1, &args);
        bson_append_document_begin(&args, "0", -1, &in);
        bson_t in_args;
        bson_append_array_begin(&in, "$in", -1, &in_args);
        bson_append_document_begin(&in_args, "0", -1, &type);
        bson_append_utf8(&type, "$type", -1, ref(acc.path).c_str(), -1);
        bson_append_document_end(&in_args, &type);
        bson_append_array_begin(&in_args, "1", -1, &kinds);
        const char* names[] = {"int", "long", "double", "decimal", "string"};
        for (int i = 0; i < 5; ++i) bson_append_utf8(&kinds, std::to_string(i).c_str(), -1, names[i], -1);
        bson_append_array_end(&in_args, &kinds);
        bson_append_array_end(&in, &in_args);
        bson_append_document_end(&args, &in);
        bson_append_utf8(&args, "1", -1, ref(acc.path).c_str(), -1);
        bson_append_null(&args, "2", -1);
        bson_append_array_end(&cond, &args);
        bson_append_document_end(&op, &cond);
        break;
      }
    }
    bson_append_document_end(&body, &op);
  }
  bson_append_document_end(&doc, &body);
  bson_append_document_end(out, &doc);

  begin(&doc);
  bson_append_document_begin(&doc, "$sort", -1, &body);
  // An object _id is sorted field by field in the pipeline's order, as SQLite does (and as MongoDB compares it),
  // whatever order the server keeps its fields in. Each path once.
  std::set<std::string> sorted;
  auto add = [&](const std::string& path, bool descending) {
    if (sorted.insert(path).second) bson_append_int32(&body, path.c_str(), -1, descending ? -1 : 1);
  };
  auto add_id = [&](bool descending) {
    if (!p.object_key) return add("_id", descending);
    for (const auto& k : p.keys) add("_id." + k.name, descending);
  };
  for (const auto& s : p.sort) {
    if (s.path == "_id") {
      add_id(s.descending);
    } else {
      add(s.path, s.descending);
    }
  }
  add_id(false);
  bson_append_document_end(&doc, &body);
  bson_append_document_end(out, &doc);

  if (p.skip > 0) {
    begin(&doc);
    bson_append_int64(&doc, "$skip", -1, p.skip);
    bson_append_document_end(out, &doc);
  }
  const std::int64_t cap = static_cast<std::int64_t>(p.max_groups) + 1;
  begin(&doc);
  bson_append_int64(&doc, "$limit", -1, p.limit >= 0 ? std::min(p.limit, cap) : cap);
  bson_append_document_end(out, &doc);
}

// Numbers as SQLite answers them: an integral double (a $sum, a $min of doubles) as an integer.
void Normalize(json::value& v) {
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) v = static_cast<std::int64_t>(d);
  } else if (v.is_object()) {
    for (auto& kv : v.get_object()) Normalize(kv.value());
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) Normalize(e);
  }
}

}  // namespace

boost::asio::awaitable<Result<json::array>> MongoStore::Aggregate(std::string_view collection,
                                                                  const query::Pipeline& pipeline) {
  if (pipeline.limit == 0) co_return json::array();
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &pipeline]() -> Result<json::array> {
    Impl::Client c(im);
    mongoc_collection_t* coll = im->Collection(c, name);
    bson_t stages = BSON_INITIALIZER;
    AppendPipeline(&stages, pipeline);
    bson_t opts = BSON_INITIALIZER;
    if (im->read_budget_ms > 0) bson_append_int64(&opts, "maxTimeMS", -1, im->read_budget_ms);
    mongoc_cursor_t* cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, &stages, &opts, nullptr);
    json::array out;
    Status st = Status::Ok();
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) {
      if (out.size() >= pipeline.max_groups) {
        st = query::TooManyGroups(pipeline.max_groups);
        break;
      }
      json::object raw = FromDocument(doc);
      json::object group;
      json::value* id = raw.if_contains("_id");
      if (pipeline.object_key && id != nullptr && id->is_object()) {
        // The key's fields in the pipeline's order (not every server keeps it), missing ones left out.
        json::object ordered;
        for (const auto& k : pipeline.keys) {
          if (json::value* part = id->as_object().if_contains(k.name)) ordered[k.name] = *part;
        }
        group["_id"] = std::move(ordered);
      } else {
        group["_id"] = id ? *id : json::value(nullptr);
      }
      for (const auto& acc : pipeline.outputs) {
        json::value* v = raw.if_contains(acc.name);
        group[acc.name] = v ? *v : json::value(nullptr);
      }
      json::value g(std::move(group));
      Normalize(g);
      out.push_back(std::move(g));
    }
    bson_error_t error;
    if (st.ok() && mongoc_cursor_error(cursor, &error)) st = im->ErrorStatus(error, name);
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&stages);
    mongoc_collection_destroy(coll);
    if (!st.ok()) return st;
    return out;
  });
}

boost::asio::awaitable<Status> MongoStore::Insert(std::string_view collection, const Document& doc) {
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &doc]() -> Status {
    Impl::Client c(im);
    mongoc_collection_t* coll = im->Collection(c, name);
    bson_t b = BSON_INITIALIZER;
    AppendDocument(&b, doc);
    bson_error_t error;
    const bool ok = mongoc_collection_insert_one(coll, &b, nullptr, nullptr, &error);
    bson_destroy(&b);
    mongoc_collection_destroy(coll);
    return ok ? Status::Ok() : im->ErrorStatus(error, name);
  });
}

boost::asio::awaitable<Status> MongoStore::InsertMany(std::string_view collection, const std::vector<Document>& docs,
                                                      std::size_t* failed) {
  if (docs.empty()) co_return Status::Ok();
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &docs, failed]() -> Status {
    // One ordered insert_many; when a document fails, those before it are removed again. (Without a replica set
    // MongoDB has no multi-document transaction: a reader may glimpse them for that moment.)
    Impl::Client c(im);
    mongoc_collection_t* coll = im->Collection(c, name);
    // (A raw array: bson_t is over-aligned, which std::vector's template argument would drop.)
    auto** bsons = static_cast<bson_t**>(bson_malloc(docs.size() * sizeof(bson_t*)));
    for (std::size_t i = 0; i < docs.size(); ++i) {
      bsons[i] = bson_new();
      AppendDocument(bsons[i], docs[i]);
    }
    bson_t reply;
    bson_error_t error;
    const bool ok = mongoc_collection_insert_many(coll, const_cast<const bson_t**>(bsons), docs.size(), nullptr,
                                                  &reply, &error);
    std::size_t inserted = docs.size();
    if (!ok) {  // ordered: the failed one is the first not inserted
      bson_iter_t it;
      inserted = bson_iter_init_find(&it, &reply, "insertedCount") ? static_cast<std::size_t>(bson_iter_as_int64(&it))
                                                                   : 0;
    }
    bson_destroy(&reply);
    for (std::size_t i = 0; i < docs.size(); ++i) bson_destroy(bsons[i]);
    bson_free(bsons);
    mongoc_collection_destroy(coll);
    if (ok) return Status::Ok();
    Status status = im->ErrorStatus(error, name);
    if (failed != nullptr) *failed = std::min(inserted, docs.size() - 1);
    // Every id of the batch is new (made for it), so removing them all undoes exactly what was written.
    std::vector<std::string> undo;
    for (const auto& d : docs) undo.push_back(d.id);
    (void)im->RemoveNow(name, undo, nullptr);
    return status;
  });
}

boost::asio::awaitable<Status> MongoStore::Replace(std::string_view collection, const Document& doc) {
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &doc]() -> Status { return im->ReplaceNow(name, doc); });
}

boost::asio::awaitable<Result<std::optional<Document>>> MongoStore::Update(std::string_view collection,
                                                                           const std::string& id, const Patch& patch) {
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name, &id, &patch]() -> Result<std::optional<Document>> {
    // Read, apply and replace under this process's lock for the document: concurrent patches of one document in
    // one dpd all count. (Several dpd processes on one database would need a version check: not done yet.)
    std::lock_guard lock(im->doc_locks[std::hash<std::string>{}(name + '\n' + id) % im->doc_locks.size()]);
    query::Query q;
    q.filter.kind = query::Filter::Kind::kCondition;
    q.filter.condition.path = "id";
    q.filter.condition.op = query::Op::kEq;
    q.filter.condition.operand = json::string(id);
    q.filter.condition.array_aware = false;
    q.id = id;
    q.limit = 1;
    auto found = im->FindNow(name, q, 1);
    if (!found.ok()) return found.status();
    if (found->empty()) return Status::NotFound("no document " + id);
    Document d = std::move((*found)[0]);
    auto admitted = [&] {
      json::object with_id = d.fields;
      with_id["id"] = d.id;
      return query::Matches(*patch.guard, with_id);
    };
    if (patch.guard != nullptr && !admitted()) return Status(Code::kForbidden, "refused by the collection's rule");
    ApplyPatch(patch, d.fields);
    if (patch.guard != nullptr && !admitted()) return Status(Code::kForbidden, "refused by the collection's rule");
    if (Status st = im->ReplaceNow(name, d); !st.ok()) return st;
    return std::optional<Document>(std::move(d));
  });
}

boost::asio::awaitable<Result<std::int64_t>> MongoStore::Remove(std::string_view collection,
                                                                const std::vector<std::string>& ids) {
  if (ids.empty()) co_return std::int64_t{0};
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop(
      [im, &name, &ids]() -> Result<std::int64_t> { return im->RemoveNow(name, ids, nullptr); });
}

boost::asio::awaitable<Result<std::int64_t>> MongoStore::RemoveWhere(std::string_view collection,
                                                                     const std::vector<std::string>& ids,
                                                                     const query::Filter& guard) {
  if (ids.empty()) co_return std::int64_t{0};
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop(
      [im, &name, &ids, &guard]() -> Result<std::int64_t> { return im->RemoveNow(name, ids, &guard); });
}

// Deletes `ids` (of them only those matching `guard`, when given: one delete_many, atomic per document on the
// server).
Result<std::int64_t> MongoStore::Impl::RemoveNow(const std::string& name, const std::vector<std::string>& ids,
                                                 const query::Filter* guard) {
  Client c(this);
  mongoc_collection_t* coll = Collection(c, name);
  bson_t selector = BSON_INITIALIZER, ops, list;
  bson_t* target = &selector;
  bson_t all, first;
  if (guard != nullptr) {
    bson_append_array_begin(&selector, "$and", -1, &all);
    bson_append_document_begin(&all, "0", -1, &first);
    target = &first;
  }
  bson_append_document_begin(target, "_id", -1, &ops);
  bson_append_array_begin(&ops, "$in", -1, &list);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string idx = std::to_string(i);
    bson_append_utf8(&list, idx.c_str(), -1, ids[i].c_str(), static_cast<int>(ids[i].size()));
  }
  bson_append_array_end(&ops, &list);
  bson_append_document_end(target, &ops);
  if (guard != nullptr) {
    bson_append_document_end(&all, &first);
    bson_t second;
    bson_append_document_begin(&all, "1", -1, &second);
    AppendFilter(&second, *guard);
    bson_append_document_end(&all, &second);
    bson_append_array_end(&selector, &all);
  }
  bson_t reply;
  bson_error_t error;
  const bool ok = mongoc_collection_delete_many(coll, &selector, nullptr, &reply, &error);
  Result<std::int64_t> result = std::int64_t{0};
  if (!ok) {
    result = ErrorStatus(error, name);
  } else {
    bson_iter_t it;
    if (bson_iter_init_find(&it, &reply, "deletedCount")) result = bson_iter_as_int64(&it);
  }
  bson_destroy(&reply);
  bson_destroy(&selector);
  mongoc_collection_destroy(coll);
  return result;
}

boost::asio::awaitable<Status> MongoStore::Rename(std::string_view from, std::string_view to) {
  Impl* im = impl_.get();
  std::string source(from), target(to);
  co_return co_await im->OffLoop([im, &source, &target]() -> Status {
    Impl::Client c(im);
    mongoc_collection_t* coll = im->Collection(c, source);
    bson_error_t error;
    const bool ok = mongoc_collection_rename(coll, im->database.c_str(), target.c_str(), false, &error);
    mongoc_collection_destroy(coll);
    // "source namespace does not exist" (26): nothing was ever stored.
    if (!ok && error.code != 26 && std::string_view(error.message).find("does not exist") == std::string_view::npos) {
      return im->ErrorStatus(error, source);
    }
    return Status::Ok();
  });
}

boost::asio::awaitable<Status> MongoStore::Drop(std::string_view collection) {
  Impl* im = impl_.get();
  std::string name(collection);
  co_return co_await im->OffLoop([im, &name]() -> Status {
    Impl::Client c(im);
    mongoc_collection_t* coll = im->Collection(c, name);
    bson_error_t error;
    const bool ok = mongoc_collection_drop(coll, &error);
    mongoc_collection_destroy(coll);
    if (!ok && std::string_view(error.message).find("ns not found") == std::string_view::npos) {
      return im->ErrorStatus(error, name);
    }
    return Status::Ok();
  });
}

boost::asio::awaitable<Status> MongoStore::Ready() {
  co_return co_await impl_->OffLoop([this] { return Ping(); });
}

StoreStats MongoStore::Stats() const {
  StoreStats s;
  s.pool = StoreStats::Pool{impl_->pool_max, impl_->in_use.load(), impl_->waits.load()};
  s.calls = impl_->calls.load();
  s.unavailable = impl_->unavailable.load();
  return s;
}

}  // namespace dpd::store::mongo
