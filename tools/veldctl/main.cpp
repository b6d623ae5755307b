#include <iostream>

#include <veld/platform/process.hpp>

#include "veldctl/veldctl.hpp"

int main(int argc, char** argv) {
    veld::platform::useUtf8Console();
    const std::vector<std::string> all = veld::platform::utf8Arguments(argc, argv);
    std::vector<std::string> args(all.begin() + (all.empty() ? 0 : 1), all.end());
    return veld::veldctl::run(args, std::cout, std::cerr);
}
