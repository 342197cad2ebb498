// Pensieve's Metal kernels. Compiled at run time by the metal package from
// this embedded source (MTLDevice newLibraryWithSource:). Each kernel mirrors
// a CPU kernel of the model module; block layouts follow ggml (see
// specs/gguf-and-quants.md §2.3).
#include <metal_stdlib>
using namespace metal;

// ---- matrix products: out (n, rows) = x (n, k) · wᵀ ----------------------
// Grid: threadgroups (rows, n), 32 threads each (one SIMD group). Each
// thread walks a strided subset of the row's blocks; simd_sum reduces.

struct mm_args {
    uint k;     // row length in elements
    uint rows;  // rows of w
    uint row_bytes;
};

static inline float h2f(device const uchar *p) {
    return float(*(device const half *)p);
}

static inline float dot_f16(device const uchar *row, device const float *x, uint lane, uint k) {
    device const half *w = (device const half *)row;
    float s = 0.0f;
    for (uint i = lane; i < k; i += 32) {
        s += float(w[i]) * x[i];
    }
    return s;
}

// Q8_0: 34 bytes = half d, int8 qs[32].
static inline float dot_q8_0(device const uchar *row, device const float *x, uint lane, uint k) {
    float s = 0.0f;
    for (uint b = lane; b < k / 32; b += 32) {
        device const uchar *blk = row + b * 34;
        device const char *qs = (device const char *)(blk + 2);
        device const float *xb = x + b * 32;
        float acc = 0.0f;
        for (uint i = 0; i < 32; i++) {
            acc += float(qs[i]) * xb[i];
        }
        s += h2f(blk) * acc;
    }
    return s;
}

// Q4_0: 18 bytes = half d, 16 bytes of nibbles; low nibble j → element j,
// high nibble → element j+16; value (q - 8)·d.
static inline float dot_q4_0(device const uchar *row, device const float *x, uint lane, uint k) {
    float s = 0.0f;
    for (uint b = lane; b < k / 32; b += 32) {
        device const uchar *blk = row + b * 18;
        device const uchar *qs = blk + 2;
        device const float *xb = x + b * 32;
        float acc = 0.0f;
        for (uint j = 0; j < 16; j++) {
            acc += float(int(qs[j] & 0x0F) - 8) * xb[j];
            acc += float(int(qs[j] >> 4) - 8) * xb[j + 16];
        }
        s += h2f(blk) * acc;
    }
    return s;
}

