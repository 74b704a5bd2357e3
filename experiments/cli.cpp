// The one command-line parser (cli.hpp).
#include "experiments/cli.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <sstream>

#include "util/error.hpp"

namespace lpt::cli {

long long to_integer(const std::string& opt, const std::string& text, long long lo,
                     long long hi) {
  // Decimal digits with an optional sign and nothing else: strtoll alone would take "12abc" as
  // 12 and "0x10" as 16, and a detour through strtod would take "1e2" as 100.
  const std::size_t start = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  const bool well_formed = text.size() > start &&
                           text.find_first_not_of("0123456789", start) == std::string::npos;
  require(well_formed, "option ", opt, " expects an integer (decimal digits, e.g. 100), got '",
          text, "'");
  errno = 0;
  const long long x = std::strtoll(text.c_str(), nullptr, 10);
  require(errno != ERANGE && x >= lo && x <= hi, "option ", opt, " must be an integer in [", lo,
          ", ", hi, "], got ", text);
  return x;
}

double to_real(const std::string& opt, const std::string& text, double lo, double hi) {
  double x = 0;
  bool ok = !text.empty() && !std::isspace(static_cast<unsigned char>(text[0])) &&
            text.find_first_of("xX") == std::string::npos;  // no hexadecimal floats
  if (ok) {
    char* end = nullptr;
    errno = 0;
    x = std::strtod(text.c_str(), &end);
    ok = end == text.c_str() + text.size() && errno != ERANGE && std::isfinite(x);
  }
  require(ok, "option ", opt, " expects a finite number (e.g. 0.5, -1, 1e-3), got '", text, "'");
  require(x >= lo && x <= hi, "option ", opt, " must be in [", lo, ", ", hi, "], got ", text);
  return x;
}

std::vector<int> to_integer_list(const std::string& opt, const std::string& text, long long lo,
                                 long long hi) {
  require(lo >= std::numeric_limits<int>::min() && hi <= std::numeric_limits<int>::max(),
          "internal: the range of ", opt, " exceeds int");
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    out.push_back(static_cast<int>(to_integer(opt, item, lo, hi)));
  require(!out.empty() && text.back() != ',', "option ", opt,
          " expects integers separated by commas (e.g. 8,64), got '", text, "'");
  return out;
}

std::string show(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// "--profile" of "--profile,--hardware": the spelling messages use.
std::string first_name(const std::string& names) { return names.substr(0, names.find(',')); }

// Help columns: the option and its value type, then its text wrapped at kHelpWidth.
constexpr std::size_t kNameWidth = 30, kHelpWidth = 70;

// The option's text and its default, wrapped into lines (CLI11 indents the lines after the first).
std::string with_default(const std::string& help, const std::string& def) {
  const std::string text = def.empty() ? help : help + " (default " + def + ")";
  std::istringstream words(text);
  std::string word, out, line;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > kHelpWidth) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

template <class Int>
void add_integer(Options& o, const std::string& names, Int& var, long long lo, long long hi,
                 const std::string& help, const std::string& default_text) {
  require(lo >= static_cast<long long>(std::numeric_limits<Int>::min()) &&
              hi <= static_cast<long long>(std::numeric_limits<Int>::max()),
          "internal: the range of ", names, " exceeds its type");
  o.custom(names, "N", help, default_text.empty() ? std::to_string(var) : default_text,
           [&var, name = first_name(names), lo, hi](const std::string& s) {
             var = static_cast<Int>(to_integer(name, s, lo, hi));
           });
}

}  // namespace

Options::Options(CLI::App& app) : app_(app) {
  app_.get_formatter()->column_width(kNameWidth);
}

CLI::Option* Options::value_option(const std::string& names, const std::string& type,
                                   const std::string& help, const std::string& default_text,
                                   std::function<void(const std::string&)> set) {
  // The option's first spelling names it in messages ("--profile" for "--profile,--hardware").
  const std::string name = first_name(names);
  CLI::Option* opt = app_.add_option_function<std::string>(
      names,
      [set = std::move(set), name](const std::string& s) {
        try {
          set(s);
        } catch (const Error& e) {
          const std::string m = e.what();
          if (m.find(name) != std::string::npos) throw;
          throw Error("option " + name + ": " + m);
        }
      },
      with_default(help, default_text));
  // Given twice, the last value counts (as every command did before): a script can append an
  // override to a list of common arguments.
  opt->type_name(type)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  return opt;
}

void Options::custom(const std::string& names, const std::string& type, const std::string& help,
                     const std::string& default_text,
                     std::function<void(const std::string&)> set) {
  value_option(names, type, help, default_text, std::move(set));
}

void Options::integer(const std::string& names, int& var, long long lo, long long hi,
                      const std::string& help, const std::string& default_text) {
  add_integer(*this, names, var, lo, hi, help, default_text);
}

void Options::integer(const std::string& names, long& var, long long lo, long long hi,
                      const std::string& help, const std::string& default_text) {
  add_integer(*this, names, var, lo, hi, help, default_text);
}

void Options::real(const std::string& names, double& var, double lo, double hi,
                   const std::string& help, const std::string& default_text) {
  custom(names, "X", help, default_text.empty() ? show(var) : default_text,
         [&var, name = first_name(names), lo, hi](const std::string& s) {
           var = to_real(name, s, lo, hi);
         });
}

void Options::text(const std::string& names, std::string& var, const std::string& type,
                   const std::string& help, const std::string& default_text) {
  custom(names, type, help, default_text.empty() ? var : default_text,
         [&var](const std::string& s) { var = s; });
}

void Options::choice(const std::string& names, std::string& var,
                     const std::vector<std::string>& values, const std::string& help,
                     bool ignore_case) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  custom(names, join(values, "|"), help, var,
         [&var, name = first_name(names), values, ignore_case, lower](const std::string& s) {
           for (const auto& v : values)
             if (s == v || (ignore_case && lower(s) == lower(v))) {
               var = v;
               return;
             }
           fail("option ", name, " expects one of ",
                join(values, ", "), ", got '", s, "'");
         });
}

