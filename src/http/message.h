#pragma once
// Plain HTTP request/response structs handed between the transport (http/server) and the rest of dpd.
// They carry no Beast types, so modules above http/ compile without Beast. Values; not shared between threads.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dpd::http {

// Header names are stored lower-case.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

class FileHandle;

struct Request {
  std::string method;  // upper-case token as sent ("GET")
  std::string target;  // origin-form target: path plus optional "?query" (absolute-form is reduced to this)
  HeaderList headers;
  std::string body;
  // A body written to disk as it arrived (ServerOptions::spool_limit): an unnamed file of body_file_bytes, read
  // with pread from offset 0; `body` is then empty. The file goes away when the last owner lets go.
  std::shared_ptr<const FileHandle> body_file;
  std::uint64_t body_file_bytes = 0;
  std::string remote_ip;
  int client_fd = -1;    // the connection's socket, only to notice (MSG_PEEK) that the client has gone
  std::uint64_t id = 0;  // request id, unique per process, also in the logs
  bool keep_alive = true;

  // The path part of the target (before '?'), raw (not percent-decoded).
  std::string_view path() const;
  // The text after the first '?', raw; empty when there is none. has_query() tells "?" from no "?".
  std::string_view query() const;
  bool has_query() const { return target.find('?') != std::string::npos; }
  // First header with this lower-case name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

// An open file descriptor, closed when the last owner lets go.
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle();
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// A region of an already opened file to send as the body (large static files). The transport streams it in
// bounded chunks with pread, so the file checked at open time is the file sent.
struct FileBody {
  std::shared_ptr<FileHandle> file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// A body produced while it is sent (Response::source): written with chunked transfer coding (HTTP/1.1) or until
// the connection closes (HTTP/1.0).
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next piece; "" at the normal end; nullopt when the producer failed: the connection is closed without the
  // last chunk. Called on the connection's worker, one call at a time.
  virtual boost::asio::awaitable<std::optional<std::string>> Next() = 0;
};

struct Response {
  int status = 200;
  HeaderList headers;  // names in the case they should be sent
  std::string body;
  std::optional<FileBody> file;  // when set, it is the body (and `body` is ignored)
  std::shared_ptr<BodySource> source;  // when set, it is the body (and `body` and `file` are ignored)
  bool close = false;            // close the connection after this response
  bool head = false;             // response to HEAD: headers (with the real Content-Length), no body
  std::string log_fields;        // " key=value…" the handler adds to the request's access-log line

  void Set(std::string name, std::string value);
  const std::string* Get(std::string_view name) const;  // case-insensitive
};

// The standard reason phrase for `status` ("Not Found"), or "Unknown".
std::string_view ReasonPhrase(int status);

// Percent-decodes `in`. '+' is kept unless plus_as_space. Returns nullopt on a malformed escape or when the
// decoded bytes are not valid UTF-8 (overlong forms included) — what JavaScript's decodeURIComponent refuses.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_as_space = false);

// `s` without the optional whitespace (spaces and tabs) HTTP allows around header list elements.
std::string_view TrimOws(std::string_view s);

// The value of cookie `name` in a Cookie header ("a=1; sid=xyz"), or nullopt.
std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name);

// The session id a request carries (spec §3.5, §3.7): `Authorization: Bearer <id>` (any case, spaces trimmed) first,
// else the `sid` cookie; empty when neither. `bearer` is set when an Authorization Bearer header was present.
std::string SessionIdOf(const Request& req, bool* bearer);

// True when `s` is valid UTF-8 (no overlong forms, no surrogates, ≤ U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace dpd::http
