// Quantized dot kernels in ggml's block layouts (see include/ggml_kernels.h).
// Block formats and the scalar reference arithmetic follow ggml-quants.c so that results match
// llama.cpp up to float summation order.
#include "ggml_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BK_X86 1
#endif

#define QK 32
#define QKK 256

typedef struct { uint16_t d; int8_t qs[QK]; } block_q8_0;
typedef struct { uint16_t d; uint16_t s; int8_t qs[QK]; } block_q8_1;
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } block_q4_0;
typedef struct { uint16_t d; uint16_t m; uint8_t qs[QK / 2]; } block_q4_1;
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[QKK / 2]; } block_q4_K;
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[QKK / 8]; uint8_t qs[QKK / 2]; } block_q5_K;
typedef struct { uint8_t ql[QKK / 2]; uint8_t qh[QKK / 4]; int8_t scales[QKK / 16]; uint16_t d; } block_q6_K;
typedef struct { float d; int8_t qs[QKK]; int16_t bsums[QKK / 16]; } block_q8_K;

_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");

// ---- half and bfloat16 ----------------------------------------------------------------------

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float bk_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return u2f(sign);
        float f = (float)man * (1.0f / 16777216.0f);  // subnormal: man * 2^-24
        return sign ? -f : f;
    }
    if (exp == 31) return u2f(sign | 0x7f800000 | (man << 13));
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t bk_fp32_to_fp16(float f) {
    uint32_t x = f2u(f), sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax >= 0x7f800000) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000 ? 0x200 : 0));
    if (ax >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  // rounds to infinity
    if (ax < 0x38800000) {  // subnormal half (or zero): round man * 2^24 to nearest even
        float v = u2f(ax) * 16777216.0f;
        float r = nearbyintf(v);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t mant = ax & 0x7fffff, exp = (ax >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h += 1;
    return (uint16_t)(sign | h);
}

static inline uint16_t fp32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}
static inline float bf16_to_fp32(uint16_t h) { return u2f((uint32_t)h << 16); }

#define H2F(h) bk_fp16_to_fp32(h)

// ---- sizes ----------------------------------------------------------------------------------

int64_t bk_block_size(int type) {
    switch (type) {
    case BK_F32: case BK_F16: case BK_BF16: return 1;
    case BK_Q4_0: case BK_Q4_1: case BK_Q8_0: case BK_Q8_1: return QK;
    case BK_Q4_K: case BK_Q5_K: case BK_Q6_K: case BK_Q8_K: return QKK;
    default: return 0;
    }
}

int64_t bk_type_size(int type) {
    switch (type) {
    case BK_F32: return 4;
    case BK_F16: case BK_BF16: return 2;
    case BK_Q4_0: return sizeof(block_q4_0);
    case BK_Q4_1: return sizeof(block_q4_1);
    case BK_Q8_0: return sizeof(block_q8_0);
    case BK_Q8_1: return sizeof(block_q8_1);
    case BK_Q4_K: return sizeof(block_q4_K);
    case BK_Q5_K: return sizeof(block_q5_K);
    case BK_Q6_K: return sizeof(block_q6_K);
    case BK_Q8_K: return sizeof(block_q8_K);
    default: return 0;
    }
}

int bk_vec_dot_type(int type) {
    switch (type) {
    case BK_F32: return BK_F32;
    case BK_F16: return BK_F16;
    case BK_BF16: return BK_BF16;
    case BK_Q4_0: case BK_Q8_0: return BK_Q8_0;
    case BK_Q4_1: return BK_Q8_1;
    case BK_Q4_K: case BK_Q5_K: case BK_Q6_K: return BK_Q8_K;
    default: return -1;
    }
}

// ---- activation quantization (ggml's *_ref functions) ---------------------------------------

static void quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) { float v = fabsf(x[i * QK + j]); if (v > amax) amax = v; }
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[i].d = bk_fp32_to_fp16(d);
        for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)roundf(x[i * QK + j] * id);
    }
}

static void quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) { float v = fabsf(x[i * QK + j]); if (v > amax) amax = v; }
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[i].d = bk_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK; j++) { int8_t q = (int8_t)roundf(x[i * QK + j] * id); y[i].qs[j] = q; sum += q; }
        y[i].s = bk_fp32_to_fp16((float)sum * d);
    }
}

static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i; memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

static void quantize_row_q8_K(const float *x, block_q8_K *y, int64_t k) {
    for (int64_t i = 0; i < k / QKK; i++, x += QKK) {
        float max = 0, amax = 0;
        for (int j = 0; j < QKK; j++) { float ax = fabsf(x[j]); if (ax > amax) { amax = ax; max = x[j]; } }
        if (!amax) { memset(&y[i], 0, sizeof(block_q8_K)); continue; }
        const float iscale = -127.f / max;
        for (int j = 0; j < QKK; j++) { int v = nearest_int(iscale * x[j]); y[i].qs[j] = (int8_t)(v < 127 ? v : 127); }
        for (int j = 0; j < QKK / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}


// ---- dequantization -------------------------------------------------------------------------

static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) { *d = q[j] & 63; *m = q[j + 4] & 63; }
    else { *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4); }
}

void bk_dequantize_row(int type, const void *vx, float *y, int64_t k) {
    switch (type) {
    case BK_F32: memcpy(y, vx, (size_t)k * 4); return;
    case BK_F16: { const uint16_t *h = vx; for (int64_t i = 0; i < k; i++) y[i] = H2F(h[i]); return; }
    case BK_BF16: { const uint16_t *h = vx; for (int64_t i = 0; i < k; i++) y[i] = bf16_to_fp32(h[i]); return; }
    case BK_Q8_0: { const block_q8_0 *x = vx;
        for (int64_t i = 0; i < k / QK; i++) { float d = H2F(x[i].d); for (int j = 0; j < QK; j++) y[i * QK + j] = x[i].qs[j] * d; }
        return; }
    case BK_Q4_0: { const block_q4_0 *x = vx;
        for (int64_t i = 0; i < k / QK; i++) {
            float d = H2F(x[i].d);
            for (int j = 0; j < QK / 2; j++) {
                y[i * QK + j] = ((x[i].qs[j] & 0x0F) - 8) * d;
                y[i * QK + j + QK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
            }
        }
        return; }
    case BK_Q4_1: { const block_q4_1 *x = vx;
        for (int64_t i = 0; i < k / QK; i++) {
            float d = H2F(x[i].d), m = H2F(x[i].m);
            for (int j = 0; j < QK / 2; j++) {
                y[i * QK + j] = (x[i].qs[j] & 0x0F) * d + m;
                y[i * QK + j + QK / 2] = (x[i].qs[j] >> 4) * d + m;
            }
        }
        return; }
    case BK_Q4_K: { const block_q4_K *x = vx;
        for (int64_t i = 0; i < k / QKK; i++) {
            const uint8_t *q = x[i].qs;
            const float d = H2F(x[i].d), min = H2F(x[i].dmin);
            int is = 0; uint8_t sc, m;
            for (int j = 0; j < QKK; j += 64) {
                get_scale_min_k4(is + 0, x[i].scales, &sc, &m); const float d1 = d * sc, m1 = min * m;
                get_scale_min_k4(is + 1, x[i].scales, &sc, &m); const float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
                q += 32; is += 2;
            }
        }
        return; }
    case BK_Q5_K: { const block_q5_K *x = vx;
        for (int64_t i = 0; i < k / QKK; i++) {
            const uint8_t *ql = x[i].qs, *qh = x[i].qh;
            const float d = H2F(x[i].d), min = H2F(x[i].dmin);
            int is = 0; uint8_t sc, m; uint8_t u1 = 1, u2 = 2;
            for (int j = 0; j < QKK; j += 64) {
                get_scale_min_k4(is + 0, x[i].scales, &sc, &m); const float d1 = d * sc, m1 = min * m;
                get_scale_min_k4(is + 1, x[i].scales, &sc, &m); const float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
                ql += 32; is += 2; u1 <<= 2; u2 <<= 2;
            }
        }
        return; }
    case BK_Q6_K: { const block_q6_K *x = vx;
        for (int64_t i = 0; i < k / QKK; i++) {
            const float d = H2F(x[i].d);
            const uint8_t *ql = x[i].ql, *qh = x[i].qh; const int8_t *sc = x[i].scales;
            for (int n = 0; n < QKK; n += 128) {
                for (int l = 0; l < 32; ++l) {
                    int is = l / 16;
                    const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l + 0] = d * sc[is + 0] * q1; y[l + 32] = d * sc[is + 2] * q2;
                    y[l + 64] = d * sc[is + 4] * q3; y[l + 96] = d * sc[is + 6] * q4;
                }
                y += 128; ql += 64; qh += 32; sc += 8;
            }
        }
        return; }
    default: return;
    }
}

// ---- scalar dot products --------------------------------------------------------------------

typedef float (*dot_fn)(int64_t n, const void *w, const void *x);