static inline void scale_min_k4(uint j, device const uchar *q, thread float &sc, thread float &m) {
    if (j < 4) {
        sc = float(q[j] & 63);
        m = float(q[j + 4] & 63);
    } else {
        sc = float((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        m = float((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q4_K: 144 bytes = half d, half dmin, scales[12], qs[128]; 256 elements in
// 8 sub-blocks of 32 with 6-bit scales and mins.
static inline float dot_q4_k(device const uchar *row, device const float *x, uint lane, uint k) {
    float s = 0.0f;
    for (uint b = lane; b < k / 256; b += 32) {
        device const uchar *blk = row + b * 144;
        float d = h2f(blk);
        float dmin = h2f(blk + 2);
        device const uchar *scales = blk + 4;
        device const uchar *q = blk + 16;
        device const float *xb = x + b * 256;
        uint is = 0;
        for (uint j = 0; j < 256; j += 64) {
            float sc1, m1, sc2, m2;
            scale_min_k4(is, scales, sc1, m1);
            scale_min_k4(is + 1, scales, sc2, m2);
            float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
            for (uint l = 0; l < 32; l++) {
                s += (d1 * float(q[l] & 0x0F) - mm1) * xb[j + l];
                s += (d2 * float(q[l] >> 4) - mm2) * xb[j + 32 + l];
            }
            q += 32;
            is += 2;
        }
    }
    return s;
}

// Q6_K: 210 bytes = ql[128], qh[64], int8 scales[16], half d.
static inline float dot_q6_k(device const uchar *row, device const float *x, uint lane, uint k) {
    float s = 0.0f;
    for (uint b = lane; b < k / 256; b += 32) {
        device const uchar *blk = row + b * 210;
        device const uchar *ql = blk;
        device const uchar *qh = blk + 128;
        device const char *sc = (device const char *)(blk + 192);
        float d = h2f(blk + 208);
        device const float *xb = x + b * 256;
        for (uint n = 0; n < 256; n += 128) {
            for (uint l = 0; l < 32; l++) {
                uint is = l / 16;
                int q1 = int((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s += d * float(sc[is + 0]) * float(q1) * xb[n + l];
                s += d * float(sc[is + 2]) * float(q2) * xb[n + l + 32];
                s += d * float(sc[is + 4]) * float(q3) * xb[n + l + 64];
                s += d * float(sc[is + 6]) * float(q4) * xb[n + l + 96];
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
    return s;
}

#define MATMUL_KERNEL(NAME, DOT)                                                   \
    kernel void NAME(device const uchar *w [[buffer(0)]],                              \
                 device const float *x [[buffer(1)]],                              \
                 device float *out [[buffer(2)]],                                  \
                 constant mm_args &a [[buffer(3)]],                                \
                 uint2 tg [[threadgroup_position_in_grid]],                        \
                 uint lane [[thread_index_in_simdgroup]]) {                        \
    uint r = tg.x, n = tg.y;                                                       \
    if (r >= a.rows) return;                                                       \
    float s = DOT(w + (ulong)r * a.row_bytes, x + (ulong)n * a.k, lane, a.k);      \
    s = simd_sum(s);                                                               \
    if (lane == 0) out[(ulong)n * a.rows + r] = s;                                 \
}

static inline float dot_f32(device const uchar *row, device const float *x, uint lane, uint k) {
    device const float *w = (device const float *)row;
    float s = 0.0f;
    for (uint i = lane; i < k; i += 32) {
        s += w[i] * x[i];
    }
    return s;
}

MATMUL_KERNEL(matmul_f32, dot_f32)
MATMUL_KERNEL(matmul_f16, dot_f16)
MATMUL_KERNEL(matmul_q8_0, dot_q8_0)
MATMUL_KERNEL(matmul_q4_0, dot_q4_0)
MATMUL_KERNEL(matmul_q4_k, dot_q4_k)
MATMUL_KERNEL(matmul_q6_k, dot_q6_k)

// ---- RMSNorm: out[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight ---------
// One SIMD group (32 threads) per row.
struct norm_args {
    uint n;
    float eps;
};

kernel void rms_norm(device const float *x [[buffer(0)]],
                     device const float *weight [[buffer(1)]],
                     device float *out [[buffer(2)]],
                     constant norm_args &a [[buffer(3)]],
                     uint row [[threadgroup_position_in_grid]],
                     uint lane [[thread_index_in_simdgroup]]) {
    device const float *xr = x + (ulong)row * a.n;
    device float *orow = out + (ulong)row * a.n;
    float ss = 0.0f;
    for (uint i = lane; i < a.n; i += 32) {
        ss += xr[i] * xr[i];
    }
    ss = simd_sum(ss);
    float scale = 1.0f / sqrt(ss / float(a.n) + a.eps);
    for (uint i = lane; i < a.n; i += 32) {
        orow[i] = xr[i] * scale * weight[i];
    }
}

// ---- RoPE, in place over x (tokens, heads, head_dim) ---------------------
// Normal mode rotates pairs (2i, 2i+1); NeoX mode rotates (i, i + dim/2).
// theta = pos · base^(-2i/dim). One thread per (pair, head, token).
struct rope_args {
    uint heads;
    uint head_dim;
    float base;
    uint neox;
};

kernel void rope(device float *x [[buffer(0)]],
                 device const int *pos [[buffer(1)]],
                 constant rope_args &a [[buffer(2)]],
                 uint3 gid [[thread_position_in_grid]]) {
    uint i = gid.x, h = gid.y, t = gid.z;
    uint half_dim = a.head_dim / 2;
    if (i >= half_dim || h >= a.heads) return;
    float theta = float(pos[t]) * pow(a.base, -2.0f * float(i) / float(a.head_dim));
    float c = cos(theta), s = sin(theta);
    device float *v = x + ((ulong)t * a.heads + h) * a.head_dim;
    uint i0 = a.neox ? i : 2 * i;
    uint i1 = a.neox ? i + half_dim : 2 * i + 1;
    float x0 = v[i0], x1 = v[i1];
    v[i0] = x0 * c - x1 * s;
    v[i1] = x0 * s + x1 * c;
}

// ---- softmax over rows of n, in place; one SIMD group per row -------------
kernel void softmax(device float *x [[buffer(0)]],
                    constant uint &n [[buffer(1)]],
                    uint row [[threadgroup_position_in_grid]],
                    uint lane [[thread_index_in_simdgroup]]) {
    device float *r = x + (ulong)row * n;
    float mx = -INFINITY;
    for (uint i = lane; i < n; i += 32) mx = max(mx, r[i]);
    mx = simd_max(mx);
    float sum = 0.0f;
    for (uint i = lane; i < n; i += 32) {
        float e = exp(r[i] - mx);
        r[i] = e;
        sum += e;
    }
    sum = simd_sum(sum);
    for (uint i = lane; i < n; i += 32) r[i] /= sum;
}

// ---- causal attention over a KV cache ------------------------------------
// q: (tokens, heads, head_dim); k, v: (kv_len, kv_heads, head_dim);
// out: (tokens, heads, head_dim). Token t sits at position pos0 + t and
// attends to cache positions [0, pos0 + t]. One SIMD group per (head, token);
// GQA maps head h to kv head h / (heads / kv_heads). Scores are kept in
// threadgroup memory (kv_len ≤ 8192).
struct attn_args {
    uint heads;
    uint kv_heads;
    uint head_dim;
    uint kv_len;
    uint pos0;
    float scale;
};

kernel void attention(device const float *q [[buffer(0)]],
                      device const float *k [[buffer(1)]],
                      device const float *v [[buffer(2)]],
                      device float *out [[buffer(3)]],
                      constant attn_args &a [[buffer(4)]],
                      uint2 tg [[threadgroup_position_in_grid]],
                      uint lane [[thread_index_in_simdgroup]]) {
    threadgroup float scores[8192];
    uint h = tg.x, t = tg.y;
    uint kvh = h / (a.heads / a.kv_heads);
    uint last = min(a.pos0 + t, a.kv_len - 1);
    device const float *qv = q + ((ulong)t * a.heads + h) * a.head_dim;
    float mx = -INFINITY;
    for (uint p = lane; p <= last; p += 32) {
        device const float *kv = k + ((ulong)p * a.kv_heads + kvh) * a.head_dim;
        float s = 0.0f;
        for (uint d = 0; d < a.head_dim; d++) s += qv[d] * kv[d];
        s *= a.scale;
        scores[p] = s;
        mx = max(mx, s);
    }
    mx = simd_max(mx);
    float sum = 0.0f;
    for (uint p = lane; p <= last; p += 32) {
        float e = exp(scores[p] - mx);
        scores[p] = e;
        sum += e;
    }
    sum = simd_sum(sum);
    simdgroup_barrier(mem_flags::mem_threadgroup);
    device float *o = out + ((ulong)t * a.heads + h) * a.head_dim;
    for (uint d = lane; d < a.head_dim; d += 32) {
        float acc = 0.0f;
        for (uint p = 0; p <= last; p++) {
            acc += scores[p] * v[((ulong)p * a.kv_heads + kvh) * a.head_dim + d];
        }
        o[d] = acc / sum;
    }
}

// ---- element-wise ----------------------------------------------------------
kernel void silu(device const float *x [[buffer(0)]], device float *out [[buffer(1)]],
                 uint i [[thread_position_in_grid]]) {
    float v = x[i];
    out[i] = v / (1.0f + exp(-v));
}

// GELU, tanh approximation as ggml computes it.
kernel void gelu(device const float *x [[buffer(0)]], device float *out [[buffer(1)]],
                 uint i [[thread_position_in_grid]]) {
    float v = x[i];
    out[i] = 0.5f * v * (1.0f + precise::tanh(0.7978845608028654f * v * (1.0f + 0.044715f * v * v)));
}

kernel void add(device const float *a [[buffer(0)]], device const float *b [[buffer(1)]],
                device float *out [[buffer(2)]], uint i [[thread_position_in_grid]]) {
    out[i] = a[i] + b[i];
}

kernel void mul(device const float *a [[buffer(0)]], device const float *b [[buffer(1)]],
                device float *out [[buffer(2)]], uint i [[thread_position_in_grid]]) {
    out[i] = a[i] * b[i];
}
