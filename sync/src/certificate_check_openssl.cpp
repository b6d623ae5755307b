// Certificates read by OpenSSL (Linux, where libcurl verifies with OpenSSL too).
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certificate_check.hpp"

namespace veld::sync::detail {

std::size_t readableCertificates(std::string_view pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    if (!bio) return 0;
    std::size_t parsed = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        X509_free(cert);
        ++parsed;
    }
    ERR_clear_error();
    return parsed;
}

}  // namespace veld::sync::detail