static float dot_f32_scalar(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx; float s = 0;
    for (int64_t i = 0; i < n; i++) s += w[i] * x[i];
    return s;
}
static float dot_f16_scalar(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx; double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(H2F(w[i]) * H2F(x[i]));
    return (float)s;
}
static float dot_bf16_scalar(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx; double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(bf16_to_fp32(w[i]) * bf16_to_fp32(x[i]));
    return (float)s;
}
static float dot_q8_0_scalar(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx; float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK; j++) sumi += w[i].qs[j] * x[i].qs[j];
        s += sumi * (H2F(w[i].d) * H2F(x[i].d));
    }
    return s;
}
static float dot_q4_0_scalar(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw; const block_q8_0 *x = vx; float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            sumi += ((w[i].qs[j] & 0x0F) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + QK / 2];
        }
        s += sumi * (H2F(w[i].d) * H2F(x[i].d));
    }
    return s;
}
static float dot_q4_1_scalar(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw; const block_q8_1 *x = vx; float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++) sumi += (w[i].qs[j] & 0x0F) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + QK / 2];
        s += (H2F(w[i].d) * H2F(x[i].d)) * sumi + H2F(w[i].m) * H2F(x[i].s);
    }
    return s;
}
// q4_K / q5_K: Σ_sub scale·Σ q·q8 with the mins folded through q8's 16-element sums.
static float dot_q45_K_scalar(int64_t n, const void *vw, const void *vx, int five) {
    const block_q8_K *x = vx; float sumf = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        const uint8_t *scales, *qs, *qh = NULL; uint16_t dd, dm;
        if (five) { const block_q5_K *b = (const block_q5_K *)vw + i; scales = b->scales; qs = b->qs; qh = b->qh; dd = b->d; dm = b->dmin; }
        else { const block_q4_K *b = (const block_q4_K *)vw + i; scales = b->scales; qs = b->qs; dd = b->d; dm = b->dmin; }
        int8_t a[QKK];
        uint8_t m1 = 1;
        for (int j = 0; j < QKK / 64; j++) {
            for (int l = 0; l < 32; l++) a[j * 64 + l] = (int8_t)((qs[j * 32 + l] & 0xF) + (qh && (qh[l] & m1) ? 16 : 0));
            m1 <<= 1;
            for (int l = 0; l < 32; l++) a[j * 64 + 32 + l] = (int8_t)((qs[j * 32 + l] >> 4) + (qh && (qh[l] & m1) ? 16 : 0));
            m1 <<= 1;
        }
        int sumi_mins = 0, sumi = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m; get_scale_min_k4(j, scales, &sc, &m);
            sumi_mins += m * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
            int s = 0;
            for (int l = 0; l < 32; l++) s += a[j * 32 + l] * x[i].qs[j * 32 + l];
            sumi += sc * s;
        }
        const float d = H2F(dd) * x[i].d, dmin = H2F(dm) * x[i].d;
        sumf += d * sumi - dmin * sumi_mins;
    }
    return sumf;
}
static float dot_q4_K_scalar(int64_t n, const void *w, const void *x) { return dot_q45_K_scalar(n, w, x, 0); }
static float dot_q5_K_scalar(int64_t n, const void *w, const void *x) { return dot_q45_K_scalar(n, w, x, 1); }
static float dot_q6_K_scalar(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw; const block_q8_K *x = vx; float sumf = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        int8_t a[QKK];
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        for (int j = 0; j < QKK; j += 128) {
            for (int l = 0; l < 32; l++) {
                a[j + l + 0] = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                a[j + l + 32] = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                a[j + l + 64] = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                a[j + l + 96] = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
            ql += 64; qh += 32;
        }
        int sumi = 0;
        for (int j = 0; j < QKK / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += a[j * 16 + l] * x[i].qs[j * 16 + l];
            sumi += w[i].scales[j] * s;
        }
        sumf += H2F(w[i].d) * x[i].d * sumi;
    }
    return sumf;
}

// ---- x86 vector kernels ---------------------------------------------------------------------
#ifdef BK_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

// F16C conversion: the scalar bk_fp16_to_fp32 would be a call with branches in every block.
#define HF(h) _cvtsh_ss(h)

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
AVX2 static float dot_f32_avx2(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}
AVX2 static float dot_f16_avx2(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8))), a1);
    }
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += HF(w[i]) * HF(x[i]);
    return s;
}
// Signed int8 · int8 over 32 bytes → 8 int32 lanes as floats (maddubs needs one unsigned side).
AVX2 static inline __m256 mul_sum_i8_avx2(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x), sy = _mm256_sign_epi8(y, x);
    const __m256i dot = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)));
}
AVX2 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}
AVX2 static float dot_q8_0_avx2(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx; __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256 d = _mm256_set1_ps(HF(w[i].d) * HF(x[i].d));
        const __m256 q = mul_sum_i8_avx2(_mm256_loadu_si256((const __m256i *)w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    return hsum8(acc);
}
AVX2 static float dot_q4_0_avx2(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw; const block_q8_0 *x = vx; __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256 d = _mm256_set1_ps(HF(w[i].d) * HF(x[i].d));
        const __m256i q4 = _mm256_sub_epi8(unpack_nibbles(w[i].qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(d, mul_sum_i8_avx2(q4, _mm256_loadu_si256((const __m256i *)x[i].qs)), acc);
    }
    return hsum8(acc);
}
AVX2 static float dot_q4_1_avx2(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw; const block_q8_1 *x = vx; __m256 acc = _mm256_setzero_ps(); float summs = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        summs += HF(w[i].m) * HF(x[i].s);
        const __m256 d = _mm256_set1_ps(HF(w[i].d) * HF(x[i].d));
        const __m256i dot = _mm256_maddubs_epi16(unpack_nibbles(w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1))), acc);
    }
    return hsum8(acc) + summs;
}
// VNNI: vpdpbusd adds u8·s8 products straight into int32 lanes (no int16 step).
VNNI static inline __m256 mul_sum_i8_vnni(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x), sy = _mm256_sign_epi8(y, x);
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy));
}
VNNI static float dot_q8_0_vnni(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx; __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256 d = _mm256_set1_ps(HF(w[i].d) * HF(x[i].d));
        acc = _mm256_fmadd_ps(d, mul_sum_i8_vnni(_mm256_loadu_si256((const __m256i *)w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs)), acc);
    }
    return hsum8(acc);
}
VNNI static float dot_q4_0_vnni(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw; const block_q8_0 *x = vx; __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256 d = _mm256_set1_ps(HF(w[i].d) * HF(x[i].d));
        const __m128i t = _mm_loadu_si128((const __m128i *)w[i].qs);
        const __m256i b = _mm256_and_si256(_mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), _mm256_set1_epi8(0x0F));
        // (q - 8)·y = q·y - 8·Σy: q is already unsigned, so one dpbusd and a correction.
        const __m256i y = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), b, y);
        const __m256i ysum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), y);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(s, ysum)), acc);
    }
    return hsum8(acc);
}
// q6_K: 16-element groups each with its own int8 scale; integer products via maddubs on (q+32)
// with the 32·Σq8 correction taken from bsums.
AVX2 static float dot_q6_K_avx2(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw; const block_q8_K *x = vx; float sumf = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        uint8_t a[QKK];
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        for (int j = 0; j < QKK; j += 128) {
            for (int l = 0; l < 32; l++) {
                a[j + l + 0] = (uint8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                a[j + l + 32] = (uint8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                a[j + l + 64] = (uint8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4));
                a[j + l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
            ql += 64; qh += 32;
        }
        __m256i acc = _mm256_setzero_si256();
        int corr = 0;
        for (int j = 0; j < QKK / 32; j++) {
            const __m256i p = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(a + 32 * j)),
                                                   _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j)));
            // lanes 0-7 (int16) belong to group 2j, lanes 8-15 to group 2j+1
            const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(w[i].scales[2 * j + 1]), _mm_set1_epi16(w[i].scales[2 * j]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
            corr += w[i].scales[2 * j] * x[i].bsums[2 * j] + w[i].scales[2 * j + 1] * x[i].bsums[2 * j + 1];
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_hadd_epi32(s, s); s = _mm_hadd_epi32(s, s);
        const int sumi = _mm_cvtsi128_si32(s) - 32 * corr;
        sumf += HF(w[i].d) * x[i].d * sumi;
    }
    return sumf;
}

// q4_K / q5_K: per 32-element sub-block an unsigned 4- (or 5-) bit value times int8 via maddubs,
// scaled by the sub-block's 6-bit scale in int32; the mins come from Q8_K's 16-element sums.
AVX2 static float dot_q45_K_avx2(int64_t n, const void *vw, const void *vx, int five) {
    const block_q8_K *x = vx; float sumf = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / QKK; i++) {
        const uint8_t *scales, *qs, *qh = NULL; uint16_t dd, dm;
        if (five) { const block_q5_K *b = (const block_q5_K *)vw + i; scales = b->scales; qs = b->qs; qh = b->qh; dd = b->d; dm = b->dmin; }
        else { const block_q4_K *b = (const block_q4_K *)vw + i; scales = b->scales; qs = b->qs; dd = b->d; dm = b->dmin; }
        uint8_t sc[8], mn[8];
        int sumi_mins = 0;
        for (int j = 0; j < 8; j++) {
            get_scale_min_k4(j, scales, &sc[j], &mn[j]);
            sumi_mins += mn[j] * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        }
        const __m256i hbits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(q4, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            if (qh) {
                lo = _mm256_add_epi8(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4));
                hi = _mm256_add_epi8(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4));
            }
            const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * j)));
            const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * j + 32)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pl, _mm256_set1_epi16(sc[2 * j])));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(ph, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s4 = _mm_hadd_epi32(s4, s4); s4 = _mm_hadd_epi32(s4, s4);
        const float d = HF(dd) * x[i].d, dmin = HF(dm) * x[i].d;
        sumf += d * _mm_cvtsi128_si32(s4) - dmin * sumi_mins;
    }
    return sumf;
}
AVX2 static float dot_q4_K_avx2(int64_t n, const void *w, const void *x) { return dot_q45_K_avx2(n, w, x, 0); }
AVX2 static float dot_q5_K_avx2(int64_t n, const void *w, const void *x) { return dot_q45_K_avx2(n, w, x, 1); }

typedef void (*dot4_fn)(int64_t n, const void *w, const void *x, size_t xstride, float *out);

// K-quants against four activation rows: the weight's 4/5-bit values and scales are unpacked once.
AVX2 static void dot4_q45_K_avx2(int64_t n, const void *vw, const void *vx, size_t xs, float *out, int five) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    float sums[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < n / QKK; i++) {
        const uint8_t *scales, *qs, *qh = NULL; uint16_t dd, dm;
        if (five) { const block_q5_K *b = (const block_q5_K *)vw + i; scales = b->scales; qs = b->qs; qh = b->qh; dd = b->d; dm = b->dmin; }
        else { const block_q4_K *b = (const block_q4_K *)vw + i; scales = b->scales; qs = b->qs; dd = b->d; dm = b->dmin; }
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) get_scale_min_k4(j, scales, &sc[j], &mn[j]);
        const __m256i hbits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        __m256i q[8];
        for (int j = 0; j < 4; j++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            q[2 * j] = _mm256_and_si256(q4, m4);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            if (qh) {
                q[2 * j] = _mm256_add_epi8(q[2 * j], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4));
                q[2 * j + 1] = _mm256_add_epi8(q[2 * j + 1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4));
            }
        }
        const float wd = HF(dd), wm = HF(dm);
        for (int t = 0; t < 4; t++) {
            const block_q8_K *x = (const block_q8_K *)((const char *)vx + (size_t)t * xs) + i;
            int sumi_mins = 0;
            for (int j = 0; j < 8; j++) sumi_mins += mn[j] * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
            __m256i acc = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++) {
                const __m256i p = _mm256_maddubs_epi16(q[j], _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j)));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(sc[j])));
            }
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            s4 = _mm_hadd_epi32(s4, s4); s4 = _mm_hadd_epi32(s4, s4);
            sums[t] += wd * x->d * _mm_cvtsi128_si32(s4) - wm * x->d * sumi_mins;
        }
    }
    for (int t = 0; t < 4; t++) out[t] = sums[t];
}
AVX2 static void dot4_q4_K_avx2(int64_t n, const void *w, const void *x, size_t xs, float *out) { dot4_q45_K_avx2(n, w, x, xs, out, 0); }
AVX2 static void dot4_q5_K_avx2(int64_t n, const void *w, const void *x, size_t xs, float *out) { dot4_q45_K_avx2(n, w, x, xs, out, 1); }

