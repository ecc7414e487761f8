# cython: language_level=3
"""Scans of user arrays for fastnn.blocks.validation: one pass, no temporary, the GIL
held (they only read, before any computation runs).  Each returns True or False and
leaves the message to the caller; arrays of other dtypes or layouts return None, for the
caller's NumPy path (which also converts arrays of the other byte order)."""
from cython cimport floating
cimport numpy as cnp

from fastnn._kernels._finite cimport all_finite_ptr

cnp.import_array()


cdef inline bint native_contiguous(cnp.ndarray a):
    """C-contiguous and in this machine's byte order: a '>f8' array has the type number
    of float64, but its bytes read as native doubles are other numbers."""
    return cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISNOTSWAPPED(a)


cdef inline bint contiguous_float(cnp.ndarray a):
    return (native_contiguous(a)
            and cnp.PyArray_TYPE(a) in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64))


cdef inline bint plain_float(object a):
    """`a` is an ndarray itself (not a subclass: a masked array's mask must be read) of
    float32 or float64 in native byte order, 1-D or 2-D, with aligned elements (any
    strides: `in_precision` copies what is not C-contiguous)."""
    return (type(a) is cnp.ndarray
            and cnp.PyArray_TYPE(<cnp.ndarray>a) in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a)
            and 1 <= cnp.PyArray_NDIM(<cnp.ndarray>a) <= 2
            and cnp.PyArray_ISALIGNED(<cnp.ndarray>a))


cdef inline bint scan_finite(cnp.ndarray a):
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
        return all_finite_ptr(<double*>cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))
    return all_finite_ptr(<float*>cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))


