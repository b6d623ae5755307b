// Files and folders on Windows: see veld/platform/files.hpp. Every path goes through the wide
// (W) functions; private files and folders get a protected DACL for the current user.
#include <windows.h>
// After windows.h:
#include <memory>
#include <vector>

#include <aclapi.h>
#include <knownfolders.h>
#include <ntsecapi.h>
#include <sddl.h>
#include <shlobj.h>

#include <veld/platform/files.hpp>
#include <veld/platform/process.hpp>

#include "windows_text.hpp"

namespace veld::platform {

namespace windows {

std::wstring wide(std::string_view utf8) {
    if (utf8.empty()) return {};
    const int n =
        ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
    std::wstring out(static_cast<std::size_t>(n), L'\0');
    ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
    return out;
}

std::string utf8(std::wstring_view text) {
    if (text.empty()) return {};
    const int n = ::WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()),
                                        nullptr, 0, nullptr, nullptr);
    std::string out(static_cast<std::size_t>(n), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n,
                          nullptr, nullptr);
    return out;
}

std::string systemMessage(unsigned long error) {
    wchar_t* text = nullptr;
    const DWORD n = ::FormatMessageW(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, error, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
    std::string out = n && text ? utf8(std::wstring_view(text, n)) : std::string();
    if (text) ::LocalFree(text);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == '.'))
        out.pop_back();
    if (out.empty()) out = "Windows error " + std::to_string(error);
    return out;
}

}  // namespace windows

namespace {

using windows::wide;

Error fromLastError(DWORD err, const std::string& what) {
    const ErrorCode code =
        (err == ERROR_ACCESS_DENIED || err == ERROR_WRITE_PROTECT || err == ERROR_SHARING_VIOLATION)
            ? ErrorCode::ReadOnly
        : (err == ERROR_DISK_FULL || err == ERROR_HANDLE_DISK_FULL)    ? ErrorCode::StorageFull
        : (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) ? ErrorCode::NotFound
                                                                       : ErrorCode::Io;
    return Error{code, what + ": " + windows::systemMessage(err)};
}

HANDLE handleOf(std::intptr_t h) {
    return reinterpret_cast<HANDLE>(h);
}

// The current user's SID as text (S-1-5-21-...), read once from the process token.
const std::wstring& currentUserSid() {
    static const std::wstring sid = [] {
        std::wstring out;
        HANDLE token = nullptr;
        if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return out;
        DWORD size = 0;
        ::GetTokenInformation(token, TokenUser, nullptr, 0, &size);
        std::vector<unsigned char> buf(size);
        wchar_t* text = nullptr;
        if (size && ::GetTokenInformation(token, TokenUser, buf.data(), size, &size) &&
            ::ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, &text)) {
            out = text;
            ::LocalFree(text);
        }
        ::CloseHandle(token);
        return out;
    }();
    return sid;
}

// The security attributes of a private file or folder: a protected DACL (nothing inherited)
// granting the current user full access; a folder's entry is inherited by what is made in it.
struct PrivateSecurity {
    SECURITY_ATTRIBUTES attributes{};
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    explicit PrivateSecurity(bool folder) {
        const std::wstring sddl =
            L"D:P(A;" + std::wstring(folder ? L"OICI" : L"") + L";FA;;;" + currentUserSid() + L")";
        if (currentUserSid().empty() || !::ConvertStringSecurityDescriptorToSecurityDescriptorW(
                                            sddl.c_str(), SDDL_REVISION_1, &descriptor, nullptr))
            descriptor = nullptr;
        attributes.nLength = sizeof attributes;
        attributes.lpSecurityDescriptor = descriptor;
        attributes.bInheritHandle = FALSE;
    }
    ~PrivateSecurity() {
        if (descriptor) ::LocalFree(descriptor);
    }
    PrivateSecurity(const PrivateSecurity&) = delete;
    PrivateSecurity& operator=(const PrivateSecurity&) = delete;
    [[nodiscard]] bool ok() const { return descriptor != nullptr; }
};

}  // namespace

std::filesystem::path fsPath(std::string_view utf8) {
    return std::filesystem::path(wide(utf8));
}

std::string utf8Path(const std::filesystem::path& path) {
    return windows::utf8(path.native());
}

Result<File> File::create(const std::string& path, Create how, Access access) {
    PrivateSecurity security(false);
    if (access == Access::Private && !security.ok())
        return makeError(ErrorCode::Internal, "cannot make a private ACL for " + path);
    const DWORD disposition = how == Create::Exclusive  ? CREATE_NEW
                              : how == Create::Truncate ? CREATE_ALWAYS
                                                        : OPEN_ALWAYS;
    // Security attributes apply to a new file only: a private file is emptied by making it
    // anew, so it never keeps an old, wider ACL.
    if (how == Create::Truncate && access == Access::Private) {
        if (auto s = removeFile(path); !s) return s.error();
    }
    HANDLE h = ::CreateFileW(wide(path).c_str(), GENERIC_READ | GENERIC_WRITE,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                             access == Access::Private ? &security.attributes : nullptr,
                             disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        const DWORD err = ::GetLastError();
        if (how == Create::Exclusive && (err == ERROR_FILE_EXISTS || err == ERROR_ALREADY_EXISTS))
            return makeError(ErrorCode::WrongState, path + " exists already");
        return fromLastError(err, "cannot create " + path);
    }
    return File(reinterpret_cast<std::intptr_t>(h), path);
}

