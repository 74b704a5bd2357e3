#pragma once
// The one command-line parser of every `lpt` command (issue 11 item 4). Each command declares its
// options on a CLI11 app through `Options`, binding each to a variable whose value at that moment
// is the default: the default is written once, where the variable is initialised, and `--help`
// shows it. The values are read with the same rules in every command:
//   integers   optional sign and decimal digits only ("1e2", "12abc", "0x10", "2.5" are errors),
//              then checked against the option's range before they are narrowed;
//   reals      the whole text must be a finite decimal number (strtod syntax, "1e-3", "-2.5");
//   choices    one of the listed words;
//   lists      comma-separated integers, each read as above.
// Every error names the option, the text given and what is accepted; unknown options and stray
// arguments are errors too.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lpt::cli {

// The value rules above, as plain functions (throw lpt::Error naming `opt`).
long long to_integer(const std::string& opt, const std::string& text, long long lo, long long hi);
double to_real(const std::string& opt, const std::string& text, double lo, double hi);
std::vector<int> to_integer_list(const std::string& opt, const std::string& text, long long lo,
                                 long long hi);

// A number as --help shows it ("1e-10", "0.5", "1024").
std::string show(double x);

class Options {
 public:
  explicit Options(CLI::App& app);

  // `names` is "--steps" or several spellings of one option, "--profile,--hardware".
  // `default_text` replaces the shown default where it is not the variable's value (a default
  // that depends on another option, say); "" shows the variable's value.
  void integer(const std::string& names, int& var, long long lo, long long hi,
               const std::string& help, const std::string& default_text = "");
  void integer(const std::string& names, long& var, long long lo, long long hi,
               const std::string& help, const std::string& default_text = "");
  void real(const std::string& names, double& var, double lo, double hi, const std::string& help,
            const std::string& default_text = "");
  // Free text (a file, a name). An empty variable shows no default unless default_text says one.
  void text(const std::string& names, std::string& var, const std::string& type,
            const std::string& help, const std::string& default_text = "");
  // One of `values`; with ignore_case, "fcf" is taken as "FCF" (stored as listed).
  void choice(const std::string& names, std::string& var, const std::vector<std::string>& values,
              const std::string& help, bool ignore_case = false);
  void integer_list(const std::string& names, std::vector<int>& var, long long lo, long long hi,
                    const std::string& help, const std::string& default_text = "");
  // A switch without a value: given, it sets var to `value`.
  void flag(const std::string& names, bool& var, const std::string& help, bool value = true);
  // Given any number of times, one value each time (--set a=1 --set b=2).
  void repeated(const std::string& names, std::vector<std::string>& var, const std::string& type,
                const std::string& help);
  // A value read by `set`, whose lpt::Error messages get the option's name in front.
  void custom(const std::string& names, const std::string& type, const std::string& help,
              const std::string& default_text, std::function<void(const std::string&)> set);
  // The option must be given.
  void required(const std::string& name);

  CLI::App& app() { return app_; }

 private:
  CLI::Option* value_option(const std::string& names, const std::string& type,
                            const std::string& help, const std::string& default_text,
                            std::function<void(const std::string&)> set);
  CLI::App& app_;
};

// --config FILE and --set key=value (repeatable; also --set=key=value), the run-config options of
// `lpt train`, `lpt trajectory` and `lpt calibrate`.
struct ConfigOptions {
  std::string file;  // empty: the built-in defaults
  std::vector<std::string> sets;
};
void add_config_options(Options& o, ConfigOptions& c);

// Parses `args` (without the program and command names) into the app's options. Throws
// CLI::CallForHelp for -h/--help (print app.help() then) and lpt::Error for anything wrong,
// naming the option and ending with where the help is.
void parse(CLI::App& app, const std::vector<std::string>& args);

}  // namespace lpt::cli