AVX2 static void axpy_f32_avx2(int64_t n, float alpha, const float *x, float *y) {
    const __m256 a = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

// Attention over one cache block for the g query heads of one KV head (see the header).
// For the values, each head keeps 32 output floats in registers while the block's rows stream past.

// Transposed keys, sixteen tokens a block: per dimension, one 16-float row of keys times each
// head's query element, four heads at a time (eight accumulators).
AVX2 static void attn_scores_t16_avx2(int64_t hd, int64_t g, const float *q, int64_t qs, const float *kt,
                                      int64_t n, float scale, float *s, int64_t ss) {
    const __m256 sc = _mm256_set1_ps(scale);
    for (int64_t j0 = 0; j0 < g; j0 += 4) {
        const int64_t gj = g - j0 < 4 ? g - j0 : 4;
        __m256 a[4][2];
        for (int j = 0; j < 4; j++) a[j][0] = a[j][1] = _mm256_setzero_ps();
        for (int64_t i = 0; i < hd; i++) {
            const __m256 k0 = _mm256_loadu_ps(kt + 16 * i), k1 = _mm256_loadu_ps(kt + 16 * i + 8);
            for (int j = 0; j < 4; j++) {
                if (j >= gj) break;
                const __m256 qv = _mm256_broadcast_ss(q + (j0 + j) * qs + i);
                a[j][0] = _mm256_fmadd_ps(qv, k0, a[j][0]);
                a[j][1] = _mm256_fmadd_ps(qv, k1, a[j][1]);
            }
        }
        for (int j = 0; j < gj; j++) {
            float tmp[16];
            _mm256_storeu_ps(tmp, _mm256_mul_ps(a[j][0], sc));
            _mm256_storeu_ps(tmp + 8, _mm256_mul_ps(a[j][1], sc));
            memcpy(s + (j0 + j) * ss, tmp, (size_t)n * sizeof(float));
        }
    }
}

// e^x for eight floats: x = n·ln2 + r, |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n into the
// exponent; below -87.3 the result is 0 (as the scalar path's underflow cut-off).
AVX2 static inline __m256 exp8_avx2(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), lo);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

AVX2 static void silu_mul_avx2(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_loadu_ps(g + i);
        const __m256 sg = _mm256_div_ps(a, _mm256_add_ps(one, exp8_avx2(_mm256_sub_ps(zero, a))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(sg, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) { const float a = g[i]; g[i] = (a < -80 ? 0 : a > 80 ? a : a / (1 + expf(-a))) * u[i]; }
}

AVX2 static void softmax_avx2(float *x, int64_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m[8], mx = -INFINITY;
    _mm256_storeu_ps(m, mv);
    for (int k = 0; k < 8; k++) mx = m[k] > mx ? m[k] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    const __m256 mb = _mm256_set1_ps(mx);
    __m256 sv = _mm256_setzero_ps();
    float sum = 0;
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp8_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    if (i < n) {
        float t[8] = {0};
        for (int64_t k = i; k < n; k++) t[k - i] = x[k] - mx;
        float e[8];
        _mm256_storeu_ps(e, exp8_avx2(_mm256_loadu_ps(t)));
        for (int64_t k = i; k < n; k++) { x[k] = e[k - i]; sum += e[k - i]; }
    }
    sum += hsum8(sv);
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / sum;
}

AVX2 static void attn_values_avx2(int64_t hd, int64_t g, const float *w, int64_t ws, const float *v, int64_t vs,
                                  int64_t n, float *out, int64_t os) {
    for (int64_t j = 0; j < g; j++) {
        float *o = out + j * os;
        const float *wj = w + j * ws;
        int64_t i = 0;
        for (; i + 32 <= hd; i += 32) {
            __m256 a0 = _mm256_loadu_ps(o + i), a1 = _mm256_loadu_ps(o + i + 8);
            __m256 a2 = _mm256_loadu_ps(o + i + 16), a3 = _mm256_loadu_ps(o + i + 24);
            for (int64_t t = 0; t < n; t++) {
                const float *vt = v + t * vs + i;
                const __m256 c = _mm256_set1_ps(wj[t]);
                a0 = _mm256_fmadd_ps(c, _mm256_loadu_ps(vt), a0);
                a1 = _mm256_fmadd_ps(c, _mm256_loadu_ps(vt + 8), a1);
                a2 = _mm256_fmadd_ps(c, _mm256_loadu_ps(vt + 16), a2);
                a3 = _mm256_fmadd_ps(c, _mm256_loadu_ps(vt + 24), a3);
            }
            _mm256_storeu_ps(o + i, a0); _mm256_storeu_ps(o + i + 8, a1);
            _mm256_storeu_ps(o + i + 16, a2); _mm256_storeu_ps(o + i + 24, a3);
        }
        for (; i + 8 <= hd; i += 8) {
            __m256 a = _mm256_loadu_ps(o + i);
            for (int64_t t = 0; t < n; t++) a = _mm256_fmadd_ps(_mm256_set1_ps(wj[t]), _mm256_loadu_ps(v + t * vs + i), a);
            _mm256_storeu_ps(o + i, a);
        }
        for (; i < hd; i++) {
            float a = o[i];
            for (int64_t t = 0; t < n; t++) a += wj[t] * v[t * vs + i];
            o[i] = a;
        }
    }
}

// Four activation rows against one weight row: the weight block is unpacked once and reused,
// which is what makes batched decode and prefill cheaper per token than single decode.

AVX2 static void dot4_q4_0_avx2(int64_t n, const void *vw, const void *vx, size_t xs, float *out) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x0 = vx, *x1 = (const void *)((const char *)vx + xs), *x2 = (const void *)((const char *)vx + 2 * xs), *x3 = (const void *)((const char *)vx + 3 * xs);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / QK; i++) {
        const float dw = HF(w[i].d);
        const __m256i q4 = _mm256_sub_epi8(unpack_nibbles(w[i].qs), _mm256_set1_epi8(8));
        const __m256i ax = _mm256_sign_epi8(q4, q4);
#define ONE(A, X) { const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)X[i].qs), q4); \
        A = _mm256_fmadd_ps(_mm256_set1_ps(dw * HF(X[i].d)), _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), ones)), A); }
        ONE(a0, x0) ONE(a1, x1) ONE(a2, x2) ONE(a3, x3)
#undef ONE
    }
    out[0] = hsum8(a0); out[1] = hsum8(a1); out[2] = hsum8(a2); out[3] = hsum8(a3);
}
AVX2 static void dot4_q8_0_avx2(int64_t n, const void *vw, const void *vx, size_t xs, float *out) {
    const block_q8_0 *w = vw;
    const block_q8_0 *x0 = vx, *x1 = (const void *)((const char *)vx + xs), *x2 = (const void *)((const char *)vx + 2 * xs), *x3 = (const void *)((const char *)vx + 3 * xs);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / QK; i++) {
        const float dw = HF(w[i].d);
        const __m256i q8 = _mm256_loadu_si256((const __m256i *)w[i].qs);
        const __m256i ax = _mm256_sign_epi8(q8, q8);
#define ONE(A, X) { const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)X[i].qs), q8); \
        A = _mm256_fmadd_ps(_mm256_set1_ps(dw * HF(X[i].d)), _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), ones)), A); }
        ONE(a0, x0) ONE(a1, x1) ONE(a2, x2) ONE(a3, x3)
#undef ONE
    }
    out[0] = hsum8(a0); out[1] = hsum8(a1); out[2] = hsum8(a2); out[3] = hsum8(a3);
}

// ---- packed eight-row layout (AVX-512 VNNI) ------------------------------------------------------
// Q4_0 and Q8_0 weights are repacked once at load into groups of eight rows: per group and block,
// the eight half scales (16 bytes) then the eight rows' quants (8 × 16 or 8 × 32 bytes), as
// llama.cpp's Q4_0_8x8 repacking does. One pass then streams a single contiguous buffer (measured
// here: 10.7–14.4 GB/s against 2.4–3.3 GB/s for eight strided rows of the file's layout), and each
// block's activation load, scale conversion and "-8" offset are shared by eight rows. The integer
// lanes, their conversion and the summation order are those of the one-row AVX2 kernels, so the
// results are the same floats.
#define VNNI512 __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
// The upper 256 bits of a float vector (AVX-512F only; extractf32x8 would need DQ).
#define HI256(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))

/// One activation row prepared for the packed kernels: contiguous int8 values, float block scales
/// and, per block, -8 · Σ of each 4-byte group (Q4_0's offset, added by dpbusd's accumulator) and
/// -8 · Σ of the whole block (the same offset for the sixteen-row kernel, whose lanes hold whole blocks).
typedef struct { int64_t nb; const int8_t *ys; const float *dx; const int32_t *ycorr; const int32_t *ysum; } bk_q8_prep;

// Bytes of one packed group (eight rows) per block of `packed_block_elems(type)` elements.
static size_t packed_block_bytes(int type) { return type == BK_Q4_0 ? 144 : type == BK_Q8_0 ? 272 : type == BK_Q4_K ? 1184 : type == BK_Q6_K ? 1808 : 0; }
static int64_t packed_block_elems(int type) { return type == BK_Q4_K || type == BK_Q6_K ? QKK : QK; }
static size_t prep_bytes(int64_t nb) { return ((size_t)nb * 72 + 63) & ~(size_t)63; }

AVX2 static void prepare_q8_0(bk_q8_prep *p, void *buf, const block_q8_0 *x, int64_t nb) {
    int8_t *ys = buf;
    float *dx = (float *)((char *)buf + nb * 32);
    int32_t *yc = (int32_t *)((char *)buf + nb * 36);
    int32_t *ysum = (int32_t *)((char *)buf + nb * 68);
    for (int64_t b = 0; b < nb; b++) {
        memcpy(ys + 32 * b, x[b].qs, 32);
        dx[b] = HF(x[b].d);
        int32_t all = 0;
        for (int l = 0; l < 8; l++) {
            yc[8 * b + l] = -8 * (x[b].qs[4 * l] + x[b].qs[4 * l + 1] + x[b].qs[4 * l + 2] + x[b].qs[4 * l + 3]);
            all += yc[8 * b + l];
        }
        ysum[b] = all;
    }
    p->nb = nb; p->ys = ys; p->dx = dx; p->ycorr = yc; p->ysum = ysum;
}

// ggml's hsum8 order (128-bit halves, movehl, movehdup).
VNNI512 static inline float hsum8_v(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// acc_k holds rows 2k (lanes 0–7) and 2k+1 (lanes 8–15); `s` the eight rows' d_w · d_x.
#define GEMV8_SETUP \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0; \
    const __m512i i0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), i1 = _mm512_add_epi32(i0, _mm512_set1_epi32(2)); \
    const __m512i i2 = _mm512_add_epi32(i0, _mm512_set1_epi32(4)), i3 = _mm512_add_epi32(i0, _mm512_set1_epi32(6));
