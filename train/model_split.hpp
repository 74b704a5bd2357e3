#pragma once
// Which rank of a group holds which layers of the model (issue 12 item 1, docs/memory.md
// "Ownership"): decided from the run config alone, before the model is allocated, so that each
// rank allocates only its part.
//
// Layer-parallel and serial modes: a layer's owner is the rank whose forward block (the solver's
// split, solver/grid.hpp) holds it in the mode the run starts in. A rank also reads, as ghosts,
// the layers its other solves touch: adjoint coarse steps that reach into the next block, an
// adjoint split differently from the forward (trailing steps), and the one-level solves of exact
// training, the gradient monitor's exact gradient and an adaptive run's switch to serial.
// Pipeline: the one-level blocks; the last rank, which closes, reads the opening and closing
// tensors (tied embeddings) as ghosts.
#include <mpi.h>

#include <string>

#include "adaptive/param_shards.hpp"
#include "train/config.hpp"

namespace lpt {

// The chain layer a parameter belongs to ("layers.3.ln1_w" -> 3, "dec.1.…" -> enc_layers + 1),
// -1 for the opening and closing tensors.
int layer_of_param(const std::string& name, const ModelSection& m);

// The split of cfg's model over the ranks of `group` (every rank of it calls, with the same
// config). One rank: the whole model, owned. Throws lpt::Error when the rank count does not fit
// the solver's layout, naming the largest valid count.
ParamShards split_model(const RunConfig& cfg, MPI_Comm group);

}  // namespace lpt
