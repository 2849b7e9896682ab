#include "query/aggregate.h"

#include <cmath>

#include "query/js.h"

namespace dpd::query {
namespace {

Status Bad(std::string message) { return Status::BadRequest(std::move(message)); }

// A non-negative integer stage operand ($skip, $limit), as a JSON number without a fraction.
std::optional<std::int64_t> Count(const json::value& v) {
  auto n = js::AsNumber(v);
  if (!n || !std::isfinite(*n) || *n < 0 || std::floor(*n) != *n || *n > 9007199254740991.0) return std::nullopt;
  return static_cast<std::int64_t>(*n);
}

bool IsName(std::string_view name) {
  return !name.empty() && name[0] != '$' && name.find('.') == std::string_view::npos &&
         IsValidPath(name, 64);
}

class PipelineParser {
 public:
  PipelineParser(const Schema& schema, const QueryLimits& limits, const ParseOptions& options)
      : schema_(schema), limits_(limits), options_(options) {}

  Result<Pipeline> Parse(const json::array& stages) {
    if (stages.empty()) return Bad("An aggregation needs a $group stage");
    if (stages.size() > limits_.aggregate_stages) {
      return Bad("An aggregation has at most " + std::to_string(limits_.aggregate_stages) + " stages");
    }
    Pipeline p;
    p.max_groups = limits_.aggregate_groups;
    bool grouped = false, sorted = false, windowed = false;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      const json::object* stage = stages[i].if_object();
      if (stage == nullptr || stage->size() != 1) {
        return Bad("Each aggregation stage is an object with one key, as {\"$group\": {...}}");
      }
      const std::string name(stage->begin()->key());
      const json::value& arg = stage->begin()->value();
      if (name == "$match") {
        if (i != 0) return Bad("$match can only be the first stage");
        if (Status s = Match(arg, p); !s.ok()) return s;
      } else if (name == "$group") {
        if (grouped) return Bad("An aggregation has one $group stage");
        grouped = true;
        if (Status s = Group(arg, p); !s.ok()) return s;
      } else if (name == "$sort" || name == "$skip" || name == "$limit") {
        if (!grouped) return Bad(name + " comes after the $group stage");
        if (name == "$sort") {
          if (sorted) return Bad("An aggregation has one $sort stage");
          if (windowed) return Bad("$sort comes before $skip and $limit");
          sorted = true;
          if (Status s = Sort(arg, p); !s.ok()) return s;
        } else {
          windowed = true;
          auto n = Count(arg);
          if (!n || (name == "$limit" && *n == 0)) {
            return Bad(name + (name == "$limit" ? " needs a positive integer" : " needs a non-negative integer"));
          }
          if (name == "$skip") {
            p.skip += *n;
            if (p.limit >= 0) p.limit = std::max<std::int64_t>(p.limit - *n, 0);
          } else {
            p.limit = p.limit < 0 ? *n : std::min(p.limit, *n);
          }
        }
      } else {
        return Bad("Unsupported aggregation stage \"" + name.substr(0, 64) +
                   "\" (dpd answers $match, $group, $sort, $skip and $limit)");
      }
    }
    if (!grouped) return Bad("An aggregation needs a $group stage");
    return p;
  }

 private:
  const Schema& schema_;
  const QueryLimits& limits_;
  const ParseOptions& options_;

  Status Match(const json::value& arg, Pipeline& p) {
    const json::object* raw = arg.if_object();
    if (raw == nullptr) return Bad("$match takes a query object");
    for (const auto& kv : *raw) {
      std::string_view k = kv.key();
      if (k == "$fields" || k == "$sort" || k == "$orderby" || k == "$limit" || k == "$skip") {
        return Bad("$match takes a query; " + std::string(k) + " is a stage of its own here");
      }
    }
    auto q = ParseQuery(*raw, schema_, limits_, options_);
    if (!q.ok()) return q.status();
    p.match = std::move(q->filter);
    return Status::Ok();
  }

  // "$path" → the path, checked as a query's paths are and required to name a property (or `id`).
  Status FieldRef(const json::value& v, std::string_view where, std::string& out) {
    const json::string* s = v.if_string();
    if (s == nullptr || s->size() < 2 || (*s)[0] != '$') {
      return Bad(std::string(where) + " takes a field as \"$name\"");
    }
    std::string path(s->subview().substr(1));
    if (!IsValidPath(path, limits_.max_path_length)) {
      return Bad("invalid field name \"" + path.substr(0, 64) + "\"");
    }
    std::string first = path.substr(0, path.find('.'));
    for (const auto& f : options_.forbidden_fields) {
      if (first == f) return Bad("\"" + f + "\" cannot be aggregated");
    }
    if (path != "id" && schema_.Find(first) == nullptr) {
      return Bad("\"" + path.substr(0, 64) + "\" is not a property of this collection");
    }
    out = std::move(path);
    return Status::Ok();
  }

