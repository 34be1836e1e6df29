// DynamicQuantizeLinear's two sweeps (range, then quantize) in AVX-512 / AVX2 picked at run time,
// with a scalar fallback that computes the same values: Swift's own SIMD types compile to SSE2 at
// the package's baseline, where the per-element division dominated an int8 MLP's run.
#include "int8_kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))
#endif

static void range_scalar(const float *x, size_t n, float *lo, float *hi) {
    float l = *lo, h = *hi;
    for (size_t i = 0; i < n; i++) {
        float e = x[i];
        l = e < l ? e : l;  // NaN compares false: skipped
        h = e > h ? e : h;
    }
    *lo = l;
    *hi = h;
}

static inline uint8_t level_scalar(float e, float scale, int32_t z, int32_t lo, int32_t hi) {
    float q = e / scale;
    if (q != q) return (uint8_t)z;
    // Clamping before rounding is the same as after: the bounds are integers.
    float l = (float)(lo - z), h = (float)(hi - z);
    q = q < l ? l : q;
    q = q > h ? h : q;
    return (uint8_t)((int32_t)nearbyintf(q) + z);  // an int8 level as its two's-complement byte
}

static void quantize_scalar(const float *x, size_t n, float scale, int32_t z, int32_t lo, int32_t hi, uint8_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = level_scalar(x[i], scale, z, lo, hi);
}

#if defined(__x86_64__)
AVX512 static void range_avx512(const float *x, size_t n, float *lo, float *hi) {
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = _mm512_loadu_ps(x + i);
        // min/max return the second operand when either is NaN: a NaN element leaves the bound.
        vlo = _mm512_min_ps(e, vlo);
        vhi = _mm512_max_ps(e, vhi);
    }
    *lo = _mm512_reduce_min_ps(vlo);
    *hi = _mm512_reduce_max_ps(vhi);
    range_scalar(x + i, n - i, lo, hi);
}

AVX512 static void quantize_avx512(const float *x, size_t n, float scale, int32_t z, int32_t lo, int32_t hi, uint8_t *out) {
    const __m512 vs = _mm512_set1_ps(scale), vlo = _mm512_set1_ps((float)(lo - z)), vhi = _mm512_set1_ps((float)(hi - z));
    const __m512i vz = _mm512_set1_epi32(z);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 q = _mm512_div_ps(_mm512_loadu_ps(x + i), vs);
        __mmask16 ordered = _mm512_cmp_ps_mask(q, q, _CMP_ORD_Q);
        q = _mm512_min_ps(_mm512_max_ps(q, vlo), vhi);
        // Round half to even (MXCSR's default), then NaN lanes → the zero point.
        __m512i level = _mm512_mask_add_epi32(vz, ordered, _mm512_cvtps_epi32(q), vz);
        // Truncating narrow: levels are already in [lo, hi], so int8 levels keep their bytes.
        _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtepi32_epi8(level));
    }
    quantize_scalar(x + i, n - i, scale, z, lo, hi, out + i);
}

AVX2 static void range_avx2(const float *x, size_t n, float *lo, float *hi) {
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = _mm256_loadu_ps(x + i);
        vlo = _mm256_min_ps(e, vlo);
        vhi = _mm256_max_ps(e, vhi);
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, vlo);
    _mm256_storeu_ps(h, vhi);
    for (int j = 0; j < 8; j++) {
        *lo = l[j] < *lo ? l[j] : *lo;
        *hi = h[j] > *hi ? h[j] : *hi;
    }
    range_scalar(x + i, n - i, lo, hi);
}

AVX2 static void quantize_avx2(const float *x, size_t n, float scale, int32_t z, int32_t lo, int32_t hi, uint8_t *out) {
    const __m256 vs = _mm256_set1_ps(scale), vlo = _mm256_set1_ps((float)(lo - z)), vhi = _mm256_set1_ps((float)(hi - z));
    const int is_signed = lo < 0;
    const __m256i vz = _mm256_set1_epi32(z);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 q = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        __m256 ordered = _mm256_cmp_ps(q, q, _CMP_ORD_Q);
        q = _mm256_min_ps(_mm256_max_ps(q, vlo), vhi);
        __m256i level = _mm256_add_epi32(_mm256_cvtps_epi32(q), vz);
        level = _mm256_blendv_epi8(vz, level, _mm256_castps_si256(ordered));
        // Eight int32 in [0, 255] → eight bytes.
        __m128i packed = _mm_packs_epi32(_mm256_castsi256_si128(level), _mm256_extracti128_si256(level, 1));
        // The levels are in [lo, hi] already: the saturating pack of their signedness keeps them.
        _mm_storel_epi64((__m128i *)(out + i), is_signed ? _mm_packs_epi16(packed, packed) : _mm_packus_epi16(packed, packed));
    }
    quantize_scalar(x + i, n - i, scale, z, lo, hi, out + i);
}
#endif

void berth_u8_range(const float *x, size_t n, float *lo, float *hi) {
    *lo = 0;
    *hi = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512bw")) { range_avx512(x, n, lo, hi); return; }
    if (__builtin_cpu_supports("avx2")) { range_avx2(x, n, lo, hi); return; }
#endif
    range_scalar(x, n, lo, hi);
}

int berth_quantize_levels_isa(int isa, const float *x, size_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi, uint8_t *out) {
#if defined(__x86_64__)
    if (isa >= 2 && __builtin_cpu_supports("avx512bw")) { quantize_avx512(x, n, scale, zero_point, lo, hi, out); return 2; }
    if (isa >= 1 && __builtin_cpu_supports("avx2")) { quantize_avx2(x, n, scale, zero_point, lo, hi, out); return 1; }
#endif
    quantize_scalar(x, n, scale, zero_point, lo, hi, out);
    return 0;
}

void berth_quantize_levels(const float *x, size_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi, uint8_t *out) {
    berth_quantize_levels_isa(2, x, n, scale, zero_point, lo, hi, out);
}

void berth_u8_quantize(const float *x, size_t n, float scale, int32_t zero_point, uint8_t *out) {
    berth_quantize_levels(x, n, scale, zero_point, 0, 255, out);
}
