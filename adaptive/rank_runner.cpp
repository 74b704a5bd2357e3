#include "adaptive/rank_runner.hpp"

#include <algorithm>

#include "adaptive/mpi_type.hpp"

namespace lpt {
namespace {
constexpr int kTagRelay = 93;
}  // namespace

template <class T>
void RankRunner<T>::forward(Model<T>& m, T* u, int n0, int n1) {
  if (!sh_.split()) return LayerRunner<T>::forward(m, u, n0, n1);
  const int me = sh_.rank(), P = sh_.ranks();
  const int n = int(m.state_size());
  auto move = [&](int from, int to) {
    if (from == to) return;
    if (me == from) MPI_Send(u, n, mpi_type<T>(), to, kTagRelay, sh_.comm());
    if (me == to) MPI_Recv(u, n, mpi_type<T>(), from, kTagRelay, sh_.comm(), MPI_STATUS_IGNORE);
  };
  int holder = 0;
  for (int r = 0; r < P; ++r) {
    const long b = std::max<long>(n0, sh_.first_layer(r));
    const long e = std::min<long>(n1, sh_.first_layer(r + 1));
    if (b >= e) continue;
    move(holder, r);
    holder = r;
    if (me == r)
      for (long k = b; k < e; ++k) m.steps().forward(int(k), m.h(int(k)), u, u, nullptr);
  }
  move(holder, 0);
}

template <class T>
void RankRunner<T>::share(void* p, std::size_t bytes) {
  if (sh_.split()) MPI_Bcast(p, int(bytes), MPI_BYTE, 0, sh_.comm());
}

template class RankRunner<float>;
template class RankRunner<double>;

}  // namespace lpt
