// Filling a form through the client's UI as a person would, for tests that need a finalized
// record made the way a field worker makes one, and the device store it is filled in.
#pragma once

#include <string>

#include <veld/form_session.hpp>

#include "form_view.hpp"
#include "support/test_support.hpp"
#include "ui_driver.hpp"

namespace veld::client::testing {

/// A device store in `dir` with the pilots' forms (veldctl's demo set-up) and no records.
std::string pilotFormsStore(const veld::test::TempDir& dir);

/// "name#0#2": an item in its repeat instances, as the screens' ids name it.
std::string pathKey(const forms::ItemPath& path);

/// Answers, through the UI, every visible question of the current page that has no answer yet.
/// Text questions get `text`. Returns how many questions were answered.
int answerPage(UiDriver& ui, FormView& view, const std::string& text);

/// Fills the record being edited on the filling screen until it finalizes: every page in turn,
/// then whatever the finalize step still lists. Returns the number of finalize attempts.
int fillAndFinalize(UiDriver& ui, const std::string& text);

}  // namespace veld::client::testing