#define GEMV8_STORE \
    out[0] = hsum8_v(_mm512_castps512_ps256(acc0)); out[1] = hsum8_v(HI256(acc0)); \
    out[2] = hsum8_v(_mm512_castps512_ps256(acc1)); out[3] = hsum8_v(HI256(acc1)); \
    out[4] = hsum8_v(_mm512_castps512_ps256(acc2)); out[5] = hsum8_v(HI256(acc2)); \
    out[6] = hsum8_v(_mm512_castps512_ps256(acc3)); out[7] = hsum8_v(HI256(acc3));

VNNI512 static void gemv8_q4_0_vnni(const bk_q8_prep *p, const char *g, float *out) {
    GEMV8_SETUP
    const __m512i m4 = _mm512_set1_epi8(0x0F), dup = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
    for (int64_t b = 0; b < p->nb; b++, g += 144) {
        const __m512i y = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(p->ys + 32 * b)));
        const __m512i yc = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p->ycorr + 8 * b)));
        const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), _mm256_set1_ps(p->dx[b])));
        // [lo(A), hi(A), lo(B), hi(B)]: nibbles 0–15 then 16–31 of rows A and B, as y's 32 values.
#define PAIR(ACC, K, IDX) { \
        __m512i q = _mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(g + 16 + 32 * K)))); \
        q = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFF00FF00u, q, 4), m4); \
        ACC = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX, s), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(yc, q, y)), ACC); }
        PAIR(acc0, 0, i0) PAIR(acc1, 1, i1) PAIR(acc2, 2, i2) PAIR(acc3, 3, i3)
#undef PAIR
    }
    GEMV8_STORE
}

VNNI512 static void gemv8_q8_0_vnni(const bk_q8_prep *p, const char *g, float *out) {
    GEMV8_SETUP
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t b = 0; b < p->nb; b++, g += 272) {
        const __m512i y = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(p->ys + 32 * b)));
        const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), _mm256_set1_ps(p->dx[b])));
        // int8 · int8 through dpbusd's u8 · s8: |w| times y carrying w's sign (ggml's sign trick).
#define PAIR(ACC, K, IDX) { \
        const __m512i q = _mm512_loadu_si512((const void *)(g + 16 + 64 * K)); \
        const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(q), zero, y); \
        ACC = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX, s), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, _mm512_abs_epi8(q), sy)), ACC); }
        PAIR(acc0, 0, i0) PAIR(acc1, 1, i1) PAIR(acc2, 2, i2) PAIR(acc3, 3, i3)
#undef PAIR
    }
    GEMV8_STORE
}
// Packed Q4_K: per 8-row group and super-block (1184 bytes): d[8] f16, dmin[8] f16, scales[8 subs][8 rows]
// u8, mins[2][8 rows][2][2] u8, quants[4 chunks][4 qwords][8 rows][8 bytes] (llama.cpp's block_q4_Kx8
// interleave). Scales and mins are unpacked from their 6-bit form at load. A 512-bit load of the
// quants holds one 8-byte piece of each of the eight rows, so int32 lane 2r+h belongs to row r (h:
// which 4-byte half) and dpbusd against the token's matching 8 bytes, broadcast, needs no shuffle:
// one instruction is 64 multiply-adds for eight rows. Per sub-block the lanes are scaled in integers
// (by the row's 6-bit scale) and, per super-block, converted once; the two lanes of a row are
// added at the end. Mins: lane 2r+h holds (mn[2m], mn[2m+1]) of row r for sub-block pair m = 2m'+h
// at 96 + 32m', so one dpwssd against two pairs of Q8_K block sums covers four sub-blocks.
#define Q4K_PACKED 1184
static void pack_q4_K_group(const char *w, size_t wrb, int64_t rows, int64_t g, int64_t nsb, char *d) {
    for (int64_t i = 0; i < nsb; i++, d += Q4K_PACKED) {
        memset(d, 0, Q4K_PACKED);  // rows past the end stay zero: scales 0, so their dots are 0
        for (int64_t r = 0; r < 8 && 8 * g + r < rows; r++) {
            const block_q4_K *b = (const block_q4_K *)(w + (size_t)(8 * g + r) * wrb) + i;
            memcpy(d + 2 * r, &b->d, 2);
            memcpy(d + 16 + 2 * r, &b->dmin, 2);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, mn;
                get_scale_min_k4(j, b->scales, &sc, &mn);
                d[32 + 8 * j + r] = (char)sc;
                const int m = j / 2;  // pair m = 2m' + h
                d[96 + 32 * (m / 2) + 4 * r + 2 * (m % 2) + (j % 2)] = (char)mn;
            }
            for (int c = 0; c < 4; c++)
                for (int q = 0; q < 4; q++) memcpy(d + 160 + 256 * c + 64 * q + 8 * r, b->qs + 32 * c + 8 * q, 8);
        }
    }
}

// bsp[i][m] = (Σ of sub-block 2m's y) | (Σ of sub-block 2m+1's y) << 16, from Q8_K's 16-element sums.
static void prepare_q8_K_pairs(const block_q8_K *x, int64_t nsb, int32_t *bsp) {
    for (int64_t i = 0; i < nsb; i++)
        for (int m = 0; m < 4; m++) {
            const int a = x[i].bsums[4 * m] + x[i].bsums[4 * m + 1], b = x[i].bsums[4 * m + 2] + x[i].bsums[4 * m + 3];
            bsp[4 * i + m] = (int32_t)((uint32_t)(uint16_t)(int16_t)a | ((uint32_t)(uint16_t)(int16_t)b << 16));
        }
}

static inline int64_t load_i64(const void *p) { int64_t v; memcpy(&v, p, 8); return v; }

// The packed K-quant kernels keep two lanes per weight row (sixteen lanes, eight rows): row r of
// token t is the sum of lanes 2r and 2r + 1.
VNNI512 static inline __attribute__((always_inline)) void store_row_pairs_x8(const __m512 *f, int nt, float *out, int64_t out_stride) {
    for (int t = 0; t < nt; t++) {
        float v[16];
        _mm512_storeu_ps(v, f[t]);
        for (int r = 0; r < 8; r++) out[t * out_stride + r] = v[2 * r] + v[2 * r + 1];
    }
}

// NT (1–4) tokens against one packed Q4_K group: out[t * out_stride + r] for r < 8. The quants are
// loaded and unpacked once for all NT tokens. Integer sums per super-block are exact; the float
// work is one convert and multiply-add for the scales and one for the mins per token and super-block.
VNNI512 static inline __attribute__((always_inline)) void q4_K_x8_vnni(const block_q8_K *const *xs, const int32_t *const *bs, int64_t nsb,
                                                                       const char *g, float *out, int64_t out_stride, const int NT) {
    __m512 f[4];
    for (int t = 0; t < 4; t++) f[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (int64_t i = 0; i < nsb; i++, g += Q4K_PACKED) {
        // One token: prefetch four super-blocks ahead, as for Q6_K.
        if (NT == 1) for (int l = 0; l < Q4K_PACKED; l += 64) _mm_prefetch(g + 4 * Q4K_PACKED + l, _MM_HINT_T0);
        __m512i isum[4];
        for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i lo[4], hi[4];
            for (int t = 0; t < NT; t++) lo[t] = hi[t] = _mm512_setzero_si512();
            for (int q = 0; q < 4; q++) {
                const __m512i v = _mm512_loadu_si512((const void *)(g + 160 + 256 * c + 64 * q));
                const __m512i wl = _mm512_and_si512(v, m4), wh = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                for (int t = 0; t < NT; t++) {
                    const int8_t *y = xs[t][i].qs + 64 * c + 8 * q;
                    lo[t] = _mm512_dpbusd_epi32(lo[t], wl, _mm512_set1_epi64(load_i64(y)));
                    hi[t] = _mm512_dpbusd_epi32(hi[t], wh, _mm512_set1_epi64(load_i64(y + 32)));
                }
            }
            const __m512i scl = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 32 + 16 * c)))));
            const __m512i sch = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 40 + 16 * c)))));
            // A lane's sum is 16 products |q·y| ≤ 15 · 128, so it fits int16: dpwssd against the scale in
            // the low half (high half 0) multiplies it exactly and adds it in one instruction.
            for (int t = 0; t < NT; t++) isum[t] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(isum[t], lo[t], scl), hi[t], sch);
        }
        const __m512 dw = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g))));
        const __m512 dm = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)))));
        const __m512i mv0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(g + 96)));
        const __m512i mv1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(g + 128)));
        for (int t = 0; t < NT; t++) {
            __m512i mn = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mv0, _mm512_set1_epi64(load_i64(bs[t] + 4 * i)));
            mn = _mm512_dpwssd_epi32(mn, mv1, _mm512_set1_epi64(load_i64(bs[t] + 4 * i + 2)));
            const __m512 dx = _mm512_set1_ps(xs[t][i].d);
            f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, dx), f[t]);
            f[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mn), _mm512_mul_ps(dm, dx), f[t]);
        }
    }
    store_row_pairs_x8(f, NT, out, out_stride);
}

VNNI512 static void gemv8_q4_K_vnni(const block_q8_K *x, const int32_t *bsp, int64_t nsb, const char *g, float *out) {
    q4_K_x8_vnni(&x, &bsp, nsb, g, out, 0, 1);
}
VNNI512 static void gemm4x8_q4_K_vnni(const block_q8_K *const *xs, const int32_t *const *bs, int64_t nsb, const char *g, float *out, int64_t out_stride) {
    q4_K_x8_vnni(xs, bs, nsb, g, out, out_stride, 4);
}

// The same sums without vector instructions, for packed Q4_K weights run with the level capped
// below AVX-512 VNNI after packing (bk_set_max_level in tests; Q4_K is packed only for VNNI).
static void gemv8_q4_K_scalar(const block_q8_K *x, const int32_t *bsp, int64_t nsb, const char *g, float *out) {
    float acc[8] = {0};
    for (int64_t i = 0; i < nsb; i++, g += Q4K_PACKED)
        for (int r = 0; r < 8; r++) {
            int32_t s = 0, m = 0;
            for (int j = 0; j < 8; j++) {
                int32_t sub = 0;
                for (int l = 0; l < 32; l++) {
                    const int e = 32 * j + l, c = e / 64, hi = (e % 64) >= 32, k = e % 32;  // byte k of chunk c
                    const uint8_t byte = (uint8_t)g[160 + 256 * c + 64 * (k / 8) + 8 * r + k % 8];
                    sub += (hi ? byte >> 4 : byte & 15) * x[i].qs[e];
                }
                s += (uint8_t)g[32 + 8 * j + r] * sub;
                const int mp = j / 2, pair = bsp[4 * i + mp];
                m += (uint8_t)g[96 + 32 * (mp / 2) + 4 * r + 2 * (mp % 2) + (j % 2)] * (int16_t)(j % 2 ? pair >> 16 : pair);
            }
            uint16_t dw, dm;
            memcpy(&dw, g + 2 * r, 2);
            memcpy(&dm, g + 16 + 2 * r, 2);
            acc[r] += H2F(dw) * x[i].d * (float)s - H2F(dm) * x[i].d * (float)m;
        }
    for (int r = 0; r < 8; r++) out[r] = acc[r];
}

