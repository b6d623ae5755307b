#include <veld/platform/files.hpp>
#include <veld/sync/sync_lock.hpp>

namespace veld::sync {

Result<FileLock> FileLock::tryTake(const std::string& path, Open open,
                                   const std::string& whenHeld) {
    auto file =
        open == Open::CreateIfMissing
            ? platform::File::create(path, platform::File::Create::Keep, platform::Access::Private)
            : platform::File::openRead(path);
    if (!file) {
        if (file.error().code == ErrorCode::NotFound) return file.error();
        return makeError(ErrorCode::Io, file.error().message);
    }
    auto taken = file->tryLock();
    if (!taken) return taken.error();
    if (!taken.value()) return makeError(ErrorCode::InUse, whenHeld);
    return FileLock(std::move(file.value()));
}

std::string syncLockPath(const std::string& storePath) {
    return storePath + ".sync-lock";
}

Result<FileLock> takeSyncLock(const std::string& storePath) {
    return FileLock::tryTake(syncLockPath(storePath), FileLock::Open::CreateIfMissing,
                             "another program is syncing this device");
}

}  // namespace veld::sync
