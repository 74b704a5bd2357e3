#include "sweep/summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "train/record_lock.hpp"
#include "util/error.hpp"
#include "util/h5read.hpp"
#include "util/h5record.hpp"

namespace lpt {
namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The config without its output section (where a record lives is not what it measured).
json without_output(json c) {
  if (c.is_object()) c.erase("output");
  return c;
}

// "train.lr: 0.001 in the record, 0.003 for the point" for the first difference.
std::string first_difference(const json& record, const json& point) {
  const json patch = json::diff(record, point);
  if (patch.empty()) return "";
  const json& op = patch[0];
  std::string path = op.at("path").get<std::string>();
  const json::json_pointer ptr(path);
  std::replace(path.begin(), path.end(), '/', '.');
  if (!path.empty() && path[0] == '.') path.erase(0, 1);
  const std::string was = record.contains(ptr) ? record.at(ptr).dump() : "(absent)";
  const std::string now = point.contains(ptr) ? point.at(ptr).dump() : "(absent)";
  return path + " is " + was + " in the record but " + now + " for the point";
}

json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return nullptr;
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception&) {
    return nullptr;
  }
}

double last(const std::vector<double>& v) { return v.empty() ? kNaN : v.back(); }

double mean(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The last solve's final defined convergence factor (-1 marks an undefined one).
double final_factor(const std::vector<std::vector<double>>& per_solve) {
  if (per_solve.empty()) return kNaN;
  const std::vector<double>& f = per_solve.back();
  for (auto it = f.rbegin(); it != f.rend(); ++it)
    if (*it >= 0) return *it;
  return kNaN;
}

const char* mode_name(double code) {
  switch (static_cast<int>(code)) {
    case 0: return "serial";
    case 1: return "parallel";
    case 2: return "serial_forward";
    default: return "?";
  }
}

std::string format_number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "" : (v > 0 ? "inf" : "-inf");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string csv_text(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

const char* to_string(RecordState s) {
  switch (s) {
    case RecordState::missing: return "missing";
    case RecordState::partial: return "partial";
    case RecordState::running: return "running";
    case RecordState::finished: return "finished";
    case RecordState::stale: return "stale";
  }
  return "?";
}

RecordCheck check_record(const std::string& record, const nlohmann::json& expected) {
  RecordCheck c;
  std::error_code ec;
  if (const long pid = RecordLock::live_holder(record)) {
    c.state = RecordState::running;
    c.why = "being written by pid " + std::to_string(pid);
    return c;
  }
  if (!std::filesystem::exists(record, ec)) return c;
  c.state = RecordState::partial;
  try {
    H5Reader r(record);
    const std::string cfg_text = r.attr("/", "config");
    if (cfg_text.empty()) {
      c.why = "no config attribute (the run stopped before its first write)";
      return c;
    }
    const json cfg = json::parse(cfg_text);
    c.steps = cfg.at("train").at("steps").get<long>();
    c.steps_done = static_cast<long>(r.rows("/train/loss"));
    if (!expected.is_null()) {
      const std::string diff = first_difference(without_output(cfg), without_output(expected));
      if (!diff.empty()) {
        c.state = RecordState::stale;
        c.why = diff;
        return c;
      }
    }
    for (const H5Event& e : r.events("/control/events"))
      if (e.action == "stop") {
        c.why = "stopped at step " + std::to_string(e.step) + ": " + e.reason;
        return c;
      }
    if (c.steps_done < c.steps) {
      c.why = std::to_string(c.steps_done) + " of " + std::to_string(c.steps) + " steps";
      return c;
    }
    const long eval_every = cfg.at("train").at("eval_every").get<long>();
    if (eval_every > 0) {
      const std::vector<double> at = r.numbers("/eval/step");
      if (at.empty() || static_cast<long>(at.back()) != c.steps) {
        c.why = "all steps but not the final evaluation";
        return c;
      }
    }
    c.state = RecordState::finished;
  } catch (const Error& e) {
    c.why = e.what();
  } catch (const json::exception& e) {
    c.why = std::string("config attribute unreadable: ") + e.what();
  }
  return c;
}

int SummaryTable::column(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

SummaryTable collect_sweep(const std::string& dir) {
  const json sweep = read_json_file(dir + "/sweep.json");
  require(sweep.is_object() && sweep.contains("points") && sweep.contains("axes"), "'", dir,
          "' holds no readable sweep.json: not the output directory of `lpt sweep` (or the "
          "sweep never started)");
  json status = read_json_file(dir + "/sweep_status.json");
  if (!status.is_object() || !status.contains("points")) status = {{"points", json::object()}};

  SummaryTable t;
  auto add = [&](const std::string& name, bool numeric) {
    t.columns.push_back(name);
    t.numeric.push_back(numeric);
  };
  add("name", false);
  add("status", false);
  const json& points = sweep.at("points");
  for (const auto& key : sweep.at("axes")) {
    const std::string k = key.get<std::string>();
    bool numeric = true;
    for (const auto& p : points) {
      const json& v = p.at("values");
      if (v.contains(k) && !v.at(k).is_number()) numeric = false;
    }
    add(k, numeric);
    t.axes.push_back(k);
  }
  for (const char* c : {"ranks", "steps", "steps_done", "final_val_loss", "best_val_loss", "best_val_step"})
    add(c, true);
  add("metric_name", false);
  for (const char* c : {"final_metric", "final_train_loss", "grad_error_mean", "grad_error_last",
                        "bias_mean", "bias_last", "fwd_conv_factor", "adj_conv_factor"})
    add(c, true);
  add("final_mode", false);
  add("control_first_step", true);
  add("control_actions", true);
  add("control_events", false);
  for (const char* c : {"wall_s", "train_s", "median_step_s", "exit_code"}) add(c, true);
  add("error", false);

  for (const auto& p : points) {
    std::vector<SummaryCell> row(t.columns.size());
    auto num = [&](const char* c, double v) { row[t.column(c)].num = v; };
    auto text = [&](const std::string& c, const std::string& v) { row[t.column(c)].text = v; };
    const std::string name = p.at("name").get<std::string>();
    text("name", name);
    for (const std::string& k : t.axes) {
      const json& v = p.at("values");
      if (!v.contains(k)) continue;
      if (v.at(k).is_number()) {
        row[t.column(k)].num = v.at(k).get<double>();
      } else {
        row[t.column(k)].text = v.at(k).is_string() ? v.at(k).get<std::string>() : v.at(k).dump();
      }
    }
    const json st = status["points"].contains(name) ? status["points"][name] : json::object();
    if (st.contains("exit_code") && st["exit_code"].is_number()) num("exit_code", st["exit_code"]);
    if (st.contains("wall_s") && st["wall_s"].is_number()) num("wall_s", st["wall_s"]);

    const std::string record = dir + "/" + name + ".h5";
    const RecordCheck rc = check_record(record);
    std::string state = rc.state == RecordState::finished  ? "ok"
                        : rc.state == RecordState::running ? "running"
                                                           : to_string(rc.state);
    if (rc.state != RecordState::finished && rc.state != RecordState::running &&
        st.value("state", "") == "failed")
      state = "failed";
    text("status", state);
    if (state == "failed") {
      text("error", st.value("error", ""));
    } else if (rc.state == RecordState::partial) {
      text("error", rc.why);
    }
    if (rc.state == RecordState::missing || rc.state == RecordState::running) {
      t.rows.push_back(std::move(row));
      continue;
    }
    try {
      H5Reader r(record);
      num("ranks", r.attr_number("/", "ranks", kNaN));
      num("steps", static_cast<double>(rc.steps));
      num("steps_done", static_cast<double>(rc.steps_done));
      const std::vector<double> eval_step = r.numbers("/eval/step");
      const std::vector<double> val = r.numbers("/eval/loss");
      num("final_val_loss", last(val));
      if (!val.empty()) {
        const auto best = std::min_element(val.begin(), val.end());
        num("best_val_loss", *best);
        const std::size_t i = static_cast<std::size_t>(best - val.begin());
        if (i < eval_step.size()) num("best_val_step", eval_step[i]);
      }
      text("metric_name", r.attr("/eval/metric", "name"));
      num("final_metric", last(r.numbers("/eval/metric")));
      num("final_train_loss", last(r.numbers("/train/loss")));
      const std::vector<double> err = r.numbers("/monitor/rel_error");
      const std::vector<double> bias = r.numbers("/monitor/bias_ratio");
      num("grad_error_mean", mean(err));
      num("grad_error_last", last(err));
      num("bias_mean", mean(bias));
      num("bias_last", last(bias));
      num("fwd_conv_factor", final_factor(r.series("/solver/forward/conv_factors")));
      num("adj_conv_factor", final_factor(r.series("/solver/adjoint/conv_factors")));
      const std::vector<double> modes = r.numbers("/solver/mode");
      if (!modes.empty()) text("final_mode", mode_name(modes.back()));
      double actions = 0, first = kNaN;
      std::string events;
      for (const H5Event& e : r.events("/control/events")) {
        if (e.action != "raise" && e.action != "serial") continue;
        if (actions == 0) first = static_cast<double>(e.step);
        actions += 1;
        events += (events.empty() ? "" : " ") + e.action + "@" + std::to_string(e.step);
      }
      num("control_first_step", first);
      num("control_actions", actions);
      text("control_events", events);
      const std::vector<double> step_time = r.numbers("/train/step_time");
      double sum = 0;
      for (double x : step_time) sum += x;
      num("train_s", step_time.empty() ? kNaN : sum);
      num("median_step_s", median(step_time));
    } catch (const Error& e) {
      text("error", e.what());
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

void write_summary_csv(const SummaryTable& t, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    require(out.good(), "cannot write '", tmp, "'");
    for (std::size_t c = 0; c < t.columns.size(); ++c)
      out << (c ? "," : "") << csv_text(t.columns[c]);
    out << "\n";
    for (const auto& row : t.rows) {
      for (std::size_t c = 0; c < t.columns.size(); ++c)
        out << (c ? "," : "")
            << (t.numeric[c] ? format_number(row[c].num) : csv_text(row[c].text));
      out << "\n";
    }
    require(out.good(), "cannot write '", tmp, "'");
  }
  std::filesystem::rename(tmp, path);
}

void write_summary_h5(const SummaryTable& t, const std::string& path, const std::string& dir) {
  const std::string tmp = path + ".tmp";
  {
    H5Record rec(tmp, H5Record::Mode::create);
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const std::string d = "/summary/" + t.columns[c];
      for (const auto& row : t.rows) {
        if (t.numeric[c]) {
          rec.append(d, row[c].num);
        } else {
          rec.append_string(d, row[c].text);
        }
      }
    }
    h5::write_attr(rec.file_id(), "columns", t.columns);
    h5::write_attr(rec.file_id(), "axes", t.axes);
    rec.set_attr("/", "sweep", dir);
    rec.flush();
  }
  std::filesystem::rename(tmp, path);
}

SummaryTable write_sweep_summary(const std::string& dir) {
  SummaryTable t = collect_sweep(dir);
  write_summary_csv(t, dir + "/summary.csv");
  write_summary_h5(t, dir + "/summary.h5", dir);
  return t;
}

}  // namespace lpt
