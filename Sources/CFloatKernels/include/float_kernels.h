#ifndef BERTH_FLOAT_KERNELS_H
#define BERTH_FLOAT_KERNELS_H

#include <stddef.h>

/// Columns per panel of a packed row-product weight: four AVX-512 registers.
#define BERTH_ROW_PRODUCT_PANEL 64

/// 1 when this CPU runs the packed row product's vector kernel (AVX-512F), else 0 (the scalar
/// loop would still compute it, slower than BLAS).
int berth_row_product_available(void);

/// Floats a packed weight of `k` rows by `n` columns takes: `n` rounded up to whole panels, times `k`.
size_t berth_row_product_packed_count(size_t k, size_t n);

/// Packs op(W), [k, n], into panels of 64 columns, each k rows of 64 floats (zero past `n`).
/// W is stored [k, n] with row stride `ldw`, or, when `transposed`, [n, k] with row stride `ldw`.
void berth_row_product_pack(const float *w, size_t ldw, int transposed, size_t k, size_t n, float *packed);

/// y[j] = bias[j] (0 when bias is NULL) + sum over p of x[p] * W[p, j], for the columns of panels
/// [panel0, panel1), then max(y[j], 0) when `relu`. Writes only columns below `n`.
void berth_row_product(const float *packed, size_t k, size_t n, const float *x, const float *bias, float *y,
                       size_t panel0, size_t panel1, int relu);

#endif
