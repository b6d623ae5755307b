// Child process of the SIGKILL scenarios device-finalize-kill and device-allocation-kill
// (tests/reliability/kill_device.cpp): saves, updates and finalizes records in a loop and reports
// every operation that returned success on stdout, until it is killed.
//
//   veld-test-crash-child STORE_PATH FIRST_N
//   veld-test-crash-child STORE_PATH FIRST_N enrol
//
// Lines: "READY", "F <record id> <seq> <n>" after a finalize returned (the record's content is
// sampleContent(n)), "A <seq>" after an acknowledgement returned.
//
// With "enrol", it enrols participants instead: each record opens a new case and is randomised
// in the study the scenario deals slots for (kEnrolStudy), alternating between its two strata.
// Lines: "READY", "E <record id> <case id> <n>" after a finalize returned, and "WORKING" after
// the first one. Nothing secret (no arm, no token) is printed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include <veld/allocation.hpp>
#include <veld/store.hpp>

#include "support/test_support.hpp"

namespace {

// Unbuffered, whole-line writes so the parent never sees a line for an operation that did not
// return (and sees every line for one that did, up to the kill).
void report(const std::string& line) {
    std::string text = line + "\n";
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
        ssize_t n = ::write(1, p, left);
        if (n <= 0) std::_Exit(3);
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

[[noreturn]] void die(const veld::Error& e) {
    std::fprintf(stderr, "crash child: %s\n", e.describe().c_str());
    std::_Exit(2);
}

// The study of device-allocation-kill (tests/reliability/kill_device.cpp deals its slots).
constexpr const char* kEnrolStudy = "crash_study";

[[noreturn]] void enrol(veld::Store& store, int n) {
    using namespace veld;
    const std::string strata[] = {alloc::stratumKey({{"site", "east"}}),
                                  alloc::stratumKey({{"site", "west"}})};
    for (int i = 0;; ++i, ++n) {
        RecordContent c = test::sampleContent(n, "crash_intake");
        c.caseId = makeUuidV4();
        c.caseChange = CaseChange{CaseAction::Open,
                                  "participant",
                                  "k1:" + std::to_string(n),
                                  {{"label", "participant " + std::to_string(n), {}}}};
        c.allocate = AllocationRequest{kEnrolStudy, strata[n % 2]};
        Finalized done;
        if (i % 3 == 2) {
            auto draft = store.saveDraft(c);
            if (!draft) die(draft.error());
            auto r = store.finalize(*draft, c);
            if (!r) die(r.error());
            done = *r;
        } else {
            auto r = store.finalizeNew(c);
            if (!r) die(r.error());
            done = *r;
        }
        report("E " + done.id.toString() + " " + c.caseId->toString() + " " + std::to_string(n));
        if (i == 0) report("WORKING");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && !(argc == 4 && std::strcmp(argv[3], "enrol") == 0)) return 64;
    using namespace veld;
    auto store = Store::open(argv[1], {.mode = sql::OpenMode::ReadWriteCreate});
    if (!store) die(store.error());
    int n = std::atoi(argv[2]);
    report("READY");
    if (argc == 4) enrol(*store, n);
    std::uint64_t lastSeq = 0;
    for (int i = 0;; ++i, ++n) {
        Finalized done;
        if (i % 4 == 3) {
            auto r = store->finalizeNew(test::sampleContent(n));
            if (!r) die(r.error());
            done = *r;
        } else {
            auto draft = store->saveDraft(test::sampleContent(n + 1));
            if (!draft) die(draft.error());
            if (Status s = store->updateDraft(*draft, test::sampleContent(n + 2)); !s)
                die(s.error());
            auto r = store->finalize(*draft, test::sampleContent(n));
            if (!r) die(r.error());
            done = *r;
        }
        report("F " + done.id.toString() + " " + std::to_string(done.seq) + " " +
               std::to_string(n));
        lastSeq = done.seq;
        if (i % 7 == 6 && lastSeq > 3) {
            if (Status s = store->acknowledgeThrough(lastSeq - 3); !s) die(s.error());
            report("A " + std::to_string(lastSeq - 3));
        }
    }
}
