// `lpt predict`: layer-parallel step time and speedup on a hardware profile (perfmodel/).
#include "experiments/command.hpp"
#include "perfmodel/predict.hpp"

LPT_COMMAND("predict", "predict layer-parallel speedup for depths and machines (perf model)",
            lpt::perf::kPredictUsage, lpt::perf::predict_main);