// Packed Q6_K: per 8-row group and super-block (1808 bytes): d[8] f16, scales[16 subs][8 rows][2]
// i8 (each twice: one per int32 lane of the row), then for half n and qword q (4n + q) 192 bytes:
// ql[64n + 8q..] (A), ql[64n + 32 + 8q..] (B) and qh[32n + 8q..] (H), 8 bytes of each of the
// eight rows as for Q4_K. The 6-bit values of the four 32-element quarters of a half are A's low
// nibbles, B's low, A's high and B's high, each with two bits of H above; dpbusd takes them
// unsigned and the "-32" is started in the accumulator (-32 · Σ y of the lane's bytes, prepared
// once per token), so a lane of a 16-element sub-block holds Σ (q - 32) · y over 8 products
// (|·| ≤ 8 · 32 · 127 < 2^15) and dpwssd multiplies it by the signed 8-bit scale exactly.
#define Q6K_PACKED 1808
static void pack_q6_K_group(const char *w, size_t wrb, int64_t rows, int64_t g, int64_t nsb, char *d) {
    for (int64_t i = 0; i < nsb; i++, d += Q6K_PACKED) {
        memset(d, 0, Q6K_PACKED);
        for (int64_t r = 0; r < 8 && 8 * g + r < rows; r++) {
            const block_q6_K *b = (const block_q6_K *)(w + (size_t)(8 * g + r) * wrb) + i;
            memcpy(d + 2 * r, &b->d, 2);
            for (int j = 0; j < 16; j++) d[16 + 16 * j + 2 * r] = d[16 + 16 * j + 2 * r + 1] = (char)b->scales[j];
            for (int n = 0; n < 2; n++)
                for (int q = 0; q < 4; q++) {
                    char *o = d + 272 + 192 * (4 * n + q) + 8 * r;
                    memcpy(o, b->ql + 64 * n + 8 * q, 8);
                    memcpy(o + 64, b->ql + 64 * n + 32 + 8 * q, 8);
                    memcpy(o + 128, b->qh + 32 * n + 8 * q, 8);
                }
        }
    }
}

// corr[16 i + j] for sub-block j = 8n + 2k + s (quarter k, 16-element half s of half n): the two
// int32 lanes' -32 · Σ y over their 4 bytes in each of the sub-block's two qwords.
static void prepare_q6_K_corr(const block_q8_K *x, int64_t nsb, int64_t *corr) {
    for (int64_t i = 0; i < nsb; i++)
        for (int j = 0; j < 16; j++) {
            const int8_t *y = x[i].qs + 128 * (j / 8) + 32 * ((j % 8) / 2) + 16 * (j % 2);
            int32_t h[2] = {0, 0};
            for (int e = 0; e < 16; e++) h[(e / 4) % 2] += y[e];
            corr[16 * i + j] = (int64_t)(((uint64_t)(uint32_t)(-32 * h[1]) << 32) | (uint32_t)(-32 * h[0]));
        }
}

VNNI512 static inline __attribute__((always_inline)) void q6_K_x8_vnni(const block_q8_K *const *xs, const int64_t *const *cs, int64_t nsb,
                                                                       const char *g, float *out, int64_t out_stride, const int NT) {
    __m512 f[4];
    for (int t = 0; t < 4; t++) f[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), lo16 = _mm512_set1_epi32(0xFFFF);
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (int64_t i = 0; i < nsb; i++, g += Q6K_PACKED) {
        // One token: the weights stream from memory; asking four super-blocks ahead (the next group's
        // when this one ends, as groups are contiguous) measured 5–9 % faster out of cache.
        if (NT == 1) for (int l = 0; l < Q6K_PACKED; l += 64) _mm_prefetch(g + 4 * Q6K_PACKED + l, _MM_HINT_T0);
        __m512i isum[4];
        for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 2; s++)
#pragma clang loop unroll(disable)
                for (int kp = 0; kp < 2; kp++) {
                    // Quarters 2kp and 2kp + 1: sub-blocks ja (from A) and ja + 2 (from B).
                    const int ja = 8 * n + 4 * kp + s;
                    __m512i a[4], b[4];
                    for (int t = 0; t < NT; t++) {
                        a[t] = _mm512_set1_epi64(cs[t][16 * i + ja]);
                        b[t] = _mm512_set1_epi64(cs[t][16 * i + ja + 2]);
                    }
                    for (int qq = 0; qq < 2; qq++) {
                        const int q = 2 * s + qq;
                        const char *o = g + 272 + 192 * (4 * n + q);
                        const __m512i A = _mm512_loadu_si512((const void *)o), B = _mm512_loadu_si512((const void *)(o + 64));
                        const __m512i H = _mm512_loadu_si512((const void *)(o + 128));
                        __m512i ea, eb;  // (x & 0x0F) | h, h holding only bits 4–5
                        if (kp == 0) {
                            ea = _mm512_ternarylogic_epi32(A, _mm512_and_si512(_mm512_slli_epi16(H, 4), m30), m4, 0xEC);
                            eb = _mm512_ternarylogic_epi32(B, _mm512_and_si512(_mm512_slli_epi16(H, 2), m30), m4, 0xEC);
                        } else {
                            ea = _mm512_ternarylogic_epi32(_mm512_srli_epi16(A, 4), _mm512_and_si512(H, m30), m4, 0xEC);
                            eb = _mm512_ternarylogic_epi32(_mm512_srli_epi16(B, 4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m30), m4, 0xEC);
                        }
                        for (int t = 0; t < NT; t++) {
                            const int8_t *y = xs[t][i].qs + 128 * n + 64 * kp + 8 * q;
                            a[t] = _mm512_dpbusd_epi32(a[t], ea, _mm512_set1_epi64(load_i64(y)));
                            b[t] = _mm512_dpbusd_epi32(b[t], eb, _mm512_set1_epi64(load_i64(y + 32)));
                        }
                    }
                    // Sign-extended scales with the high halves cleared: dpwssd then multiplies the
                    // lane's low 16 bits (the whole value) by the scale and adds 0.
                    const __m512i sa = _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * ja))), lo16);
                    const __m512i sb = _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * (ja + 2)))), lo16);
                    for (int t = 0; t < NT; t++) isum[t] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(isum[t], a[t], sa), b[t], sb);
                }
        const __m512 dw = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g))));
        for (int t = 0; t < NT; t++) f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(xs[t][i].d)), f[t]);
    }
    store_row_pairs_x8(f, NT, out, out_stride);
}

VNNI512 static void gemv8_q6_K_vnni(const block_q8_K *x, const int64_t *corr, int64_t nsb, const char *g, float *out) {
    q6_K_x8_vnni(&x, &corr, nsb, g, out, 0, 1);
}
VNNI512 static void gemm4x8_q6_K_vnni(const block_q8_K *const *xs, const int64_t *const *cs, int64_t nsb, const char *g, float *out, int64_t out_stride) {
    q6_K_x8_vnni(xs, cs, nsb, g, out, out_stride, 4);
}

// Q6_K prefill, sixteen tokens at a time (llama.cpp's tiled 8×16 layout, turned around): one eight-row
// group is unpacked once per token tile into signed bytes q − 32 (W: per super-block 32 vectors of
// eight rows × eight elements, element order), int32 scales, the f16 d as floats and C = Σ_j sc_j ·
// 128 · Σ (q − 32). The activations are transposed per sixteen tokens to (k-group of four, token) and
// offset to y + 128 (unsigned), so one dpbusd with the row's four weights broadcast from memory is 64
// multiply-adds for sixteen tokens, and Σ (y + 128)(q − 32) − 128 Σ (q − 32) = Σ y (q − 32): the
// offset costs only the per-row constant C, which starts the accumulator. Per sub-block and row one
// vpmulld applies the scale (a sub-block's sums reach 16 · 255 · 32, past int16).
#define Q6T_W 2048
#define Q6T_GROUP (Q6T_W + 16 * 8 * 4 + 8 * 4 + 8 * 4)
VNNI512 static void q6_K_tile_unpack(const char *g, int64_t nsb, char *dst) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), b32 = _mm512_set1_epi8(32), z = _mm512_setzero_si512();
    for (int64_t i = 0; i < nsb; i++, g += Q6K_PACKED, dst += Q6T_GROUP) {
        for (int l = 0; l < Q6K_PACKED; l += 64) _mm_prefetch(g + 4 * Q6K_PACKED + l, _MM_HINT_T0);
        __m512i sad[32];
        for (int n = 0; n < 2; n++)
            for (int q = 0; q < 4; q++) {
                const char *o = g + 272 + 192 * (4 * n + q);
                const __m512i A = _mm512_loadu_si512((const void *)o), B = _mm512_loadu_si512((const void *)(o + 64));
                const __m512i H = _mm512_loadu_si512((const void *)(o + 128));
                __m512i v[4];
                v[0] = _mm512_ternarylogic_epi32(A, _mm512_and_si512(_mm512_slli_epi16(H, 4), m30), m4, 0xEC);
                v[1] = _mm512_ternarylogic_epi32(B, _mm512_and_si512(_mm512_slli_epi16(H, 2), m30), m4, 0xEC);
                v[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(A, 4), _mm512_and_si512(H, m30), m4, 0xEC);
                v[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(B, 4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m30), m4, 0xEC);
                for (int k = 0; k < 4; k++) {
                    const int vi = 16 * n + 4 * k + q;
                    _mm512_storeu_si512((void *)(dst + 64 * vi), _mm512_sub_epi8(v[k], b32));
                    sad[vi] = _mm512_sad_epu8(v[k], z);
                }
            }
        // Scales: the packed pair (s, s) read as int16 and shifted right by 8 is s, per row in an int64.
        __m512i c = _mm512_setzero_si512();
        const __m512i off = _mm512_set1_epi64(512);
        for (int j = 0; j < 16; j++) {
            const __m512i sc = _mm512_srai_epi64(_mm512_cvtepi16_epi64(_mm_loadu_si128((const __m128i *)(g + 16 + 16 * j))), 8);
            c = _mm512_add_epi64(c, _mm512_mul_epi32(_mm512_sub_epi64(_mm512_add_epi64(sad[2 * j], sad[2 * j + 1]), off), sc));
            _mm256_storeu_si256((__m256i *)(dst + Q6T_W + 32 * j), _mm512_cvtepi64_epi32(sc));
        }
        _mm256_storeu_si256((__m256i *)(dst + Q6T_W + 512), _mm512_cvtepi64_epi32(_mm512_sub_epi64(z, _mm512_slli_epi64(c, 7))));
        _mm256_storeu_ps((float *)(dst + Q6T_W + 544), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)));
    }
}