void Options::integer_list(const std::string& names, std::vector<int>& var, long long lo,
                           long long hi, const std::string& help,
                           const std::string& default_text) {
  std::string def = default_text;
  if (def.empty())
    for (int x : var) def += (def.empty() ? "" : ",") + std::to_string(x);
  custom(names, "N,...", help, def, [&var, name = first_name(names), lo, hi](const std::string& s) {
    var = to_integer_list(name, s, lo, hi);
  });
}

void Options::flag(const std::string& names, bool& var, const std::string& help, bool value) {
  // No value may follow (--simulate=no would otherwise be taken as --simulate).
  app_.add_flag_function(names, [&var, value](std::int64_t) { var = value; },
                         with_default(help, ""))
      ->disable_flag_override();
}

void Options::repeated(const std::string& names, std::vector<std::string>& var,
                       const std::string& type, const std::string& help) {
  // One value per occurrence: `--set a=1 b=2` leaves b=2 over as an unexpected argument.
  app_.add_option(names, var, with_default(help, ""))
      ->type_name(type)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void Options::required(const std::string& name) {
  CLI::Option* opt = app_.get_option_no_throw(name);
  require(opt != nullptr, "internal: no option ", name, " to require");
  opt->required();
}

void add_config_options(Options& o, ConfigOptions& c) {
  o.text("--config", c.file, "FILE", "run config (JSON; every key in docs/config.md)",
         "the built-in experiments/configs/defaults.json");
  // --config given twice is refused, not resolved by order: the two files would be merged by
  // nobody.
  o.app().get_option("--config")->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  o.repeated("--set", c.sets, "KEY=VALUE",
             "override one config key, e.g. --set train.lr=3e-4 (repeatable; the value is JSON "
             "or a plain string)");
}

namespace {

// An argument no option took: an unknown option or a stray word.
void refuse_leftovers(const CLI::App& app, const std::string& see) {
  const std::vector<std::string> rest = app.remaining();
  if (rest.empty()) return;
  const std::string& a = rest.front();
  if (a.size() > 1 && a[0] == '-') fail("unknown option '", a, "'", see);
  fail("unexpected argument '", a, "' (", app.get_name(), " takes options only)", see);
}

// -h or --help anywhere wins over the errors of the other arguments, as it did before: CLI11
// reads the values before it looks at the help flag.
void asked_for_help(const CLI::App& app) {
  const CLI::Option* help = app.get_help_ptr();
  if (help != nullptr && help->count() > 0) throw CLI::CallForHelp();
}

}  // namespace

void parse(CLI::App& app, const std::vector<std::string>& args) {
  const std::string see = "; see " + app.get_name() + " --help";
  app.allow_extras(true);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them backwards
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    throw;
  } catch (const CLI::ParseError& e) {
    asked_for_help(app);
    // An unknown option is named first: the value errors of the others may be its consequence.
    refuse_leftovers(app, see);
    // CLI11's words for the few errors it finds itself, in lpt's: "option X needs a value".
    std::string m = e.what();
    std::smatch g;
    if (std::regex_match(m, g, std::regex(R"((\S+): \d+ required \S+ missing)")))
      m = "option " + g[1].str() + " needs a value";
    else if (std::regex_match(m, g,
                              std::regex(R"((\S+): At Most 1 required but received (\d+))")))
      m = "option " + g[1].str() + " given " + g[2].str() + " times; give it once";
    else if (std::regex_match(m, g, std::regex(R"((\S+) was given a disallowed flag override)")))
      m = "option --" + g[1].str() + " takes no value";
    else if (std::regex_match(m, g, std::regex(R"((\S+) is required)")))
      m = "option " + g[1].str() + " is required";
    fail(m, see);
  } catch (const Error&) {
    asked_for_help(app);
    refuse_leftovers(app, see);
    throw;
  }
  refuse_leftovers(app, see);
}

}  // namespace lpt::cli
