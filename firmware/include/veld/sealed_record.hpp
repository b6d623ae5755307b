// Sealed records: a record whose answers, repeats and paradata are encrypted to the project's
// public key before they reach the disk. What stays in clear is what sync, merging, counting
// and review by metadata need: id, form and version, device, clocks, status and case. Inside
// the sealed box is the whole record body, and opening it checks that those clear fields match,
// so a box cannot be moved to another record unnoticed.
#pragma once

#include <span>
#include <vector>

#include <veld/project_key.hpp>
#include <veld/record.hpp>
#include <veld/result.hpp>

namespace veld::fb {
struct Form;
}

namespace veld {

/// `record` (not sealed itself) with its content sealed to `key`: the result keeps only the
/// metadata in clear. InvalidArgument when the record cannot be encoded.
Result<Record> sealRecord(const Record& record, const projectkey::PublicKey& key);

/// The record inside a sealed one, opened with the matching key of `keys`. NotFound when no key
/// in `keys` has the id it was sealed to; Corrupt when the box does not open with that key, or
/// what it holds is not a sound record or does not match the clear metadata. A record that is
/// not sealed is returned as it is.
Result<Record> openRecord(const Record& record, std::span<const projectkey::SecretKey> keys);

/// Whether a form's records are sealed: forms marked sealed, and every kiosk form (people fill
/// those in themselves at a machine anyone can walk up to). `binary` is a verified VFRM buffer.
bool formIsSealed(std::span<const std::uint8_t> formBinary);
/// The same for a form already verified and loaded.
bool formIsSealed(const fb::Form& form);

}  // namespace veld
