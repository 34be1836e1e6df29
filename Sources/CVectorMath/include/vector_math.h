#ifndef BERTH_VECTOR_MATH_H
#define BERTH_VECTOR_MATH_H

#include <stddef.h>

/// The widest path these kernels take on this CPU: 2 AVX-512, 1 AVX2 + FMA, 0 none (the Swift
/// SIMD code is then used instead; on x86 it compiles to SSE2 at the package's baseline).
int berth_vector_math_isa(void);

/// dst[i] = exp(src[i] - shift) for n floats with src[i] <= shift + 88 (results below
/// exp(-88) are 0); returns their sum. src and dst may be the same buffer. `isa` caps the path
/// (for tests: every path must agree within the exp's 2e-7 relative error).
float berth_exp_shifted_sum_isa(int isa, const float *src, float *dst, size_t n, float shift);

/// The sum of exp(src[i] - shift) without storing the terms (LogSoftmax).
float berth_exp_shifted_sum_only_isa(int isa, const float *src, size_t n, float shift);

/// Softmax of one row of n (> 0) floats: max, exp(x - max) and its sum, scale by 1 / sum.
/// src and dst may be the same buffer.
void berth_softmax_row_isa(int isa, const float *src, float *dst, size_t n);

/// LayerNormalization of one row of n (> 0) floats: two-pass mean and variance, then
/// dst[i] = (src[i] - mean) * inv * scale[i] + bias[i] (bias may be NULL) with
/// inv = 1 / sqrt(variance + epsilon). Writes mean and inv. src and dst may be the same buffer.
void berth_layer_norm_row_isa(int isa, const float *src, float *dst, size_t n, const float *scale, const float *bias,
                              float epsilon, float *mean, float *inv);

#endif
