/* The body of _columns.h for one element type: included once per type with FASTNN_T
 * (float or double) and FASTNN_NAME (which appends the type's suffix) defined. */
#define T FASTNN_T
#define V FASTNN_NAME(fastnn_vector)

#if FASTNN_VECTOR_BYTES
typedef T V __attribute__((vector_size(FASTNN_VECTOR_BYTES)));
#define LANES ((ptrdiff_t)(FASTNN_VECTOR_BYTES / sizeof(T)))
#else
typedef T V;
#define LANES ((ptrdiff_t)1)
#endif

/* Unaligned load and store of one vector (memcpy compiles to one move). */
FASTNN_ALWAYS_INLINE V FASTNN_NAME(fastnn_load)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

FASTNN_ALWAYS_INLINE void FASTNN_NAME(fastnn_store)(T *p, V v)
{
    memcpy(p, &v, sizeof v);
}

/* The sum of a vector's lanes, halving pairwise: (l0 + l4) + (l2 + l6) + ... for 8. */
FASTNN_ALWAYS_INLINE T FASTNN_NAME(fastnn_lane_sum)(V v)
{
    T lanes[sizeof(V) / sizeof(T)];
    memcpy(lanes, &v, sizeof v);
    for (ptrdiff_t width = LANES / 2; width > 0; width /= 2)
        for (ptrdiff_t i = 0; i < width; i++)
            lanes[i] += lanes[i + width];
    return lanes[0];
}

/* dst[r, q .. q + 2 LANES) for the `rows` (constant after inlining) rows r of one block:
 * bias[r] + sum_s C[r, s] src[s, q ...), s in order, the sums kept in registers. */
FASTNN_ALWAYS_INLINE void FASTNN_NAME(fastnn_combine_block)(
    const T *C, ptrdiff_t stride_out, ptrdiff_t stride_in, const T *bias, const T *src,
    T *dst, ptrdiff_t m, ptrdiff_t n_in, int rows)
{
    V acc[FASTNN_COMBINE_ROWS][2];
    for (int r = 0; r < rows; r++) {
        V start = {0};
        acc[r][0] = acc[r][1] = start + (bias != NULL ? bias[r] : (T)0);
    }
    for (ptrdiff_t s = 0; s < n_in; s++) {
        V x0 = FASTNN_NAME(fastnn_load)(src + s * m);
        V x1 = FASTNN_NAME(fastnn_load)(src + s * m + LANES);
        for (int r = 0; r < rows; r++) {
            T c = C[r * stride_out + s * stride_in];
            acc[r][0] += c * x0;
            acc[r][1] += c * x1;
        }
    }
    for (int r = 0; r < rows; r++) {
        FASTNN_NAME(fastnn_store)(dst + r * m, acc[r][0]);
        FASTNN_NAME(fastnn_store)(dst + r * m + LANES, acc[r][1]);
    }
}

/* dst (n_out, m) = bias[:, None] + C @ src (n_in, m), C[i, s] at i * stride_out + s *
 * stride_in (stride_in = n_out for a transposed C); bias may be NULL; dst must not overlap
 * src. */
static void FASTNN_NAME(fastnn_combine_rows)(const T *C, ptrdiff_t stride_out,
                                             ptrdiff_t stride_in, const T *bias, const T *src,
                                             T *dst, ptrdiff_t m, ptrdiff_t n_in,
                                             ptrdiff_t n_out)
{
    const ptrdiff_t width = 2 * LANES;
    if (m < width) { /* too short for one block: the same sums, one column at a time */
        for (ptrdiff_t i = 0; i < n_out; i++)
            for (ptrdiff_t q = 0; q < m; q++) {
                T acc = bias != NULL ? bias[i] : (T)0;
                for (ptrdiff_t s = 0; s < n_in; s++)
                    acc += C[i * stride_out + s * stride_in] * src[s * m + q];
                dst[i * m + q] = acc;
            }
        return;
    }
    for (ptrdiff_t i = 0; i < n_out; i += FASTNN_COMBINE_ROWS) {
        const T *Ci = C + i * stride_out;
        const T *bi = bias != NULL ? bias + i : NULL;
        T *di = dst + i * m;
        ptrdiff_t rows = n_out - i;
        for (ptrdiff_t q0 = 0; q0 < m; q0 += width) {
            /* The last block ends at m, overlapping the one before: its columns are
             * recomputed to the same values, and no column is left for a scalar tail. */
            ptrdiff_t q = q0 + width <= m ? q0 : m - width;
            /* One call per row count, so that each inlined copy has a constant count. */
#define FASTNN_COMBINE_CASE(ROWS)                                                          \
    case ROWS:                                                                             \
        FASTNN_NAME(fastnn_combine_block)(Ci, stride_out, stride_in, bi, src + q, di + q, m, \
                                          n_in, ROWS);                                     \
        break;
            switch (rows < FASTNN_COMBINE_ROWS ? rows : FASTNN_COMBINE_ROWS) {
                FASTNN_COMBINE_CASE(1)
                FASTNN_COMBINE_CASE(2)
                FASTNN_COMBINE_CASE(3)
                FASTNN_COMBINE_CASE(4)
            }
#undef FASTNN_COMBINE_CASE
        }
    }
}

