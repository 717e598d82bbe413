#pragma once

#include <string>

// Text that may hold a secret (a config value, an init_sql statement, an error that echoes
// one), recognised by its form: what must not sit in a file others may read, nor be
// printed or logged as it is.
namespace arrowport {

/// \brief Whether `text` holds a password or key by its form: a libpq keyword
/// (`password=`, `sslpassword=`, `oauth_client_secret=`, also as URI parameters), a URI's
/// `user:password@`, or the words of DuckDB secrets and cloud credentials (secret,
/// password, token, AccountKey, a connection string, credential). Matched as written and
/// with percent-escapes decoded (`p%61ssword=`, `user:s3%2Fcret@`). A text that merely
/// mentions such a word counts too: held private, nothing is lost.
bool HoldsSecret(const std::string& text);

/// A connection string's password by its form alone (libpq's password keywords,
/// `user:password@`), as written and percent-decoded: what a DuckLake catalog's
/// connection string may hold.
bool HoldsPassword(const std::string& conninfo);

}  // namespace arrowport
