// Certificates read by Windows' CryptoAPI (where libcurl verifies with Schannel).
#include <string>
#include <vector>

#include <windows.h>

// After windows.h, whose types it uses.
#include <wincrypt.h>

#include "certificate_check.hpp"

namespace veld::sync::detail {

std::size_t readableCertificates(std::string_view pem) {
    constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
    std::size_t parsed = 0;
    for (std::size_t at = pem.find("-----BEGIN CERTIFICATE-----"); at != std::string_view::npos;
         at = pem.find("-----BEGIN CERTIFICATE-----", at + 1)) {
        const std::size_t end = pem.find(kEnd, at);
        if (end == std::string_view::npos) break;
        const std::string block(pem.substr(at, end + kEnd.size() - at));
        DWORD size = 0;
        if (!CryptStringToBinaryA(block.c_str(), static_cast<DWORD>(block.size()),
                                  CRYPT_STRING_BASE64HEADER, nullptr, &size, nullptr, nullptr))
            break;
        std::vector<BYTE> der(size);
        if (!CryptStringToBinaryA(block.c_str(), static_cast<DWORD>(block.size()),
                                  CRYPT_STRING_BASE64HEADER, der.data(), &size, nullptr, nullptr))
            break;
        PCCERT_CONTEXT cert =
            CertCreateCertificateContext(X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, der.data(), size);
        if (!cert) break;
        CertFreeCertificateContext(cert);
        ++parsed;
    }
    return parsed;
}

}  // namespace veld::sync::detail
