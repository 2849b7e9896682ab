#pragma once
// The Collection resource: Deployd's whole collection HTTP API (spec §5) over a Store — list/by-id/by-query GET,
// POST create (or update when an id is given), PUT partial update with the update commands of §5.7, DELETE by id
// or query, /count and /index-of (root only), the root-only /rename — with schema sanitisation and validation,
// the error bodies of §3.9 and the event points of §6.1 called through EventRunner.
//
// Thread-safety: immutable after construction; Handle runs concurrently on all workers.

#include <memory>
#include <optional>

#include "base/limits.h"
#include "query/parse.h"
#include "query/schema.h"
#include "resources/events.h"
#include "resources/resource.h"
#include "resources/rules.h"
#include "store/store.h"

namespace dpd::resources {

class Collection : public Resource {
 public:
  Collection(std::string name, std::string type, query::Schema schema, store::Store* store, const Limits& limits,
             std::shared_ptr<EventRunner> events);

  boost::asio::awaitable<Reply> Handle(Context& ctx) override;
  ~Collection() override = default;

  const query::Schema& schema() const { return schema_; }
  // A stored document as clients see it: its fields, then "id" last.
  static json::object ToClient(store::Document d);
  // The event runner is safe to call from every worker (EventRunner's contract).
  EventRunner& events() const { return *events_; }
  std::vector<std::string> Warm() const override { return events_->Warm(); }
  // The storage spec (indexes from "index"/"unique" properties) to prepare at start-up.
  store::CollectionSpec StorageSpec() const;
  // The collection's access rules (docs/rules.md); set once, before the collection serves.
  void set_rules(AccessRules rules) { rules_ = std::move(rules); }
  const AccessRules& rules() const { return rules_; }

 protected:
  // Hooks for UserCollection (spec §7). Defaults: a plain collection.
  // Options for every query this collection parses (forbidden fields).
  virtual query::ParseOptions QueryOptions(const Context&) const { return {}; }
  // False when stored documents hold a field clients never see (reads then go through Scrub).
  virtual bool RawReadable() const { return true; }
  // Removes what clients never see from a document read or written.
  virtual void Scrub(json::object&) const {}
  // Adjusts a POST/PUT body before sanitisation; a reply ends the request (an error).
  virtual boost::asio::awaitable<std::optional<Reply>> PrepareBody(Context&, json::object&, bool /*create*/) {
    co_return std::nullopt;
  }
  // After a stored update (previous/current without id) or delete (current null).
  virtual boost::asio::awaitable<void> Written(Context&, const std::string& /*id*/, const json::object* /*previous*/,
                                               const json::object* /*current*/) {
    co_return;
  }
  virtual bool HasRename() const { return true; }
  // A reply when this caller may not create several documents in one POST (a users collection: root only).
  virtual std::optional<Reply> RefuseBulkCreate(const Context&) const { return std::nullopt; }

  boost::asio::awaitable<Reply> Get(Context& ctx, const json::value* id);
  boost::asio::awaitable<Reply> Create(Context& ctx);
  boost::asio::awaitable<Reply> CreateMany(Context& ctx);
  // The create pipeline for the body in ctx.body (an object): sanitised, events run, validated, the rule checked.
  // Fills `out` (a new id and the fields to store); a reply refuses it.
  boost::asio::awaitable<std::optional<Reply>> PrepareNew(Context& ctx, const Grant& grant, store::Document& out);
  // What an update writes: the fields of `changes` (as the events left them), what the events changed from
  // `before_events` to `after_events`, and the commands on properties nothing else set — protected fields never.
  static store::Patch MakePatch(const json::object& changes, const std::vector<query::UpdateCommand>& commands,
                                const json::object& before_events, const json::object& after_events,
                                const std::vector<std::string>& protected_fields);
  // 413 when `doc` is over StoreLimits::document_bytes.
  std::optional<Reply> TooLarge(const json::object& doc) const;
  boost::asio::awaitable<Reply> Update(Context& ctx, const json::value* id);
  boost::asio::awaitable<Reply> UpdateMany(Context& ctx);
  // Whether the request's query has a condition (a PUT without an id then updates what it matches).
  bool HasFilter(const Context& ctx) const;
  boost::asio::awaitable<Reply> Delete(Context& ctx, const json::value* id);
  boost::asio::awaitable<Reply> Count(Context& ctx);
  // GET /<col>/aggregate (docs/aggregate.md): the pipeline in the query (`?[...]` or {"pipeline": [...]}).
  boost::asio::awaitable<Reply> Aggregate(Context& ctx);
  boost::asio::awaitable<Reply> IndexOf(Context& ctx, const std::string& id);
  boost::asio::awaitable<Reply> Rename(Context& ctx);
  // Runs one event point. Coroutine parameters are kept trivially copyable on purpose: GCC 12 miscompiles
  // by-value class parameters (holding short strings) of coroutines built from braced temporaries.
  // The grant of `op` for this caller (docs/rules.md).
  Result<Grant> Allowed(RuleOp op, const Context& ctx) const;
  boost::asio::awaitable<EventOutcome> Fire(Event event, std::string_view method, json::object* data,
                                            const json::object* previous, Context& ctx);
  store::Store* store() const { return store_; }
  const Limits& limits() const { return limits_; }

 private:
  query::Schema schema_;
  store::Store* store_;
  Limits limits_;
  std::shared_ptr<EventRunner> events_;
  AccessRules rules_;
};

}  // namespace dpd::resources