// Sixteen tokens' activations: per super-block 64 k-groups × 16 tokens × 4 bytes (y + 128), then
// the tokens' d. Tokens past cnt are zero (y + 128 = 128, d = 0).
#define Q6T_X (4096 + 64)
static void q6_K_tile_acts(const char *xq, size_t xrb, int64_t cnt, int64_t nsb, char *dst) {
    for (int64_t i = 0; i < nsb; i++, dst += Q6T_X) {
        uint32_t *o = (uint32_t *)dst;
        float *d = (float *)(dst + 4096);
        for (int l = 0; l < 16; l++) {
            if (l < cnt) {
                const block_q8_K *x = (const block_q8_K *)(xq + (size_t)l * xrb) + i;
                d[l] = x->d;
                for (int kg = 0; kg < 64; kg++) { uint32_t v; memcpy(&v, x->qs + 4 * kg, 4); o[16 * kg + l] = v ^ 0x80808080u; }
            } else {
                d[l] = 0;
                for (int kg = 0; kg < 64; kg++) o[16 * kg + l] = 0x80808080u;
            }
        }
    }
}

VNNI512 static void gemm16x8_q6_K_vnni(const char *xt, const char *wt, int64_t nsb, float *out, int64_t out_stride, int64_t cnt) {
    __m512 f[8];
    for (int r = 0; r < 8; r++) f[r] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nsb; i++, xt += Q6T_X, wt += Q6T_GROUP) {
        __m512i s1[8];
        for (int r = 0; r < 8; r++) s1[r] = _mm512_set1_epi32(((const int32_t *)(wt + Q6T_W + 512))[r]);
        for (int j = 0; j < 16; j++) {
            __m512i acc[8];
            for (int r = 0; r < 8; r++) acc[r] = _mm512_setzero_si512();
            for (int gi = 0; gi < 4; gi++) {
                const int kg = 4 * j + gi;
                const __m512i X = _mm512_loadu_si512((const void *)(xt + 64 * kg));
                const char *w = wt + 64 * (kg / 2) + 4 * (kg % 2);
                for (int r = 0; r < 8; r++) {
                    int32_t wv; memcpy(&wv, w + 8 * r, 4);
                    acc[r] = _mm512_dpbusd_epi32(acc[r], X, _mm512_set1_epi32(wv));
                }
            }
            const int32_t *sc = (const int32_t *)(wt + Q6T_W + 32 * j);
            for (int r = 0; r < 8; r++) s1[r] = _mm512_add_epi32(s1[r], _mm512_mullo_epi32(acc[r], _mm512_set1_epi32(sc[r])));
        }
        const __m512 dx = _mm512_loadu_ps((const float *)(xt + 4096));
        const float *dw = (const float *)(wt + Q6T_W + 544);
        for (int r = 0; r < 8; r++) f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[r]), _mm512_mul_ps(dx, _mm512_set1_ps(dw[r])), f[r]);
    }
    for (int r = 0; r < 8; r++) {
        float v[16];
        _mm512_storeu_ps(v, f[r]);
        for (int64_t l = 0; l < cnt; l++) out[l * out_stride + r] = v[l];
    }
}

// Packed Q6_K without vector instructions (the level capped below VNNI after packing, as for Q4_K).
static void gemv8_q6_K_scalar(const block_q8_K *x, int64_t nsb, const char *g, float *out) {
    float acc[8] = {0};
    for (int64_t i = 0; i < nsb; i++, g += Q6K_PACKED)
        for (int r = 0; r < 8; r++) {
            int32_t s = 0;
            for (int j = 0; j < 16; j++) {
                int32_t sub = 0;
                for (int l = 0; l < 16; l++) {
                    const int e = 16 * j + l, n = e / 128, k = (e % 128) / 32, p = e % 32, q = p / 8;
                    const char *o = g + 272 + 192 * (4 * n + q) + 8 * r + p % 8;
                    const uint8_t lo = (uint8_t)o[k % 2 ? 64 : 0], hb = (uint8_t)o[128];
                    const int v = ((k < 2 ? lo & 15 : lo >> 4) | ((hb >> (2 * k)) & 3) << 4) - 32;
                    sub += v * x[i].qs[e];
                }
                s += (int8_t)g[16 + 16 * j + 2 * r] * sub;
            }
            uint16_t dw;
            memcpy(&dw, g + 2 * r, 2);
            acc[r] += H2F(dw) * x[i].d * (float)s;
        }
    for (int r = 0; r < 8; r++) out[r] = acc[r];
}

// AVX2 versions over the same packed layout (machines without AVX-512 VNNI): one 256-bit
// accumulator per row. Q4_0 and Q8_0 give exactly the one-row AVX2 kernels' floats.
AVX2 static void gemv8_q4_0_avx2(const bk_q8_prep *p, const char *g, float *out) {
    __m256 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < p->nb; b++, g += 144) {
        const __m256i y = _mm256_load_si256((const __m256i *)(p->ys + 32 * b));
        const __m256i yc = _mm256_loadu_si256((const __m256i *)(p->ycorr + 8 * b));
        const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), _mm256_set1_ps(p->dx[b]));
        for (int r = 0; r < 8; r++) {
            const __m128i t = _mm_loadu_si128((const __m128i *)(g + 16 + 16 * r));
            const __m256i q = _mm256_and_si256(_mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), m4);
            const __m256i d = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, y), ones), yc);
            acc[r] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, _mm256_set1_epi32(r)), _mm256_cvtepi32_ps(d), acc[r]);
        }
    }
    for (int r = 0; r < 8; r++) out[r] = hsum8(acc[r]);
}

AVX2 static void gemv8_q8_0_avx2(const bk_q8_prep *p, const char *g, float *out) {
    __m256 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++, g += 272) {
        const __m256i y = _mm256_load_si256((const __m256i *)(p->ys + 32 * b));
        const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), _mm256_set1_ps(p->dx[b]));
        for (int r = 0; r < 8; r++) {
            const __m256 q = mul_sum_i8_avx2(_mm256_loadu_si256((const __m256i *)(g + 16 + 32 * r)), y);
            acc[r] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, _mm256_set1_epi32(r)), q, acc[r]);
        }
    }
    for (int r = 0; r < 8; r++) out[r] = hsum8(acc[r]);
}

// Four activation rows against one packed group (prefill and batched decode): each pair's quants
// are loaded and unpacked once for the four tokens. Same products and order as gemv8 per token,
// so the same floats. Writes out[t * out_stride + r].
static const int32_t gemm4_pair_index[4][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5}, {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7}};

VNNI512 static inline void gemm4_store(__m512 acc[4][4], float *out, int64_t out_stride) {
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 4; k++) {
            out[t * out_stride + 2 * k] = hsum8_v(_mm512_castps512_ps256(acc[k][t]));
            out[t * out_stride + 2 * k + 1] = hsum8_v(HI256(acc[k][t]));
        }
}

VNNI512 static void gemm4x8_q4_0_vnni(const bk_q8_prep *p, const char *g, float *out, int64_t out_stride) {
    __m512 acc[4][4];
    for (int k = 0; k < 4; k++) for (int t = 0; t < 4; t++) acc[k][t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), dup = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
    for (int64_t b = 0; b < p[0].nb; b++, g += 144) {
        __m512i y[4], yc[4];
        __m512 dx[4];
        for (int t = 0; t < 4; t++) {
            y[t] = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(p[t].ys + 32 * b)));
            yc[t] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p[t].ycorr + 8 * b)));
            dx[t] = _mm512_set1_ps(p[t].dx[b]);
        }
        const __m512 dw = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)));
        for (int k = 0; k < 4; k++) {
            __m512i q = _mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(g + 16 + 32 * k))));
            q = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFF00FF00u, q, 4), m4);
            const __m512 sk = _mm512_permutexvar_ps(_mm512_loadu_si512(gemm4_pair_index[k]), dw);
            for (int t = 0; t < 4; t++)
                acc[k][t] = _mm512_fmadd_ps(_mm512_mul_ps(sk, dx[t]), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(yc[t], q, y[t])), acc[k][t]);
        }
    }
    gemm4_store(acc, out, out_stride);
}

// Four tokens against sixteen Q4_0 rows (two packed groups), llama.cpp's GEMM arrangement: each
// int32 lane holds one row's whole-block dot product (the 4-byte groups of the sixteen rows are
// gathered into one vector once per block and shared by the tokens; each token's 4-byte group is
// broadcast), so the float work per block is one convert and one multiply-add per token for sixteen
// outputs, not per row pair. Integer block sums are exact, so the result equals the one-row
// kernels' up to float summation order.
VNNI512 static void gemm4x16_q4_0_vnni(const bk_q8_prep *p, const char *g0, const char *g1, float *out, int64_t out_stride) {
    __m512 f0 = _mm512_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    // Lane r < 8: dword c of row r (rows 0–3 in A, 4–7 in B: 4 dwords a row); lanes 8–15 the same.
    const __m512i ix0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i one = _mm512_set1_epi32(1);
    for (int64_t b = 0; b < p[0].nb; b++, g0 += 144, g1 += 144) {
        const __m512i a0 = _mm512_loadu_si512((const void *)(g0 + 16)), b0 = _mm512_loadu_si512((const void *)(g0 + 80));
        const __m512i a1 = _mm512_loadu_si512((const void *)(g1 + 16)), b1 = _mm512_loadu_si512((const void *)(g1 + 80));
        __m512i lo[4], hi[4], ix = ix0;
        for (int c = 0; c < 4; c++, ix = _mm512_add_epi32(ix, one)) {
            const __m512i w = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(a0, ix, b0), _mm512_permutex2var_epi32(a1, ix, b1));
            lo[c] = _mm512_and_si512(w, m4);
            hi[c] = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
        }
        const __m512 dw = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g0)))),
                                                              _mm256_castps_pd(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g1))), 1));
#define TOK(F, T) { \
        const int32_t *y = (const int32_t *)(p[T].ys + 32 * b); \
        __m512i acc = _mm512_set1_epi32(p[T].ysum[b]); \
        for (int c = 0; c < 4; c++) { \
            acc = _mm512_dpbusd_epi32(acc, lo[c], _mm512_set1_epi32(y[c])); \
            acc = _mm512_dpbusd_epi32(acc, hi[c], _mm512_set1_epi32(y[4 + c])); \
        } \
        F = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(dw, _mm512_set1_ps(p[T].dx[b])), F); }
        TOK(f0, 0) TOK(f1, 1) TOK(f2, 2) TOK(f3, 3)
