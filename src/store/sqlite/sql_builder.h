#pragma once
// Compiles query ASTs to SQLite SQL over tables (id TEXT PRIMARY KEY, doc TEXT): every client value becomes a
// bound parameter; identifiers are the collection name (validated resource name, quoted) and field paths that
// passed query::IsValidPath (re-checked here) written as JSON path literals. The indexed expression for a
// property is produced by the same function the queries use, so SQLite can match them.
// Pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "json/json.h"
#include "query/ast.h"
#include "store/store.h"

namespace dpd::store::sqlite {

struct Sql {
  std::string text;
  std::vector<json::value> params;
};

std::string QuoteIdent(std::string_view name);
// json_extract(doc,'$."a"."b"') — the expression indexes are built on.
Result<std::string> FieldExpr(std::string_view path);

Result<Sql> BuildFind(std::string_view collection, const query::Query& q, std::size_t default_limit);
Result<Sql> BuildCount(std::string_view collection, const query::Filter& filter);
// A pipeline's groups (query/aggregate.h): per group key two columns, its rank in MongoDB's order of types
// (AggregateRank) and its value (json_extract's), then one column per output. At most max_groups + 1 rows.
Result<Sql> BuildAggregate(std::string_view collection, const query::Pipeline& pipeline);
// The rank column's values: a key's type in the order MongoDB sorts BSON. kMissing only in an object _id (the
// field is left out of it); a single key that is missing is null, as in MongoDB.
enum AggregateRank { kMissing = -1, kNull = 0, kNumber = 1, kString = 2, kObject = 3, kArray = 4, kBoolean = 5 };
// DELETE of every document matching `filter`.
Result<Sql> BuildDelete(std::string_view collection, const query::Filter& filter);
Result<std::string> BuildCreateIndex(std::string_view collection, const IndexSpec& index);
std::string IndexName(std::string_view collection, std::string_view path);

}  // namespace dpd::store::sqlite
