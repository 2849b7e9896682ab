#pragma once
// The in-process `dpd` client (spec §10), for any script host (the V8 event scripts today; the resource-module host
// later): a script's dpd.<name>.get/post/put/del go through the caller's router (the caller's app snapshot) with
// the caller's session, user, root flag and headers, marked internal, and never run inside the caller's entry into
// the script engine. A request tree shares one recursion guard and one budget of calls and time
// (ScriptLimits::recursion_max, internal_calls, tree_time). Also here: the session side effects a script asks for.
//
// Thread-safety: a requester is used on the thread of the executor it was made with; calls answer there.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>

#include "base/limits.h"
#include "json/json.h"
#include "resources/resource.h"
#include "script/engine.h"

namespace dpd::resources {

using Responder = std::function<void(script::HostResponse)>;
using Requester = std::function<void(script::HostRequest, Responder)>;

// Starts the request tree of `ctx` unless it has one: its recursion limit is the request's $limitRecursion (2 when
// absent or not a number; at most limits.recursion_max).
void BeginCallTree(Context& ctx, const ScriptLimits& limits);

// The requester for scripts running for `ctx`. A call over the recursion limit ("Recursive call to GET /x
// detected"), the call budget or the tree's time is answered as a rejection, later, on `executor`; any other is
// posted to `executor`, dispatched through ctx.router, and answered there.
Requester MakeInternalClient(Context& ctx, const ScriptLimits& limits, boost::asio::any_io_executor executor);

// A reply as the dpd client sees it: the body on success, the error body (with "status") otherwise.
script::HostResponse ToHostResponse(Reply& reply);

// Persists what a script did to its session — {"remove": true}, or {"save": true, "data": {…}} (rooms, fields) —
// for a stored session (an anonymous one stays unsaved). The session's identity (uid, path, userhash, dates) is
// not the script's to change.
boost::asio::awaitable<void> ApplySessionChanges(json::object& changes, Context& ctx);

}  // namespace dpd::resources
