/* One epoch of mini-batch training of one run of a dense feed-forward network
 * (hidden layers with one activation, a softmax read-out, categorical
 * cross-entropy, Adam or SGD as Keras has them, optional MaxNorm), the compiled
 * twin of the XLA epoch of ibsim.networks.ensemble.Program.
 *
 * Layout. The caller's tensors are the ensemble's: kernels (in, out, R),
 * biases (out, R), Adam slots of the same shapes, the run axis last (stride R).
 * A run's epoch copies its parameters and slots into a private, 64-byte aligned
 * workspace, trains every step there, and writes them back: nothing it computes
 * depends on R, on the other runs or on the thread that runs it, so run r of a
 * group is bit for bit run r trained alone, with any number of threads.
 *
 * Vectorised over the batch: a step takes its samples in blocks of DT_LANES
 * (zero inputs and zero targets in the padding lanes of the last block; their
 * gradient is then exactly 0), each block through every layer forward and back
 * while its activations are in L1, vectors of DT_LANES samples. Sums over the
 * features of a layer run in feature order in each lane; sums over the batch
 * (the kernels' and biases' gradients) accumulate in DT_LANES partial sums
 * (lane k: samples k, k + L, ...) combined in a fixed tree, so the result does
 * not depend on the vector width the compiler picked or on where the buffers
 * lie. (The AVX-512/AVX2 clones contract a * b + c into FMAs and the baseline
 * clone does not, so the last bits may differ between machines of different
 * instruction sets, as XLA's do.)
 *
 * tanh is XLA's CPU approximation (the rational function of Eigen's fast tanh),
 * exp and log are Cephes' float polynomials, written branch-free so that the
 * loops vectorise. */
#ifndef IBSIM_DENSE_TRAIN_CORE_H
#define IBSIM_DENSE_TRAIN_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Denormal floats flushed to zero (FTZ) and read as zero (DAZ) while a run trains or records, as
 * TensorFlow's threads have them for the XLA epoch: without, the late epochs of a ReLU net (tiny
 * gradients and Adam moments below FLT_MIN, each operation on them a slow microcode assist) ran 2.8x
 * slower (25 ReLU runs x 8000 epochs of the Saxe sweep: 105.6 s, 37.8 s flushed). dt_fp_flush returns
 * the caller's control word, which dt_fp_restore puts back. x86 only; elsewhere nothing changes. */
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define DT_FTZ_DAZ 0x8040u
static inline unsigned dt_fp_flush(void) {
    const unsigned old = _mm_getcsr();
    _mm_setcsr(old | DT_FTZ_DAZ);
    return old;
}
static inline void dt_fp_restore(unsigned old) { _mm_setcsr(old); }
#else
static inline unsigned dt_fp_flush(void) { return 0; }
static inline void dt_fp_restore(unsigned old) { (void)old; }
#endif

#define DT_LANES 16
#define DT_ALIGN 64
#define DT_INLINE static inline __attribute__((always_inline))

/* Keras' constants (ibsim.networks.ensemble owns them for the XLA program). */
#define DT_ADAM_BETA_1 0.9
#define DT_ADAM_BETA_2 0.999
#define DT_ADAM_EPSILON 1e-7f
#define DT_MAX_NORM_EPSILON 1e-7f
#define DT_PROBABILITY_EPSILON 1e-7f
#define DT_LEAKY_SLOPE 0.2f

/* The activations of the hidden layers (ibsim/networks/activations.py). */
enum dt_activation {
    DT_LINEAR = 0,
    DT_TANH = 1,
    DT_SIGMOID = 2,
    DT_RELU = 3,
    DT_RELU6 = 4,
    DT_LEAKY_RELU = 5,
    DT_SOFTSIGN = 6,
    DT_HARD_SIGMOID = 7
};

typedef struct {
    int64_t n_layers;      /* weighted layers L (hidden layers + read-out) */
    const int64_t *widths; /* L + 1: inputs, hidden widths, classes */
    int activation;        /* enum dt_activation */
    int adam;              /* 1: Adam, 0: SGD */
    float learning_rate;
    float max_norm;        /* MaxNorm bound of each neuron's incoming weights; 0: off */
    int64_t batch;         /* mini-batch size */
    int64_t n_runs;        /* R, the stride of the run axis */
} dt_net;

/* ----------------------------------------------------------- float maths */

/* exp(x), x clamped to [-87, 88] (Cephes expf: Cody-Waite reduction, degree-5
 * polynomial, 2^k from the bits of the rounding sum; ~1 ulp). */