cdef bint scan_unit_interval(const floating* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint inside = True
    for i in range(n):
        inside &= (a[i] >= 0) & (a[i] <= 1)  # False for NaN too
    return inside


def all_finite(cnp.ndarray a):
    """True when every value of the float array is finite (None: not a contiguous float
    array)."""
    if not contiguous_float(a):
        return None
    return scan_finite(a)


def all_in_unit_interval(cnp.ndarray a):
    """True when every value of the float array is in [0, 1] (NaN is not; None: not a
    contiguous float array)."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    if not contiguous_float(a):
        return None
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
        return scan_unit_interval(<double*>cnp.PyArray_DATA(a), n)
    return scan_unit_interval(<float*>cnp.PyArray_DATA(a), n)


cdef bint gather_scan(const floating* first, Py_ssize_t rows, Py_ssize_t cols,
                      Py_ssize_t row_stride, Py_ssize_t col_stride, void* out,
                      bint to_double) noexcept nogil:
    """out (rows * cols, C order) = the strided block at `first` (strides in bytes, any
    sign) in the target precision; True when every out value is finite."""
    cdef Py_ssize_t i, j, k = 0
    cdef const char* row
    for i in range(rows):
        row = <const char*>first + i * row_stride
        if to_double:
            for j in range(cols):
                (<double*>out)[k + j] = (<const floating*>(row + j * col_stride))[0]
        else:
            for j in range(cols):
                (<float*>out)[k + j] = <float>(<const floating*>(row + j * col_stride))[0]
        k += cols
    if to_double:
        return all_finite_ptr(<double*>out, rows * cols)
    return all_finite_ptr(<float*>out, rows * cols)


cdef cnp.ndarray in_precision(cnp.ndarray a, int target, bint* finite):
    """`a` (a 1-D or 2-D float array in native byte order with aligned elements; see
    `plain_float`) itself when it is C-contiguous and of type `target`, else a C-contiguous
    copy of it in `target`; *finite: every value is finite in `target` (a float64 value
    beyond float32's range is not).  With finite NULL an array returned as it is is not
    scanned (for a caller whose own scan also catches NaN and inf)."""
    cdef cnp.ndarray out
    cdef int ndim = cnp.PyArray_NDIM(a)
    cdef Py_ssize_t rows = cnp.PyArray_DIM(a, 0)
    cdef Py_ssize_t cols = cnp.PyArray_DIM(a, 1) if ndim == 2 else 1
    cdef Py_ssize_t row_stride = cnp.PyArray_STRIDE(a, 0)
    cdef Py_ssize_t col_stride = cnp.PyArray_STRIDE(a, 1) if ndim == 2 else 0
    cdef bint copied_finite
    if cnp.PyArray_TYPE(a) == target and cnp.PyArray_IS_C_CONTIGUOUS(a):
        if finite != NULL:
            finite[0] = scan_finite(a)
        return a
    out = cnp.PyArray_EMPTY(ndim, cnp.PyArray_DIMS(a), target, 0)
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
        copied_finite = gather_scan(<double*>cnp.PyArray_DATA(a), rows, cols, row_stride,
                                    col_stride, cnp.PyArray_DATA(out),
                                    target == cnp.NPY_FLOAT64)
    else:
        copied_finite = gather_scan(<float*>cnp.PyArray_DATA(a), rows, cols, row_stride,
                                    col_stride, cnp.PyArray_DATA(out),
                                    target == cnp.NPY_FLOAT64)
    if finite != NULL:
        finite[0] = copied_finite
    return out


def cast_finite(cnp.ndarray a, bint to_double):
    """(A, finite): `a` as a C-contiguous float64 (to_double) or float32 array of its
    shape (`a` itself when it already is one), and whether every value is finite in that
    precision (a float64 value beyond float32's range is not); None when `a` is not a
    C-contiguous, aligned, 1-D or 2-D float array.  No floating-point warning is raised
    by the cast."""
    cdef bint finite
    if not plain_float(a) or not cnp.PyArray_IS_C_CONTIGUOUS(a):
        return None
    out = in_precision(a, cnp.NPY_FLOAT64 if to_double else cnp.NPY_FLOAT32, &finite)
    return out, finite


ctypedef fused label:
    int
    long long
    float
    double


cdef bint indices_of(const label* y, Py_ssize_t m, Py_ssize_t k, Py_ssize_t* out) noexcept nogil:
    """out[i] = y[i] when every y[i] is a whole number in [0, k); else False."""
    cdef Py_ssize_t i
    cdef bint ok = True
    for i in range(m):
        ok &= (y[i] >= 0) & (y[i] < k) & (<label>(<Py_ssize_t>y[i]) == y[i])
        out[i] = <Py_ssize_t>y[i] if (y[i] >= 0) & (y[i] < k) else 0
    return ok


def class_indices(cnp.ndarray y, Py_ssize_t k):
    """y (m,) as C-contiguous intp class indices, when it is a contiguous 1-D array of
    int32, int64, float32 or float64 whole numbers in [0, k); False when it is such an
    array with another value (NaN included); None for other arrays."""
    cdef Py_ssize_t m = cnp.PyArray_SIZE(y)
    cdef cnp.npy_intp dims[1]
    cdef cnp.ndarray out
    cdef int kind = cnp.PyArray_TYPE(y)
    cdef void* data = cnp.PyArray_DATA(y)
    cdef bint ok
    if cnp.PyArray_NDIM(y) != 1 or not native_contiguous(y):
        return None
    if kind not in (cnp.NPY_INT32, cnp.NPY_INT64, cnp.NPY_FLOAT32, cnp.NPY_FLOAT64):
        return None
    dims[0] = m
    out = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INTP, 0)
    if kind == cnp.NPY_INT32:
        ok = indices_of(<int*>data, m, k, <Py_ssize_t*>cnp.PyArray_DATA(out))
    elif kind == cnp.NPY_INT64:
        ok = indices_of(<long long*>data, m, k, <Py_ssize_t*>cnp.PyArray_DATA(out))
    elif kind == cnp.NPY_FLOAT32:
        ok = indices_of(<float*>data, m, k, <Py_ssize_t*>cnp.PyArray_DATA(out))
    else:
        ok = indices_of(<double*>data, m, k, <Py_ssize_t*>cnp.PyArray_DATA(out))
    return out if ok else False


cdef inline int float_type(object dtype):
    """NPY_FLOAT64 or NPY_FLOAT32 for those dtypes, -1 for anything else."""
    if isinstance(dtype, cnp.dtype) and (<cnp.dtype>dtype).type_num in (cnp.NPY_FLOAT32,
                                                                        cnp.NPY_FLOAT64):
        return (<cnp.dtype>dtype).type_num
    return -1


def ready_matrix(object X, Py_ssize_t n_features, object dtype):
    """X as the kernels take it, when it needs at most a cast or a copy: an ndarray (not a
    subclass) of shape (m, n_features), m >= 1, aligned, of float32 or float64 in native
    byte order, every value finite once in `dtype` (float32 or float64).  X itself when
    C-contiguous and of `dtype`, else its C-contiguous copy in `dtype` (what the full
    check would make of it, in one pass).  None for anything else, which the full check
    (fastnn.blocks.validation.check_matrix) then converts or refuses with its message:
    the fast path of a call whose arrays are already right."""
    cdef int target = float_type(dtype)
    cdef bint finite
    if target < 0 or not plain_float(X):
        return None
    if (cnp.PyArray_NDIM(<cnp.ndarray>X) != 2 or cnp.PyArray_DIM(<cnp.ndarray>X, 0) < 1
            or cnp.PyArray_DIM(<cnp.ndarray>X, 1) != n_features):
        return None
    out = in_precision(<cnp.ndarray>X, target, &finite)
    return out if finite else None


def ready_targets(object y, Py_ssize_t m, Py_ssize_t n_out, object dtype,
                  bint unit_interval):
    """y as a sigmoid (`unit_interval`: values in [0, 1]) or linear output's loss takes it,
    when it needs at most a cast or a copy: an ndarray (not a subclass) of shape
    (m, n_out), or (m,) for one unit (returned as (m, 1)), aligned, of float32 or float64
    in native byte order, every value finite (and in [0, 1]) once in `dtype`.  None for
    anything else, for the full check (fastnn.blocks.losses.prepare_targets)."""
    cdef int target = float_type(dtype)
    cdef int ndim
    cdef bint ok
    cdef cnp.ndarray out
    if target < 0 or not plain_float(y):
        return None
    ndim = cnp.PyArray_NDIM(<cnp.ndarray>y)
    if ndim < 1 or cnp.PyArray_DIM(<cnp.ndarray>y, 0) != m:
        return None
    if not ((ndim == 1 and n_out == 1)
            or (ndim == 2 and cnp.PyArray_DIM(<cnp.ndarray>y, 1) == n_out)):
        return None
    if not unit_interval:
        out = in_precision(<cnp.ndarray>y, target, &ok)
    else:  # NaN and inf are outside [0, 1]: the interval scan is the finiteness scan
        out = in_precision(<cnp.ndarray>y, target, NULL)
        if target == cnp.NPY_FLOAT64:
            ok = scan_unit_interval(<double*>cnp.PyArray_DATA(out), m * n_out)
        else:
            ok = scan_unit_interval(<float*>cnp.PyArray_DATA(out), m * n_out)
    if not ok:
        return None
    return out.reshape(m, 1) if ndim == 1 else out
