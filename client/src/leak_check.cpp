// Leak checking of the programs with a window, in sanitizer builds: the graphics stack's own
// allocations are suppressed by module (client/sanitizers/lsan.supp, compiled in here), and the
// graphics drivers are kept loaded until the process ends so that LeakSanitizer can name them.
#include "leak_check.hpp"

// GCC says __SANITIZE_ADDRESS__; clang says __has_feature, which GCC 12's preprocessor cannot
// even parse in the same #if.
#if defined(__SANITIZE_ADDRESS__)
#define VELD_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VELD_LEAK_CHECK 1
#endif
#endif

#ifdef VELD_LEAK_CHECK
#include <cstring>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <link.h>

#include "lsan_suppressions.hpp"

// LeakSanitizer asks every program for built-in suppressions through this function.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT: the sanitizer's name
    return veld::client::kLsanSuppressions;
}

// AddressSanitizer's defaults for these programs. Clang 14's runtime records the dynamic TLS
// blocks it sees through __tls_get_addr and scans them at the leak check; with glibc 2.36 and the
// graphics stack's dlopen'ed libraries some recorded ranges are bogus, and the check itself then
// crashes now and then ("Tracer caught signal 11"). Without the interception those blocks are
// still scanned as the heap blocks they are, reached from each thread's DTV.
extern "C" const char* __asan_default_options() {  // NOLINT: the sanitizer's name
    return "intercept_tls_get_addr=0";
}
#endif

namespace veld::client {

void keepGraphicsDriversLoaded() {
#ifdef VELD_LEAK_CHECK
    // libglvnd unloads the vendor library and the DRI driver when the last context goes; the
    // driver's leftovers then have no module name and no suppression can match them. Taking
    // another reference that is never dropped (RTLD_NODELETE) keeps each one mapped.
    std::vector<std::string> drivers;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            const char* name = info->dlpi_name;
            if (name && (std::strstr(name, "/dri/") || std::strstr(name, "_mesa.so") ||
                         std::strstr(name, "libgallium") || std::strstr(name, "libLLVM")))
                static_cast<std::vector<std::string>*>(out)->push_back(name);
            return 0;
        },
        &drivers);
    for (const auto& path : drivers)
        (void)dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
#endif
}

}  // namespace veld::client
