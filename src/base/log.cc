#include "base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cctype>
#include <cstdlib>
#include <chrono>
#include <ctime>
#include <vector>

namespace dpd {
namespace {

// Appends `s` as a JSON string: escapes, and any byte sequence that is not UTF-8 as U+FFFD.
void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, each continuation 10xxxxxx, no overlong forms.
    std::size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogate
    }
    if (ok && n == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);  // overlong, beyond U+10FFFF
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

void AppendUtf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | ((cp >> 12) & 0x0f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool IsKeyStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsKeyChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

bool IsJsonNumber(std::string_view v) {
  std::size_t i = 0;
  if (i < v.size() && v[i] == '-') ++i;
  if (i >= v.size() || !std::isdigit(static_cast<unsigned char>(v[i]))) return false;
  if (v[i] == '0' && i + 1 < v.size() && std::isdigit(static_cast<unsigned char>(v[i + 1]))) return false;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
  if (i < v.size() && v[i] == '.') {
    ++i;
    if (i >= v.size() || !std::isdigit(static_cast<unsigned char>(v[i]))) return false;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
  }
  return i == v.size() && v.size() < 32;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = msg.time;
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[40];
    const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = "{\"time\":\"" + std::string(stamp, n) + "." + std::to_string(1000 + ms).substr(1) + "Z\",";
    const auto level = spdlog::level::to_string_view(msg.level);
    out += "\"level\":\"" + std::string(level.data(), level.size()) + "\",";
    std::string body = LogLineJson(std::string_view(msg.payload.data(), msg.payload.size()));
    out.append(body, 1);  // without its '{'
    out += '\n';
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::string LogQuote(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);  // a JSON string is also a valid quoted text value
  return out;
}

std::string LogLineJson(std::string_view line) {
  std::string message;
  std::vector<std::pair<std::string, std::pair<std::string, bool>>> fields;  // key → (value, quoted)
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    // key=value?
    std::size_t k = i;
    if (IsKeyStart(line[k])) {
      while (k < line.size() && IsKeyChar(line[k])) ++k;
    }
    if (k > i && k < line.size() && line[k] == '=') {
      std::string key(line.substr(i, k - i));
      std::size_t v = k + 1;
      if (v < line.size() && line[v] == '"') {
        std::string value;
        std::size_t j = v + 1;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            const char e = line[++j];
            if (e == 'n') {
              value += '\n';
            } else if (e == 'r') {
              value += '\r';
            } else if (e == 't') {
              value += '\t';
            } else if (e == 'u' && j + 4 < line.size()) {
              AppendUtf8(value, std::strtoul(std::string(line.substr(j + 1, 4)).c_str(), nullptr, 16));
              j += 4;
            } else {
              value += e;
            }
          } else {
            value += line[j];
          }
        }
        fields.push_back({std::move(key), {std::move(value), true}});
        i = j + 1;
        continue;
      }
      std::size_t end = line.find(' ', v);
      if (end == std::string_view::npos) end = line.size();
      fields.push_back({std::move(key), {std::string(line.substr(v, end - v)), false}});
      i = end;
      continue;
    }
    std::size_t end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    if (!message.empty()) message += ' ';
    message.append(line.substr(i, end - i));
    i = end;
  }
  std::string out = "{\"msg\":";
  AppendJsonString(out, message);
  for (const auto& [key, value] : fields) {
    if (key == "msg" || key == "time" || key == "level") continue;
    out += ',';
    AppendJsonString(out, key);
    out += ':';
    const auto& [text, quoted] = value;
    if (!quoted && (IsJsonNumber(text) || text == "true" || text == "false")) {
      out += text;
    } else {
      AppendJsonString(out, text);
    }
  }
  return out + "}";
}

void InitLogging(std::string_view level, LogFormat format) {
  auto logger = spdlog::stderr_color_mt("dpd");
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

bool LogFailure(std::string_view what, const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("task failed task={} error=\"{}\"", what, ex.what());
  } catch (...) {
    spdlog::error("task failed task={} error=unknown", what);
  }
  return true;
}

}  // namespace dpd
