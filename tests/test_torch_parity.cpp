// The C++ families against the PyTorch reference (tests/torch_ref/torch_ref.py) on the same
// weights and batch: loss and EVERY parameter gradient, float64 (1e-5 relative; expect ~1e-12)
// and float32 (1e-4). The exchange is HDF5 (tests/torch_ref/README.md), written and read with
// the HDF5 C API. Skipped when /usr/bin/python3 cannot import torch.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "train/train_step.hpp"
#include "tests/test_family_util.hpp"
#include "util/h5handle.hpp"

namespace lpt::test {
namespace {

bool torch_available() {
  static const int rc =
      std::system(LPT_PYTHON " -c 'import torch, h5py' > /dev/null 2>&1");
  return rc == 0;
}

template <class T>
hid_t h5_type() {
  return std::is_same<T, double>::value ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
}

template <class V>
void write_ds(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t type,
              hid_t mem_type, const V* data) {
  h5::Handle space = h5::check(H5Screate_simple(int(dims.size()), dims.data(), nullptr), name);
  h5::Handle ds = h5::check(
      H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
  h5::check(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
}

void write_ints(hid_t g, const std::string& name, const std::vector<hsize_t>& dims,
                const std::vector<long long>& v) {
  write_ds(g, name, dims, H5T_STD_I64LE, H5T_NATIVE_LLONG, v.data());
}
template <class A>
std::vector<long long> widen(const std::vector<A>& a) {
  return std::vector<long long>(a.begin(), a.end());
}

template <class T>
void write_in(const std::string& path, FamilyCase<T>& c) {
  h5::Handle f = h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path);
  nlohmann::json cfg = {{"d_model", c.cfg.d_model}, {"heads", c.cfg.heads},
                        {"dtype", std::is_same<T, double>::value ? "float64" : "float32"},
                        {"h", c.cfg.h}, {"label_smoothing", c.cfg.label_smoothing}};
  if (c.family == "vit") cfg["patch"] = c.cfg.patch;
  h5::write_attr(f, "family", c.family);
  h5::write_attr(f, "config", cfg.dump());
  const hid_t mt = std::is_same<T, double>::value ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  h5::Handle params = h5::open_or_create_group(f, "/params");
  const auto& p = c.model->params();
  for (const auto& e : p.entries()) {
    std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
    write_ds(params, e.name, dims, h5_type<T>(), mt, p.values() + e.offset);
  }
  h5::Handle b = h5::open_or_create_group(f, "/batch");
  if (c.family == "gpt" || c.family == "bert") {
    const std::vector<hsize_t> d2 = {hsize_t(c.family == "gpt" ? c.gpt.B : c.bert.B),
                                     hsize_t(c.family == "gpt" ? c.gpt.T : c.bert.T)};
    if (c.family == "gpt") {
      write_ints(b, "tokens", d2, widen(c.gpt.tokens));
      write_ints(b, "targets", d2, widen(c.gpt.targets));
    } else {
      write_ints(b, "tokens", d2, widen(c.bert.tokens));
      write_ints(b, "targets", d2, widen(c.bert.targets));
      write_ints(b, "key_mask", d2, widen(c.bert.key_mask));
    }
  } else if (c.family == "vit") {
    const auto& v = c.vit;
    std::vector<T> img(v.images.begin(), v.images.end());
    write_ds(b, "images", {hsize_t(v.B), hsize_t(v.C), hsize_t(v.H), hsize_t(v.W)}, h5_type<T>(), mt,
             img.data());
    write_ints(b, "labels", {hsize_t(v.B)}, widen(v.labels));
  } else {
    const auto& m = c.mt;
    const std::vector<hsize_t> ds = {hsize_t(m.B), hsize_t(m.Ts)}, dt = {hsize_t(m.B), hsize_t(m.Tt)};
    write_ints(b, "src", ds, widen(m.src));
    write_ints(b, "src_mask", ds, widen(m.src_mask));
    write_ints(b, "tgt_in", dt, widen(m.tgt_in));
    write_ints(b, "tgt_out", dt, widen(m.tgt_out));
  }
}

std::vector<double> read_ds(hid_t f, const std::string& name) {
  h5::Handle ds = h5::check(H5Dopen2(f, name.c_str(), H5P_DEFAULT), name);
  h5::Handle space = h5::check(H5Dget_space(ds), name);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<double> v(static_cast<std::size_t>(n));
  h5::check(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), name);
  return v;
}

struct Agreement {
  double loss_rel = 0, worst_grad_rel = 0;
  std::string worst_name;
};

std::string in_path(const std::string& tag) { return std::string(LPT_BINARY_DIR) + "/parity_" + tag + "_in.h5"; }
std::string out_path(const std::string& tag) { return std::string(LPT_BINARY_DIR) + "/parity_" + tag + "_out.h5"; }

// Our side against the reference's OUT file; relative error per tensor
// ‖g − g_ref‖ / max(‖g_ref‖, 1e-3·‖whole reference gradient‖), so that a tensor whose reference
// gradient is (near) zero is judged against the gradient's size rather than against round-off.
template <class T>
Agreement compare(FamilyCase<T>& c, const std::string& tag) {
  const std::string out = out_path(tag);
  TrainStep<T> ts(*c.model, nullptr);
  const double loss = ts.forward_backward();
  h5::Handle f = h5::check(H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), out);
  Agreement a;
  const double ref_loss = read_ds(f, "loss")[0];
  a.loss_rel = std::abs(loss - ref_loss) / std::abs(ref_loss);
  double total = 0;
  std::vector<std::vector<double>> refs;
  const auto& p = c.model->params();
  for (const auto& e : p.entries()) {
    refs.push_back(read_ds(f, "grads/" + e.name));
    for (double x : refs.back()) total += x * x;
  }
  const double floor = 1e-3 * std::sqrt(total);
  for (std::size_t k = 0; k < p.entries().size(); ++k) {
    const auto& e = p.entries()[k];
    EXPECT_EQ(refs[k].size(), e.numel) << e.name;
    double d2 = 0, r2 = 0;
    for (std::size_t i = 0; i < e.numel; ++i) {
      const double g = double(p.grads()[e.offset + i]), r = refs[k][i];
      d2 += (g - r) * (g - r);
      r2 += r * r;
    }
    const double rel = std::sqrt(d2) / std::max(std::sqrt(r2), floor);
    if (rel >= a.worst_grad_rel) a.worst_grad_rel = rel, a.worst_name = e.name;
  }
  return a;
}

struct ParityCase {
  const char* name;
  TinySpec spec;
};

std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> v;
  TinySpec s;
  s.smoothing = 0.0;
  s.family = "gpt", s.d = 8, s.H = 2, s.dff = 12, s.L = 3, s.B = 2, s.T = 5;
  v.push_back({"gpt", s});
  { TinySpec t = s; t.h = 0.25; t.smoothing = 0.1; v.push_back({"gpt_h025", t}); }
  s.family = "bert", s.d = 6, s.H = 3;
  v.push_back({"bert", s});
  s.family = "vit", s.d = 8, s.H = 2;
  v.push_back({"vit", s});
  s.family = "mt", s.d = 6, s.H = 3, s.T = 5, s.T2 = 4, s.smoothing = 0.1;
  v.push_back({"mt", s});
  return v;
}

