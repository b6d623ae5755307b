#include <veld/result.hpp>

namespace veld {

std::string_view errorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::InvalidArgument:
            return "invalid-argument";
        case ErrorCode::NotFound:
            return "not-found";
        case ErrorCode::WrongState:
            return "wrong-state";
        case ErrorCode::ReadOnly:
            return "read-only";
        case ErrorCode::StorageFull:
            return "storage-full";
        case ErrorCode::InUse:
            return "in-use";
        case ErrorCode::Corrupt:
            return "corrupt";
        case ErrorCode::TooNew:
            return "too-new";
        case ErrorCode::NotAStore:
            return "not-a-store";
        case ErrorCode::Io:
            return "io";
        case ErrorCode::Internal:
            return "internal";
        case ErrorCode::Refused:
            return "refused";
        case ErrorCode::Unavailable:
            return "unavailable";
    }
    return "unknown";
}

std::string Error::describe() const {
    std::string out(errorCodeName(code));
    out += ": ";
    out += message;
    return out;
}

}  // namespace veld
