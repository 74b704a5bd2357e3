// The serial training step: no heap allocation after the first step (global operator new is
// replaced in this binary and counted during steps 2..5), keeping tapes and recomputing them give
// bit-identical gradients, AdamW steps lower the loss on a fixed batch, and the phase timers run.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "train/train_step.hpp"
#include "tests/test_family_util.hpp"

namespace {
std::atomic<long> g_allocs{0};
std::atomic<bool> g_counting{false};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace lpt::test {
namespace {

template <class T>
long allocations_in_steps(FamilyCase<T>& c, bool keep_tapes) {
  AdamW<T> opt(c.model->params().size());
  TrainStep<T> ts(*c.model, &opt);
  ts.set_keep_tapes(keep_tapes);
  c.bind();
  ts.step();  // the first step sizes the arena and the workspaces
  g_allocs = 0;
  g_counting = true;
  for (int s = 2; s <= 5; ++s) {
    c.model->set_dropout_key(3, s);
    c.bind();  // a new batch each step, as in training (same shapes)
    ts.step();
  }
  g_counting = false;
  return g_allocs.load();
}

TEST(TrainStep, NoHeapAllocationAfterTheFirstStep) {
  for (const char* fam : {"gpt", "bert", "vit", "mt"}) {
    TinySpec s;
    s.family = fam;
    s.dropout = 0.1;
    s.d = 16, s.H = 2, s.dff = 32, s.B = 3, s.T = 6;
    FamilyCase<float> c = make_case<float>(s);
    EXPECT_EQ(allocations_in_steps(c, true), 0) << fam << " with tapes";
    EXPECT_EQ(allocations_in_steps(c, false), 0) << fam << " recomputing";
  }
}

// Sanity of the counter itself: a std::vector in the counted window is seen.
TEST(TrainStep, AllocationCounterCounts) {
  g_allocs = 0;
  g_counting = true;
  std::vector<int>* v = new std::vector<int>(10);
  g_counting = false;
  delete v;
  EXPECT_GE(g_allocs.load(), 2);
}

TEST(TrainStep, RecomputeEqualsTapes) {
  for (const char* fam : {"gpt", "bert", "vit", "mt"}) {
    TinySpec s;
    s.family = fam;
    s.dropout = 0.2;
    FamilyCase<double> c = make_case<double>(s);
    auto& p = c.model->params();
    TrainStep<double> ts(*c.model, nullptr);
    const double l1 = ts.forward_backward();
    std::vector<double> g1(p.grads(), p.grads() + p.size());
    EXPECT_GT(ts.tape_elems(), 0u);
    ts.set_keep_tapes(false);
    const double l2 = ts.forward_backward();
    EXPECT_EQ(l1, l2) << fam;
    for (std::size_t i = 0; i < p.size(); ++i) ASSERT_EQ(g1[i], p.grads()[i]) << fam << " " << i;
    EXPECT_EQ(ts.tape_elems(), 0u);
  }
}

TEST(TrainStep, AdamWLowersTheLossOnAFixedBatch) {
  for (const char* fam : {"gpt", "bert", "vit", "mt"}) {
    TinySpec s;
    s.family = fam;
    s.d = 16, s.H = 4, s.dff = 32;
    FamilyCase<float> c = make_case<float>(s);
    c.model->init(5);
    c.bind();
    AdamW<float> opt(c.model->params().size());
    opt.set_lr(1e-2);
    TrainStep<float> ts(*c.model, &opt);
    const double first = ts.step().loss;
    double last = first;
    for (int k = 0; k < 30; ++k) last = ts.step().loss;
    EXPECT_LT(last, 0.7 * first) << fam;
    EXPECT_GT(ts.times().forward, 0);
    EXPECT_GT(ts.times().backward, 0);
    EXPECT_GT(ts.times().optimizer, 0);
  }
}

TEST(TrainStep, ClippingBoundsTheUpdate) {
  TinySpec s;
  s.family = "gpt";
  FamilyCase<double> c = make_case<double>(s);
  SGD<double> opt(c.model->params().size());
  opt.set_lr(1.0);
  TrainStep<double> ts(*c.model, &opt);
  ts.set_max_grad_norm(1e-3);
  auto& p = c.model->params();
  std::vector<double> before(p.values(), p.values() + p.size());
  const StepStats st = ts.step();
  EXPECT_GT(st.grad_norm, 1e-3);
  double d2 = 0;
  for (std::size_t i = 0; i < p.size(); ++i) d2 += (p.values()[i] - before[i]) * (p.values()[i] - before[i]);
  EXPECT_NEAR(std::sqrt(d2), 1e-3, 1e-6);
}

}  // namespace
}  // namespace lpt::test
