# The BLAS calls of fastnn (SciPy's cython_blas: nothing is linked or vendored), row-major
# arrays being handed to BLAS as the column-major transposes they are, and the split of
# products just big enough for a second OpenBLAS thread (_tuning.h: TWO_THREAD_PRODUCT).
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm

from fastnn._kernels._tuning cimport SPLIT_LIMIT, TWO_THREAD_PRODUCT


cdef inline void blas_gemm(char transa, char transb, int M, int N, int K, floating alpha,
                           const floating* A, int lda, const floating* B, int ldb,
                           floating beta, floating* C, int ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C (column-major): one sgemm / dgemm call."""
    if floating is float:
        sgemm(&transa, &transb, &M, &N, &K, &alpha, <float*>A, &lda, <float*>B, &ldb,
              &beta, C, &ldc)
    else:
        dgemm(&transa, &transb, &M, &N, &K, &alpha, <double*>A, &lda, <double*>B, &ldb,
              &beta, C, &ldc)


cdef inline int blocks_below(int length, double per_unit) noexcept nogil:
    """The fewest equal blocks of `length` units (each costing `per_unit` multiply-adds)
    whose every block stays below TWO_THREAD_PRODUCT."""
    cdef int pieces = 2
    while pieces < length and ((length + pieces - 1) // pieces) * per_unit >= TWO_THREAD_PRODUCT:
        pieces += 1
    return pieces


cdef inline void gemm(char transa, char transb, int M, int N, int K, floating alpha,
                      const floating* A, int lda, const floating* B, int ldb, floating beta,
                      floating* C, int ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C in BLAS's column-major terms; a product just big
    enough for two OpenBLAS threads is issued as one-thread blocks of C (columns when
    N >= M, else rows), so results do not depend on the thread count."""
    cdef double size = <double>M * N * K
    cdef int pieces, width, start
    if size < TWO_THREAD_PRODUCT or size >= SPLIT_LIMIT:
        blas_gemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if N >= M:  # blocks of columns of C: columns of op(B)
        pieces = blocks_below(N, size / N)
        width = (N + pieces - 1) // pieces
        start = 0
        while start < N:
            blas_gemm(transa, transb, M, min(width, N - start), K, alpha, A, lda,
                      B + (<Py_ssize_t>start * ldb if transb == c'N' else start), ldb, beta,
                      C + <Py_ssize_t>start * ldc, ldc)
            start += width
    else:  # blocks of rows of C: rows of op(A)
        pieces = blocks_below(M, size / M)
        width = (M + pieces - 1) // pieces
        start = 0
        while start < M:
            blas_gemm(transa, transb, min(width, M - start), N, K, alpha,
                      A + (start if transa == c'N' else <Py_ssize_t>start * lda), lda, B, ldb,
                      beta, C + start, ldc)
            start += width
