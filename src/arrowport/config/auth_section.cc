#include "arrowport/config/auth_section.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "arrowport/config/config_keys.h"

namespace arrowport::config {

namespace {

using User = Config::User;

arrow::Result<std::vector<std::string>> Names(const YAML::Node& node) {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) return arrow::Status::Invalid("expected a list of names");
  for (const auto& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      return arrow::Status::Invalid("expected a list of names");
    }
    out.push_back(item.Scalar());
  }
  return out;
}

arrow::Status ParseUser(const YAML::Node& node, const std::string& key, User* user) {
  if (!node.IsMap())
    return arrow::Status::Invalid("expected a mapping {name, password_hash, role}");
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return arrow::Status::Invalid("a key must be a plain name");
    const std::string field = kv.first.Scalar();
    const auto& value = kv.second;
    if (field == "tables" || field == "streams") {
      auto names = Names(value);
      if (!names.ok())
        return arrow::Status::Invalid(field, ": ", names.status().message());
      (field == "tables" ? user->tables : user->streams) = std::move(*names);
      continue;
    }
    if (field != "name" && field != "password_hash" && field != "role") {
      return arrow::Status::Invalid(
          "unknown key '", field,
          "' (known: name, password_hash, role, tables, streams)");
    }
    if (!value.IsScalar())
      return arrow::Status::Invalid(field, ": expected a scalar value");
    if (field == "name") user->name = value.Scalar();
    if (field == "password_hash") user->password_hash = value.Scalar();
    if (field == "role") {
      auto role = ParseRole(value.Scalar());
      if (!role.ok()) return role.status();
      user->role = *role;
    }
  }
  if (user->name.empty()) return arrow::Status::Invalid("name is required");
  // Basic credentials are "user:password": a colon in a name could never log in.
  if (user->name.find(':') != std::string::npos) {
    return arrow::Status::Invalid("name '", user->name, "' must not contain ':'");
  }
  if (user->password_hash.empty()) {
    return arrow::Status::Invalid("user '", user->name,
                                  "': password_hash is required "
                                  "(generate it with `arrowport hash-password`)");
  }
  return arrow::Status::OK();
}

// An argon2id string as libsodium and libargon2 write it:
// $argon2id$v=19$m=<kib>,t=<ops>,p=<lanes>$<salt b64>$<hash b64>. Checked by shape here
// (config does not link the KDF); the verifier refuses anything it cannot parse.
bool LooksLikeArgon2id(const std::string& text) {
  const std::string prefix = "$argon2id$v=19$m=";
  if (text.rfind(prefix, 0) != 0) return false;
  int dollars = 0;
  for (char ch : text) {
    if (ch == '$') ++dollars;
    if (static_cast<unsigned char>(ch) <= ' ') return false;
  }
  return dollars == 5 && text.back() != '$' && text.find(",t=") != std::string::npos &&
         text.find(",p=") != std::string::npos;
}

}  // namespace

arrow::Result<Role> ParseRole(const std::string& text) {
  if (text == "reader") return Role::kReader;
  if (text == "writer") return Role::kWriter;
  if (text == "admin") return Role::kAdmin;
  return arrow::Status::Invalid("role must be reader, writer or admin, got '", text, "'");
}

const char* ToString(Role role) {
  switch (role) {
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
    default:
      return "reader";
  }
}

bool AuthEnabled(const Config& config) {
  return config.auth.enabled.value_or(!config.auth.users.empty());
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  // Addresses are parsed, not prefix-matched: "127.example.com" is a name that may
  // resolve anywhere, and "0:0:0:0:0:0:0:1" is ::1 written out.
  if (const auto address = Ipv6Address(host)) {
    in6_addr v6{};
    ::inet_pton(AF_INET6, address->c_str(), &v6);
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.0.0.1, an IPv4 loopback address in IPv6 form.
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

std::optional<std::string> Ipv6Address(const std::string& host) {
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  std::string address = bracketed ? host.substr(1, host.size() - 2) : host;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) != 1) return std::nullopt;
  return address;
}

arrow::Status ParseAuthUsers(const YAML::Node& node, const std::string& source,
                             Config* config) {
  config->auth.users.clear();
  if (node.IsNull()) return arrow::Status::OK();
  if (!node.IsSequence())
    return KeyError(source, "auth.users", "expected a list of users");
  int index = 0;
  for (const auto& item : node) {
    const std::string key = "auth.users[" + std::to_string(index++) + "]";
    User user;
    auto st = ParseUser(item, key, &user);
    if (!st.ok()) return KeyError(source, key, st.message());
    config->auth.users.push_back(std::move(user));
  }
  return arrow::Status::OK();
}

arrow::Status ValidateAuth(const Config& c) {
  const std::string& src = c.source;  // users come from the file only
  std::set<std::string> names;
  for (const auto& user : c.auth.users) {
    const std::string key = "auth.users." + user.name;
    if (!names.insert(user.name).second)
      return KeyError(src, key, "user is listed twice");
    if (!LooksLikeArgon2id(user.password_hash)) {
      return KeyError(
          src, key + ".password_hash",
          "not an argon2id hash string; plain-text passwords are refused. "
          "Generate one with `arrowport hash-password` and paste its output");
    }
  }
  // HS256 is only as strong as its key: a short one can be guessed offline from a token.
  if (!c.auth.token_secret.empty() && c.auth.token_secret.size() < 32) {
    return KeyError(
        c.SourceOf("auth.token_secret"), "auth.token_secret",
        "must be at least 32 characters (e.g. `openssl rand -base64 32`), got " +
            std::to_string(c.auth.token_secret.size()));
  }
  if (c.auth.enabled.value_or(false) && c.auth.users.empty()) {
    return KeyError(
        c.SourceOf("auth.enabled"), "auth.enabled",
        "authentication is on but auth.users is empty: nobody could connect; "
        "add users (see `arrowport hash-password`)");
  }
  if (AuthEnabled(c) || c.auth.enabled.has_value()) return arrow::Status::OK();
  std::vector<std::pair<const char*, const std::string*>> binds = {
      {"flight.host", &c.flight.host}, {"http.host", &c.http.host}};
  if (c.metrics.port) binds.emplace_back("metrics.host", &c.metrics.host);
  for (const auto& [key, host] : binds) {
    if (IsLoopback(*host)) continue;
    return KeyError(
        c.SourceOf(key), key,
        "binding " + *host +
            " (not loopback) without authentication is refused: configure "
            "auth.users (see `arrowport hash-password`), or bind 127.0.0.1, or "
            "write `auth: {enabled: false}` to serve everyone unauthenticated");
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::config
