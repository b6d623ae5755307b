// A self-signed TLS certificate and key for trying HTTPS, or for a pilot's own collector whose
// certificate is handed to devices with their enrolment (veldctl enrol --ca).
#pragma once

#include <string>
#include <vector>

#include <veld/result.hpp>

namespace veld::veldctl {

/// Writes an ECDSA P-256 key (PEM, mode 0600) and a certificate for `names` (the first is the
/// common name; each is a DNS name or an IP address in the subject alternative names), valid
/// for `days`.
Status writeSelfSignedCertificate(const std::string& certPath, const std::string& keyPath,
                                  const std::vector<std::string>& names, int days);

}  // namespace veld::veldctl
