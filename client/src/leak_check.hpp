// Leak checking of the programs with a window (sanitizer builds; nothing in others).
#pragma once

namespace veld::client {

/// Keeps the graphics drivers loaded until the process ends, so that leaks they leave are named
/// by module and matched by the built-in suppressions. Call before the last context goes.
void keepGraphicsDriversLoaded();

}  // namespace veld::client
