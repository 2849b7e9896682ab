#include "query/update.h"

#include <cmath>

#include "query/js.h"

namespace dpd::query {
namespace {

double ToFloat(const json::value& v) {
  if (auto n = js::AsNumber(v)) return *n;
  if (v.is_string()) return js::ParseFloat(v.get_string());
  if (v.is_bool()) return v.get_bool() ? 1 : 0;
  return std::nan("");
}

bool Contains(const json::array& a, const json::value& v) {
  for (const auto& e : a) {
    if (js::StrictEquals(e, v)) return true;
  }
  return false;
}

}  // namespace

std::vector<UpdateCommand> ExtractCommands(const json::object& body) {
  std::vector<UpdateCommand> out;
  for (const auto& kv : body) {
    const json::object* o = kv.value().if_object();
    if (o == nullptr) continue;
    for (const auto& cmd : *o) {
      if (!cmd.key().empty() && cmd.key()[0] == '$') {
        out.push_back({std::string(kv.key()), std::string(cmd.key()), cmd.value()});
      }
    }
  }
  return out;
}

void ApplyCommands(const std::vector<UpdateCommand>& commands, json::object& doc) {
  for (const auto& c : commands) {
    json::value* current = doc.if_contains(c.property);
    if (c.command == "$inc") {
      double base = js::Truthy(current) ? ToFloat(*current) : 0;
      double sum = base + ToFloat(c.argument);
      doc[c.property] = std::isfinite(sum) ? json::value(sum) : json::value(nullptr);
    } else if (c.command == "$push") {
      if (current && current->is_array())
        current->as_array().push_back(c.argument);
      else
        doc[c.property] = json::array{c.argument};
    } else if (c.command == "$pushAll") {
      if (current && current->is_array() && c.argument.is_array()) {
        for (const auto& e : c.argument.as_array()) current->as_array().push_back(e);
      } else {
        doc[c.property] = c.argument;
      }
    } else if (c.command == "$pull" || c.command == "$pullAll") {
      if (!current || !current->is_array()) continue;
      json::array remove =
          c.command == "$pullAll" && c.argument.is_array() ? c.argument.as_array() : json::array{c.argument};
      json::array kept;
      for (const auto& e : current->as_array()) {
        if (!Contains(remove, e)) kept.push_back(e);
      }
      *current = std::move(kept);
    } else if (c.command == "$addUnique") {
      json::array result;
      if (current && current->is_array()) {
        for (const auto& e : current->as_array()) {
          if (!Contains(result, e) || !(e.is_string() || js::AsNumber(e) || e.is_bool() || e.is_null())) {
            result.push_back(e);
          }
        }
      }
      json::array add = c.argument.is_array() ? c.argument.as_array() : json::array{c.argument};
      for (const auto& e : add) {
        if (!Contains(result, e)) result.push_back(e);
      }
      doc[c.property] = std::move(result);
    }
  }
}

}  // namespace dpd::query
