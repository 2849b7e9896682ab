#pragma once
// Deployd's update commands (spec §5.7): {"<prop>": {"$inc"|"$push"|"$pushAll"|"$pull"|"$pullAll"|"$addUnique": v}}
// taken from a raw body and applied to the in-memory document before validation. Other `$` keys ($set, $unset,
// $rename …) are ignored, as in Deployd. Pure functions.

#include <string>
#include <vector>

#include "json/json.h"

namespace dpd::query {

struct UpdateCommand {
  std::string property;
  std::string command;  // "$inc", ...
  json::value argument;
};

// The commands in `body`: values that are non-array objects with at least one `$` key.
std::vector<UpdateCommand> ExtractCommands(const json::object& body);

// Applies `commands` to `doc` in order.
void ApplyCommands(const std::vector<UpdateCommand>& commands, json::object& doc);

}  // namespace dpd::query