DT_INLINE float dt_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    const float shifted = x * 1.44269504088896341f + magic;
    const float k = shifted - magic;
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000 + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log(x) for a positive normal float (Cephes logf, ~1 ulp). */
DT_INLINE float dt_logf(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    float e = (float)((bits >> 23) - 127);
    bits = (bits & 0x007FFFFF) | 0x3F800000;
    float m;
    memcpy(&m, &bits, sizeof m); /* [1, 2) */
    const int big = m > 1.41421356237309505f;
    m = big ? m * 0.5f : m;
    e = big ? e + 1.0f : e;
    const float f = m - 1.0f; /* [sqrt(1/2) - 1, sqrt(2) - 1] */
    const float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += e * -2.12194440e-4f;
    y -= 0.5f * z;
    return f + y + e * 0.693359375f;
}

/* tanh(x): XLA's CPU approximation (Eigen's rational fast tanh, odd degree 13
 * over even degree 6; x for |x| < 0.0004), kept inside [-1, 1]. */
DT_INLINE float dt_tanhf(float x) {
    const float clamp = 7.90531110763549805f;
    float c = x > clamp ? clamp : x;
    c = c < -clamp ? -clamp : c;
    const float x2 = c * c;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * c;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float t = p / q;
    t = t > 1.0f ? 1.0f : t;
    t = t < -1.0f ? -1.0f : t;
    const float ax = x < 0.0f ? -x : x;
    return ax < 0.0004f ? x : t;
}

/* --------------------------------------------------------- layer pieces */

/* h = act(z) over m lanes. */
DT_INLINE void dt_activate(int act, const float *restrict z, float *restrict h, int64_t m) {
    switch (act) {
    case DT_TANH:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) h[b] = dt_tanhf(z[b]);
        break;
    case DT_SIGMOID:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) h[b] = 1.0f / (1.0f + dt_expf(-z[b]));
        break;
    case DT_RELU:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) h[b] = z[b] > 0.0f ? z[b] : 0.0f;
        break;
    case DT_RELU6:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) {
            const float v = z[b] > 0.0f ? z[b] : 0.0f;
            h[b] = v < 6.0f ? v : 6.0f;
        }
        break;
    case DT_LEAKY_RELU:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) h[b] = z[b] > 0.0f ? z[b] : DT_LEAKY_SLOPE * z[b];
        break;
    case DT_SOFTSIGN:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) h[b] = z[b] / (1.0f + (z[b] < 0.0f ? -z[b] : z[b]));
        break;
    case DT_HARD_SIGMOID:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) {
            const float t = 0.2f * z[b] + 0.5f;
            const float v = t > 0.0f ? t : 0.0f;
            h[b] = v < 1.0f ? v : 1.0f;
        }
        break;
    default:
        memcpy(h, z, (size_t)m * sizeof(float));
    }
}

/* d (the gradient with respect to h = act(z)) becomes the gradient with
 * respect to z: TensorFlow's gradients (TanhGrad dy (1 - y^2), SigmoidGrad
 * dy y (1 - y), ReluGrad z > 0, Relu6Grad 0 < z < 6, LeakyReluGrad, SoftsignGrad
 * dy / (1 + |z|)^2, clip_by_value's inclusive mask times 0.2). */
DT_INLINE void dt_derivative(int act, const float *restrict z, const float *restrict h, float *restrict d, int64_t m) {
    switch (act) {
    case DT_TANH:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) d[b] = d[b] * (1.0f - h[b] * h[b]);
        break;
    case DT_SIGMOID:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) d[b] = d[b] * h[b] * (1.0f - h[b]);
        break;
    case DT_RELU:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) d[b] = z[b] > 0.0f ? d[b] : 0.0f;
        break;
    case DT_RELU6:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) d[b] = (z[b] > 0.0f && z[b] < 6.0f) ? d[b] : 0.0f;
        break;
    case DT_LEAKY_RELU:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) d[b] = z[b] > 0.0f ? d[b] : DT_LEAKY_SLOPE * d[b];
        break;
    case DT_SOFTSIGN:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) {
            const float s = 1.0f + (z[b] < 0.0f ? -z[b] : z[b]);
            d[b] = d[b] / (s * s);
        }
        break;
    case DT_HARD_SIGMOID:
#pragma omp simd
        for (int64_t b = 0; b < m; b++) {
            const float t = 0.2f * z[b] + 0.5f;
            d[b] = (t >= 0.0f && t <= 1.0f) ? d[b] * 0.2f : 0.0f;
        }
        break;
    default:
        break;
    }
}

/* One block of DT_LANES samples through a dense layer: z (out, L) = h (in, L)
 * . W (in, out) + bias, per lane the sum over the inputs in order, then the
 * bias (XLA's reduce, then the add). */
