#pragma once
// `lpt <command> ...`: each command lives in experiments/cmd_<name>.cpp and registers itself with
// LPT_COMMAND, so adding one never touches main.cpp. A command declares its options on a
// cli::Options (experiments/cli.hpp, the one parser of every command) and returns what runs it
// once they are parsed; `lpt <name> --help` is that parser's help, defaults included.
#include <functional>
#include <string>
#include <vector>

#include "experiments/cli.hpp"

namespace lpt {

using CommandRun = std::function<int()>;

struct Command {
  std::string name;
  std::string summary;  // one line for `lpt --help`
  // Declares the options (and the help's description and notes) on `o`, binding them to state
  // the returned function reads when it runs the command.
  std::function<CommandRun(cli::Options& o)> setup;
};

std::vector<Command>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { command_registry().push_back(std::move(c)); }
};

}  // namespace lpt

#define LPT_CONCAT2(a, b) a##b
#define LPT_CONCAT(a, b) LPT_CONCAT2(a, b)
#define LPT_COMMAND(...) \
  static ::lpt::CommandRegistrar LPT_CONCAT(lpt_command_, __LINE__)(::lpt::Command{__VA_ARGS__})
