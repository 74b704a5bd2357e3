#include "input/split.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "util/error.hpp"

namespace lpt {

Split split_items(std::size_t n, double val_fraction, std::uint64_t split_seed, std::size_t block) {
  require(val_fraction >= 0.0 && val_fraction < 1.0, "split_items: val_fraction must be in [0, 1), ",
          "got ", val_fraction);
  require(block >= 1, "split_items: block must be >= 1");
  const std::size_t nb = (n + block - 1) / block;
  std::size_t nval = std::size_t(std::llround(val_fraction * double(nb)));
  if (val_fraction > 0 && nval == 0 && nb > 1) nval = 1;
  if (nval >= nb && nb > 0) nval = nb - 1;  // training keeps at least one block
  // A seeded partial Fisher-Yates picks the validation blocks.
  std::vector<std::size_t> blocks(nb);
  std::iota(blocks.begin(), blocks.end(), 0);
  Rng rng(mix64(split_seed, 0x5b1f));
  for (std::size_t i = 0; i < nval; ++i) std::swap(blocks[i], blocks[i + rng.below(nb - i)]);
  std::vector<char> is_val(nb, 0);
  for (std::size_t i = 0; i < nval; ++i) is_val[blocks[i]] = 1;
  Split s;
  for (std::size_t i = 0; i < n; ++i) (is_val[i / block] ? s.val : s.train).push_back(i);
  return s;
}

EpochOrder::EpochOrder(std::size_t n, std::uint64_t seed) : n_(n), seed_(seed), perm_(n) {
  require(n > 0, "EpochOrder: no items to visit (the training split is empty)");
  shuffle();
}

void shuffle(std::vector<std::size_t>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

void EpochOrder::shuffle() {
  std::iota(perm_.begin(), perm_.end(), 0);
  Rng rng(mix64(seed_, 0xe90c, epoch_));
  lpt::shuffle(perm_, rng);
}

std::size_t EpochOrder::next() {
  if (pos_ == n_) {
    ++epoch_;
    pos_ = 0;
    shuffle();
  }
  return perm_[pos_++];
}

void EpochOrder::restore(std::uint64_t epoch, std::uint64_t position) {
  require(position <= n_, "EpochOrder::restore: position ", position, " beyond the ", n_, " items");
  epoch_ = epoch;
  pos_ = position;
  if (n_ > 0) shuffle();
}

std::vector<std::uint64_t> LoaderState::pack(std::uint64_t tag, std::uint64_t config,
                                             const EpochOrder& order, const Rng& rng) {
  const auto r = rng.state();
  return {tag, config, order.epoch(), order.position(), r[0], r[1], r[2], r[3]};
}

namespace {
void check_state(const std::vector<std::uint64_t>& s, std::uint64_t tag, std::uint64_t config,
                 const char* who) {
  require(s.size() == 8, who, ": a saved loader state has 8 words, got ", s.size());
  require(s[0] == tag, who, ": the saved state belongs to another kind of loader");
  require(s[1] == config, who, ": the saved state was made with other data or options (batch, ",
          "sequence length, seed, split); resume with the configuration of the saved run");
}
}  // namespace

void LoaderState::unpack(const std::vector<std::uint64_t>& s, std::uint64_t tag,
                         std::uint64_t config, const char* who, EpochOrder& order, Rng& rng) {
  check_state(s, tag, config, who);
  order.restore(s[2], s[3]);
  rng.set_state({s[4], s[5], s[6], s[7]});
}

std::vector<std::uint64_t> LoaderState::pack(std::uint64_t tag, std::uint64_t config,
                                             std::uint64_t steps, const Rng& rng) {
  const auto r = rng.state();
  return {tag, config, 0, steps, r[0], r[1], r[2], r[3]};
}

void LoaderState::unpack(const std::vector<std::uint64_t>& s, std::uint64_t tag,
                         std::uint64_t config, const char* who, std::uint64_t& steps, Rng& rng) {
  check_state(s, tag, config, who);
  steps = s[3];
  rng.set_state({s[4], s[5], s[6], s[7]});
}

std::string state_to_string(const std::vector<std::uint64_t>& s) {
  std::string out;
  char buf[17];
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%llx", (unsigned long long)s[i]);
    if (i) out += ':';
    out += buf;
  }
  return out;
}

std::vector<std::uint64_t> state_from_string(const std::string& text) {
  std::vector<std::uint64_t> s;
  std::size_t i = 0;
  while (i <= text.size() && !text.empty()) {
    std::size_t j = text.find(':', i);
    if (j == std::string::npos) j = text.size();
    const std::string w = text.substr(i, j - i);
    require(!w.empty() && w.size() <= 16 &&
                w.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos,
            "loader state '", text, "' is not a ':'-separated list of hex words");
    s.push_back(std::stoull(w, nullptr, 16));
    i = j + 1;
  }
  return s;
}

}  // namespace lpt