DT_INLINE void dt_dense_block(const float *restrict h, int64_t in, const float *restrict w,
                              const float *restrict bias, int64_t out, float *restrict z) {
    for (int64_t o = 0; o < out; o++) {
        float acc[DT_LANES];
        const float w0 = w[o];
#pragma omp simd
        for (int k = 0; k < DT_LANES; k++) acc[k] = w0 * h[k];
        for (int64_t i = 1; i < in; i++) {
            const float wi = w[i * out + o];
#pragma omp simd
            for (int k = 0; k < DT_LANES; k++) acc[k] += wi * h[i * DT_LANES + k];
        }
        const float bo = bias[o];
#pragma omp simd
        for (int k = 0; k < DT_LANES; k++) z[o * DT_LANES + k] = acc[k] + bo;
    }
}

/* One block's contribution to a layer's gradients: acc (in * out + out,
 * L) += the products h_i dz_o, then dz_o (the bias), lane by lane. */
DT_INLINE void dt_gradient_block(const float *restrict h, int64_t in, const float *restrict dz, int64_t out,
                                 float *restrict acc) {
    for (int64_t i = 0; i < in; i++) {
        float hi[DT_LANES];
#pragma omp simd
        for (int k = 0; k < DT_LANES; k++) hi[k] = h[i * DT_LANES + k];
        for (int64_t o = 0; o < out; o++) {
            float *restrict a = acc + (i * out + o) * DT_LANES;
#pragma omp simd
            for (int k = 0; k < DT_LANES; k++) a[k] += hi[k] * dz[o * DT_LANES + k];
        }
    }
    float *restrict a = acc + in * out * DT_LANES;
    for (int64_t o = 0; o < out; o++) {
#pragma omp simd
        for (int k = 0; k < DT_LANES; k++) a[o * DT_LANES + k] += dz[o * DT_LANES + k];
    }
}

/* dh (in, L) = W (in, out) . dz (out, L) for one block: per lane, the sum over the outputs in order. */
DT_INLINE void dt_input_gradient_block(const float *restrict w, int64_t in, int64_t out, const float *restrict dz,
                                       float *restrict dh) {
    for (int64_t i = 0; i < in; i++) {
        float acc[DT_LANES];
        const float w0 = w[i * out];
#pragma omp simd
        for (int k = 0; k < DT_LANES; k++) acc[k] = w0 * dz[k];
        for (int64_t o = 1; o < out; o++) {
            const float wo = w[i * out + o];
#pragma omp simd
            for (int k = 0; k < DT_LANES; k++) acc[k] += wo * dz[o * DT_LANES + k];
        }
#pragma omp simd
        for (int k = 0; k < DT_LANES; k++) dh[i * DT_LANES + k] = acc[k];
    }
}

/* The sum of DT_LANES partial sums, in a fixed tree. */
DT_INLINE float dt_lane_sum(const float *a) {
    float s[DT_LANES];
    for (int k = 0; k < DT_LANES; k++) s[k] = a[k];
    for (int half = DT_LANES / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) s[k] = s[k] + s[k + half];
    return s[0];
}

/* Softmax over the classes of logits z (C, m) with targets y (C, m): per lane
 * the exponentials e = exp(z - max) (C, m), the cross-entropy -sum_c y_c
 * log_softmax_c (loss), and, when dz is not NULL, the gradient of sum(loss) *
 * inv_batch with respect to z as TensorFlow's LogSoftmaxGrad has it:
 * g - sum_c(g) softmax, g = -y inv_batch. */
DT_INLINE void dt_softmax(const float *restrict z, const float *restrict y, int64_t classes, int64_t m,
                          float inv_batch, float *restrict e, float *restrict loss, float *restrict dz) {
#pragma omp simd
    for (int64_t b = 0; b < m; b++) {
        float mx = z[b];
        for (int64_t c = 1; c < classes; c++) mx = z[c * m + b] > mx ? z[c * m + b] : mx;
        float s = 0.0f;
        for (int64_t c = 0; c < classes; c++) {
            const float v = dt_expf(z[c * m + b] - mx);
            e[c * m + b] = v;
            s += v;
        }
        const float ls = dt_logf(s);
        float l = 0.0f, gsum = 0.0f;
        for (int64_t c = 0; c < classes; c++) {
            l -= y[c * m + b] * ((z[c * m + b] - mx) - ls);
            gsum += -y[c * m + b] * inv_batch;
        }
        loss[b] = l;
        if (dz) {
            const float inv_s = 1.0f / s;
            for (int64_t c = 0; c < classes; c++)
                dz[c * m + b] = -y[c * m + b] * inv_batch - gsum * (e[c * m + b] * inv_s);
        }
    }
}

