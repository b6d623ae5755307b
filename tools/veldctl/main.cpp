#include <iostream>

#include "veldctl/veldctl.hpp"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return veld::veldctl::run(args, std::cout, std::cerr);
}
