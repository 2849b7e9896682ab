#include "resources/router.h"

#include <algorithm>

#include "json/json.h"
#include "resources/registry.h"

namespace dpd::resources {

Router::Router(std::vector<std::shared_ptr<Resource>> resources, std::shared_ptr<Resource> root)
    : resources_(std::move(resources)), root_(std::move(root)) {
  for (const auto& r : resources_) {
    Node* node = &trie_;
    std::string_view name = r->name();
    while (true) {
      std::size_t slash = name.find('/');
      std::string_view seg = name.substr(0, slash);
      auto it = node->children.find(seg);
      if (it == node->children.end()) {
        it = node->children.emplace(std::string(seg), std::make_unique<Node>()).first;
      }
      node = it->second.get();
      if (slash == std::string_view::npos) break;
      name.remove_prefix(slash + 1);
    }
    node->resource = r.get();
  }
  json::array clients;
  for (const auto& r : resources_) {
    if (!r->traits().client) continue;
    clients.push_back(json::object{{"key", JsName(r->name())}, {"path", r->path()}, {"users", r->traits().users},
                                   {"collection", r->traits().collection}});
  }
  clients_json_ = std::make_shared<const std::string>(json::Write(clients));
}

boost::asio::awaitable<Reply> Router::Dispatch(Context& ctx) const {
  const std::string path = ctx.url;
  for (const auto& match : Resolve(path)) {
    if (match.resource == root_.get()) break;  // static files are not reachable through dpd
    ctx.url = std::string(match.url);
    Reply reply = co_await match.resource->Handle(ctx);
    if (reply.kind != Reply::Kind::kNext && reply.kind != Reply::Kind::kStatic) co_return reply;
  }
  co_return Reply::Error(404, "resource not found");
}

std::vector<Router::Match> Router::Resolve(std::string_view path) const {
  std::vector<Match> out;
  if (!path.empty() && path[0] == '/') {
    const Node* node = &trie_;
    std::size_t pos = 1;  // start of the current segment
    while (pos <= path.size()) {
      std::size_t end = path.find('/', pos);
      if (end == std::string_view::npos) end = path.size();
      auto it = node->children.find(path.substr(pos, end - pos));
      if (it == node->children.end()) break;
      node = it->second.get();
      if (node->resource != nullptr) {
        std::string_view rest = path.substr(end);
        out.push_back({node->resource, rest.empty() ? std::string_view("/") : rest});
      }
      if (end == path.size()) break;
      pos = end + 1;
    }
  }
  std::reverse(out.begin(), out.end());
  if (root_) out.push_back({root_.get(), path});
  return out;
}

}  // namespace dpd::resources
