// The `lpt` command line: dispatches to the registered commands, reads each one's options with the
// one parser (experiments/cli.hpp; `lpt <command> --help` is its help), and turns every lpt::Error
// into a one-line message and a non-zero exit.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <new>

#include <nlohmann/json.hpp>

#include "util/version.hpp"
#include "experiments/command.hpp"
#include "util/error.hpp"

namespace lpt {

std::vector<Command>& command_registry() {
  static std::vector<Command> r;
  return r;
}

}  // namespace lpt

static void print_help() {
  std::printf("lpt %s: layer-parallel training for transformers (MGRIT over layers)\n\n",
              lpt::version());
  std::printf("usage: lpt <command> [options]      lpt <command> --help for its options\n\n");
  std::printf("commands:\n");
  auto cmds = lpt::command_registry();
  std::sort(cmds.begin(), cmds.end(),
            [](const lpt::Command& a, const lpt::Command& b) { return a.name < b.name; });
  for (const auto& c : cmds) std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 0;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    print_help();
    rc = args.empty() ? 2 : 0;
  } else if (args[0] == "--version") {
    std::printf("lpt %s\n", lpt::version());
  } else {
    const auto& cmds = lpt::command_registry();
    auto it = std::find_if(cmds.begin(), cmds.end(),
                           [&](const lpt::Command& c) { return c.name == args[0]; });
    if (it == cmds.end()) {
      std::fprintf(stderr, "lpt: unknown command '%s'; run `lpt --help` for the list\n",
                   args[0].c_str());
      rc = 2;
    } else {
      std::vector<std::string> rest(args.begin() + 1, args.end());
      try {
        CLI::App app(it->summary, "lpt " + it->name);
        lpt::cli::Options options(app);
        const lpt::CommandRun run = it->setup(options);
        bool help = false;
        try {
          lpt::cli::parse(app, rest);
        } catch (const CLI::CallForHelp&) {
          help = true;
        }
        if (help) {
          std::printf("%s", app.help().c_str());
        } else {
          rc = run();
        }
      } catch (const lpt::Error& e) {
        std::fprintf(stderr, "lpt %s: error: %s\n", it->name.c_str(), e.what());
        rc = 1;
      } catch (const std::bad_alloc&) {
        // Not a bug in lpt: the sizes asked for need more memory than the machine has.
        std::fprintf(stderr,
                     "lpt %s: error: out of memory (std::bad_alloc); the sizes given need more "
                     "memory than this machine has: lower the model size, batch, steps or "
                     "layers (ranges in docs/config.md)\n",
                     it->name.c_str());
        rc = 1;
      } catch (const nlohmann::json::exception& e) {
        // A JSON value of the wrong type or shape that no reader caught by name: one of the
        // command's input files (config, checkpoint's stored config, record, meta.json) is bad.
        std::fprintf(stderr,
                     "lpt %s: error: malformed JSON in one of the command's input files (%s); "
                     "check the config, the data set's meta.json or the checkpoint given\n",
                     it->name.c_str(), e.what());
        rc = 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "lpt %s: internal error: %s\n", it->name.c_str(), e.what());
        rc = 1;
      }
    }
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) {
    if (rc != 0) {
      int size = 1;
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      // A failing rank must not leave its peers waiting forever in a collective.
      if (size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
  }
  return rc;
}
