#include "arrowport/cli/hash_password.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "arrowport/auth/password_hasher.h"

namespace arrowport::cli {

namespace {

// Restores the terminal's echo when it goes out of scope (also on early return).
class EchoOff {
 public:
  EchoOff() : ok_(tcgetattr(STDIN_FILENO, &saved_) == 0) {
    if (!ok_) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  ~EchoOff() {
    if (ok_) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  termios saved_{};
  bool ok_;
};

std::string Prompt(const char* text) {
  std::fprintf(stderr, "%s", text);
  std::string line;
  {
    EchoOff quiet;
    std::getline(std::cin, line);
  }
  std::fprintf(stderr, "\n");
  return line;
}

}  // namespace

int HashPassword() {
  std::string password;
  if (isatty(STDIN_FILENO)) {
    password = Prompt("Password: ");
    if (Prompt("Again: ") != password) {
      std::fprintf(stderr, "arrowport: error: the passwords differ\n");
      return 2;
    }
  } else {
    password.assign(std::istreambuf_iterator<char>(std::cin), {});
    if (!password.empty() && password.back() == '\n') password.pop_back();
    if (!password.empty() && password.back() == '\r') password.pop_back();
  }
  if (password.empty()) {
    std::fprintf(stderr, "arrowport: error: empty password\n");
    return 2;
  }
  auto hash = auth::PasswordHasher::Hash(password);
  if (!hash.ok()) {
    std::fprintf(stderr, "arrowport: error: %s\n", hash.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", hash->c_str());
  return 0;
}

}  // namespace arrowport::cli
