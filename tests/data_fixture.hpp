#pragma once
// Tiny data sets in the documented on-disk format (docs/data.md), written into a fresh temporary
// directory, so that tests of loaders and of `lpt train` never depend on prepared real data.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "input/files.hpp"
#include "util/error.hpp"

namespace lpt::test {

// The message of the lpt::Error that f() throws, or a text saying that it threw none: the data
// tests check that an error names the file, the line and the command that fixes it.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no lpt::Error thrown)";
}

// A fresh directory under /tmp, removed with everything in it when the object goes.
struct TempDir {
  std::string path;
  explicit TempDir(const char* tag = "lpt") {
    std::string pattern = std::string("/tmp/") + tag + "_XXXXXX";
    const char* d = mkdtemp(pattern.data());
    if (!d) std::abort();
    path = d;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// <dir>/<name>/ with the given files and a meta.json holding their sizes and CRC-32 (as
// scripts/data/prepare.py writes it) plus the `extra` keys.
inline void write_dataset(const std::string& dir, const std::string& name,
                          const std::map<std::string, std::string>& files, nlohmann::json extra) {
  const std::string d = dir + "/" + name;
  mkdir(d.c_str(), 0755);
  nlohmann::json meta = std::move(extra);
  meta["name"] = name;
  meta["format_version"] = 1;
  for (const auto& [f, bytes] : files) {
    write_file(d + "/" + f, bytes);
    char crc[9];
    std::snprintf(crc, sizeof crc, "%08x", crc32(bytes.data(), bytes.size()));
    meta["files"][f] = {{"bytes", bytes.size()}, {"crc32", crc}};
  }
  write_file(d + "/meta.json", meta.dump(1));
}

// An `english` corpus of `lines` short, varied sentences (enough for train and validation
// windows of a small GPT or BERT).
inline void write_tiny_english(const std::string& dir, int lines = 400) {
  static const char* words[] = {"the", "light", "was", "good", "and", "God", "said", "let",
                                "there", "be", "waters", "earth", "day", "night", "heaven"};
  std::string text;
  unsigned s = 12345;
  for (int i = 0; i < lines; ++i) {
    const int n = 4 + i % 7;
    for (int w = 0; w < n; ++w) {
      s = s * 1103515245u + 12345u;
      text += words[(s >> 16) % 15];
      text += w + 1 < n ? " " : ".\n";
    }
  }
  write_dataset(dir, "english", {{"english.txt", text}}, {{"lines", lines}});
}

// A `digits`-shaped image set (1x8x8, 10 classes, one split "all") of n images whose label is
// visible in the pixels (a bright row at the label's position), so a ViT can learn it.
inline void write_tiny_digits(const std::string& dir, int n = 240) {
  std::string px, lab;
  for (int i = 0; i < n; ++i) {
    const int label = (i * 7) % 10;
    for (int p = 0; p < 64; ++p) {
      const int row = p / 8, col = p % 8;
      int v = (i * 31 + p * 17) % 64;
      if (row == label % 8 && (label < 8 || col < 4)) v += 160;
      px += char(v);
    }
    lab += char(label);
  }
  write_dataset(dir, "digits", {{"all_images.u8", px}, {"all_labels.u8", lab}},
                {{"shape", {1, 8, 8}}, {"classes", 10}, {"pixel_scale", 255.0}, {"mean", 0.3},
                 {"std", 0.3}, {"splits", {{"all", {{"count", n}}}}}});
}

// An `en_es` set of n verse-aligned pairs with a learnable word-for-word mapping.
inline void write_tiny_en_es(const std::string& dir, int n = 120) {
  std::string tsv;
  for (int i = 0; i < n; ++i)
    tsv += "Gen 1:" + std::to_string(i) + "\tlet there be light " + std::to_string(i % 7) +
           "\thaya luz " + std::to_string(i % 7) + "\n";
  write_dataset(dir, "en_es", {{"en_es.tsv", tsv}}, {{"pairs", n}});
}

// A `fortunes`-shaped classification set: n cookies in 3 classes, each cookie naming its topic
// among filler words (so a classifier can learn it) within its first 3 words (so a cut to 16
// tokens keeps it), in class order as prepare.py writes them.
inline void write_tiny_fortunes(const std::string& dir, int n = 300) {
  static const char* names[] = {"computers", "food", "law"};
  static const char* topic[] = {"bits", "soup", "judge"};
  static const char* filler[] = {"a", "the", "of", "it", "is", "and", "one"};
  std::string tsv;
  unsigned s = 777;
  const int per = n / 3;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < per; ++i) {
      std::string text;
      const int words = 2 + i % 9;  // some longer than a short seq_len, some shorter
      for (int w = 0; w < words; ++w) {
        s = s * 1103515245u + 12345u;
        text += std::string(w ? " " : "") + (w == i % std::min(words, 3) ? topic[c] : filler[(s >> 16) % 7]);
      }
      tsv += std::string(names[c]) + "\t" + text + "\n";
    }
  write_dataset(dir, "fortunes", {{"fortunes.tsv", tsv}},
                {{"items", 3 * per}, {"classes", 3}, {"class_names", {"computers", "food", "law"}}});
}

}  // namespace lpt::test
