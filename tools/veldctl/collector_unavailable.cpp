// The command groups that run only where the collector runs (Linux): in a build without the
// collector (Veld for Windows), each says so instead of failing obscurely.
#include <ostream>
#include <string>
#include <vector>

#include "veldctl/veldctl.hpp"

namespace veld::veldctl {

namespace {

int unavailable(const char* group, std::ostream& err) {
    err << "veldctl " << group
        << ": not part of this build of Veld (the collector's commands run on the collector's "
           "Linux server)\n";
    return kExitUsage;
}

}  // namespace

int collectorCommand(const std::vector<std::string>&, std::ostream&, std::ostream& err) {
    return unavailable("collector", err);
}
int exportCommand(const std::vector<std::string>&, std::ostream&, std::ostream& err) {
    return unavailable("export", err);
}
int studyCommand(const std::vector<std::string>&, std::ostream&, std::ostream& err) {
    return unavailable("study", err);
}
int caseCommand(const std::vector<std::string>&, std::ostream&, std::ostream& err) {
    return unavailable("case", err);
}
int agentCommand(const std::vector<std::string>&, std::ostream&, std::ostream& err) {
    return unavailable("agent", err);
}

}  // namespace veld::veldctl
