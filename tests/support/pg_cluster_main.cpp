// veld-test-pg-cluster start|stop FOLDER: the PostgreSQL cluster one ctest run shares (the
// pg_cluster fixture in tests/CMakeLists.txt). `start` makes it when needed and leaves it
// running; `stop` stops it and removes the folder.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "support/pg_cluster.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: veld-test-pg-cluster start|stop FOLDER\n");
        return 2;
    }
    const std::string command = argv[1];
    const std::string folder = argv[2];
    try {
        if (command == "start") {
            veld::test::PgCluster* attached = veld::test::PgCluster::attach(folder);
            if (attached->running()) attached->stop(veld::test::PgCluster::StopMode::Immediate);
            std::error_code ignored;
            std::filesystem::remove_all(folder, ignored);  // a fresh cluster for every run
            veld::test::PgCluster cluster(folder, veld::test::PgCluster::Lifetime::Detached);
            std::printf("PostgreSQL started in %s in %lld ms\n", folder.c_str(),
                        cluster.lastStartMs());
            return 0;
        }
        if (command == "stop") {
            veld::test::PgCluster::attach(folder)->stop(veld::test::PgCluster::StopMode::Fast);
            std::error_code ignored;
            std::filesystem::remove_all(folder, ignored);
            return 0;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "veld-test-pg-cluster: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: veld-test-pg-cluster start|stop FOLDER\n");
    return 2;
}