template <class T>
void check_case(const ParityCase& pc, const char* dtype, double tol) {
  const std::string tag = std::string(pc.name) + dtype;
  FamilyCase<T> c = make_case<T>(pc.spec);
  const Agreement a = compare(c, tag);
  EXPECT_LT(a.loss_rel, tol) << tag;
  EXPECT_LT(a.worst_grad_rel, tol) << tag << " worst tensor: " << a.worst_name;
  std::printf("[parity %s] loss rel %.2e, worst grad rel %.2e (%s)\n", tag.c_str(), a.loss_rel,
              a.worst_grad_rel, a.worst_name.c_str());
}

// One test for all cases: every IN file is written first and the reference runs once over all of
// them (importing torch costs seconds, a reference evaluation milliseconds; ctest runs each test
// in its own process).
TEST(TorchParity, AllFamiliesFloat64AndFloat32) {
  if (!torch_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch and h5py";
  std::string pairs;
  for (const ParityCase& pc : parity_cases()) {
    const std::string name = pc.name;
    FamilyCase<double> cd = make_case<double>(pc.spec);
    write_in(in_path(name + "_f64"), cd);
    FamilyCase<float> cf = make_case<float>(pc.spec);
    write_in(in_path(name + "_f32"), cf);
    for (const char* t : {"_f64", "_f32"})
      pairs += "('" + in_path(name + t) + "','" + out_path(name + t) + "'),";
  }
  const std::string cmd = std::string(LPT_PYTHON " -c \"import sys; sys.path.insert(0, '") +
                          LPT_SOURCE_DIR + "/tests/torch_ref'); import torch_ref; " +
                          "sys.exit(max(torch_ref.main(['x', i, o]) for i, o in [" + pairs + "]))\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "torch_ref.py failed on the exchange files: " << cmd;
  for (const ParityCase& pc : parity_cases()) {
    check_case<double>(pc, "_f64", 1e-5);
    check_case<float>(pc, "_f32", 1e-4);
  }
  for (const ParityCase& pc : parity_cases())
    for (const char* t : {"_f64", "_f32"}) {
      std::remove(in_path(std::string(pc.name) + t).c_str());
      std::remove(out_path(std::string(pc.name) + t).c_str());
    }
}

}  // namespace
}  // namespace lpt::test
