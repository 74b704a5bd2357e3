#include "adaptive/param_shards.hpp"

#include <algorithm>

#include "adaptive/mpi_type.hpp"
#include "util/error.hpp"

namespace lpt {
namespace {

constexpr int kTagGhost = 91;

}  // namespace

ParamShards::ParamShards(MPI_Comm comm, std::vector<int> owner,
                         std::vector<std::vector<long>> reads, std::vector<int> end_ghosts,
                         std::function<int(const std::string&)> layer_of)
    : comm_(comm), owner_(std::move(owner)), end_ghosts_(std::move(end_ghosts)),
      layer_of_(std::move(layer_of)) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  const long N = long(owner_.size());
  require(int(reads.size()) == size_, "ParamShards: ", reads.size(), " read lists for ", size_,
          " ranks (internal error)");
  first_.assign(size_ + 1, N);
  for (long n = N - 1; n >= 0; --n) {
    require(owner_[n] >= 0 && owner_[n] < size_, "ParamShards: layer ", n, " has owner ",
            owner_[n], " (internal error)");
    require(n == 0 || owner_[n - 1] <= owner_[n], "ParamShards: owners must be blocks in rank "
            "order (internal error)");
    first_[owner_[n]] = n;
  }
  first_[0] = 0;
  for (int r = size_ - 1; r >= 1; --r) first_[r] = std::min(first_[r], first_[r + 1]);
  reads_.assign(size_, std::vector<char>(N, 0));
  for (int r = 0; r < size_; ++r)
    for (long n : reads[r]) reads_[r][n] = 1;
}

ParamRole ParamShards::role(int r, const std::string& name) const {
  if (!split()) return ParamRole::owned;
  const int n = layer_of_(name);
  if (n < 0) {
    if (r == 0) return ParamRole::owned;
    return std::count(end_ghosts_.begin(), end_ghosts_.end(), r) ? ParamRole::ghost
                                                                    : ParamRole::absent;
  }
  if (owner_[n] == r) return ParamRole::owned;
  return reads_[r][n] ? ParamRole::ghost : ParamRole::absent;
}

int ParamShards::owner_of(const std::string& name) const {
  if (!split()) return 0;
  const int n = layer_of_(name);
  return n < 0 ? 0 : owner_[n];
}

ParamRoles ParamShards::roles() const {
  if (!split()) return {};
  return [this](const std::string& name) { return role(rank_, name); };
}

std::pair<long, long> ParamShards::layers_held(int r, long lo, long hi) const {
  if (!split()) return {hi - lo, 0};
  long own = 0, ghost = 0;
  for (long n = lo; n < hi; ++n) {
    if (owner_[n] == r) ++own;
    else if (reads_[r][n]) ++ghost;
  }
  return {own, ghost};
}

bool ParamShards::holds_ends(int r) const {
  return r == 0 || std::count(end_ghosts_.begin(), end_ghosts_.end(), r) > 0;
}

void ParamShards::plan(const std::vector<ParamEntry>& entries) const {
  if (planned_for_ == entries.size()) return;
  from_owner_.clear();
  to_ghost_.clear();
  auto peer = [](std::vector<Peer>& v, int r) -> Peer& {
    for (auto& p : v)
      if (p.rank == r) return p;
    v.push_back({r, {}});
    return v.back();
  };
  for (const auto& e : entries) {
    const int owner = owner_of(e.name);
    if (role(rank_, e.name) == ParamRole::ghost) peer(from_owner_, owner).entries.push_back(e.index);
    if (owner == rank_)
      for (int r = 0; r < size_; ++r)
        if (r != rank_ && role(r, e.name) == ParamRole::ghost)
          peer(to_ghost_, r).entries.push_back(e.index);
  }
  auto by_rank = [](const Peer& a, const Peer& b) { return a.rank < b.rank; };
  std::sort(from_owner_.begin(), from_owner_.end(), by_rank);
  std::sort(to_ghost_.begin(), to_ghost_.end(), by_rank);
  planned_for_ = entries.size();
}

// grads = false: owners' values to the ghosts (overwrite). grads = true: ghosts' gradients to the
// owners, added to the owner's own in increasing rank order after all have arrived.
template <class T>
void ParamShards::exchange(ParamStore<T>& p, bool grads) const {
  if (!split()) return;
  plan(p.entries());
  const auto& E = p.entries();
  T* base = grads ? p.grads() : p.values();
  const std::vector<Peer>& in = grads ? to_ghost_ : from_owner_;   // what arrives here
  const std::vector<Peer>& out = grads ? from_owner_ : to_ghost_;  // what leaves
  auto count = [&](const Peer& q) {
    std::size_t c = 0;
    for (std::size_t i : q.entries) c += E[i].numel;
    return c;
  };
  std::vector<std::vector<T>> rbuf(in.size()), sbuf(out.size());
  std::vector<MPI_Request> req;
  req.reserve(in.size() + out.size());
  for (std::size_t k = 0; k < in.size(); ++k) {
    rbuf[k].resize(count(in[k]));
    req.emplace_back();
    MPI_Irecv(rbuf[k].data(), int(rbuf[k].size()), mpi_type<T>(), in[k].rank, kTagGhost, comm_,
              &req.back());
  }
  for (std::size_t k = 0; k < out.size(); ++k) {
    sbuf[k].reserve(count(out[k]));
    for (std::size_t i : out[k].entries)
      sbuf[k].insert(sbuf[k].end(), base + E[i].offset, base + E[i].offset + E[i].numel);
    req.emplace_back();
    MPI_Isend(sbuf[k].data(), int(sbuf[k].size()), mpi_type<T>(), out[k].rank, kTagGhost, comm_,
              &req.back());
  }
  MPI_Waitall(int(req.size()), req.data(), MPI_STATUSES_IGNORE);
  for (std::size_t k = 0; k < in.size(); ++k) {  // in increasing rank order
    const T* src = rbuf[k].data();
    for (std::size_t i : in[k].entries) {
      T* dst = base + E[i].offset;
      if (grads)
        for (std::size_t j = 0; j < E[i].numel; ++j) dst[j] += src[j];
      else
        std::copy(src, src + E[i].numel, dst);
      src += E[i].numel;
    }
  }
}

template <class T>
void ParamShards::refresh_ghosts(ParamStore<T>& p) const {
  exchange(p, false);
}

template <class T>
void ParamShards::reduce_ghost_grads(ParamStore<T>& p) const {
  exchange(p, true);
}

void ParamShards::sum_by_index(std::vector<double>& v) const {
  if (split()) MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM, comm_);
}

template void ParamShards::refresh_ghosts<float>(ParamStore<float>&) const;
template void ParamShards::refresh_ghosts<double>(ParamStore<double>&) const;
template void ParamShards::reduce_ghost_grads<float>(ParamStore<float>&) const;
template void ParamShards::reduce_ghost_grads<double>(ParamStore<double>&) const;

}  // namespace lpt
