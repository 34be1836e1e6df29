// Quantized dot-product kernels for GGUF tensor types, in ggml's block layouts.
// The activation row is quantized once (Q8_0, Q8_1 or Q8_K, as llama.cpp does) and each weight
// row is dotted against it block by block with integer arithmetic. x86 variants (AVX2, AVX-512
// VNNI) are chosen at run time; a portable scalar path is always there.
#ifndef BERTH_GGML_KERNELS_H
#define BERTH_GGML_KERNELS_H
#include <stddef.h>
#include <stdint.h>

// ggml type ids (ggml.h).
enum {
    BK_F32 = 0, BK_F16 = 1, BK_Q4_0 = 2, BK_Q4_1 = 3, BK_Q8_0 = 8, BK_Q8_1 = 9,
    BK_Q4_K = 12, BK_Q5_K = 13, BK_Q6_K = 14, BK_Q8_K = 15, BK_BF16 = 30
};

/// Elements per block of `type` (0 for an unsupported type).
int64_t bk_block_size(int type);
/// Bytes per block of `type` (0 for an unsupported type).
int64_t bk_type_size(int type);
/// The type the activation row is converted to before dotting with a weight row of `type`.
int bk_vec_dot_type(int type);
/// Converts `k` floats to `type` (F32, F16, BF16, Q8_0, Q8_1, Q8_K); k is a multiple of the block size.
void bk_quantize_row(int type, const float *x, void *y, int64_t k);
/// Expands `k` elements of `type` to floats.
void bk_dequantize_row(int type, const void *x, float *y, int64_t k);
/// out[t * out_stride + r - row0] = dot(weight row r, activation row t) for r in [row0, row1), t < ntok.
/// `xq` holds ntok rows of `n` elements in bk_vec_dot_type(type), each `xq_row_bytes` long.
void bk_matmul(int type, const void *w, size_t w_row_bytes, int64_t row0, int64_t row1,
               const void *xq, size_t xq_row_bytes, int64_t ntok, int64_t n,
               float *out, int64_t out_stride);
/// Bytes of `rows` × `cols` weights of `type` in the packed eight-row layout, or 0 when the packed
/// kernels do not apply (type other than Q4_0 / Q8_0 / Q4_K / Q6_K, no AVX2 — no AVX-512 VNNI for Q4_K and
/// Q6_K —, cols not whole blocks).
size_t bk_packed_bytes(int type, int64_t rows, int64_t cols);
/// Writes the packed eight-row layout of `rows` weight rows (file layout, `w_row_bytes` apart) to
/// `dst` (bk_packed_bytes long); a last partial group is padded with zero rows.
void bk_pack(int type, const void *w, size_t w_row_bytes, int64_t rows, int64_t cols, void *dst);
/// bk_matmul over packed weights: out[t * out_stride + r - row0] for r in [row0, row1) (row0 a
/// multiple of 8, row1 a multiple of 8 or `rows`), t < ntok; xq as for bk_matmul (Q8_0 or Q8_K rows).
void bk_matmul_packed(int type, const void *packed, int64_t rows, int64_t row0, int64_t row1,
                      const void *xq, size_t xq_row_bytes, int64_t ntok, int64_t n, float *out, int64_t out_stride);
/// Σ a[i]·b[i] over n floats (attention scores).
float bk_dot_f32(int64_t n, const float *a, const float *b);
/// y[i] += alpha · x[i] over n floats (attention's weighted sum of values).
void bk_axpy_f32(int64_t n, float alpha, const float *x, float *y);
/// Attention scores of g query heads against one cache block of a KV head, whose keys are stored
/// transposed (dimension i of token t at kt[i·bs + t], bs tokens a block, n ≤ bs of them valid):
/// s[j·s_stride + t] = scale · Σ q[j·q_stride + i]·kt[i·bs + t] over hd floats. The block's tokens
/// are vector lanes (no horizontal sum per score), and the keys are read once for all g heads that
/// share them (grouped-query attention).
void bk_attn_scores_t(int64_t hd, int64_t g, const float *q, int64_t q_stride, const float *kt, int64_t bs,
                      int64_t n, float scale, float *s, int64_t s_stride);
/// g[i] = silu(g[i]) · u[i] over n floats (SwiGLU; exp vectorised).
void bk_silu_mul_f32(float *g, const float *u, int64_t n);
/// Softmax of n floats in place (max subtracted; exp vectorised, within 2 ulp of expf).
void bk_softmax_f32(float *x, int64_t n);
/// The weighted sum of n value rows for g heads: out[j·out_stride + i] += Σ w[j·w_stride + t]·v[t·v_stride + i].
void bk_attn_values(int64_t hd, int64_t g, const float *w, int64_t w_stride, const float *v, int64_t v_stride,
                    int64_t n, float *out, int64_t out_stride);
/// Which kernel family the run-time dispatch picked: 0 scalar, 1 AVX2, 2 AVX-512 VNNI.
int bk_kernel_level(void);
/// Caps the level bk_kernel_level reports (1: use the AVX2 kernels on an AVX-512 machine), for tests
/// and benchmarks; set it before loading a model, since packing is decided at load.
void bk_set_max_level(int level);
/// Forces the scalar kernels (tests compare them with the vector ones).
void bk_force_scalar(int on);
/// IEEE half ↔ float, round to nearest even (ggml's conversion).
uint16_t bk_fp32_to_fp16(float f);
float bk_fp16_to_fp32(uint16_t h);

#endif
