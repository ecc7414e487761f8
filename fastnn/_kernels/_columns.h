/* The two products of the examples-as-columns layout (see _columns.pxd), with explicit
 * vectors and register blocks:
 *
 *   fastnn_combine_rows_T:     dst (n_out, m) = bias[:, None] + C (n_out, n_in) @ src (n_in, m)
 *                              (the forward product W A_prev + b, and W^T dZ backward);
 *   fastnn_weight_gradient_T:  out (n, n_prev) := alpha dZ (n, m) @ A (n_prev, m)^T + beta out,
 *                              db = the row sums of dZ.
 *
 * Why not plain loops: in the course net each output row is a chain of dependent
 * multiply-adds (or each dot product is), and the chains' latency, not the arithmetic,
 * set the time (56 % of a step).  Register blocks of several outputs give the core
 * independent chains to interleave; GCC would not vectorise the plain-loop versions of
 * those blocks (measured 1.5-1.8x slower), so the vectors are written out with the
 * GCC/Clang vector extensions.  One vector is 32 bytes where the build has AVX (8 floats
 * or 4 doubles; the AVX2 + FMA build of _dense), 16 bytes otherwise (the baseline SSE2
 * build); compilers without the extensions get the same code on one lane.
 *
 * Every output is summed in a fixed order that depends only on m and the vector width,
 * not on where the output sits in its block: results repeat exactly.
 */
#ifndef FASTNN_COLUMNS_H
#define FASTNN_COLUMNS_H

#include <stddef.h>
#include <string.h>

#include "_tuning.h"

#if defined(__GNUC__) || defined(__clang__)
#define FASTNN_ALWAYS_INLINE static inline __attribute__((always_inline))
#if defined(__AVX__)
#define FASTNN_VECTOR_BYTES 32
#else
#define FASTNN_VECTOR_BYTES 16
#endif
#else
#define FASTNN_ALWAYS_INLINE static inline
#define FASTNN_VECTOR_BYTES 0
#endif

#define FASTNN_T float
#define FASTNN_NAME(name) name##_float
#include "_columns_impl.h"
#undef FASTNN_T
#undef FASTNN_NAME

#define FASTNN_T double
#define FASTNN_NAME(name) name##_double
#include "_columns_impl.h"
#undef FASTNN_T
#undef FASTNN_NAME

#endif