Result<File> File::openRead(const std::string& path) {
    HANDLE h = ::CreateFileW(
        wide(path).c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
        nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (h == INVALID_HANDLE_VALUE) return fromLastError(::GetLastError(), "cannot open " + path);
    File file(reinterpret_cast<std::intptr_t>(h), path);
    if (::GetFileType(h) != FILE_TYPE_DISK)
        return makeError(ErrorCode::InvalidArgument, path + " is not a regular file");
    BY_HANDLE_FILE_INFORMATION info{};
    if (!::GetFileInformationByHandle(h, &info))
        return fromLastError(::GetLastError(), "cannot look at " + path);
    if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        return makeError(ErrorCode::InvalidArgument, path + " is not a regular file");
    return file;
}

Status File::write(std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
        const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(bytes.size(), 1u << 30));
        DWORD written = 0;
        if (!::WriteFile(handleOf(m_handle), bytes.data(), chunk, &written, nullptr))
            return fromLastError(::GetLastError(), "cannot write " + m_path);
        if (written == 0) return makeError(ErrorCode::Io, "cannot write " + m_path);
        bytes = bytes.subspan(written);
    }
    return {};
}

Status File::write(std::string_view text) {
    return write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Result<std::size_t> File::read(void* out, std::size_t size) {
    DWORD got = 0;
    const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(size, 1u << 30));
    if (!::ReadFile(handleOf(m_handle), out, chunk, &got, nullptr)) {
        const DWORD err = ::GetLastError();
        if (err == ERROR_HANDLE_EOF) return std::size_t{0};
        return fromLastError(err, "cannot read " + m_path);
    }
    return static_cast<std::size_t>(got);
}

Result<std::uint64_t> File::size() const {
    LARGE_INTEGER size{};
    if (!::GetFileSizeEx(handleOf(m_handle), &size))
        return fromLastError(::GetLastError(), "cannot look at " + m_path);
    return static_cast<std::uint64_t>(size.QuadPart);
}

Status File::sync() {
    if (!::FlushFileBuffers(handleOf(m_handle)))
        return fromLastError(::GetLastError(), "cannot write " + m_path);
    return {};
}

Result<bool> File::tryLock() {
    OVERLAPPED at{};
    if (::LockFileEx(handleOf(m_handle), LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0,
                     MAXDWORD, MAXDWORD, &at))
        return true;
    const DWORD err = ::GetLastError();
    if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) return false;
    return fromLastError(err, "cannot lock " + m_path);
}

Status File::close() {
    if (m_handle == kNone) return {};
    HANDLE h = handleOf(m_handle);
    m_handle = kNone;
    if (!::CloseHandle(h)) return fromLastError(::GetLastError(), "cannot write " + m_path);
    return {};
}