  Status Group(const json::value& arg, Pipeline& p) {
    const json::object* group = arg.if_object();
    if (group == nullptr || !group->contains("_id")) return Bad("$group needs an _id (null, \"$field\" or an object)");
    const json::value& id = group->at("_id");
    if (id.is_null()) {
      // one group of everything
    } else if (id.is_string()) {
      GroupKey key;
      if (Status s = FieldRef(id, "$group _id", key.path); !s.ok()) return s;
      p.keys.push_back(std::move(key));
    } else if (const json::object* parts = id.if_object(); parts != nullptr && !parts->empty()) {
      p.object_key = true;
      if (parts->size() > limits_.aggregate_outputs) {
        return Bad("$group _id has at most " + std::to_string(limits_.aggregate_outputs) + " fields");
      }
      for (const auto& kv : *parts) {
        GroupKey key;
        key.name = std::string(kv.key());
        if (!IsName(key.name)) return Bad("invalid $group _id field \"" + key.name.substr(0, 64) + "\"");
        if (Status s = FieldRef(kv.value(), "$group _id", key.path); !s.ok()) return s;
        p.keys.push_back(std::move(key));
      }
    } else {
      return Bad("$group _id must be null, \"$field\" or an object of them");
    }
    for (const auto& kv : *group) {
      if (kv.key() == "_id") continue;
      if (p.outputs.size() >= limits_.aggregate_outputs) {
        return Bad("$group has at most " + std::to_string(limits_.aggregate_outputs) + " outputs");
      }
      Accumulator acc;
      acc.name = std::string(kv.key());
      if (!IsName(acc.name)) return Bad("invalid $group output name \"" + acc.name.substr(0, 64) + "\"");
      const json::object* op = kv.value().if_object();
      if (op == nullptr || op->size() != 1) {
        return Bad("$group output \"" + acc.name + "\" takes one accumulator, as {\"$sum\": \"$price\"}");
      }
      const std::string opname(op->begin()->key());
      const json::value& operand = op->begin()->value();
      if (opname == "$sum") {
        acc.kind = Accumulator::Kind::kSum;
        if (auto n = js::AsNumber(operand)) {
          if (!std::isfinite(*n)) return Bad("$sum takes \"$field\" or a number");
          acc.constant = *n;
        } else if (Status s = FieldRef(operand, "$sum", acc.path); !s.ok()) {
          return Bad("$sum takes \"$field\" or a number");
        }
      } else if (opname == "$avg" || opname == "$min" || opname == "$max") {
        acc.kind = opname == "$avg"   ? Accumulator::Kind::kAvg
                   : opname == "$min" ? Accumulator::Kind::kMin
                                      : Accumulator::Kind::kMax;
        if (Status s = FieldRef(operand, opname, acc.path); !s.ok()) return s;
      } else if (opname == "$count") {
        const json::object* empty = operand.if_object();
        if (empty == nullptr || !empty->empty()) return Bad("$count takes {}");
        acc.kind = Accumulator::Kind::kCount;
      } else {
        return Bad("Unsupported accumulator \"" + opname.substr(0, 64) +
                   "\" (dpd answers $sum, $avg, $min, $max and $count)");
      }
      p.outputs.push_back(std::move(acc));
    }
    return Status::Ok();
  }

  Status Sort(const json::value& arg, Pipeline& p) {
    const json::object* keys = arg.if_object();
    if (keys == nullptr || keys->empty()) return Bad("$sort takes an object of fields, as {\"total\": -1}");
    for (const auto& kv : *keys) {
      std::string path(kv.key());
      auto dir = js::AsNumber(kv.value());
      if (!dir || (*dir != 1 && *dir != -1)) return Bad("$sort directions are 1 or -1");
      bool known = path == "_id";
      if (!known && p.object_key && path.rfind("_id.", 0) == 0) {
        for (const auto& k : p.keys) known = known || path.substr(4) == k.name;
      }
      for (const auto& o : p.outputs) known = known || path == o.name;
      if (!known) return Bad("$sort names \"" + path.substr(0, 64) + "\", which the $group does not make");
      p.sort.push_back(SortKey{path, *dir < 0});
    }
    return Status::Ok();
  }
};

}  // namespace

Result<Pipeline> ParsePipeline(const json::array& stages, const Schema& schema, const QueryLimits& limits,
                               const ParseOptions& options) {
  return PipelineParser(schema, limits, options).Parse(stages);
}

Status TooManyGroups(std::size_t max_groups) {
  return Status::BadRequest("The aggregation makes more than " + std::to_string(max_groups) +
                            " groups; narrow it with $match or group by fewer fields");
}

}  // namespace dpd::query
