// Softmax and LayerNormalization rows in AVX-512 / AVX2 + FMA picked at run time. Swift's SIMD
// types compile to SSE2 at the package's baseline (no -march), where the softmax exp of a ViT's
// attention took 7 % of a batch-1 run. The exp is the Swift one's (NNFastMath.swift): range
// reduction x = n ln2 + r, a degree-5 polynomial, 2^n built in the exponent bits; here ln2 is
// split in two constants (Cody-Waite), so the error stays near 2e-7 relative for every x
// instead of growing with |n|.
#include "vector_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx2,fma,avx512f")))

static int has_avx512(void) { return __builtin_cpu_supports("avx512f"); }
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

int berth_vector_math_isa(void) {
#if defined(__x86_64__)
    if (has_avx512()) return 2;
    if (has_avx2()) return 1;
#endif
    return 0;
}

// Scalar versions: the reference the vector paths are tested against, and the path on other CPUs.

static float exp_scalar(float x) {
    if (x < -88.0f) x = -88.0f;
    if (x > 88.0f) x = 88.0f;
    float t = x * 1.44269504f + 12582912.0f;
    float nf = t - 12582912.0f;
    float r = (x - nf * 0.693359375f) - nf * -2.12194440e-4f;
    float q = r * 0.00831250567f + 0.04189009592f;
    q = q * r + 0.16667114198f;
    q = q * r + 0.4999923110f;
    float p = q * (r * r) + r + 1.0f;
    // n sits in t's low mantissa bits, as in the vector paths (no float-to-int conversion of a NaN).
    uint32_t tb, eb;
    memcpy(&tb, &t, 4);
    eb = (tb + 127u) << 23;
    float e;
    memcpy(&e, &eb, 4);
    return p * e;
}

static float exp_shifted_sum_scalar(const float *src, float *dst, size_t n, float shift) {
    float sum = 0;
    for (size_t i = 0; i < n; i++) {
        float e = exp_scalar(src[i] - shift);
        if (dst) dst[i] = e;
        sum += e;
    }
    return sum;
}

static float max_scalar(const float *src, size_t n) {
    float m = src[0];
    for (size_t i = 1; i < n; i++) m = src[i] > m ? src[i] : m;
    return m;
}

static void mean_inv_scalar(const float *src, size_t n, float epsilon, float *mean, float *inv) {
    float sum = 0;
    for (size_t i = 0; i < n; i++) sum += src[i];
    float m = sum / (float)n, sq = 0;
    for (size_t i = 0; i < n; i++) sq += (src[i] - m) * (src[i] - m);
    *mean = m;
    *inv = 1.0f / sqrtf(sq / (float)n + epsilon);
}

static void apply_scalar(const float *src, float *dst, size_t n, const float *scale, const float *bias, float mean, float inv) {
    for (size_t i = 0; i < n; i++) dst[i] = (src[i] - mean) * inv * scale[i] + (bias ? bias[i] : 0.0f);
}

#if defined(__x86_64__)

// ---- AVX-512: 16 lanes, tails through masked loads and stores.

AVX512 static inline __m512 exp512(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    // max/min return their second operand when either is NaN: a NaN argument stays NaN.
    x = _mm512_max_ps(_mm512_set1_ps(-88.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), magic);
    __m512 nf = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 q = _mm512_fmadd_ps(r, _mm512_set1_ps(0.00831250567f), _mm512_set1_ps(0.04189009592f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.16667114198f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.4999923110f));
    __m512 p = _mm512_add_ps(_mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    // (n + 127) << 23 is 2^n; n = -127 (x = -88) gives the bits of 0.
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

static inline __mmask16 tail_mask(size_t left) { return (__mmask16)((1u << left) - 1u); }

AVX512 static float exp_shifted_sum_avx512(const float *src, float *dst, size_t n, float shift) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(src + i), s));
        if (dst) _mm512_storeu_ps(dst + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, src + i), s));
        if (dst) _mm512_mask_storeu_ps(dst + i, k, e);
        acc = _mm512_mask_add_ps(acc, k, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512 static float max_avx512(const float *src, size_t n) {
    __m512 m = _mm512_set1_ps(src[0]);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(src + i), m);
    if (i < n) m = _mm512_mask_max_ps(m, tail_mask(n - i), _mm512_maskz_loadu_ps(tail_mask(n - i), src + i), m);
    return _mm512_reduce_max_ps(m);
}

AVX512 static void scale_avx512(float *p, size_t n, float f) {
    const __m512 v = _mm512_set1_ps(f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(p + i, _mm512_mul_ps(_mm512_loadu_ps(p + i), v));
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(p + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), v));
    }
}

AVX512 static void mean_inv_avx512(const float *src, size_t n, float epsilon, float *mean, float *inv) {
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(src + i));
    if (i < n) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(n - i), src + i));
    float m = _mm512_reduce_add_ps(acc) / (float)n;
    const __m512 vm = _mm512_set1_ps(m);
    acc = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(src + i), vm);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, src + i), vm);
        acc = _mm512_fmadd_ps(d, d, acc);
    }
    *mean = m;
    *inv = 1.0f / sqrtf(_mm512_reduce_add_ps(acc) / (float)n + epsilon);
}

AVX512 static void apply_avx512(const float *src, float *dst, size_t n, const float *scale, const float *bias, float mean, float inv) {
    const __m512 vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(inv);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(src + i), vm), vi), _mm512_loadu_ps(scale + i));
        if (bias) y = _mm512_add_ps(y, _mm512_loadu_ps(bias + i));
        _mm512_storeu_ps(dst + i, y);
    }
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, src + i), vm), vi),
                                 _mm512_maskz_loadu_ps(k, scale + i));
        if (bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(k, bias + i));
        _mm512_mask_storeu_ps(dst + i, k, y);
    }
}