#undef TOK
    }
    _mm512_storeu_ps(out, f0);
    _mm512_storeu_ps(out + out_stride, f1);
    _mm512_storeu_ps(out + 2 * out_stride, f2);
    _mm512_storeu_ps(out + 3 * out_stride, f3);
}

VNNI512 static void gemm4x8_q8_0_vnni(const bk_q8_prep *p, const char *g, float *out, int64_t out_stride) {
    __m512 acc[4][4];
    for (int k = 0; k < 4; k++) for (int t = 0; t < 4; t++) acc[k][t] = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t b = 0; b < p[0].nb; b++, g += 272) {
        __m512i y[4];
        __m512 dx[4];
        for (int t = 0; t < 4; t++) {
            y[t] = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(p[t].ys + 32 * b)));
            dx[t] = _mm512_set1_ps(p[t].dx[b]);
        }
        const __m512 dw = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)));
        for (int k = 0; k < 4; k++) {
            const __m512i q = _mm512_loadu_si512((const void *)(g + 16 + 64 * k));
            const __m512i aq = _mm512_abs_epi8(q);
            const __mmask64 neg = _mm512_movepi8_mask(q);
            const __m512 sk = _mm512_permutexvar_ps(_mm512_loadu_si512(gemm4_pair_index[k]), dw);
            for (int t = 0; t < 4; t++)
                acc[k][t] = _mm512_fmadd_ps(_mm512_mul_ps(sk, dx[t]),
                                            _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, aq, _mm512_mask_sub_epi8(y[t], neg, zero, y[t]))), acc[k][t]);
        }
    }
    gemm4_store(acc, out, out_stride);
}

#undef GEMV8_SETUP
#undef GEMV8_STORE
#undef HI256

// ggml's x86 quantize_row_q8_0: |x| max per block, id = 127 / max, round to nearest even in
// 256-bit registers. This, not the scalar reference's roundf and 1 / d, is what llama.cpp runs on
// x86, and it keeps activation quantization off the prefill profile (it was 18 % of it).
AVX2 static void quantize_row_q8_0_avx2(const float *x, block_q8_0 *y, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < k / QK; i++, x += QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        y[i].d = bk_fp32_to_fp16(amax / 127.f);
        const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        // int32 → int8 with the packs' lane interleave undone.
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)y[i].qs, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
}

// Q8_K as ggml's scalar reference computes it (the signed value of largest magnitude, first
// occurrence on ties; round half to even; the same float products), eight floats at a time.
AVX2 static void quantize_row_q8_K_avx2(const float *x, block_q8_K *y, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < k / QKK; i++, x += QKK) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QKK; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (!amax) { memset(&y[i], 0, sizeof(block_q8_K)); continue; }
        float max = amax;
        const __m256 am = _mm256_set1_ps(amax);
        for (int j = 0; j < QKK; j += 8) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), am, _CMP_EQ_OQ));
            if (hit) { max = x[j + __builtin_ctz((unsigned)hit)]; break; }
        }
        const float iscale = -127.f / max;
        const __m256 mul = _mm256_set1_ps(iscale);
        for (int j = 0; j < QKK; j += 32) {
            __m256i v[4];
            for (int l = 0; l < 4; l++)
                v[l] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * l), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
            for (int h = 0; h < 2; h++) {
                const __m256i t = _mm256_add_epi32(v[2 * h], v[2 * h + 1]);
                __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
                u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0x4E));
                u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0xB1));
                y[i].bsums[j / 16 + h] = (int16_t)_mm_cvtsi128_si32(u);
            }
        }
        y[i].d = 1 / iscale;
    }
}
#endif

// ---- dispatch -------------------------------------------------------------------------------

static int g_level = -1;
static int g_force_scalar = 0;

static int detect_level(void) {
#ifdef BK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) return 2;
        return 1;
    }
#endif
    return 0;
}

static int g_max_level = 2;

int bk_kernel_level(void) {
    if (g_level < 0) {
        g_level = detect_level();
        // BERTH_GGML_LEVEL=0|1 caps the kernels (scalar, AVX2) for comparisons on a newer CPU.
        const char *cap = getenv("BERTH_GGML_LEVEL");
        if (cap && *cap >= '0' && *cap <= '2' && *cap - '0' < g_max_level) g_max_level = *cap - '0';
    }
    if (g_force_scalar) return 0;
    return g_level < g_max_level ? g_level : g_max_level;
}

void bk_set_max_level(int level) { g_max_level = level < 0 ? 0 : level; }

void bk_force_scalar(int on) { g_force_scalar = on; }

static dot_fn pick(int type) {
    const int level = bk_kernel_level();
    switch (type) {
    case BK_F32:
#ifdef BK_X86
        if (level >= 1) return dot_f32_avx2;
#endif
        return dot_f32_scalar;
    case BK_F16:
#ifdef BK_X86
        if (level >= 1) return dot_f16_avx2;
#endif
        return dot_f16_scalar;
    case BK_BF16: return dot_bf16_scalar;
    case BK_Q8_0:
#ifdef BK_X86
        if (level >= 2) return dot_q8_0_vnni;
        if (level >= 1) return dot_q8_0_avx2;
#endif
        return dot_q8_0_scalar;
    case BK_Q4_0:
#ifdef BK_X86
        if (level >= 2) return dot_q4_0_vnni;
        if (level >= 1) return dot_q4_0_avx2;
#endif
        return dot_q4_0_scalar;
    case BK_Q4_1:
#ifdef BK_X86
        if (level >= 1) return dot_q4_1_avx2;
#endif
        return dot_q4_1_scalar;
    case BK_Q4_K:
#ifdef BK_X86
        if (level >= 1) return dot_q4_K_avx2;
#endif
        return dot_q4_K_scalar;
    case BK_Q5_K:
#ifdef BK_X86
        if (level >= 1) return dot_q5_K_avx2;
#endif
        return dot_q5_K_scalar;
    case BK_Q6_K:
#ifdef BK_X86
        if (level >= 1) return dot_q6_K_avx2;
#endif
        return dot_q6_K_scalar;
    default: return NULL;
    }
}

float bk_dot_f32(int64_t n, const float *a, const float *b) {
#ifdef BK_X86
    if (bk_kernel_level() >= 1) return dot_f32_avx2(n, a, b);
#endif
    return dot_f32_scalar(n, a, b);
}

