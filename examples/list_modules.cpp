// Lists the loaded modules with libmodload: name, size, refcount and holders, from one read of
// /proc/modules. usage: list_modules [ROOT], where ROOT stands for "/" (a fixture tree, say).
#include <iostream>
#include <memory>
#include <string>

#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system.hpp>

int main(int argc, char** argv) {
    if (argc > 2) {
        std::cerr << "usage: list_modules [ROOT]\n";
        return 1;
    }
    // The files under ROOT, with the running kernel (this program never calls it).
    const auto kernel = modload::make_system_kernel();
    const std::unique_ptr<modload::System> system =
        argc == 2 ? modload::make_rooted_system(argv[1], *kernel, modload::system_clock())
                  : modload::make_live_system();
    const modload::Result<modload::Snapshot> snapshot = modload::Snapshot::read(*system);
    if (!snapshot) {
        // The library never prints: the program chooses the words.
        std::cerr << "list_modules: cannot read the module list: " << snapshot.error().message()
                  << '\n';
        return 1;
    }
    for (const modload::LoadedModule& m : snapshot->modules()) {
        std::cout << m.name << ' ' << m.size << ' '
                  << (m.refcount ? std::to_string(*m.refcount) : "-");
        for (const std::string& holder : m.holders) {
            std::cout << ' ' << holder;
        }
        std::cout << '\n';
    }
    return 0;
}
