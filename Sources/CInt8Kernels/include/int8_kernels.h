#ifndef BERTH_INT8_KERNELS_H
#define BERTH_INT8_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// min(0, x) and max(0, x) over n floats, NaN skipped (DynamicQuantizeLinear's range).
void berth_u8_range(const float *x, size_t n, float *lo, float *hi);

/// out[i] = clamp(nearbyint(x[i] / scale) + zero_point, 0, 255), NaN → zero_point: ONNX's
/// QuantizeLinear to uint8 with the division in float and rounding half to even, as ONNX
/// Runtime's MLAS computes it. zero_point must be in [0, 255] and scale finite and positive.
void berth_u8_quantize(const float *x, size_t n, float scale, int32_t zero_point, uint8_t *out);

/// out[i] = clamp(nearbyint(x[i] / scale) + zero_point, lo, hi) as a byte (an int8 level as its
/// two's-complement byte), NaN → zero_point: QuantizeLinear to uint8 (lo 0, hi 255) or int8
/// (lo -128, hi 127). lo ≤ zero_point ≤ hi, both within the type; scale finite and positive.
void berth_quantize_levels(const float *x, size_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi, uint8_t *out);

/// berth_quantize_levels on the widest path up to `isa` (0 scalar, 1 AVX2, 2 AVX-512) this CPU has;
/// returns the path taken. For tests: every path must give the same bytes.
int berth_quantize_levels_isa(int isa, const float *x, size_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi, uint8_t *out);

#endif
