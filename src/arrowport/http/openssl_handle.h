#pragma once

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace arrowport::http {

/// Frees an OpenSSL object with its own free function.
template <typename T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* handle) const {
    if (handle != nullptr) Free(handle);
  }
};

/// \brief The one RAII owner of OpenSSL handles: `OpenSslHandle<SSL, SSL_free>`.
template <typename T, void (*Free)(T*)>
using OpenSslHandle = std::unique_ptr<T, OpenSslFree<T, Free>>;

using SslCtxHandle = OpenSslHandle<SSL_CTX, SSL_CTX_free>;
using SslHandle = OpenSslHandle<SSL, SSL_free>;

/// Drains this thread's OpenSSL error queue into one line ("" when empty), so an error
/// reported here never leaks into the next, unrelated OpenSSL call's diagnosis.
std::string TakeOpenSslErrors();

}  // namespace arrowport::http
