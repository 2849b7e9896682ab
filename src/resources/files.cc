#include "resources/files.h"

namespace dpd::resources {

FilesResource::FilesResource(std::filesystem::path public_dir)
    : Resource("", "Files"), public_dir_(std::move(public_dir)) {}

boost::asio::awaitable<Reply> FilesResource::Handle(Context& ctx) {
  if (ctx.method != "GET" && ctx.method != "HEAD") co_return Reply::Next();
  Reply r;
  r.kind = Reply::Kind::kStatic;
  r.static_root = public_dir_;
  r.static_path = ctx.url;
  co_return r;
}

}  // namespace dpd::resources