/* The index of the largest of column b of a (C, m) (the first of ties, as argmax). */
DT_INLINE int32_t dt_argmax(const float *a, int64_t classes, int64_t m, int64_t b) {
    int32_t best = 0;
    for (int64_t c = 1; c < classes; c++)
        if (a[c * m + b] > a[best * m + b]) best = (int32_t)c;
    return best;
}

/* One optimizer step of a tensor of n values (Keras' Adam or SGD). */
DT_INLINE void dt_update(float *restrict p, const float *restrict g, float *restrict mo, float *restrict ve, int64_t n,
                         int adam, float learning_rate, float alpha) {
    if (adam) {
        const float c1 = (float)(1.0 - DT_ADAM_BETA_1), c2 = (float)(1.0 - DT_ADAM_BETA_2);
        for (int64_t j = 0; j < n; j++) {
            const float m = mo[j] + (g[j] - mo[j]) * c1;
            const float v = ve[j] + (g[j] * g[j] - ve[j]) * c2;
            mo[j] = m;
            ve[j] = v;
            p[j] = p[j] - m * alpha / (sqrtf(v) + DT_ADAM_EPSILON);
        }
    } else {
        for (int64_t j = 0; j < n; j++) p[j] = p[j] - learning_rate * g[j];
    }
}

/* Keras' MaxNorm on a kernel (in, out): each neuron's incoming weights scaled
 * by clip(norm, 0, bound) / (eps + norm). */
DT_INLINE void dt_max_norm(float *restrict w, int64_t in, int64_t out, float bound) {
    for (int64_t o = 0; o < out; o++) {
        float sq = 0.0f;
        for (int64_t i = 0; i < in; i++) sq += w[i * out + o] * w[i * out + o];
        const float norm = sqrtf(sq);
        const float desired = norm < bound ? norm : bound;
        const float factor = desired / (DT_MAX_NORM_EPSILON + norm);
        for (int64_t i = 0; i < in; i++) w[i * out + o] = w[i * out + o] * factor;
    }
}

/* ------------------------------------------------------------- the epoch */

/* Adam's step sizes for the steps steps + 1 ... steps + n_steps, in float32 as
 * the XLA program computes them: lr sqrt(1 - b2^t) / (1 - b1^t). */
static void dt_adam_alphas(float learning_rate, int64_t steps, int64_t n_steps, float *out) {
    for (int64_t s = 0; s < n_steps; s++) {
        const float t = (float)(steps + s + 1);
        out[s] = learning_rate * sqrtf(1.0f - powf((float)DT_ADAM_BETA_2, t)) / (1.0f - powf((float)DT_ADAM_BETA_1, t));
    }
}

static inline int64_t dt_round_up(int64_t n) { return (n + DT_LANES - 1) / DT_LANES * DT_LANES; }

/* The workspace of one run: its parameters, slots and gradients contiguous,
 * the activations of a batch in blocks of DT_LANES samples: h[l] is layer l's
 * input as (blocks, w[l], L) (h[0] the batch's inputs), z[l] its
 * pre-activations as (blocks, w[l + 1], L) (z[L - 1] the logits). Every region
 * starts on a DT_ALIGN boundary. */
typedef struct {
    float *base;
    float *w[64], *b[64], *mw[64], *vw[64], *mb[64], *vb[64], *dw[64], *db[64];
    float *h[64], *z[64], *acc[64];
    float *y, *e, *loss, *dz, *dh;
} dt_work;

