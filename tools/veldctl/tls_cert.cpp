// A self-signed certificate for trying HTTPS without a CA (veldctl collector tls-selfsigned).
#include "veldctl/tls_cert.hpp"

#include <cstdio>
#include <memory>

#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

namespace veld::veldctl {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;

Error failure(const std::string& what) {
    return makeError(ErrorCode::Internal, "cannot make the certificate: " + what);
}

bool addExtension(X509* cert, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return false;
    const bool added = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return added;
}

// Opens `path` for writing with `mode`, replacing what was there; null on failure.
FILE* create(const std::string& path, mode_t mode) {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return nullptr;
    FILE* f = ::fdopen(fd, "w");
    if (!f) ::close(fd);
    return f;
}

}  // namespace

Status writeSelfSignedCertificate(const std::string& certPath, const std::string& keyPath,
                                  const std::vector<std::string>& names, int days) {
    if (names.empty()) return makeError(ErrorCode::InvalidArgument, "a certificate needs a name");
    Key key(EVP_EC_gen("P-256"));
    if (!key) return failure("no key");
    Cert cert(X509_new());
    if (!cert) return failure("no certificate");
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return failure("no random serial");
    serial[0] &= 0x7F;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    const bool serialSet = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    if (!serialSet) return failure("no serial");
    X509_set_version(cert.get(), 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400L);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(names.front().c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(cert.get(), name);
    std::string san;
    for (const auto& n : names) {
        if (!san.empty()) san += ",";
        const bool ip = n.find_first_not_of("0123456789.") == std::string::npos ||
                        n.find(':') != std::string::npos;
        san += (ip ? "IP:" : "DNS:") + n;
    }
    if (!addExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
        !addExtension(cert.get(), NID_subject_key_identifier, "hash") ||
        !addExtension(cert.get(), NID_subject_alt_name, san)) {
        return failure("a name is not a host name or an IP address");
    }
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return failure("cannot sign");

    FILE* keyFile = create(keyPath, 0600);
    if (!keyFile) return makeError(ErrorCode::Io, "cannot write " + keyPath);
    const bool keyWritten =
        PEM_write_PrivateKey(keyFile, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (std::fclose(keyFile) != 0 || !keyWritten)
        return makeError(ErrorCode::Io, "cannot write " + keyPath);
    FILE* certFile = create(certPath, 0644);
    if (!certFile) return makeError(ErrorCode::Io, "cannot write " + certPath);
    const bool certWritten = PEM_write_X509(certFile, cert.get()) == 1;
    if (std::fclose(certFile) != 0 || !certWritten)
        return makeError(ErrorCode::Io, "cannot write " + certPath);
    return {};
}

}  // namespace veld::veldctl
