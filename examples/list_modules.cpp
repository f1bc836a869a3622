// Lists the loaded modules with libmodload: name, size, refcount and holders, from one read of
// /proc/modules. usage: list_modules [ROOT], where ROOT stands for "/" (a fixture tree, say).
#include <iostream>
#include <string>

#include <modload/result.hpp>
#include <modload/snapshot.hpp>
#include <modload/system_root.hpp>

int main(int argc, char** argv) {
    if (argc > 2) {
        std::cerr << "usage: list_modules [ROOT]\n";
        return 1;
    }
    const modload::SystemRoot root(argc == 2 ? argv[1] : "/");
    const modload::Result<modload::Snapshot> snapshot = modload::Snapshot::read(root);
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