static int dt_work_alloc(const dt_net *net, int64_t bp, dt_work *k) {
    const int64_t L = net->n_layers;
    const int64_t *wd = net->widths;
    int64_t maxw = 0;
    for (int64_t l = 0; l <= L; l++) maxw = wd[l] > maxw ? wd[l] : maxw;
    for (int pass = 0; pass < 2; pass++) { /* count, then carve */
        int64_t at = 0;
#define DT_TAKE(ptr, count)                                                   \
    do {                                                                      \
        if (pass) (ptr) = k->base + at;                                       \
        at += dt_round_up(count);                                             \
    } while (0)
        for (int64_t l = 0; l < L; l++) {
            const int64_t nk = wd[l] * wd[l + 1], nb = wd[l + 1];
            DT_TAKE(k->w[l], nk); DT_TAKE(k->b[l], nb);
            DT_TAKE(k->mw[l], nk); DT_TAKE(k->vw[l], nk); DT_TAKE(k->mb[l], nb); DT_TAKE(k->vb[l], nb);
            DT_TAKE(k->dw[l], nk); DT_TAKE(k->db[l], nb);
            DT_TAKE(k->h[l], wd[l] * bp); DT_TAKE(k->z[l], wd[l + 1] * bp);
            DT_TAKE(k->acc[l], (nk + nb) * DT_LANES);
        }
        DT_TAKE(k->y, wd[L] * bp); DT_TAKE(k->e, wd[L] * DT_LANES); DT_TAKE(k->loss, DT_LANES);
        DT_TAKE(k->dz, maxw * DT_LANES); DT_TAKE(k->dh, maxw * DT_LANES);
#undef DT_TAKE
        if (!pass) {
            k->base = (float *)aligned_alloc(DT_ALIGN, (size_t)at * sizeof(float));
            if (!k->base) return IB_NO_MEMORY;
            memset(k->base, 0, (size_t)at * sizeof(float));
        }
    }
    return IB_OK;
}

/* Inputs and targets of bp samples into the workspace's blocks: sample b is
 * row rows[(first + b) * row_stride] of x and y (row first + b without rows),
 * zeros for b >= count; the targets are left alone when y is NULL. */
DT_INLINE void dt_gather(const dt_net *net, dt_work *k, const float *restrict x, const float *restrict y,
                         const int32_t *rows, int64_t row_stride, int64_t first, int64_t count, int64_t bp) {
    const int64_t features = net->widths[0], classes = net->widths[net->n_layers];
    for (int64_t blk = 0; blk < bp / DT_LANES; blk++) {
        int64_t row[DT_LANES];
        for (int j = 0; j < DT_LANES; j++) {
            const int64_t b = blk * DT_LANES + j;
            row[j] = b < count ? (rows ? (int64_t)rows[(first + b) * row_stride] : first + b) : -1;
        }
        float *restrict h = k->h[0] + blk * features * DT_LANES;
        float *restrict t = k->y + blk * classes * DT_LANES;
        for (int64_t i = 0; i < features; i++)
            for (int j = 0; j < DT_LANES; j++) h[i * DT_LANES + j] = row[j] >= 0 ? x[row[j] * features + i] : 0.0f;
        if (!y) continue; /* recording: no targets */
        for (int64_t c = 0; c < classes; c++)
            for (int j = 0; j < DT_LANES; j++) t[c * DT_LANES + j] = row[j] >= 0 ? y[row[j] * classes + c] : 0.0f;
    }
}

/* The forward pass of block blk through every layer. */
DT_INLINE void dt_forward_block(const dt_net *net, dt_work *k, int64_t blk) {
    const int64_t L = net->n_layers;
    const int64_t *wd = net->widths;
    for (int64_t l = 0; l < L; l++) {
        float *z = k->z[l] + blk * wd[l + 1] * DT_LANES;
        dt_dense_block(k->h[l] + blk * wd[l] * DT_LANES, wd[l], k->w[l], k->b[l], wd[l + 1], z);
        if (l < L - 1) dt_activate(net->activation, z, k->h[l + 1] + blk * wd[l + 1] * DT_LANES, wd[l + 1] * DT_LANES);
    }
}

/* Train run r for one epoch (see the top of the file); out[4]: the epoch's
 * summed training loss and hits divided by n, then the held-out loss and
 * accuracy after the epoch (0 for nm == 0). Returns an ib_status. */
