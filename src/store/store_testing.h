#pragma once
// Shared by the store tests (SQLite, MongoDB, sessions): run a coroutine to completion on a private io_context,
// and the documents and queries of the differential test (each store against the in-memory matcher).

#include <random>
#include <string>
#include <vector>

#include "json/json.h"
#include "query/schema.h"
#include "store/run_sync.h"
#include "store/store.h"

namespace dpd::store::testing {

using store::RunSync;

// The schema of the store tests: title (unique), score (indexed), done, tags, people.
inline query::Schema TestSchema() {
  return *query::Schema::FromConfig(json::Parse(R"({"properties":{
      "title":{"type":"string","unique":true},"score":{"type":"number","index":true},"done":{"type":"boolean"},
      "tags":{"type":"array"},"people":{"type":"object"}}})")
                                        ->as_object());
}
// Its storage: the indexes of title and score.
inline CollectionSpec TestSpec(const std::string& collection) {
  return {collection, {{"title", true}, {"score", false}}};
}

// 120 documents with ids d1000…d1119 (in "id"), mixed types and missing fields, the same on every run.
inline std::vector<json::object> DifferentialDocs() {
  std::mt19937 rng(42);
  const char* titles[] = {"alpha", "beta", "gamma", "Alpha", "delta", "b"};
  std::vector<json::object> docs;
  for (int i = 0; i < 120; ++i) {
    json::object d;
    if (rng() % 5) d["title"] = std::string(titles[rng() % 6]) + std::to_string(i);
    if (rng() % 4)
      d["score"] = static_cast<std::int64_t>(rng() % 50);
    else if (rng() % 2)
      d["score"] = 0.5 * (rng() % 20);
    if (rng() % 3) d["done"] = rng() % 2 == 0;
    if (rng() % 2) {
      json::array tags;
      for (unsigned k = 0; k < rng() % 4; ++k) tags.emplace_back(std::string(1, static_cast<char>('a' + rng() % 4)));
      d["tags"] = tags;
    }
    if (rng() % 2) d["people"] = json::object{{"name", std::string(1, static_cast<char>('m' + rng() % 3))}};
    d["id"] = "d" + std::to_string(1000 + i);
    docs.push_back(std::move(d));
  }
  return docs;
}

// Queries every store answers like the matcher. `with_string_order_and_mod`: also the ones a test double may
// get wrong (string sort order, $mod on fractions).
inline std::vector<std::string> DifferentialQueries(bool with_string_order_and_mod) {
  std::vector<std::string> q = {"{}",
                                R"({"score":{"$gt":10}})",
                                R"({"score":{"$gte":2.5,"$lt":30}})",
                                R"({"title":{"$regex":"^a","$options":"i"}})",
                                R"({"done":true})",
                                R"({"done":false})",
                                R"({"done":{"$ne":true}})",
                                R"({"tags":"a"})",
                                R"({"tags":{"$in":["b","c"]}})",
                                R"({"tags":{"$nin":["a"]}})",
                                R"({"tags":{"$all":["a","b"]}})",
                                R"({"tags":{"$size":2}})",
                                R"({"people.name":"m"})",
                                R"({"people.name":{"$exists":false}})",
                                R"({"title":{"$exists":true},"score":{"$lte":5}})",
                                R"({"$or":[{"score":3},{"tags":"d"}]})",
                                R"({"$nor":[{"score":{"$gt":5}},{"done":true}]})",
                                R"({"score":{"$not":{"$gt":20}}})",
                                R"({"score":{"$in":[1,2,3,0.5]}})",
                                R"({"title":{"$gt":"b"}})",
                                R"({"id":{"$in":["d1001","d1050"]}})",
                                R"({"score":null})",
                                R"({"score":{"$ne":null}})",
                                R"({"score":{"$gt":5},"$sort":{"score":1,"id":1}})",
                                R"({"score":{"$exists":true},"$sort":{"score":-1,"id":1},"$skip":10,"$limit":7})",
                                R"({"tags":{"$elemMatch":{"$in":["a","d"]}}})"};
  if (with_string_order_and_mod) {
    q.push_back(R"({"score":{"$mod":[3,0]}})");
    q.push_back(R"({"$sort":{"score":-1},"$limit":15})");
    q.push_back(R"({"$sort":{"title":1},"$skip":10,"$limit":7})");
    q.push_back(R"({"score":{"$gt":5},"$sort":{"score":1,"title":-1}})");
  }
  return q;
}

}  // namespace dpd::store::testing
