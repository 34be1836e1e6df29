// One row times a constant weight (a batch-1 Linear layer) over a weight packed once into panels
// of 64 columns: each step over k reads 256 contiguous bytes of one panel and broadcasts one x,
// so the weight streams from L2 at full width. OpenBLAS's sgemv, pinned to its AVX2 kernels here,
// reads a 3136x128 weight in 17 µs where this takes 13.5 µs (1000x256: 10 vs 8 µs; 256x128:
// 1.3 vs 0.7 µs; hot loop, 1 thread, AMD EPYC Zen 5). AVX-512 only: an AVX2 version of the same
// loop was slower than OpenBLAS, so callers keep BLAS where `berth_row_product_available` is 0.
#include "float_kernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx2,fma,avx512f")))
#endif

#define PANEL BERTH_ROW_PRODUCT_PANEL

int berth_row_product_available(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

size_t berth_row_product_packed_count(size_t k, size_t n) {
    return (n + PANEL - 1) / PANEL * PANEL * k;
}

void berth_row_product_pack(const float *w, size_t ldw, int transposed, size_t k, size_t n, float *packed) {
    size_t panels = (n + PANEL - 1) / PANEL;
    for (size_t q = 0; q < panels; q++) {
        float *dst = packed + q * k * PANEL;
        size_t j0 = q * PANEL, width = n - j0 < PANEL ? n - j0 : PANEL;
        for (size_t p = 0; p < k; p++) {
            float *row = dst + p * PANEL;
            if (transposed) {
                for (size_t j = 0; j < width; j++) row[j] = w[(j0 + j) * ldw + p];
            } else {
                memcpy(row, w + p * ldw + j0, width * sizeof(float));
            }
            for (size_t j = width; j < PANEL; j++) row[j] = 0;
        }
    }
}

static void row_product_scalar(const float *packed, size_t k, size_t n, const float *x, const float *bias, float *y,
                               size_t panel0, size_t panel1, int relu) {
    for (size_t q = panel0; q < panel1; q++) {
        const float *w = packed + q * k * PANEL;
        size_t j0 = q * PANEL, width = n - j0 < PANEL ? n - j0 : PANEL;
        for (size_t j = 0; j < width; j++) {
            float s = bias ? bias[j0 + j] : 0;
            for (size_t p = 0; p < k; p++) s += x[p] * w[p * PANEL + j];
            y[j0 + j] = relu && s < 0 ? 0 : s;  // NaN stays NaN, as Relu keeps it
        }
    }
}

#if defined(__x86_64__)
AVX512 static void row_product_avx512(const float *packed, size_t k, size_t n, const float *x, const float *bias, float *y,
                                      size_t panel0, size_t panel1, int relu) {
    for (size_t q = panel0; q < panel1; q++) {
        const float *w = packed + q * k * PANEL;
        size_t j0 = q * PANEL, width = n - j0 < PANEL ? n - j0 : PANEL;
        // Lanes of the four registers that hold real columns (the last panel may be partial).
        __mmask16 m[4];
        for (int r = 0; r < 4; r++) {
            size_t lo = 16 * (size_t)r, live = width > lo ? width - lo : 0;
            m[r] = live >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << live) - 1);
        }
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (bias) {
            a0 = _mm512_maskz_loadu_ps(m[0], bias + j0);
            a1 = _mm512_maskz_loadu_ps(m[1], bias + j0 + 16);
            a2 = _mm512_maskz_loadu_ps(m[2], bias + j0 + 32);
            a3 = _mm512_maskz_loadu_ps(m[3], bias + j0 + 48);
        }
        // Two chains (even and odd p) so each FMA's latency overlaps the other's loads.
        __m512 b0 = _mm512_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
        size_t p = 0;
        for (; p + 2 <= k; p += 2, w += 2 * PANEL) {
            __m512 xe = _mm512_set1_ps(x[p]), xo = _mm512_set1_ps(x[p + 1]);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w), xe, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16), xe, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 32), xe, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 48), xe, a3);
            b0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 64), xo, b0);
            b1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 80), xo, b1);
            b2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 96), xo, b2);
            b3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 112), xo, b3);
        }
        if (p < k) {
            __m512 xe = _mm512_set1_ps(x[p]);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w), xe, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16), xe, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 32), xe, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + 48), xe, a3);
        }
        a0 = _mm512_add_ps(a0, b0);
        a1 = _mm512_add_ps(a1, b1);
        a2 = _mm512_add_ps(a2, b2);
        a3 = _mm512_add_ps(a3, b3);
        if (relu) {
            // max(NaN, 0) would give 0; ONNX's Relu keeps NaN, so compare and blend instead.
            __m512 z = _mm512_setzero_ps();
            a0 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a0, z, _CMP_LT_OQ), a0, z);
            a1 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a1, z, _CMP_LT_OQ), a1, z);
            a2 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a2, z, _CMP_LT_OQ), a2, z);
            a3 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a3, z, _CMP_LT_OQ), a3, z);
        }
        _mm512_mask_storeu_ps(y + j0, m[0], a0);
        _mm512_mask_storeu_ps(y + j0 + 16, m[1], a1);
        _mm512_mask_storeu_ps(y + j0 + 32, m[2], a2);
        _mm512_mask_storeu_ps(y + j0 + 48, m[3], a3);
    }
}
#endif

void berth_row_product(const float *packed, size_t k, size_t n, const float *x, const float *bias, float *y,
                       size_t panel0, size_t panel1, int relu) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
        row_product_avx512(packed, k, n, x, bias, y, panel0, panel1, relu);
        return;
    }
#endif
    row_product_scalar(packed, k, n, x, bias, y, panel0, panel1, relu);
}