IB_CLONES static int dt_train_run(const dt_net *net, int64_t r, float *const *params, float *const *slots,
                                  double *const *stats, const float *x, const float *y, const int32_t *labels,
                                  int64_t n, const int32_t *perm, const float *alphas, const float *xm,
                                  const float *ym, const int32_t *labels_m, int64_t nm, double *out) {
    const int64_t L = net->n_layers, R = net->n_runs, C = net->widths[L];
    const int64_t *wd = net->widths;
    const int64_t bp = dt_round_up(net->batch);
    dt_work k;
    const int status = dt_work_alloc(net, bp, &k);
    if (status != IB_OK) return status;

    for (int64_t l = 0; l < L; l++) { /* the run's parameters and slots, contiguous */
        const int64_t nk = wd[l] * wd[l + 1], nb = wd[l + 1];
        for (int64_t j = 0; j < nk; j++) k.w[l][j] = params[l][j * R + r];
        for (int64_t j = 0; j < nb; j++) k.b[l][j] = params[L + l][j * R + r];
        if (net->adam) {
            for (int64_t j = 0; j < nk; j++) {
                k.mw[l][j] = slots[2 * l][j * R + r];
                k.vw[l][j] = slots[2 * l + 1][j * R + r];
            }
            for (int64_t j = 0; j < nb; j++) {
                k.mb[l][j] = slots[2 * (L + l)][j * R + r];
                k.vb[l][j] = slots[2 * (L + l) + 1][j * R + r];
            }
        }
    }

    double loss_sum = 0.0, hits = 0.0;
    const int64_t n_steps = (n + net->batch - 1) / net->batch;
    for (int64_t s = 0; s < n_steps; s++) {
        const int64_t first = s * net->batch;
        const int64_t count = n - first < net->batch ? n - first : net->batch;
        const int64_t blocks = dt_round_up(count) / DT_LANES;
        const float inv_batch = 1.0f / (float)count;
        dt_gather(net, &k, x, y, perm + r, R, first, count, bp);
        for (int64_t l = 0; l < L; l++)
            memset(k.acc[l], 0, (size_t)(wd[l] + 1) * (size_t)wd[l + 1] * DT_LANES * sizeof(float));
        for (int64_t blk = 0; blk < blocks; blk++) {
            dt_forward_block(net, &k, blk);
            /* read-out: loss, hits and the logits' gradient (zero in the padding: y = 0 there) */
            const float *logits = k.z[L - 1] + blk * C * DT_LANES;
            dt_softmax(logits, k.y + blk * C * DT_LANES, C, DT_LANES, inv_batch, k.e, k.loss, k.dz);
            for (int64_t j = 0; j < DT_LANES && blk * DT_LANES + j < count; j++) {
                loss_sum += k.loss[j];
                hits += dt_argmax(logits, C, DT_LANES, j) == labels[perm[(first + blk * DT_LANES + j) * R + r]];
            }
            /* backward through the block: each layer's gradient sums, then its inputs' gradient */
            float *dz = k.dz, *dh = k.dh;
            for (int64_t l = L - 1; l >= 0; l--) {
                dt_gradient_block(k.h[l] + blk * wd[l] * DT_LANES, wd[l], dz, wd[l + 1], k.acc[l]);
                if (l > 0) {
                    dt_input_gradient_block(k.w[l], wd[l], wd[l + 1], dz, dh);
                    dt_derivative(net->activation, k.z[l - 1] + blk * wd[l] * DT_LANES,
                                  k.h[l] + blk * wd[l] * DT_LANES, dh, wd[l] * DT_LANES);
                    float *swap = dz;
                    dz = dh;
                    dh = swap;
                }
            }
        }
        for (int64_t l = 0; l < L; l++) {
            const int64_t nk = wd[l] * wd[l + 1];
            for (int64_t j = 0; j < nk; j++) k.dw[l][j] = dt_lane_sum(k.acc[l] + j * DT_LANES);
            for (int64_t o = 0; o < wd[l + 1]; o++) k.db[l][o] = dt_lane_sum(k.acc[l] + (nk + o) * DT_LANES);
        }
        if (stats) {
            for (int64_t l = 0; l < L; l++) {
                const int64_t nk = wd[l] * wd[l + 1];
                double *sum = stats[2 * l], *sq = stats[2 * l + 1];
                for (int64_t j = 0; j < nk; j++) {
                    const double g = (double)k.dw[l][j];
                    sum[j * R + r] += g;
                    sq[j * R + r] += g * g;
                }
            }
        }
        /* the optimizer step: kernels, then biases, then MaxNorm on the kernels */
        for (int64_t l = 0; l < L; l++) {
            dt_update(k.w[l], k.dw[l], k.mw[l], k.vw[l], wd[l] * wd[l + 1], net->adam, net->learning_rate, alphas[s]);
            dt_update(k.b[l], k.db[l], k.mb[l], k.vb[l], wd[l + 1], net->adam, net->learning_rate, alphas[s]);
            if (net->max_norm > 0.0f) dt_max_norm(k.w[l], wd[l], wd[l + 1], net->max_norm);
        }
    }
    out[0] = loss_sum / (double)n;
    out[1] = hits / (double)n;

    /* held-out loss and accuracy after the epoch, in chunks of bp samples */
    double held_loss = 0.0, held_hits = 0.0;
    for (int64_t first = 0; first < nm; first += bp) {
        const int64_t count = nm - first < bp ? nm - first : bp;
        dt_gather(net, &k, xm, ym, NULL, 0, first, count, bp);
        for (int64_t blk = 0; blk < dt_round_up(count) / DT_LANES; blk++) {
            dt_forward_block(net, &k, blk);
            const float *logits = k.z[L - 1] + blk * C * DT_LANES;
            const float *t = k.y + blk * C * DT_LANES;
            dt_softmax(logits, t, C, DT_LANES, 0.0f, k.e, k.loss, NULL);
            for (int64_t j = 0; j < DT_LANES && blk * DT_LANES + j < count; j++) {
                float sum = 0.0f, picked = 0.0f;
                for (int64_t c = 0; c < C; c++) sum += k.e[c * DT_LANES + j];
                for (int64_t c = 0; c < C; c++) picked += (k.e[c * DT_LANES + j] / sum) * t[c * DT_LANES + j];
                picked = picked < DT_PROBABILITY_EPSILON ? DT_PROBABILITY_EPSILON : (picked > 1.0f ? 1.0f : picked);
                held_loss -= (double)dt_logf(picked);
                held_hits += dt_argmax(logits, C, DT_LANES, j) == labels_m[first + blk * DT_LANES + j];
            }
        }
    }
    out[2] = nm ? held_loss / (double)nm : 0.0;
    out[3] = nm ? held_hits / (double)nm : 0.0;

    for (int64_t l = 0; l < L; l++) { /* back into the ensemble's tensors */
        const int64_t nk = wd[l] * wd[l + 1], nb = wd[l + 1];
        for (int64_t j = 0; j < nk; j++) params[l][j * R + r] = k.w[l][j];
        for (int64_t j = 0; j < nb; j++) params[L + l][j * R + r] = k.b[l][j];
        if (net->adam) {
            for (int64_t j = 0; j < nk; j++) {
                slots[2 * l][j * R + r] = k.mw[l][j];
                slots[2 * l + 1][j * R + r] = k.vw[l][j];
            }
            for (int64_t j = 0; j < nb; j++) {
                slots[2 * (L + l)][j * R + r] = k.mb[l][j];
                slots[2 * (L + l) + 1][j * R + r] = k.vb[l][j];
            }
        }
    }
    free(k.base);
    return IB_OK;
}


