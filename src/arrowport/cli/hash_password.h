#pragma once

namespace arrowport::cli {

/// `arrowport hash-password`: reads a password (prompted twice without echo on a
/// terminal, else stdin up to EOF, one trailing newline dropped) and prints its argon2id
/// hash string for auth.users[].password_hash. Returns the process exit code.
int HashPassword();

}  // namespace arrowport::cli
