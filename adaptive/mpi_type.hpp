#pragma once
// The MPI datatype of a floating-point element type, for the layer-parallel step and the split
// model's exchanges that are written once for float and double.
#include <mpi.h>

namespace lpt {

template <class T>
MPI_Datatype mpi_type();
template <>
inline MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
inline MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

}  // namespace lpt