/* Run r's outputs on the n samples x, every layer: the hidden layers'
 * activations and the read-out's softmax probabilities (as the held-out
 * metrics compute them), into outs[l] as (R, n, w[l + 1]) at row r; the
 * forward pass of the training epochs, in chunks of net->batch samples (each
 * sample's outputs do not depend on the chunk). Returns an ib_status. */
IB_CLONES static int dt_record_run(const dt_net *net, int64_t r, float *const *params, const float *x, int64_t n,
                                   float *const *outs) {
    const int64_t L = net->n_layers, R = net->n_runs, C = net->widths[L];
    const int64_t *wd = net->widths;
    const int64_t bp = dt_round_up(net->batch);
    dt_work k;
    const int status = dt_work_alloc(net, bp, &k);
    if (status != IB_OK) return status;
    const unsigned fp = dt_fp_flush();
    for (int64_t l = 0; l < L; l++) {
        const int64_t nk = wd[l] * wd[l + 1], nb = wd[l + 1];
        for (int64_t j = 0; j < nk; j++) k.w[l][j] = params[l][j * R + r];
        for (int64_t j = 0; j < nb; j++) k.b[l][j] = params[L + l][j * R + r];
    }
    for (int64_t first = 0; first < n; first += bp) {
        const int64_t count = n - first < bp ? n - first : bp;
        dt_gather(net, &k, x, NULL, NULL, 0, first, count, bp);
        for (int64_t blk = 0; blk < dt_round_up(count) / DT_LANES; blk++) {
            dt_forward_block(net, &k, blk);
            const int64_t lanes = count - blk * DT_LANES < DT_LANES ? count - blk * DT_LANES : DT_LANES;
            const int64_t row0 = r * n + first + blk * DT_LANES;
            for (int64_t l = 0; l < L - 1; l++) {
                const float *h = k.h[l + 1] + blk * wd[l + 1] * DT_LANES;
                float *out = outs[l] + row0 * wd[l + 1];
                for (int64_t j = 0; j < lanes; j++)
                    for (int64_t i = 0; i < wd[l + 1]; i++) out[j * wd[l + 1] + i] = h[i * DT_LANES + j];
            }
            const float *logits = k.z[L - 1] + blk * C * DT_LANES;
            dt_softmax(logits, k.y + blk * C * DT_LANES, C, DT_LANES, 0.0f, k.e, k.loss, NULL);
            float *out = outs[L - 1] + row0 * C;
            for (int64_t j = 0; j < lanes; j++) {
                float sum = 0.0f;
                for (int64_t c = 0; c < C; c++) sum += k.e[c * DT_LANES + j];
                for (int64_t c = 0; c < C; c++) out[j * C + c] = k.e[c * DT_LANES + j] / sum;
            }
        }
    }
    dt_fp_restore(fp);
    free(k.base);
    return IB_OK;
}

