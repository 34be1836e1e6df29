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

#endif
