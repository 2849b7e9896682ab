#pragma once
// Longest-prefix routing (spec §4.1) on a trie of path segments, built once per configuration; a request walks
// the trie once (no regex, no allocation beyond the small result). A resource "/a/b" matches "/a/b", "/a/b/…" and
// "/a/b?…", case-sensitively, on the raw (not percent-decoded) path. Matches come most specific first; the root
// resource ("/", static files) always last.
//
// Thread-safety: immutable after construction; Resolve and Dispatch are safe from any thread.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resources/resource.h"

namespace dpd::resources {

class Router {
 public:
  struct Match {
    Resource* resource;
    std::string_view url;  // the path below the resource, starting with '/'
  };

  // `resources` must have distinct names; `root` (may be null) is tried last for every path.
  Router(std::vector<std::shared_ptr<Resource>> resources, std::shared_ptr<Resource> root);

  // Candidates for `path` (raw, without the query), most specific first. `path` must outlive the result.
  std::vector<Match> Resolve(std::string_view path) const;

  const std::vector<std::shared_ptr<Resource>>& resources() const { return resources_; }

  // Routes an in-process request (the `dpd` client of scripts, spec §10) to the resources matching `ctx.url`
  // (the full path): most specific first, kNext falls through; static files are not served this way. Sets
  // ctx.url to the path below the resource that answers. "resource not found" (404) when none does.
  boost::asio::awaitable<Reply> Dispatch(Context& ctx) const;

  // The resources a script's `dpd` object offers, as [{"key":"todos","path":"/todos","users":false}, …]: key =
  // the path without its non-alphanumeric characters (spec §10).
  const std::shared_ptr<const std::string>& clients_json() const { return clients_json_; }

 private:
  struct Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
    Resource* resource = nullptr;
  };
  std::vector<std::shared_ptr<Resource>> resources_;
  std::shared_ptr<Resource> root_;
  Node trie_;
  std::shared_ptr<const std::string> clients_json_;
};

}  // namespace dpd::resources