void bk_axpy_f32(int64_t n, float alpha, const float *x, float *y) {
#ifdef BK_X86
    if (bk_kernel_level() >= 1) { axpy_f32_avx2(n, alpha, x, y); return; }
#endif
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void bk_attn_scores_t(int64_t hd, int64_t g, const float *q, int64_t qs, const float *kt, int64_t bs,
                      int64_t n, float scale, float *s, int64_t ss) {
#ifdef BK_X86
    if (bs == 16 && bk_kernel_level() >= 1) { attn_scores_t16_avx2(hd, g, q, qs, kt, n, scale, s, ss); return; }
#endif
    for (int64_t j = 0; j < g; j++)
        for (int64_t t = 0; t < n; t++) {
            float a = 0;
            for (int64_t i = 0; i < hd; i++) a += q[j * qs + i] * kt[i * bs + t];
            s[j * ss + t] = a * scale;
        }
}

void bk_silu_mul_f32(float *g, const float *u, int64_t n) {
    int64_t i = 0;
#ifdef BK_X86
    if (bk_kernel_level() >= 1) { silu_mul_avx2(g, u, n); return; }
#endif
    // Beyond ±80 silu is 0 or a to float precision, and expf's overflow and underflow paths cost
    // ~100× a normal call.
    for (; i < n; i++) { const float a = g[i]; g[i] = (a < -80 ? 0 : a > 80 ? a : a / (1 + expf(-a))) * u[i]; }
}

void bk_softmax_f32(float *x, int64_t n) {
    if (n <= 0) return;
#ifdef BK_X86
    if (bk_kernel_level() >= 1) { softmax_avx2(x, n); return; }
#endif
    float mx = x[0], sum = 0;
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    // e^d for d < -87 is below FLT_MIN (0 beside a sum ≥ 1); skipping expf avoids its slow underflow path.
    for (int64_t i = 0; i < n; i++) { const float d = x[i] - mx; x[i] = d < -87 ? 0 : expf(d); sum += x[i]; }
    for (int64_t i = 0; i < n; i++) x[i] /= sum;
}

void bk_attn_values(int64_t hd, int64_t g, const float *w, int64_t ws, const float *v, int64_t vs,
                    int64_t n, float *out, int64_t os) {
#ifdef BK_X86
    if (bk_kernel_level() >= 1) { attn_values_avx2(hd, g, w, ws, v, vs, n, out, os); return; }
#endif
    for (int64_t j = 0; j < g; j++)
        for (int64_t t = 0; t < n; t++)
            for (int64_t i = 0; i < hd; i++) out[j * os + i] += w[j * ws + t] * v[t * vs + i];
}

void bk_matmul(int type, const void *w, size_t w_row_bytes, int64_t row0, int64_t row1,
               const void *xq, size_t xq_row_bytes, int64_t ntok, int64_t n,
               float *out, int64_t out_stride) {
    dot_fn f = pick(type);
    if (!f) return;
#ifdef BK_X86
    dot4_fn f4 = NULL;
    if (bk_kernel_level() >= 1) {
        if (type == BK_Q4_0) f4 = dot4_q4_0_avx2;
        if (type == BK_Q8_0) f4 = dot4_q8_0_avx2;
        if (type == BK_Q4_K) f4 = dot4_q4_K_avx2;
        if (type == BK_Q5_K) f4 = dot4_q5_K_avx2;
    }
#endif
    const char *wb = w, *xb = xq;
    for (int64_t r = row0; r < row1; r++) {
        const void *wr = wb + (size_t)r * w_row_bytes;
        int64_t t = 0;
#ifdef BK_X86
        if (f4) {
            for (; t + 4 <= ntok; t += 4) {
                float o[4];
                f4(n, wr, xb + (size_t)t * xq_row_bytes, xq_row_bytes, o);
                for (int k = 0; k < 4; k++) out[(t + k) * out_stride + (r - row0)] = o[k];
            }
        }
#endif
        for (; t < ntok; t++) out[t * out_stride + (r - row0)] = f(n, wr, xb + (size_t)t * xq_row_bytes);
    }
}

size_t bk_packed_bytes(int type, int64_t rows, int64_t cols) {
#ifdef BK_X86
    const size_t per = packed_block_bytes(type);
    const int64_t be = packed_block_elems(type);
    if (bk_kernel_level() < 1 || !per || rows <= 0 || cols <= 0 || cols % be) return 0;
    // Q4_K's AVX2 packed kernel measured slower than its one-row AVX2 kernel (scales and mins
    // broadcast per row): packed only where the VNNI kernel runs.
    if ((type == BK_Q4_K || type == BK_Q6_K) && bk_kernel_level() < 2) return 0;
    size_t blocks, bytes;
    if (__builtin_mul_overflow((size_t)(rows + 7) / 8, (size_t)(cols / be), &blocks) || __builtin_mul_overflow(blocks, per, &bytes)) return 0;
    return bytes;
#else
    (void)type; (void)rows; (void)cols;
    return 0;
#endif
}

void bk_pack(int type, const void *w, size_t w_row_bytes, int64_t rows, int64_t cols, void *dst) {
#ifdef BK_X86
    const size_t per = packed_block_bytes(type), qbytes = type == BK_Q4_0 ? 16 : 32, bsize = type == BK_Q4_0 ? 18 : 34;
    const int64_t nb = cols / packed_block_elems(type);
    char *d = dst;
    if (type == BK_Q4_K || type == BK_Q6_K) {
        for (int64_t g = 0; g < (rows + 7) / 8; g++) {
            if (type == BK_Q4_K) pack_q4_K_group(w, w_row_bytes, rows, g, nb, d + (size_t)g * (size_t)nb * per);
            else pack_q6_K_group(w, w_row_bytes, rows, g, nb, d + (size_t)g * (size_t)nb * per);
        }
        return;
    }
    for (int64_t g = 0; g < (rows + 7) / 8; g++) {
        for (int64_t b = 0; b < nb; b++, d += per) {
            memset(d, 0, per);  // rows past the end stay zero: scale 0, so their dots are 0
            for (int64_t r = 0; r < 8 && 8 * g + r < rows; r++) {
                const char *src = (const char *)w + (size_t)(8 * g + r) * w_row_bytes + (size_t)b * bsize;
                memcpy(d + 2 * r, src, 2);
                memcpy(d + 16 + qbytes * r, src + 2, qbytes);
            }
        }
    }
#else
    (void)type; (void)w; (void)w_row_bytes; (void)rows; (void)cols; (void)dst;
#endif
}

void bk_matmul_packed(int type, const void *packed, int64_t rows, int64_t row0, int64_t row1,
                      const void *xq, size_t xq_row_bytes, int64_t ntok, int64_t n, float *out, int64_t out_stride) {
#ifdef BK_X86
    const int64_t nb = n / packed_block_elems(type);
    const size_t per = packed_block_bytes(type), pb = type == BK_Q4_K ? (((size_t)nb * 16 + 63) & ~(size_t)63) : type == BK_Q6_K ? (size_t)nb * 128 : prep_bytes(nb);
    // Activations in tiles that stay in L2 while every group of the slice passes over them; one
    // group's weights (nb × 144, 272, 1184 or 1808 bytes) stay in L1 across the tile's tokens.
    int64_t tile = (256 << 10) / (n + 1);
    if (tile < 1) tile = 1;
    if (tile > 64) tile = 64;
    // Q6_K's sixteen-token kernel unpacks each group once per tile: tiles of up to 256 tokens (their
    // transposed activations, 260 bytes per token and super-block, within 512 KB of L2) measured
    // 6–8 % faster than 64 in the microbenchmark.
    if (type == BK_Q6_K && bk_kernel_level() >= 2) {
        tile = (512 << 10) / (nb * Q6T_X / 16) / 16 * 16;
        if (tile > 256) tile = 256;
        if (tile < 64) tile = 64;
    }
    if (tile > ntok) tile = ntok;
    char *buf = aligned_alloc(64, pb * (size_t)tile);
    if (!buf) return;
    const int vnni = bk_kernel_level() >= 2;
    bk_q8_prep preps[64];
    // Q6_K with sixteen or more tokens in a tile: the transposed activations and one unpacked group.
    char *q6x = NULL, *q6w = NULL;
    if (type == BK_Q6_K && vnni && tile >= 16) {
        q6x = aligned_alloc(64, (size_t)(tile / 16) * (size_t)nb * Q6T_X);
        q6w = aligned_alloc(64, (size_t)nb * Q6T_GROUP);
        if (!q6x || !q6w) { free(q6x); free(q6w); q6x = q6w = NULL; }
    }
    for (int64_t t0 = 0; t0 < ntok; t0 += tile) {
        const int64_t t1 = t0 + tile < ntok ? t0 + tile : ntok;
        for (int64_t t = t0; t < t1; t++) {
            const void *x = (const char *)xq + (size_t)t * xq_row_bytes;
            if (type == BK_Q4_K) prepare_q8_K_pairs(x, nb, (int32_t *)(buf + (size_t)(t - t0) * pb));
            else if (type == BK_Q6_K) {
                // Tokens of the sixteen-token passes need no "-32" sums unless a partial group (rows
                // not a multiple of 8) takes the four-token kernel for every token.
                if (!q6x || rows % 8 || t >= t0 + (t1 - t0) / 16 * 16) prepare_q6_K_corr(x, nb, (int64_t *)(buf + (size_t)(t - t0) * pb));
            }
            else prepare_q8_0(&preps[t - t0], buf + (size_t)(t - t0) * pb, x, nb);
        }
        if (q6x)
            for (int64_t t = t0; t + 16 <= t1; t += 16)
                q6_K_tile_acts((const char *)xq + (size_t)t * xq_row_bytes, xq_row_bytes, 16, nb, q6x + (size_t)((t - t0) / 16) * (size_t)nb * Q6T_X);
        for (int64_t r = row0; r < row1; r += 8) {
            const char *g = (const char *)packed + (size_t)(r / 8) * (size_t)nb * per;
            int64_t t = t0, span = 8;
            if (vnni && type == BK_Q4_0 && r + 16 <= rows && r + 16 <= row1 && t + 4 <= t1) {
                // Sixteen rows at once: this group and the next are whole and in the slice. (A
                // one-token sixteen-row kernel measured slower in decode than two gemv8 passes.)
                for (; t + 4 <= t1; t += 4)
                    gemm4x16_q4_0_vnni(&preps[t - t0], g, g + (size_t)nb * per, out + t * out_stride + (r - row0), out_stride);
                span = 16;
            } else if (vnni && r + 8 <= rows && type != BK_Q4_K && type != BK_Q6_K) {
                for (; t + 4 <= t1; t += 4) {
                    float *o = out + t * out_stride + (r - row0);
                    if (type == BK_Q4_0) gemm4x8_q4_0_vnni(&preps[t - t0], g, o, out_stride);
                    else gemm4x8_q8_0_vnni(&preps[t - t0], g, o, out_stride);
                }
           } else if (vnni && r + 8 <= rows) {
                if (type == BK_Q6_K && q6x && t + 16 <= t1) {
                    q6_K_tile_unpack(g, nb, q6w);
                    for (; t + 16 <= t1; t += 16)
                        gemm16x8_q6_K_vnni(q6x + (size_t)((t - t0) / 16) * (size_t)nb * Q6T_X, q6w, nb, out + t * out_stride + (r - row0), out_stride, 16);
                }
                for (; t + 4 <= t1; t += 4) {
                    const block_q8_K *xs[4];
                    const void *bs[4];
                    for (int k = 0; k < 4; k++) {
                        xs[k] = (const block_q8_K *)((const char *)xq + (size_t)(t + k) * xq_row_bytes);
                        bs[k] = buf + (size_t)(t + k - t0) * pb;
                    }
                    if (type == BK_Q4_K) gemm4x8_q4_K_vnni(xs, (const int32_t *const *)bs, nb, g, out + t * out_stride + (r - row0), out_stride);
                    else gemm4x8_q6_K_vnni(xs, (const int64_t *const *)bs, nb, g, out + t * out_stride + (r - row0), out_stride);
                }
            }
            // The tokens left over (fewer than four), one at a time, for every group of the span.
            for (int64_t rr = r; rr < r + span; rr += 8, g += (size_t)nb * per)
                for (int64_t tt = t; tt < t1; tt++) {
                    float tmp[8], *o = out + tt * out_stride + (rr - row0);
                    const int whole = rr + 8 <= rows;
                    float *dst = whole ? o : tmp;
                    const block_q8_K *xk = (const block_q8_K *)((const char *)xq + (size_t)tt * xq_row_bytes);
                    const int32_t *bsp = (const int32_t *)(buf + (size_t)(tt - t0) * pb);
                    if (vnni) {
                        if (type == BK_Q4_0) gemv8_q4_0_vnni(&preps[tt - t0], g, dst);
                        else if (type == BK_Q8_0) gemv8_q8_0_vnni(&preps[tt - t0], g, dst);
                        else if (type == BK_Q4_K) gemv8_q4_K_vnni(xk, bsp, nb, g, dst);
                        else gemv8_q6_K_vnni(xk, (const int64_t *)bsp, nb, g, dst);
                    } else {
                        if (type == BK_Q4_0) gemv8_q4_0_avx2(&preps[tt - t0], g, dst);
                        else if (type == BK_Q8_0) gemv8_q8_0_avx2(&preps[tt - t0], g, dst);
                        else if (type == BK_Q4_K) gemv8_q4_K_scalar(xk, bsp, nb, g, dst);
                        else gemv8_q6_K_scalar(xk, nb, g, dst);
                    }
                    if (!whole) for (int64_t k = 0; k < rows - rr; k++) o[k] = tmp[k];
                }
            r += span - 8;
        }
    }
    free(buf);
    free(q6x);
    free(q6w);
#else
    (void)type; (void)packed; (void)rows; (void)row0; (void)row1; (void)xq; (void)xq_row_bytes; (void)ntok; (void)n; (void)out; (void)out_stride;
#endif
}

void bk_quantize_row(int type, const float *x, void *y, int64_t k) {
    switch (type) {
    case BK_F32: memcpy(y, x, (size_t)k * 4); break;
    case BK_F16: { uint16_t *h = y; for (int64_t i = 0; i < k; i++) h[i] = bk_fp32_to_fp16(x[i]); break; }
    case BK_BF16: { uint16_t *h = y; for (int64_t i = 0; i < k; i++) h[i] = fp32_to_bf16(x[i]); break; }
    case BK_Q8_0:
#ifdef BK_X86
        if (bk_kernel_level() >= 1) { quantize_row_q8_0_avx2(x, y, k); break; }
#endif
        quantize_row_q8_0(x, y, k);
        break;
    case BK_Q8_1: quantize_row_q8_1(x, y, k); break;
    case BK_Q8_K:
#ifdef BK_X86
        if (bk_kernel_level() >= 1) { quantize_row_q8_K_avx2(x, y, k); break; }
#endif
        quantize_row_q8_K(x, y, k);
        break;
    default: break;
    }
}