Status replaceFile(const std::string& from, const std::string& to) {
    if (!::MoveFileExW(wide(from).c_str(), wide(to).c_str(),
                       MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return fromLastError(::GetLastError(), "cannot rename " + from);
    return {};
}

Status removeFile(const std::string& path) {
    if (!::DeleteFileW(wide(path).c_str())) {
        const DWORD err = ::GetLastError();
        if (err != ERROR_FILE_NOT_FOUND && err != ERROR_PATH_NOT_FOUND)
            return fromLastError(err, "cannot remove " + path);
    }
    return {};
}

Status makePrivateFolder(const std::string& path) {
    if (path.empty()) return {};
    const std::wstring name = wide(path);
    const DWORD attributes = ::GetFileAttributesW(name.c_str());
    if (attributes != INVALID_FILE_ATTRIBUTES) {
        if (attributes & FILE_ATTRIBUTE_DIRECTORY) return {};
        return makeError(ErrorCode::InvalidArgument, path + " exists and is not a folder");
    }
    const auto slash = path.find_last_of("/\\");
    // A drive ("C:") or a share's root is never made.
    if (slash != std::string::npos && slash > 0 && !(slash == 2 && path[1] == ':')) {
        if (auto s = makePrivateFolder(path.substr(0, slash)); !s) return s;
    }
    PrivateSecurity security(true);
    if (!security.ok())
        return makeError(ErrorCode::Internal, "cannot make a private ACL for " + path);
    if (!::CreateDirectoryW(name.c_str(), &security.attributes)) {
        const DWORD err = ::GetLastError();
        if (err != ERROR_ALREADY_EXISTS)
            return fromLastError(err, "cannot make the folder " + path);
    }
    return {};
}

Result<std::optional<PrivacyProblem>> privacyProblem(const std::string& path) {
    PACL dacl = nullptr;
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    std::wstring name = wide(path);
    if (::GetFileAttributesW(name.c_str()) == INVALID_FILE_ATTRIBUTES)
        return fromLastError(::GetLastError(), "cannot look at " + path);
    const DWORD rc = ::GetNamedSecurityInfoW(name.data(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                                             nullptr, nullptr, &dacl, nullptr, &descriptor);
    if (rc != ERROR_SUCCESS) return fromLastError(rc, "cannot read the ACL of " + path);
    std::unique_ptr<void, decltype(&::LocalFree)> owned(descriptor, &::LocalFree);
    const std::string fix = "icacls \"" + path + "\" /inheritance:r /grant:r %USERNAME%:F";
    if (!dacl) return std::optional<PrivacyProblem>(PrivacyProblem{"may be read by everyone", fix});
    for (DWORD i = 0; i < dacl->AceCount; ++i) {
        void* ace = nullptr;
        if (!::GetAce(dacl, i, &ace)) continue;
        const auto* header = static_cast<ACE_HEADER*>(ace);
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
        PSID sid = &static_cast<ACCESS_ALLOWED_ACE*>(ace)->SidStart;
        wchar_t* text = nullptr;
        if (!::ConvertSidToStringSidW(sid, &text)) continue;
        const std::wstring who = text;
        ::LocalFree(text);
        // The user, the system and the machine's administrators may read anything anyway.
        if (who == currentUserSid() || who == L"S-1-5-18" || who == L"S-1-5-32-544" ||
            who == L"S-1-3-0" /* the owner */)
            continue;
        return std::optional<PrivacyProblem>(
            PrivacyProblem{"may be read by others (" + windows::utf8(who) + ")", fix});
    }
    return std::optional<PrivacyProblem>();
}

Result<std::string> makeUniquePrivateFolder(const std::string& parent, const std::string& prefix) {
    static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    PrivateSecurity security(true);
    if (!security.ok())
        return makeError(ErrorCode::Internal, "cannot make a private ACL in " + parent);
    for (int attempt = 0; attempt < 100; ++attempt) {
        unsigned char random[6];
        if (!::RtlGenRandom(random, sizeof random))
            return makeError(ErrorCode::Internal, "no random generator");
        std::string name = parent + "\\" + prefix;
        for (unsigned char c : random)
            name.push_back(kLetters[c % (sizeof kLetters - 1)]);
        if (::CreateDirectoryW(wide(name).c_str(), &security.attributes)) return name;
        const DWORD err = ::GetLastError();
        if (err != ERROR_ALREADY_EXISTS)
            return fromLastError(err, "cannot make a folder in " + parent);
    }
    return makeError(ErrorCode::Io, "cannot make a folder in " + parent);
}

std::string homeFolder() {
    const wchar_t* home = ::_wgetenv(L"USERPROFILE");
    return home && *home ? windows::utf8(home) : std::string(".");
}

Status giveToFolderOwner(const std::string& /*path*/) {
    return {};
}

std::string dataFolder() {
    wchar_t* folder = nullptr;
    std::string out;
    if (::SHGetKnownFolderPath(FOLDERID_LocalAppData, KF_FLAG_CREATE, nullptr, &folder) == S_OK)
        out = windows::utf8(folder);
    if (folder) ::CoTaskMemFree(folder);
    if (out.empty()) {
        const wchar_t* env = ::_wgetenv(L"LOCALAPPDATA");
        out = env ? windows::utf8(env) : std::string(".");
    }
    return out + "\\Veld";
}

std::string machineFolder() {
    wchar_t* folder = nullptr;
    std::string out;
    if (::SHGetKnownFolderPath(FOLDERID_ProgramData, 0, nullptr, &folder) == S_OK)
        out = windows::utf8(folder);
    if (folder) ::CoTaskMemFree(folder);
    if (out.empty()) {
        const wchar_t* env = ::_wgetenv(L"ProgramData");
        out = env ? windows::utf8(env) : std::string("C:\\ProgramData");
    }
    return out + "\\Veld";
}

bool trustedOwner(const std::string& path) {
    PSID owner = nullptr;
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    std::wstring name = wide(path);
    if (::GetNamedSecurityInfoW(name.data(), SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, &owner,
                                nullptr, nullptr, nullptr, &descriptor) != ERROR_SUCCESS)
        return false;
    std::unique_ptr<void, decltype(&::LocalFree)> owned(descriptor, &::LocalFree);
    wchar_t* text = nullptr;
    if (!owner || !::ConvertSidToStringSidW(owner, &text)) return false;
    const std::wstring who = text;
    ::LocalFree(text);
    // SYSTEM, Administrators, TrustedInstaller (the installer's own files), or this user.
    return who == L"S-1-5-18" || who == L"S-1-5-32-544" ||
           who == L"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464" ||
           (!currentUserSid().empty() && who == currentUserSid());
}

std::string fontFolder() {
    const std::string exe = executablePath();
    if (exe.empty()) return "fonts";
    return utf8Path(fsPath(exe).parent_path() / L"fonts");
}

}  // namespace veld::platform