/* One block of the weight gradient: for the J dZ rows j and K A rows k (constants after
 * inlining), out[j, k] := alpha sum_p dZ[j, p] A[k, p] + beta out[j, k], each sum in
 * LANES partial sums, folded by fastnn_lane_sum, then the tail p >= m - m % LANES in order;
 * db[j] = sum_p dZ[j, p] the same way, unless db is NULL. */
FASTNN_ALWAYS_INLINE void FASTNN_NAME(fastnn_gradient_block)(
    const T *dZ, const T *A, T *out, ptrdiff_t ld_out, T *db, ptrdiff_t m, T alpha, T beta,
    int J, int K)
{
    V acc[FASTNN_GRADIENT_J][FASTNN_GRADIENT_K], sums[FASTNN_GRADIENT_J];
    V zero = {0};
    for (int j = 0; j < J; j++) {
        sums[j] = zero;
        for (int k = 0; k < K; k++)
            acc[j][k] = zero;
    }
    ptrdiff_t p = 0;
    for (; p + LANES <= m; p += LANES) {
        V a[FASTNN_GRADIENT_K];
        for (int k = 0; k < K; k++)
            a[k] = FASTNN_NAME(fastnn_load)(A + k * m + p);
        for (int j = 0; j < J; j++) {
            V z = FASTNN_NAME(fastnn_load)(dZ + j * m + p);
            if (db != NULL)
                sums[j] += z;
            for (int k = 0; k < K; k++)
                acc[j][k] += z * a[k];
        }
    }
    for (int j = 0; j < J; j++) {
        for (int k = 0; k < K; k++) {
            T s = FASTNN_NAME(fastnn_lane_sum)(acc[j][k]);
            for (ptrdiff_t q = p; q < m; q++)
                s += dZ[j * m + q] * A[k * m + q];
            T g = alpha * s;
            out[j * ld_out + k] = beta == 0 ? g : beta * out[j * ld_out + k] + g;
        }
        if (db != NULL) {
            T s = FASTNN_NAME(fastnn_lane_sum)(sums[j]);
            for (ptrdiff_t q = p; q < m; q++)
                s += dZ[j * m + q];
            db[j] = s;
        }
    }
}

/* out (n, n_prev) := alpha dZ (n, m) @ A (n_prev, m)^T + beta out (beta == 0 ignores what
 * out held), and db[j] = sum_p dZ[j, p], the bias gradient. */
static void FASTNN_NAME(fastnn_weight_gradient)(const T *dZ, const T *A, T *out, T *db,
                                                ptrdiff_t m, ptrdiff_t n_prev, ptrdiff_t n,
                                                T alpha, T beta)
{
    for (ptrdiff_t j = 0; j < n; j += FASTNN_GRADIENT_J) {
        int J = n - j < FASTNN_GRADIENT_J ? (int)(n - j) : FASTNN_GRADIENT_J;
        for (ptrdiff_t k = 0; k < n_prev; k += FASTNN_GRADIENT_K) {
            int K = n_prev - k < FASTNN_GRADIENT_K ? (int)(n_prev - k) : FASTNN_GRADIENT_K;
            const T *dZj = dZ + j * m;
            const T *Ak = A + k * m;
            T *o = out + j * n_prev + k;
            T *dbj = k == 0 ? db + j : NULL; /* the row sums ride along the first block */
#define FASTNN_GRADIENT_CASE(JJ, KK)                                                        \
    case (JJ) * 8 + (KK):                                                                   \
        FASTNN_NAME(fastnn_gradient_block)(dZj, Ak, o, n_prev, dbj, m, alpha, beta, JJ, KK); \
        break;
            switch (J * 8 + K) {
                FASTNN_GRADIENT_CASE(1, 1)
                FASTNN_GRADIENT_CASE(1, 2)
                FASTNN_GRADIENT_CASE(1, 3)
                FASTNN_GRADIENT_CASE(1, 4)
                FASTNN_GRADIENT_CASE(2, 1)
                FASTNN_GRADIENT_CASE(2, 2)
                FASTNN_GRADIENT_CASE(2, 3)
                FASTNN_GRADIENT_CASE(2, 4)
            }
#undef FASTNN_GRADIENT_CASE
        }
    }
}

#undef LANES
#undef V
#undef T
