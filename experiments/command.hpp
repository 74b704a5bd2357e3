#pragma once
// `lpt <command> ...`: each command lives in experiments/cmd_<name>.cpp and registers itself with
// LPT_COMMAND, so adding one never touches main.cpp.
#include <functional>
#include <string>
#include <vector>

namespace lpt {

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string name;
  std::string summary;  // one line for `lpt --help`
  std::string usage;    // full text for `lpt <name> --help`
  CommandFn run;
};

std::vector<Command>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { command_registry().push_back(std::move(c)); }
};

// True when args hold -h or --help; commands print their usage then.
bool wants_help(const std::vector<std::string>& args);

}  // namespace lpt

#define LPT_CONCAT2(a, b) a##b
#define LPT_CONCAT(a, b) LPT_CONCAT2(a, b)
#define LPT_COMMAND(...) \
  static ::lpt::CommandRegistrar LPT_CONCAT(lpt_command_, __LINE__)(::lpt::Command{__VA_ARGS__})
