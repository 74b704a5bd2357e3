#include "util/family.hpp"

#include "util/error.hpp"

namespace lpt {

const char* to_string(Family f) {
  switch (f) {
    case Family::gpt: return "gpt";
    case Family::bert: return "bert";
    case Family::vit: return "vit";
    case Family::mt: return "mt";
  }
  return "?";
}

Family parse_family(const std::string& name) {
  for (Family f : {Family::gpt, Family::bert, Family::vit, Family::mt})
    if (name == to_string(f)) return f;
  fail("unknown model family '", name, "'; use gpt, bert, vit or mt (mt: translation)");
}

}  // namespace lpt
