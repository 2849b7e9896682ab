#pragma once
// `dpd export` / `dpd import` (issue: MongoDB store): every collection of an app — and, on request, `sessions` —
// streamed as JSON Lines, one {"collection": "<name>", "doc": {…, "id": …}} per line, collections in name order
// and documents in id order, between any two stores (a Deployd MongoDB database → SQLite and back). Exporting,
// importing into another store and exporting again gives the same bytes.

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/app.h"
#include "store/store.h"

namespace dpd::server {

// The store a --db URL names: "sqlite:<path>[?synchronous=normal|full]" (relative to `app_root`; empty = the
// default data/app.sqlite) or "mongodb://…".
// `read_budget`: each find / count is abandoned after this long (0 = never; QueryLimits::time_budget).
// `alone`: this process is the only one writing the SQLite file (a server without --bus), so its HTTP workers may
// hold read snapshots between reads (SqliteOptions::hold_read_snapshots).
Result<std::unique_ptr<store::Store>> OpenStore(const std::string& db, const std::filesystem::path& app_root,
                                                std::chrono::milliseconds read_budget = {}, bool alone = false);

// The collections of `app` that hold documents (resources whose type has the `collection` trait), plus "sessions".
std::vector<std::string> DataCollections(const config::App& app, bool sessions);

// Writes every document of `collections`; `progress` draws a counter on stderr. Returns the number written.
Result<std::size_t> ExportData(store::Store& store, const std::vector<std::string>& collections, std::ostream& out,
                               bool progress);
// Reads JSON Lines written by ExportData; a document whose id exists is replaced. Returns the number read.
Result<std::size_t> ImportData(store::Store& store, std::istream& in, bool progress);

}  // namespace dpd::server
