// A collector with every kind of data, for the tests of veldctl collector copy: devices (one
// revoked), unused enrolment codes, revisions from two devices, a conflict, reviews, a duplicate
// decision, staff (one revoked), cases, a study with blocks dealt and allocations. And the checks
// that two stores hold the same collector: exports byte for byte, listings, `study verify`.
#pragma once

#include <map>
#include <string>

#include "support/sync_support.hpp"

namespace veld::test {

/// Fills the collector's store through a running collector (started here, stopped at the end).
void fillCollector(TempDir& dir, CollectorProcess& collector);
/// Every published form exported with veldctl into `out`: file (relative path) -> bytes.
std::map<std::string, std::string> exportAll(const std::string& store, const std::string& out);
/// What veldctl lists about the store: status, devices, staff, conflicts, duplicates, audit,
/// study verify/balance/log, cases (each with its exit code).
std::string listings(const std::string& store);
/// Checks that `from` and `to` give the same exports and listings (folders named by `name`).
void checkSameCollector(const std::string& from, const std::string& to, TempDir& dir,
                        const std::string& name);

}  // namespace veld::test
