#include "resources/collection.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "base/log.h"
#include "base/random.h"
#include "query/aggregate.h"
#include "query/matcher.h"
#include "query/parse.h"
#include "query/js.h"
#include "query/update.h"

namespace dpd::resources {
namespace {
namespace js = query::js;

constexpr std::string_view kMustProvideId = "must provide id to update an object";
constexpr std::string_view kMustIncludeObject = "You must include an object when saving or updating.";
constexpr std::string_view kNoObject = "No object exists that matches that query";
constexpr std::string_view kDeleteNeedsId =
    "You must include a query with an id when deleting an object from a collection.";
constexpr std::string_view kNotFound = "not found";

// Store failures: a missing document is Deployd's 400; the rest as every store failure is answered.
Reply StoreError(const Status& s) {
  if (s.code() == Code::kNotFound) return Reply::Error(400, kNoObject);
  return Reply::FromStore(s);
}

bool IsObjectBody(const Context& ctx) { return ctx.body && (ctx.body->is_object() || ctx.body->is_array()); }

json::object BodyObject(const Context& ctx) {
  // A JSON array body counts as an object with index keys, all of which sanitisation drops (spec §3.3).
  return ctx.body && ctx.body->is_object() ? ctx.body->as_object() : json::object();
}

void Hide(json::object& doc, const std::vector<std::string>& hidden) {
  for (const auto& h : hidden) doc.stable_erase(h);
}

// `f` narrowed to what `rule` also matches.
void Restrict(query::Filter& f, const query::Filter& rule) {
  query::Filter both;
  both.kind = query::Filter::Kind::kAnd;
  both.children.push_back(std::move(f));
  both.children.push_back(rule);
  f = std::move(both);
}

// Whether a document (fields without id) passes a grant's filter.
bool Admits(const Grant& g, const json::object& fields, const std::string& id) {
  if (g.kind != Grant::Kind::kMatching) return g.kind == Grant::Kind::kAll;
  json::object doc = fields;
  doc["id"] = id;
  return query::Matches(g.filter, doc);
}

// Root requests with $skipEvents (query or body) run no event (spec §6.1); for anyone else it is ignored.
bool SkipEvents(const Context& ctx) {
  if (!ctx.is_root) return false;
  if (js::Truthy(ctx.query.if_contains("$skipEvents"))) return true;
  return ctx.body && ctx.body->is_object() && js::Truthy(ctx.body->as_object().if_contains("$skipEvents"));
}

}  // namespace

json::object Collection::ToClient(store::Document d) {
  json::object out = std::move(d.fields);
  out.stable_erase("id");
  out["id"] = std::move(d.id);
  return out;
}

Collection::Collection(std::string name, std::string type, query::Schema schema, store::Store* store,
                       const Limits& limits, std::shared_ptr<EventRunner> events)
    : Resource(std::move(name), std::move(type)),
      schema_(std::move(schema)),
      store_(store),
      limits_(limits),
      events_(std::move(events)) {}

Result<Grant> Collection::Allowed(RuleOp op, const Context& ctx) const {
  if (rules_.empty()) return Grant{};
  const double now_ms = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  return rules_.For(op, ctx, schema_, limits_.query, now_ms);
}

boost::asio::awaitable<EventOutcome> Collection::Fire(Event event, std::string_view method, json::object* data,
                                                      const json::object* previous, Context& ctx) {
  if (!events_->Has(event) || SkipEvents(ctx)) co_return EventOutcome{};
  EventCall call;
  call.event = event;
  call.method = std::string(method);
  call.data = data;
  call.previous = previous;
  call.query = &ctx.query;
  call.ctx = &ctx;
  co_return co_await events_->Run(call);
}

store::CollectionSpec Collection::StorageSpec() const {
  store::CollectionSpec spec{name(), {}};
  for (const auto& p : schema_.properties) {
    if (p.index || p.unique) spec.indexes.push_back({p.name, p.unique});
  }
  return spec;
}

// spec §10: `$limitRecursion` of a client's request may not ask for more than script.recursion_max (a 400 naming the
// limit, never a silent cut).
static std::optional<Reply> RecursionAboveLimit(const Context& ctx, std::size_t max) {
  if (ctx.internal) return std::nullopt;
  const std::optional<double> n = RequestedRecursion(ctx);
  if (!n || !(*n > static_cast<double>(max))) return std::nullopt;
  return Reply::Error(400, "$limitRecursion may be at most " + std::to_string(max) + " (script.recursion_max)");
}

boost::asio::awaitable<Reply> Collection::Handle(Context& ctx) {
  if (std::optional<Reply> r = RecursionAboveLimit(ctx, limits_.script.recursion_max)) co_return std::move(*r);
  // spec §5.1: id from the query, else the first path segment, else the body.
  std::string_view rest = std::string_view(ctx.url).substr(1);
  std::string segment(rest.substr(0, rest.find('/')));
  if (segment == "rename" && HasRename()) co_return co_await Rename(ctx);
  json::value id_value;
  const json::value* id = nullptr;
  if (const json::value* q = ctx.query.if_contains("id")) {
    id = q;
  } else if (!segment.empty()) {
    id_value = json::string(segment);
    id = &id_value;
  } else if (ctx.body && ctx.body->is_object()) {
    id = ctx.body->as_object().if_contains("id");
  }
  if (id != nullptr) {
    id_value = *id;
    id = &id_value;
    ctx.query["id"] = id_value;
  }
  if (ctx.method == "GET") {
    if (segment == "count") co_return co_await Count(ctx);
    if (segment == "aggregate") co_return co_await Aggregate(ctx);
    if (segment == "index-of") {
      std::string_view after = rest.substr(std::min(rest.size(), segment.size() + 1));
      ctx.query.stable_erase("id");
      co_return co_await IndexOf(ctx, std::string(after.substr(0, after.find('/'))));
    }
    co_return co_await Get(ctx, id);
  }
  // PUT without an id but with a query: every matching document the caller may update (docs/bulk.md).
  if (ctx.method == "PUT" && id == nullptr && HasFilter(ctx)) co_return co_await UpdateMany(ctx);
  // (No co_await inside ?: — GCC 12 miscompiles it.)
  if (ctx.method == "PUT" && (id == nullptr || !id->is_string()) && !ctx.is_root) {
    co_return Reply::Error(400, kMustProvideId);
  }
  if (ctx.method == "POST" || ctx.method == "PUT") {
    if (id != nullptr) co_return co_await Update(ctx, id);
    co_return co_await Create(ctx);
  }
  if (ctx.method == "DELETE") co_return co_await Delete(ctx, id);
  // Deployd never answers other methods (the client hangs); dpd says so.
  Reply r = Reply::Error(405, "Method " + ctx.method + " is not supported by collections");
  r.headers.emplace_back("Allow", "GET, POST, PUT, DELETE");
  co_return r;
}

boost::asio::awaitable<Reply> Collection::Get(Context& ctx, const json::value* id) {
  // Rules first, then the events: a caller the rule refuses runs no script.
  const bool asks_one = id != nullptr && id->is_string();
  auto grant = Allowed(asks_one ? RuleOp::kGet : RuleOp::kList, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  if (grant->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  EventOutcome before = co_await Fire(Event::kBeforeRequest, "GET", nullptr, nullptr, ctx);
  if (before.cancelled()) co_return before.ErrorReply();
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  if (!q.ok()) co_return Reply::FromStatus(q.status());
  if (!ctx.internal) q->client_fd = ctx.client_fd;
  const bool by_id = id != nullptr && id->is_string() && q->id.has_value();
  // The rule is part of the query: the store returns only what the caller may see (by id: 404 otherwise).
  if (grant->kind == Grant::Kind::kMatching) Restrict(q->filter, grant->filter);
  if (q->fields.empty() && RawReadable()) {
    // The documents go out as the stored JSON text; a Get event runs over all of them in one call into V8.
    StageTimer findjson_time(ctx.trace.get(), &Trace::store);
    auto texts = co_await store_->FindJson(name(), *q, limits_.query.max_limit);
    findjson_time.Stop();
    if (!texts.ok()) co_return StoreError(texts.status());
    if (by_id && texts->empty()) co_return Reply::Error(404, kNotFound, true);
    Reply r;
    r.kind = Reply::Kind::kRawJson;
    std::size_t total = 2;
    for (const auto& t : *texts) total += t.size() + 1;
    r.text.reserve(total);
    r.text += '[';
    for (std::size_t i = 0; i < texts->size(); ++i) {
      if (i) r.text += ',';
      r.text += (*texts)[i];
    }
    r.text += ']';
    if (events_->Has(Event::kGet) && !SkipEvents(ctx)) {
      EventOutcome failure;
      auto list = co_await events_->RunGetList(ctx, r.text, by_id, failure);
      if (!list.ok()) co_return failure.ErrorReply();
      r.text = std::move(*list);
    }
    if (by_id) {
      if (r.text.size() <= 2) co_return Reply::Error(404, kNotFound, true);
      r.text = r.text.substr(1, r.text.size() - 2);  // the one document of "[...]"
    }
    co_return r;
  }
  StageTimer find_time(ctx.trace.get(), &Trace::store);
  auto found = co_await store_->Find(name(), *q, limits_.query.max_limit);
  find_time.Stop();
  if (!found.ok()) co_return StoreError(found.status());
  json::array list;
  for (auto& d : *found) {
    json::object doc = ToClient(std::move(d));
    Scrub(doc);
    if (events_->Has(Event::kGet) && !SkipEvents(ctx)) {
      EventOutcome out = co_await Fire(Event::kGet, "GET", &doc, nullptr, ctx);
      if (out.cancelled()) {
        if (by_id || out.fatal) co_return out.ErrorReply();
        continue;  // a cancelled document leaves a list silently
      }
      Hide(doc, out.hidden);
    }
    query::Project(*q, doc);
    list.push_back(std::move(doc));
  }
  if (by_id) {
    if (list.empty()) co_return Reply::Error(404, kNotFound, true);
    co_return Reply::Json(std::move(list[0]));
  }
  co_return Reply::Json(std::move(list));
}

std::optional<Reply> Collection::TooLarge(const json::object& doc) const {
  // Measured after update commands and scripts ($push grows a document past any body limit): nothing is written.
  const std::size_t size = json::ApproximateSize(doc);
  if (size <= limits_.store.document_bytes) return std::nullopt;
  return Reply::Error(
      413,
      "Document too large: " + std::to_string(size) + " bytes, at most " + std::to_string(limits_.store.document_bytes),
      true);
}

store::Patch Collection::MakePatch(const json::object& changes, const std::vector<query::UpdateCommand>& commands,
                                   const json::object& before_events, const json::object& after_events,
                                   const std::vector<std::string>& protected_fields) {
  store::Patch patch;
  std::set<std::string> touched;  // set or unset: a command on the same property is superseded
  auto is_protected = [&](std::string_view k) {
    return std::find(protected_fields.begin(), protected_fields.end(), k) != protected_fields.end();
  };
  for (const auto& kv : changes) {
    if (is_protected(kv.key())) continue;
    if (const json::value* v = after_events.if_contains(kv.key())) {
      patch.set[kv.key()] = *v;
    } else {
      patch.unset.emplace_back(kv.key());
    }
    touched.emplace(kv.key());
  }
  // What the Validate / Put events changed relative to the document they were given.
  for (const auto& kv : after_events) {
    if (is_protected(kv.key()) || touched.count(std::string(kv.key()))) continue;
    const json::value* was = before_events.if_contains(kv.key());
    if (was == nullptr || *was != kv.value()) {
      patch.set[kv.key()] = kv.value();
      touched.emplace(kv.key());
    }
  }
  for (const auto& kv : before_events) {
    if (is_protected(kv.key()) || touched.count(std::string(kv.key()))) continue;
    if (!after_events.contains(kv.key())) {
      patch.unset.emplace_back(kv.key());
      touched.emplace(kv.key());
    }
  }
  for (const auto& c : commands) {
    if (!is_protected(c.property) && !touched.count(c.property)) patch.commands.push_back(c);
  }
  return patch;
}

boost::asio::awaitable<std::optional<Reply>> Collection::PrepareNew(Context& ctx, const Grant& grant,
                                                                    store::Document& out) {
  json::object body = BodyObject(ctx);
  if (std::optional<Reply> stop = co_await PrepareBody(ctx, body, true)) co_return std::move(*stop);
  auto commands = query::ExtractCommands(body);
  json::object doc = query::Sanitize(schema_, body);
  EventOutcome before = co_await Fire(Event::kBeforeRequest, "POST", &doc, nullptr, ctx);
  if (before.cancelled()) co_return before.ErrorReply();
  if (events_->Has(Event::kValidate)) {
    EventOutcome v = co_await Fire(Event::kValidate, "POST", &doc, nullptr, ctx);
    if (v.cancelled()) co_return v.ErrorReply();
    if (!v.errors.empty()) co_return Reply::Errors(std::move(v.errors));
  }
  query::ApplyCommands(commands, doc);
  if (json::object errors = query::Validate(schema_, doc, true); !errors.empty()) {
    co_return Reply::Errors(std::move(errors));
  }
  std::string id = NewDocumentId();
  if (events_->Has(Event::kPost)) {
    doc["id"] = id;
    EventOutcome p = co_await Fire(Event::kPost, "POST", &doc, nullptr, ctx);
    if (p.cancelled()) co_return p.ErrorReply();
    if (!p.errors.empty()) co_return Reply::Errors(std::move(p.errors));
    doc.stable_erase("id");
    for (const auto& f : p.protected_fields) doc.stable_erase(f);
  }
  // The new document as it will be stored must be one the caller may create (nobody else can see it yet).
  if (!Admits(grant, doc, id)) co_return RuleRefusal(ctx);
  if (std::optional<Reply> big = TooLarge(doc)) co_return std::move(*big);
  out.id = std::move(id);
  out.fields = std::move(doc);
  co_return std::nullopt;
}

boost::asio::awaitable<Reply> Collection::Create(Context& ctx) {
  if (ctx.body && ctx.body->is_array()) co_return co_await CreateMany(ctx);
  if (!IsObjectBody(ctx)) co_return Reply::Error(400, kMustIncludeObject);
  auto grant = Allowed(RuleOp::kCreate, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  if (grant->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  store::Document stored_doc;
  if (std::optional<Reply> stop = co_await PrepareNew(ctx, *grant, stored_doc)) co_return std::move(*stop);
  StageTimer insert_time(ctx.trace.get(), &Trace::store);
  Status s = co_await store_->Insert(name(), stored_doc);
  insert_time.Stop();
  if (!s.ok()) co_return StoreError(s);
  json::object out = ToClient(std::move(stored_doc));
  Scrub(out);
  if (events_->Has(Event::kAfterCommit)) {
    co_await Fire(Event::kAfterCommit, "POST", &out, nullptr, ctx);
  }
  co_return Reply::Json(std::move(out));
}

// POST of an array (docs/bulk.md): every document through the whole create pipeline (its events see it as their
// body), then all inserted in one transaction — or none, the errors answered by index.
boost::asio::awaitable<Reply> Collection::CreateMany(Context& ctx) {
  if (std::optional<Reply> no = RefuseBulkCreate(ctx)) co_return std::move(*no);
  const json::value whole = std::move(*ctx.body);
  const json::array& items = whole.as_array();
  if (items.empty()) {  // (as MongoDB's insertMany: a batch of nothing is a mistake, not a no-op)
    ctx.body = whole;
    co_return Reply::Error(400, "A bulk write needs at least one document");
  }
  if (items.size() > limits_.store.bulk_documents) {
    ctx.body = whole;
    co_return Reply::Error(400, "A bulk write may hold at most " + std::to_string(limits_.store.bulk_documents) +
                                    " documents (store.bulk_documents)");
  }
  auto grant = Allowed(RuleOp::kCreate, ctx);
  if (!grant.ok() || grant->kind == Grant::Kind::kNone) {
    ctx.body = whole;
    co_return grant.ok() ? RuleRefusal(ctx) : Reply::FromStatus(grant.status());
  }
  std::vector<store::Document> docs(items.size());
  json::object errors;  // index → that document's property errors
  std::optional<Reply> failure;
  for (std::size_t i = 0; i < items.size() && !failure; ++i) {
    const std::string index = std::to_string(i);
    if (!items[i].is_object()) {
      errors[index] = json::object{{"message", kMustIncludeObject}};
      continue;
    }
    ctx.body = items[i];
    std::optional<Reply> stop = co_await PrepareNew(ctx, *grant, docs[i]);
    if (!stop) continue;
    json::object* body = stop->json.if_object();
    if (body != nullptr && stop->status == 400 && body->contains("errors")) {
      errors[index] = std::move((*body)["errors"]);
    } else {
      if (body != nullptr) (*body)["index"] = static_cast<std::int64_t>(i);  // which document was refused
      failure = std::move(stop);
    }
  }
  ctx.body = whole;
  if (failure) co_return std::move(*failure);
  if (!errors.empty()) co_return Reply::Errors(std::move(errors));
  std::size_t failed = 0;
  StageTimer insert_time(ctx.trace.get(), &Trace::store);
  Status s = co_await store_->InsertMany(name(), docs, &failed);
  insert_time.Stop();
  if (!s.ok() && !s.fields().empty()) {
    json::object fields;
    for (const auto& f : s.fields()) fields[f.field] = f.message;
    co_return Reply::Errors(json::object{{std::to_string(failed), std::move(fields)}});
  }
  if (!s.ok()) co_return StoreError(s);
  json::array out;
  out.reserve(docs.size());
  for (auto& d : docs) {
    json::object doc = ToClient(std::move(d));
    Scrub(doc);
    if (events_->Has(Event::kAfterCommit)) co_await Fire(Event::kAfterCommit, "POST", &doc, nullptr, ctx);
    out.push_back(std::move(doc));
  }
  co_return Reply::Json(std::move(out));
}

boost::asio::awaitable<Reply> Collection::Update(Context& ctx, const json::value* id) {
  if (!id->is_string() && !ctx.is_root) co_return Reply::Error(400, kMustProvideId);
  if (!IsObjectBody(ctx)) co_return Reply::Error(400, kMustIncludeObject);
  auto grant = Allowed(RuleOp::kUpdate, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  if (grant->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  json::object body = BodyObject(ctx);
  if (std::optional<Reply> stop = co_await PrepareBody(ctx, body, false)) co_return std::move(*stop);
  auto commands = query::ExtractCommands(body);
  json::object changes = query::Sanitize(schema_, body);
  EventOutcome before = co_await Fire(Event::kBeforeRequest, ctx.method, &changes, nullptr, ctx);
  if (before.cancelled()) co_return before.ErrorReply();
  // The target: the first document matching {id, …other query fields} (so extra fields act as a guard).
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  if (!q.ok()) co_return Reply::FromStatus(q.status());
  q->limit = 1;
  q->skip = 0;
  StageTimer find_time(ctx.trace.get(), &Trace::store);
  auto found = co_await store_->Find(name(), *q, 1);
  find_time.Stop();
  if (!found.ok()) co_return StoreError(found.status());
  if (found->empty()) co_return Reply::Error(400, kNoObject);
  store::Document stored = std::move((*found)[0]);
  if (!Admits(*grant, stored.fields, stored.id)) co_return RuleRefusal(ctx);
  const json::object stored_fields = stored.fields;
  json::object previous = stored.fields;
  Scrub(previous);
  previous["id"] = stored.id;
  json::object merged = std::move(stored.fields);
  for (auto& kv : changes) merged[kv.key()] = kv.value();
  query::ApplyCommands(commands, merged);
  if (json::object errors = query::Validate(schema_, merged, false); !errors.empty()) {
    co_return Reply::Errors(std::move(errors));
  }
  // The document the events get, to tell what they changed (no copy when there are no such events).
  const bool has_update_events = events_->Has(Event::kValidate) || events_->Has(Event::kPut);
  const json::object before_events = has_update_events ? merged : json::object();
  std::vector<std::string> protected_fields;
  std::vector<std::string> hidden;
  for (Event e : {Event::kValidate, Event::kPut}) {
    if (!events_->Has(e)) continue;
    merged["id"] = stored.id;
    EventOutcome out = co_await Fire(e, ctx.method, &merged, &previous, ctx);
    merged.stable_erase("id");
    if (out.cancelled()) co_return out.ErrorReply();
    if (!out.errors.empty()) co_return Reply::Errors(std::move(out.errors));
    for (const auto& f : out.protected_fields) {
      if (const json::value* old = previous.if_contains(f))
        merged[f] = *old;
      else
        merged.stable_erase(f);
      protected_fields.push_back(f);
    }
    hidden.insert(hidden.end(), out.hidden.begin(), out.hidden.end());
  }
  // The result must stay within the caller's reach (no moving a document to someone else).
  if (!Admits(*grant, merged, stored.id)) co_return RuleRefusal(ctx);
  if (std::optional<Reply> big = TooLarge(merged)) co_return std::move(*big);
  // Only what this request changed is written, applied by the store to the document as it is then (spec §5.7;
  // Deployd `$set`s the fields it has): the body's fields, the commands, and what the events changed. Another
  // request's concurrent changes of the same document are kept, and every acknowledged $inc/$push counts.
  store::Patch patch =
      MakePatch(changes, commands, has_update_events ? before_events : merged, merged, protected_fields);
  patch.expected_stamp = stored.stamp;
  patch.whole_json = json::Write(merged);  // the patch on the document as read: written as is if nobody changed it
  // When someone changed the document since it was read, the store re-applies the patch — and re-checks the rule
  // on the document as it is then and as it would become, inside the same write.
  if (grant->kind == Grant::Kind::kMatching) patch.guard = &grant->filter;
  StageTimer update_time(ctx.trace.get(), &Trace::store);
  auto written = co_await store_->Update(name(), stored.id, patch);
  update_time.Stop();
  if (!written.ok() && written.status().code() == Code::kForbidden) co_return RuleRefusal(ctx);
  if (!written.ok()) co_return StoreError(written.status());
  if (written->has_value()) merged = std::move((*written)->fields);  // else `merged` is what was written
  co_await Written(ctx, stored.id, &stored_fields, &merged);
  json::object out = ToClient(store::Document{stored.id, std::move(merged)});
  Scrub(out);
  if (events_->Has(Event::kAfterCommit)) {
    co_await Fire(Event::kAfterCommit, ctx.method, &out, &previous, ctx);
  }
  Hide(out, hidden);
  co_return Reply::Json(std::move(out));
}

bool Collection::HasFilter(const Context& ctx) const {
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  return !q.ok() || !q->filter.children.empty() || q->filter.kind != query::Filter::Kind::kAnd;
}

// PUT /<col>?{query}: each matching document the caller may update, one at a time through Update (its events,
// its rule checks, atomic per document), at most store.bulk_documents of them. Answers how many were updated and,
// for each one refused or invalid, its error by id.
boost::asio::awaitable<Reply> Collection::UpdateMany(Context& ctx) {
  if (!IsObjectBody(ctx) || (ctx.body && ctx.body->is_array())) co_return Reply::Error(400, kMustIncludeObject);
  auto grant = Allowed(RuleOp::kUpdate, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  if (grant->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  if (!q.ok()) co_return Reply::FromStatus(q.status());
  if (grant->kind == Grant::Kind::kMatching) Restrict(q->filter, grant->filter);
  q->fields.clear();
  q->skip = 0;
  q->limit = static_cast<std::int64_t>(limits_.store.bulk_documents);
  StageTimer find_time(ctx.trace.get(), &Trace::store);
  auto found = co_await store_->Find(name(), *q, limits_.store.bulk_documents);
  find_time.Stop();
  if (!found.ok()) co_return StoreError(found.status());
  const json::object query = std::move(ctx.query);
  std::int64_t updated = 0;
  json::object failed;
  for (const auto& d : *found) {
    ctx.query = json::object{{"id", d.id}};
    if (const json::value* skip = query.if_contains("$skipEvents")) ctx.query["$skipEvents"] = *skip;
    json::value id = json::string(d.id);
    Reply r = co_await Update(ctx, &id);
    if (r.kind == Reply::Kind::kError) {
      failed[d.id] = std::move(r.json);
    } else {
      ++updated;
    }
  }
  ctx.query = query;
  json::object out{{"count", updated}};
  if (!failed.empty()) out["failed"] = std::move(failed);
  co_return Reply::Json(std::move(out));
}

boost::asio::awaitable<Reply> Collection::Delete(Context& ctx, const json::value* id) {
  if (id == nullptr || id->is_null()) co_return Reply::Error(400, kDeleteNeedsId);
  auto grant = Allowed(RuleOp::kDelete, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  if (grant->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  if (!q.ok()) co_return Reply::FromStatus(q.status());
  EventOutcome before = co_await Fire(Event::kBeforeRequest, "DELETE", nullptr, nullptr, ctx);
  if (before.cancelled()) co_return before.ErrorReply();
  // Matches are removed a page at a time (max_limit ids per page), so a delete-by-query is memory-bounded.
  std::int64_t removed = 0;
  q->sort.clear();
  q->skip = 0;
  q->limit = static_cast<std::int64_t>(limits_.query.max_limit);
  for (;;) {
    StageTimer find_time(ctx.trace.get(), &Trace::store);
    auto found = co_await store_->Find(name(), *q, limits_.query.max_limit);
    find_time.Stop();
    if (!found.ok()) co_return StoreError(found.status());
    if (found->empty()) break;
    const bool single = found->size() == 1 && removed == 0;
    std::vector<std::string> ids;
    std::vector<json::object> gone;  // as the AfterCommit event sees them
    std::size_t skipped = 0;
    for (auto& d : *found) {
      if (!Admits(*grant, d.fields, d.id)) {  // out of the caller's reach: refused alone, skipped in a query
        if (single) co_return RuleRefusal(ctx);
        ++skipped;
        continue;
      }
      json::object doc;
      if (events_->Has(Event::kDelete) || events_->Has(Event::kAfterCommit)) {
        doc = ToClient(d);
        Scrub(doc);
      }
      if (events_->Has(Event::kDelete)) {
        EventOutcome out = co_await Fire(Event::kDelete, "DELETE", &doc, nullptr, ctx);
        if (out.cancelled()) {
          if (single || out.fatal) co_return out.ErrorReply();
          ++skipped;
          continue;
        }
      }
      ids.push_back(d.id);
      if (events_->Has(Event::kAfterCommit)) gone.push_back(std::move(doc));
    }
    std::size_t page = found->size();
    StageTimer remove_time(ctx.trace.get(), &Trace::store);
    // Under a rule the store removes only those that still pass it, in the same write.
    Result<std::int64_t> n = std::int64_t{0};
    if (grant->kind == Grant::Kind::kMatching) {  // (no co_await inside ?:, see Handle)
      n = co_await store_->RemoveWhere(name(), ids, grant->filter);
    } else {
      n = co_await store_->Remove(name(), ids);
    }
    remove_time.Stop();
    if (!n.ok()) co_return StoreError(n.status());
    removed += *n;
    for (const auto& removed_id : ids) co_await Written(ctx, removed_id, nullptr, nullptr);
    // AfterCommit once per deleted document, `this` the document as it was (Deployd's order: after the removal).
    for (auto& doc : gone) co_await Fire(Event::kAfterCommit, "DELETE", &doc, nullptr, ctx);
    if (page < limits_.query.max_limit) break;
    if (skipped > 0) q->skip += static_cast<std::int64_t>(skipped);  // cancelled ones stay; page past them
  }
  co_return Reply::Json(json::object{{"count", removed}});
}

boost::asio::awaitable<Reply> Collection::Count(Context& ctx) {
  // Without a count rule only root counts, as in Deployd. With one, the count is of what the caller may list.
  if (rules_.rule(RuleOp::kCount).kind == Rule::Kind::kUnset && !ctx.is_root) {
    co_return Reply::Error(403, "Must be root to count", true);
  }
  auto grant = Allowed(RuleOp::kCount, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  auto listable = Allowed(RuleOp::kList, ctx);
  if (!listable.ok()) co_return Reply::FromStatus(listable.status());
  if (grant->kind == Grant::Kind::kNone || listable->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  ctx.query.stable_erase("id");
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  if (!q.ok()) co_return Reply::FromStatus(q.status());
  if (grant->kind == Grant::Kind::kMatching) Restrict(q->filter, grant->filter);
  if (listable->kind == Grant::Kind::kMatching) Restrict(q->filter, listable->filter);
  StageTimer count_time(ctx.trace.get(), &Trace::store);
  auto n = co_await store_->Count(name(), q->filter);
  count_time.Stop();
  if (!n.ok()) co_return StoreError(n.status());
  co_return Reply::Json(json::object{{"count", *n}});
}

boost::asio::awaitable<Reply> Collection::Aggregate(Context& ctx) {
  // An aggregation reads past every Get event script (a script that hides a field or a document per caller cannot
  // run over a sum), so without a `list` rule only root aggregates, as only root counts; with one, the groups are
  // made of exactly what the rule lets the caller list.
  if (rules_.rule(RuleOp::kList).kind == Rule::Kind::kUnset && !ctx.is_root) {
    co_return Reply::Error(403, "Must be root to aggregate a collection without a list rule", true);
  }
  auto grant = Allowed(RuleOp::kList, ctx);
  if (!grant.ok()) co_return Reply::FromStatus(grant.status());
  if (grant->kind == Grant::Kind::kNone) co_return RuleRefusal(ctx);
  const json::value* given = ctx.query.if_contains("pipeline");
  json::value parsed;
  if (given != nullptr && given->is_string()) {
    // ?pipeline=<JSON text> (the form syntax)
    auto v = json::Parse(given->as_string(), limits_.json);
    if (!v.ok()) co_return Reply::Error(400, "pipeline is not valid JSON: " + v.status().message());
    parsed = std::move(*v);
    given = &parsed;
  }
  if (given == nullptr || !given->is_array()) {
    co_return Reply::Error(400, "An aggregation takes its pipeline as a JSON array: /aggregate?[{\"$group\": ...}]");
  }
  query::ParseOptions options = QueryOptions(ctx);
  // A $max of the password hashes would hand them out: no caller, root included, aggregates them.
  if (traits().users && std::find(options.forbidden_fields.begin(), options.forbidden_fields.end(), "password") ==
                            options.forbidden_fields.end()) {
    options.forbidden_fields.push_back("password");
  }
  auto p = query::ParsePipeline(given->as_array(), schema_, limits_.query, options);
  if (!p.ok()) co_return Reply::FromStatus(p.status());
  if (grant->kind == Grant::Kind::kMatching) Restrict(p->match, grant->filter);
  StageTimer aggregate_time(ctx.trace.get(), &Trace::store);
  auto groups = co_await store_->Aggregate(name(), *p);
  aggregate_time.Stop();
  if (!groups.ok()) {
    // Too many groups is the caller's to narrow (400); anything else is the store's.
    if (groups.status().code() == Code::kBadRequest) co_return Reply::FromStatus(groups.status());
    co_return StoreError(groups.status());
  }
  co_return Reply::Json(json::value(std::move(*groups)));
}

boost::asio::awaitable<Reply> Collection::IndexOf(Context& ctx, const std::string& id) {
  if (!ctx.is_root) co_return Reply::Error(403, "Must be root to get index", true);
  auto q = query::ParseQuery(ctx.query, schema_, limits_.query, QueryOptions(ctx));
  if (!q.ok()) co_return Reply::FromStatus(q.status());
  // Pages through the sorted ids until `id` appears.
  std::int64_t position = 0;
  q->limit = static_cast<std::int64_t>(limits_.query.max_limit);
  for (;;) {
    StageTimer find_time(ctx.trace.get(), &Trace::store);
    auto found = co_await store_->Find(name(), *q, limits_.query.max_limit);
    find_time.Stop();
    if (!found.ok()) co_return StoreError(found.status());
    for (const auto& d : *found) {
      if (d.id == id) co_return Reply::Json(json::object{{"index", position}});
      ++position;
    }
    if (found->size() < limits_.query.max_limit) break;
    q->skip += static_cast<std::int64_t>(found->size());
  }
  co_return Reply::Json(json::object{{"index", -1}});
}

boost::asio::awaitable<Reply> Collection::Rename(Context& ctx) {
  // Deployd let anyone rename fields across a collection and crashed on GET (spec §16.2 item 2): root only here.
  if (!ctx.is_root) co_return Reply::Error(403, "Must be root to rename", true);
  const json::object body = BodyObject(ctx);
  const json::value* props = body.if_contains("properties");
  if (props == nullptr || !props->is_object()) {
    co_return Reply::Error(400, "rename needs {\"properties\": {\"old\": \"new\"}}");
  }
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& kv : props->as_object()) {
    if (!kv.value().is_string() || !query::IsValidPath(kv.key(), 128) ||
        !query::IsValidPath(kv.value().as_string(), 128)) {
      co_return Reply::Error(400, "rename: property names must be strings of letters, digits, _ $ -");
    }
    renames.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
  }
  query::Query all;
  all.limit = static_cast<std::int64_t>(limits_.query.max_limit);
  std::int64_t updated = 0;
  for (;;) {
    StageTimer find_time(ctx.trace.get(), &Trace::store);
    auto found = co_await store_->Find(name(), all, limits_.query.max_limit);
    find_time.Stop();
    if (!found.ok()) co_return StoreError(found.status());
    for (auto& d : *found) {
      bool changed = false;
      for (const auto& [from, to] : renames) {
        if (json::value* v = d.fields.if_contains(from)) {
          json::value moved = std::move(*v);
          d.fields.stable_erase(from);
          d.fields[to] = std::move(moved);
          changed = true;
        }
      }
      if (!changed) continue;
      StageTimer replace_time(ctx.trace.get(), &Trace::store);
      Status s = co_await store_->Replace(name(), d);
      replace_time.Stop();
      if (!s.ok()) co_return StoreError(s);
      ++updated;
    }
    if (found->size() < limits_.query.max_limit) break;
    all.skip += static_cast<std::int64_t>(found->size());
  }
  co_return Reply::Json(json::object{{"updated", updated}});
}

}  // namespace dpd::resources
