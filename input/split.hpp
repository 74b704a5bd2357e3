#pragma once
// Deterministic train/validation splits and the seeded visiting order of a training set, plus the
// small saved state that lets a resumed run continue with identical batches (docs/data.md).
#include <cstdint>
#include <string>
#include <vector>

#include "input/rng.hpp"

namespace lpt {

struct Split {
  std::vector<std::size_t> train, val;  // item indices, each ascending; disjoint, union = all
};

// Items are grouped in consecutive blocks of `block` items (block 1: single items); a fraction
// val_fraction of the blocks (rounded, at least one when 0 < val_fraction and n > block), chosen by
// split_seed, goes to validation. The result depends only on (n, val_fraction, split_seed, block).
// Blocks keep neighbouring text lines together so that a language model is not validated on the
// verse next to one it trained on.
Split split_items(std::size_t n, double val_fraction, std::uint64_t split_seed,
                  std::size_t block = 1);

// Permutes v in place (Fisher–Yates, drawing from rng): the one shuffle of the data pipeline.
void shuffle(std::vector<std::size_t>& v, Rng& rng);

// Visits 0..n-1 in a fresh seeded permutation every epoch. The permutation of epoch e is a pure
// function of (seed, e), so the state is just (epoch, position) and is restored exactly.
class EpochOrder {
 public:
  EpochOrder() = default;
  EpochOrder(std::size_t n, std::uint64_t seed);
  std::size_t next();  // the next item index
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t position() const { return pos_; }
  void restore(std::uint64_t epoch, std::uint64_t position);

 private:
  void shuffle();
  std::size_t n_ = 0;
  std::uint64_t seed_ = 0, epoch_ = 0, pos_ = 0;
  std::vector<std::size_t> perm_;
};

// The loader state format: [tag, config, words...]. `tag` names the loader kind and `config`
// hashes the options and data it was made with, so restoring into a different loader is an error
// instead of a silently different batch stream.
struct LoaderState {
  static std::vector<std::uint64_t> pack(std::uint64_t tag, std::uint64_t config,
                                         const EpochOrder& order, const Rng& rng);
  // Checks tag, config and length; restores order and rng. `who` names the loader in errors.
  static void unpack(const std::vector<std::uint64_t>& s, std::uint64_t tag, std::uint64_t config,
                     const char* who, EpochOrder& order, Rng& rng);
  // For loaders without an epoch order (random windows): the order words hold a step counter.
  static std::vector<std::uint64_t> pack(std::uint64_t tag, std::uint64_t config,
                                         std::uint64_t steps, const Rng& rng);
  static void unpack(const std::vector<std::uint64_t>& s, std::uint64_t tag, std::uint64_t config,
                     const char* who, std::uint64_t& steps, Rng& rng);
};

// The state as text ("hex:hex:..."), for run records and config files.
std::string state_to_string(const std::vector<std::uint64_t>& s);
std::vector<std::uint64_t> state_from_string(const std::string& text);

}  // namespace lpt
