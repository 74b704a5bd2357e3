#pragma once
// The four model families, named once for every part: the run config (model.family), the perf
// model's shape (lpt predict --family) and the records all spell them gpt, bert, vit, mt.
#include <string>

namespace lpt {

enum class Family { gpt, bert, vit, mt };  // mt: encoder-decoder translation

const char* to_string(Family f);
// Throws lpt::Error naming the unknown name and the four valid ones.
Family parse_family(const std::string& name);

}  // namespace lpt