/* The epochs of a group shared out among the threads of a parallel region.
 *
 * runs[0..J) each train E epochs. With at least as many runs as threads, the
 * J * E (run, epoch) units are dealt in run order, thread t taking units
 * [t U / T, (t + 1) U / T) of U = J E (McNaughton's wrap-around rule), so every
 * thread trains the same number of epochs: 5 runs on 2 threads take 2.5 runs'
 * time, not 3. A run cut between threads t and t + 1 trains its first epochs
 * at the start of thread t + 1's share and its last ones at the end of thread
 * t's: a share holds at least E units, so the first part is done before the
 * last part is due; thread t waits for it when it is not (a counter per run,
 * published with release and read with acquire semantics; a failed first part
 * publishes -1 and the run stops there, as it would on one thread). Every epoch
 * is dt_train_run on the run's own tensors, whichever thread runs it, so the
 * numbers do not depend on the threads. Fewer runs than threads (or no GCC
 * atomics): thread t trains runs t, t + T, ... whole.
 *
 * done: J zeroed counters. stats: the gradient statistics of the last epoch
 * (NULL: none). perm (E, n, R), alphas (E, steps), out (E, R, 4), status (R). */
#if defined(__GNUC__) && (defined(__linux__) || defined(__APPLE__))
#include <sched.h>
#define DT_SPLIT_RUNS 1
#else
#define DT_SPLIT_RUNS 0
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* The threads of the calling parallel region (1 without OpenMP). */
static inline int64_t dt_team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Train epochs [e0, e1) of runs[j]; returns the epochs done (e1 unless one failed: then -1). */
static int64_t dt_train_epochs(const dt_net *net, int64_t r, float *const *params, float *const *slots,
                               double *const *stats, const float *x, const float *y, const int32_t *labels,
                               int64_t n, const int32_t *perm, const float *alphas, int64_t steps, const float *xm,
                               const float *ym, const int32_t *labels_m, int64_t nm, double *out, int *status,
                               int64_t E, int64_t e0, int64_t e1) {
    const int64_t R = net->n_runs;
    const unsigned fp = dt_fp_flush();
    for (int64_t e = e0; e < e1; e++) {
        status[r] = dt_train_run(net, r, params, slots, e == E - 1 ? stats : NULL, x, y, labels, n,
                                 perm + e * n * R, alphas + e * steps, xm, ym, labels_m, nm, out + (e * R + r) * 4);
        if (status[r] != IB_OK) {
            dt_fp_restore(fp);
            return -1;
        }
    }
    dt_fp_restore(fp);
    return e1;
}

static void dt_train_share(const dt_net *net, float *const *params, float *const *slots, double *const *stats,
                           const float *x, const float *y, const int32_t *labels, int64_t n, const int32_t *perm,
                           const float *alphas, int64_t steps, const float *xm, const float *ym,
                           const int32_t *labels_m, int64_t nm, const int64_t *runs, int64_t J, int64_t E,
                           double *out, int *status, int64_t *done, int64_t t, int64_t T) {
#define DT_EPOCHS(j, e0, e1)                                                                                       \
    dt_train_epochs(net, runs[j], params, slots, stats, x, y, labels, n, perm, alphas, steps, xm, ym, labels_m, nm, \
                    out, status, E, e0, e1)
    if (!DT_SPLIT_RUNS || J < T || T < 2) {
        for (int64_t j = t; j < J; j += T) DT_EPOCHS(j, 0, E);
        return;
    }
#if DT_SPLIT_RUNS
    const int64_t U = J * E, a = t * U / T, b = (t + 1) * U / T;
    int64_t j = a / E;
    if (a % E) { /* the run cut with thread t - 1: its first epochs */
        const int64_t first = (j + 1) * E - a;
        __atomic_store_n(&done[j], DT_EPOCHS(j, 0, first), __ATOMIC_RELEASE);
        j++;
    }
    for (; j < b / E; j++) DT_EPOCHS(j, 0, E);
    if (b % E) { /* the run cut with thread t + 1: its last epochs, once its first ones are done */
        const int64_t first = E - b % E;
        int64_t seen;
        while ((seen = __atomic_load_n(&done[j], __ATOMIC_ACQUIRE)) >= 0 && seen < first) sched_yield();
        if (seen >= 0) DT_EPOCHS(j, first, E);
    }
#endif
#undef DT_EPOCHS
}

#endif /* IBSIM_DENSE_TRAIN_CORE_H */
