#pragma once
// Deployd's store API for resource modules (process.server.createStore(name): insert, find, first, update,
// remove, count, rename; spec §1.5 modules such as dpd-fileupload keep their records this way), on dpd's store:
// the records land in SQLite or MongoDB like a collection's, under the store's name. Queries use the query
// language (spec §5.9) without a schema: each top-level field is typed by the value the module gives.
//
// Thread-safety: the returned function may be called from any thread; the work runs on `executor`.

#include <boost/asio/any_io_executor.hpp>

#include "base/limits.h"
#include "script/node_host.h"
#include "store/store.h"

namespace dpd::server {

script::ModuleStore MakeModuleStore(store::Store* store, boost::asio::any_io_executor executor, const Limits& limits);

}  // namespace dpd::server