// ---- AVX2 + FMA: 8 lanes; a tail goes through an 8-lane buffer so it takes the same code.

AVX2 static inline __m256 exp256(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    x = _mm256_max_ps(_mm256_set1_ps(-88.0f), x);
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), magic);
    __m256 nf = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 q = _mm256_fmadd_ps(r, _mm256_set1_ps(0.00831250567f), _mm256_set1_ps(0.04189009592f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.16667114198f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.4999923110f));
    __m256 p = _mm256_add_ps(_mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

AVX2 static float sum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static float exp_shifted_sum_avx2(const float *src, float *dst, size_t n, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(src + i), s));
        if (dst) _mm256_storeu_ps(dst + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = sum256(acc);
    if (i < n) {
        float buf[8];
        size_t left = n - i;
        for (size_t j = 0; j < 8; j++) buf[j] = j < left ? src[i + j] - shift : -88.0f;
        _mm256_storeu_ps(buf, exp256(_mm256_loadu_ps(buf)));
        for (size_t j = 0; j < left; j++) {
            if (dst) dst[i + j] = buf[j];
            sum += buf[j];
        }
    }
    return sum;
}

AVX2 static float max_avx2(const float *src, size_t n) {
    __m256 m = _mm256_set1_ps(src[0]);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(src + i), m);
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float r = lanes[0];
    for (int j = 1; j < 8; j++) r = lanes[j] > r ? lanes[j] : r;
    for (; i < n; i++) r = src[i] > r ? src[i] : r;
    return r;
}

AVX2 static void scale_avx2(float *p, size_t n, float f) {
    const __m256 v = _mm256_set1_ps(f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, _mm256_mul_ps(_mm256_loadu_ps(p + i), v));
    for (; i < n; i++) p[i] *= f;
}

AVX2 static void mean_inv_avx2(const float *src, size_t n, float epsilon, float *mean, float *inv) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(src + i));
    float sum = sum256(acc);
    for (size_t j = i; j < n; j++) sum += src[j];
    float m = sum / (float)n;
    const __m256 vm = _mm256_set1_ps(m);
    acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(src + i), vm);
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    float sq = sum256(acc);
    for (; i < n; i++) sq += (src[i] - m) * (src[i] - m);
    *mean = m;
    *inv = 1.0f / sqrtf(sq / (float)n + epsilon);
}

AVX2 static void apply_avx2(const float *src, float *dst, size_t n, const float *scale, const float *bias, float mean, float inv) {
    const __m256 vm = _mm256_set1_ps(mean), vi = _mm256_set1_ps(inv);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(src + i), vm), vi), _mm256_loadu_ps(scale + i));
        if (bias) y = _mm256_add_ps(y, _mm256_loadu_ps(bias + i));
        _mm256_storeu_ps(dst + i, y);
    }
    apply_scalar(src + i, dst + i, n - i, scale + i, bias ? bias + i : NULL, mean, inv);
}

#endif

/// The path for `isa` on this CPU: the widest one at or below it.
static int pick(int isa) {
#if defined(__x86_64__)
    if (isa >= 2 && has_avx512()) return 2;
    if (isa >= 1 && has_avx2()) return 1;
#endif
    (void)isa;
    return 0;
}

float berth_exp_shifted_sum_isa(int isa, const float *src, float *dst, size_t n, float shift) {
    switch (pick(isa)) {
#if defined(__x86_64__)
    case 2: return exp_shifted_sum_avx512(src, dst, n, shift);
    case 1: return exp_shifted_sum_avx2(src, dst, n, shift);
#endif
    default: return exp_shifted_sum_scalar(src, dst, n, shift);
    }
}

float berth_exp_shifted_sum_only_isa(int isa, const float *src, size_t n, float shift) {
    return berth_exp_shifted_sum_isa(isa, src, NULL, n, shift);
}

void berth_softmax_row_isa(int isa, const float *src, float *dst, size_t n) {
    if (n == 0) return;
    switch (pick(isa)) {
#if defined(__x86_64__)
    case 2: {
        float sum = exp_shifted_sum_avx512(src, dst, n, max_avx512(src, n));
        scale_avx512(dst, n, 1.0f / sum);
        return;
    }
    case 1: {
        float sum = exp_shifted_sum_avx2(src, dst, n, max_avx2(src, n));
        scale_avx2(dst, n, 1.0f / sum);
        return;
    }
#endif
    default: {
        float sum = exp_shifted_sum_scalar(src, dst, n, max_scalar(src, n));
        for (size_t i = 0; i < n; i++) dst[i] *= 1.0f / sum;
    }
    }
}

void berth_layer_norm_row_isa(int isa, const float *src, float *dst, size_t n, const float *scale, const float *bias,
                              float epsilon, float *mean, float *inv) {
    if (n == 0) return;
    switch (pick(isa)) {
#if defined(__x86_64__)
    case 2:
        mean_inv_avx512(src, n, epsilon, mean, inv);
        apply_avx512(src, dst, n, scale, bias, *mean, *inv);
        return;
    case 1:
        mean_inv_avx2(src, n, epsilon, mean, inv);
        apply_avx2(src, dst, n, scale, bias, *mean, *inv);
        return;
#endif
    default:
        mean_inv_scalar(src, n, epsilon, mean, inv);
        apply_scalar(src, dst, n, scale, bias, *mean, *inv);
    }
}
