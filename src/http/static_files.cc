#include "http/static_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <system_error>

namespace dpd::http {
namespace fs = std::filesystem;
namespace {

std::string HttpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<std::time_t> ParseHttpDate(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

// Decodes and checks the path segments; nullopt when the path must not be served.
std::optional<std::string> SafeRelativePath(std::string_view url_path) {
  auto decoded = PercentDecode(url_path);
  if (!decoded) return std::nullopt;
  std::string rel;
  std::size_t start = 0;
  const std::string& p = *decoded;
  while (start < p.size()) {
    std::size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string_view seg(p.data() + start, end - start);
    start = end + 1;
    if (seg.empty()) continue;
    // "..", ".", dot-files and anything with NUL or a backslash are refused.
    if (seg[0] == '.' || seg.find('\0') != std::string_view::npos || seg.find('\\') != std::string_view::npos) {
      return std::nullopt;
    }
    if (!rel.empty()) rel += '/';
    rel.append(seg);
  }
  return rel;
}

constexpr std::size_t kInlineFileBytes = 64 * 1024;

}  // namespace

std::string_view ContentTypeFor(std::string_view file_name) {
  std::size_t dot = file_name.rfind('.');
  std::string ext(dot == std::string_view::npos ? std::string_view() : file_name.substr(dot));
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=UTF-8"},
      {".htm", "text/html; charset=UTF-8"},
      {".js", "application/javascript; charset=UTF-8"},
      {".mjs", "application/javascript; charset=UTF-8"},
      {".css", "text/css; charset=UTF-8"},
      {".json", "application/json; charset=UTF-8"},
      {".txt", "text/plain; charset=UTF-8"},
      {".map", "application/json; charset=UTF-8"},
      {".xml", "application/xml"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".pdf", "application/pdf"},
      {".wasm", "application/wasm"},
      {".mp4", "video/mp4"},
      {".webm", "video/webm"},
      {".mp3", "audio/mpeg"},
      {".zip", "application/zip"},
  };
  for (const auto& [e, t] : kTypes) {
    if (ext == e) return t;
  }
  return "application/octet-stream";
}

StaticRoot::StaticRoot(fs::path dir) : dir_(std::move(dir)) {
  fd_ = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

StaticRoot::~StaticRoot() {
  if (fd_ >= 0) ::close(fd_);
}

int StaticRoot::OpenBeneath(const std::string& relative) const {
  if (fd_ < 0) return -1;
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;  // O_NONBLOCK: a FIFO in public/ must not hang us
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const char* path = relative.empty() ? "." : relative.c_str();
  long fd = ::syscall(SYS_openat2, fd_, path, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS) {
    // Kernels before 5.6: resolve by hand and require the result to stay inside the folder.
    std::error_code ec;
    fs::path root = fs::canonical(dir_, ec);
    fs::path target = fs::weakly_canonical(root / relative, ec);
    if (ec) return -1;
    auto [r, t] = std::mismatch(root.begin(), root.end(), target.begin(), target.end());
    if (r != root.end()) return -1;
    fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  }
  return static_cast<int>(fd);
}

std::optional<Response> StaticRoot::Serve(const Request& req, std::string_view method,
                                          std::string_view url_path) const {
  const bool head = method == "HEAD";
  if (method != "GET" && !head) return std::nullopt;
  auto rel = SafeRelativePath(url_path);
  if (!rel) return std::nullopt;
  auto file = std::make_shared<FileHandle>(OpenBeneath(*rel));
  if (file->fd() < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(file->fd(), &st) != 0) return std::nullopt;
  std::string name = *rel;
  if (S_ISDIR(st.st_mode)) {
    if (url_path.empty() || url_path.back() != '/') {
      Response r;
      r.status = 301;
      std::string location(req.path());
      location += '/';
      if (req.has_query()) {
        location += '?';
        location.append(req.query());
      }
      r.Set("Location", location);
      r.Set("Content-Type", "text/html; charset=UTF-8");
      r.Set("Content-Security-Policy", "default-src 'self'");
      r.Set("X-Content-Type-Options", "nosniff");
      r.body =
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Redirect</title></head>"
          "<body><pre>Redirecting</pre></body></html>\n";
      r.head = head;
      return r;
    }
    name = rel->empty() ? "index.html" : *rel + "/index.html";
    file = std::make_shared<FileHandle>(OpenBeneath(name));
    if (file->fd() < 0 || ::fstat(file->fd(), &st) != 0) return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  char etag_buf[64];
  std::snprintf(etag_buf, sizeof etag_buf, "W/\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000));
  const std::string etag = etag_buf;
  const std::string last_modified = HttpDate(st.st_mtim.tv_sec);

  Response r;
  r.head = head;
  r.Set("Accept-Ranges", "bytes");
  r.Set("Cache-Control", "public, max-age=0");
  r.Set("Last-Modified", last_modified);
  r.Set("ETag", etag);
  r.Set("Content-Type", std::string(ContentTypeFor(name)));

  // Conditional GET: If-None-Match wins over If-Modified-Since; unparsable dates are ignored.
  bool not_modified = false;
  if (const std::string* inm = req.header("if-none-match")) {
    not_modified =
        *inm == "*" || inm->find(etag) != std::string::npos || inm->find(etag.substr(2)) != std::string::npos;
  } else if (const std::string* ims = req.header("if-modified-since")) {
    if (auto t = ParseHttpDate(*ims)) not_modified = st.st_mtim.tv_sec <= *t;
  }
  if (not_modified) {
    r.status = 304;
    r.headers.erase(
        std::remove_if(r.headers.begin(), r.headers.end(), [](const auto& h) { return h.first == "Content-Type"; }),
        r.headers.end());
    return r;
  }

  std::uint64_t offset = 0, length = size;
  const std::string* range = req.header("range");
  if (const std::string* if_range = req.header("if-range");
      range && if_range && *if_range != etag && *if_range != last_modified) {
    range = nullptr;  // the client's copy is stale: send the whole file
  }
  // Only a single "bytes=" range is honoured; several ranges get the whole file (as `send` does).
  if (range && range->rfind("bytes=", 0) == 0 && range->find(',') == std::string::npos) {
    std::string spec = range->substr(6);
    std::size_t dash = spec.find('-');
    bool valid = dash != std::string::npos;
    std::uint64_t first = 0, last = size ? size - 1 : 0;
    auto parse_num = [](std::string_view s, std::uint64_t& out) {
      if (s.empty() || s.size() > 19) return false;
      out = 0;
      for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<std::uint64_t>(c - '0');
      }
      return true;
    };
    if (valid) {
      std::string_view a(spec.data(), dash), b(spec.data() + dash + 1, spec.size() - dash - 1);
      std::uint64_t n = 0;
      if (a.empty()) {  // suffix: last n bytes
        valid = parse_num(b, n) && n > 0;
        if (valid) first = n >= size ? 0 : size - n;
      } else {
        valid = parse_num(a, first);
        if (valid && !b.empty()) valid = parse_num(b, n), last = std::min(n, last);
        if (valid && !b.empty() && n < first) valid = false;
      }
    }
    if (valid && (size == 0 || first >= size)) {
      Response bad;
      bad.status = 416;
      bad.Set("Content-Range", "bytes */" + std::to_string(size));
      bad.Set("Content-Type", "text/plain; charset=UTF-8");
      bad.body = "Range Not Satisfiable";
      return bad;
    }
    if (valid) {
      offset = first;
      length = last - first + 1;
      r.status = 206;
      r.Set("Content-Range",
            "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
    }
  }
  if (length <= kInlineFileBytes) {
    // Small files go out in one write with their header.
    r.body.resize(static_cast<std::size_t>(length));
    ssize_t got = length ? ::pread(file->fd(), r.body.data(), r.body.size(), static_cast<off_t>(offset)) : 0;
    if (got < 0 || static_cast<std::uint64_t>(got) != length) return std::nullopt;
    return r;
  }
  r.file = FileBody{std::move(file), offset, length};
  return r;
}

}  // namespace dpd::http
