// Result values for expected failures (see docs/errors.md for the three tiers of errors).
//
// A function that can fail for reasons outside the programmer's control (a full disk, a corrupt
// file, a record that is not a draft) returns Result<T> or Status. Both are [[nodiscard]]: an
// ignored failure is a compile error under -Werror.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace veld {

enum class ErrorCode {
    InvalidArgument,  // the caller passed something Veld refuses (bad id, bad record content)
    NotFound,         // no such record, key or file
    WrongState,       // e.g. updating a record that is no longer a draft
    ReadOnly,         // the store file or its folder cannot be written
    StorageFull,      // the disk is full (SQLITE_FULL or a failed write)
    InUse,            // another process holds the store and did not let go in time
    Corrupt,          // a file or body failed verification
    TooNew,           // written by a newer Veld than this one
    NotAStore,        // the file is not a Veld store
    Io,               // any other I/O failure
    Internal,         // a bug or an unexpected library error
    Refused,          // the collector refused the credential (HTTP 401 or 403)
    Unavailable,      // the database cannot be reached now; try again
};

/// A short English name for an error code, for logs and the command line.
std::string_view errorCodeName(ErrorCode code);

struct Error {
    ErrorCode code;
    std::string message;  // says what failed and what the user can do; never holds answers

    /// "storage-full: the disk is full while finalizing ..."
    [[nodiscard]] std::string describe() const;
};

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : m_value(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : m_value(std::move(error)) {}  // NOLINT

    [[nodiscard]] bool ok() const { return m_value.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(m_value);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(m_value);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(m_value));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    [[nodiscard]] const Error& error() const {
        assert(!ok());
        return std::get<1>(m_value);
    }

  private:
    std::variant<T, Error> m_value;
};

/// Result of an operation that returns nothing but may fail.
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(Error error) : m_error(std::move(error)), m_failed(true) {}  // NOLINT

    static Status success() { return {}; }

    [[nodiscard]] bool ok() const { return !m_failed; }
    explicit operator bool() const { return ok(); }
    [[nodiscard]] const Error& error() const {
        assert(m_failed);
        return m_error;
    }

  private:
    Error m_error{ErrorCode::Internal, {}};
    bool m_failed = false;
};

inline Error makeError(ErrorCode code, std::string message) {
    return Error{code, std::move(message)};
}

}  // namespace veld
