#include <veld/platform/files.hpp>
#include <veld/private_files.hpp>

namespace veld::files {

Status createPrivateFile(const std::string& path) {
    auto file =
        platform::File::create(path, platform::File::Create::Exclusive, platform::Access::Private);
    if (file) return file->close();
    if (file.error().code == ErrorCode::WrongState) return {};  // it exists: left as it is
    return file.error();
}

Status makePrivateFolder(const std::string& path) {
    return platform::makePrivateFolder(path);
}

Status checkPrivate(const std::string& path) {
    auto problem = platform::privacyProblem(path);
    if (!problem) return problem.error();
    if (!problem->has_value()) return {};
    return makeError(
        ErrorCode::WrongState,
        path + " " + problem->value().what + "; it holds personal data: " + problem->value().fix);
}

}  // namespace veld::files
