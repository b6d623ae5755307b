// Shared by the client's headless tests: a device store with the pilot forms, and filling a pilot
// form through the UI as a person would (every page, then what finalize still asks for).
#pragma once

#include <string>
#include <vector>

#include <veld/form.hpp>
#include <veld/project_key.hpp>

#include "support/test_support.hpp"
#include "ui_driver.hpp"

namespace veld::client::testing {

extern const std::string kFormsDir;

// The project key the tests' device stores seal to, and its private half (central staff's).
struct TestProjectKey {
    projectkey::LockedKey locked;
    std::vector<projectkey::SecretKey> secret;
};
inline constexpr const char* kRingPassphrase = "kiosk tests passphrase";
const TestProjectKey& projectKey();

/// A device store with the pilot forms, a pseudonym key and the project key, and no records.
std::string pilotStore(const veld::test::TempDir& dir);

/// An item path as the filling screen's test ids write it ("name#0#1").
std::string pathKey(const forms::ItemPath& path);

/// Answers, through the UI, every visible question of the current page that has no answer yet.
/// Text questions get `text`. Returns how many questions were answered.
int answerPage(UiDriver& ui, FormView& view, const std::string& text);

/// Fills the record being edited on the filling screen until it finalizes: every page in turn,
/// then whatever the finalize step still lists. Returns the number of finalize attempts.
int fillAndFinalize(UiDriver& ui, const std::string& text);

}  // namespace veld::client::testing
