#include "arrowport/http/openssl_handle.h"

#include <openssl/err.h>

namespace arrowport::http {

std::string TakeOpenSslErrors() {
  std::string out;
  for (unsigned long code = ERR_get_error(); code != 0; code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

}  // namespace arrowport::http
