// Internal to the sync library: whether the certificates of a PEM can be read, by the system's
// own reader (OpenSSL on Linux, CryptoAPI on Windows), so a device is never handed a CA file its
// TLS stack would refuse later.
#pragma once

#include <cstddef>
#include <string_view>

namespace veld::sync::detail {

/// How many "CERTIFICATE" blocks of `pem`, from the first on, parse as X.509 certificates.
std::size_t readableCertificates(std::string_view pem);

}  // namespace veld::sync::detail
