/* Every machine-tuned constant of the kernels, in one place, with the measurement behind
 * it.  Measured on the 2-core AMD EPYC (AVX2 + FMA, no AVX-512 in these runs; OpenBLAS
 * 0.3.30 through SciPy) that bench/RESULTS.md describes; re-measure with bench/run.py
 * before changing one.  Results never depend on these (every sum keeps a fixed order
 * whichever path runs), only speed does.  fastnn._kernels._codes.TUNING shows them to
 * Python.
 */
#ifndef FASTNN_TUNING_H
#define FASTNN_TUNING_H

/* Below this many multiply-adds (m * n * k) a row-major product is done by plain loops:
 * BLAS's call, packing and thread hand-off cost more than the arithmetic.  It also
 * bounds the stack copies those loops make of their small operand. */
#define FASTNN_SMALL_PRODUCT 16384

/* OpenBLAS (interface/gemm.c, 0.3.x) gives a product of M*N*K multiply-adds
 * min(threads, M*N*K / 262144) threads: one below 2 * 262144, two from there.  Just above
 * that line the second thread's hand-off costs about as much as it saves, or, on a shared
 * VM, much more: the [64, 128, 64, 10] step (products of exactly 524288) ran 1.6x slower
 * at 2 threads than at 1.  Products from TWO_THREAD_PRODUCT up to SPLIT_LIMIT are issued
 * as blocks of C below TWO_THREAD_PRODUCT, each run on the calling thread: 36-38 us at 1
 * and at 2 threads, against 33-34 us at 1 and 30-56 us at 2 unsplit. */
#define FASTNN_TWO_THREAD_PRODUCT 524288
#define FASTNN_SPLIT_LIMIT 1048576

/* Layers at most this wide make BLAS's products thin, and the examples-as-columns layout,
 * whose vectors run along the batch, wins at any batch length: the course's [2, 20, 3, 1]
 * 5x faster at 1024 or 8192 examples, [2, 24, 12, 1] 2.1x at 1024, [20, 24, 24, 1] even
 * at 256; at 32 units the two layouts tie, at 48 and more rows win by 1.3-1.6x. */
#define FASTNN_NARROW_LAYER 24

/* Interleaved partial sums of dot() and total() (_columns.pxd): one AVX2 register of
 * float.  16 or 32 lanes were no faster on the course net. */
#define FASTNN_LANES 8

/* The sigmoid loss works in blocks of this many logits (their exponentials first, then
 * the cost terms), so both loops vectorise: 7.7 -> 6.8 us on the course net's step. */
#define FASTNN_LOSS_BLOCK 64

/* Register blocks of the columns layout's products (_columns.h): output rows per block of
 * combine_rows (each two vectors wide), and dZ rows by A rows of a weight-gradient block;
 * at most 15 of AVX2's 16 vector registers in use.  Plain-loop versions of these blocks
 * were 1.5-1.8x slower. */
#define FASTNN_COMBINE_ROWS 4
#define FASTNN_GRADIENT_J 2
#define FASTNN_GRADIENT_K 4

#endif
