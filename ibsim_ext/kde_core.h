/*
 * Gaussian kernel sums for the Kolchinsky-Tracey KDE bounds: the C core of
 * ibsim_ext._kde.
 *
 * For the N rows t_i of a block (samples x neurons) and a scale s = 1/(2 var),
 *     S_i   = sum_j exp(-s |t_i - t_j|^2)            (j over all rows, i included)
 *     S_i^c = sum_{j : y_j = y_i} exp(-s |t_i - t_j|^2)
 * and the kernel returns A = (1/N) sum_i log S_i and B = (1/N) sum_i log S_i^c.
 * (I(X;T) = log N - A and I(T;Y) = H(Y) + B - A, in nats; see
 * ibsim/estimators/kde.py.) The NumPy twin, ibsim.estimators.reference.kde_log_sums,
 * is the dense textbook formula.
 *
 * Within a proven relative 2^-36 + 2e-13 of every exact sum (so A and B within
 * 1.5e-11 nats, the bounds within 4.3e-11 bits), and fast through structure:
 *  - identical rows with the same label collapse into one centre with a weight;
 *  - centres are ordered by label, then by a k-d split, into tiles of KD_TILE
 *    with bounding boxes; a pair of tiles, or a row and a tile, farther apart
 *    than the kernel's reach is skipped. The reach is where
 *    exp(-s D) < 2^-KD_PRUNE_BITS / N: every sum contains its own centre
 *    (weight >= 1), and at most N terms are skipped from it, so all skipped
 *    terms together stay below 2^-36 of the sum (the test's simplex of
 *    neighbours just beyond the reach nearly attains it);
 *  - computed terms: exp within 2e-14 relative (below), the squared distance
 *    within (d + 2) ulp relative, i.e. s D within cut (d + 2) 2^-53 < 2e-13
 *    absolute for d <= 32 (the box distances likewise, so a skip is never
 *    more than that inside the reach);
 *  - pairs are visited once (the sums are symmetric), tile by tile, in memory
 *    O(N d + threads N), never the N x N matrix; per row of a tile, the
 *    squared distances to the other tile accumulate two coordinates per pass,
 *    then one vectorised loop (omp simd) takes exp, the column sums and the
 *    row sum;
 *  - each pair of tiles sums in a fixed order, and its partial sums go into
 *    128-bit fixed-point accumulators (a 2^-64 grid: far finer than an ulp of a
 *    sum >= 1), whose addition is associative: the result is the same bits for
 *    any number of threads and any schedule;
 *  - |log S~ - log S| <= delta / (1 - delta) for a relative error delta of S,
 *    and A, B are means of such logs: |dA|, |dB| <= 1.5e-11 nats, so
 *    I(X;T) = log N - A is within 2.1e-11 bits and I(T;Y) = H(Y) + B - A within
 *    4.3e-11 bits of exact.
 */
#ifndef IBSIM_KDE_CORE_H
#define IBSIM_KDE_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"

/* Centres per tile: 128 beat 64 (narrow kernels prune as well, row by row,
 * and each row's partial sums are added up half as often) and 256 (coarser
 * boxes) on the main job's layers. */
#define KD_TILE 128
#define KD_LANES 8
/* Pruning tolerance: all terms skipped from one sum S_i together stay below
 * 2^-KD_PRUNE_BITS of it (see kd_block). */
#define KD_PRUNE_BITS 36

/* The hot loops: compiled for x86-64-v4 (AVX-512 with the DQ extension, which
 * has vector double <-> int64 conversion), AVX2 and baseline. */
#define KD_CLONES IB_CLONES_BYTES

/* exp(x) for x in [-700, 0], branch-free so that loops vectorise: Cody-Waite
 * reduction x = k ln2 + r, |r| <= ln2/2, and the Taylor polynomial of degree
 * 11 (remainder < 0.347^12/12! < 7e-15 relative; the whole, with rounding, is
 * within 2e-14 relative of exp(x)). The integer k is read from the bits of the
 * rounding sum x log2e + 1.5 * 2^52 (its low mantissa bits), so that no
 * double-to-integer conversion is needed. */
static inline double kd_exp(double x) {
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    double t = x * log2e + magic;
    double kd = t - magic;
    double r = (x - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 39916800.0; /* 1/11! */
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t tb;
    memcpy(&tb, &t, sizeof tb);
    /* tb = bits(1.5 * 2^52) + k, whose low 52 bits are those of k: shifting by
     * 52 leaves the biased exponent k + 1023 */
    uint64_t bits = (tb + 1023u) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

typedef struct {
    int64_t m;      /* number of centres */
    int64_t d;      /* dimensions */
    int64_t stride; /* m + KD_LANES: the row length of x */
    double *x;      /* (d, stride) coordinates, neuron-major, zero padding */
    double *w;      /* (stride,) weights (multiplicities), zero padding */
    int64_t *label; /* (m,) label of each centre */
    int64_t n_tiles;
    int64_t *tile_start; /* (n_tiles + 1) */
    double *lo, *hi;     /* (n_tiles, d) bounding boxes */
} kd_centres;

/* ---------------------------------------------------------------- dedup */

static uint64_t kd_row_hash(const float *row, int64_t d, int64_t label) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)label;
    for (int64_t j = 0; j < d; j++) {
        uint32_t bits;
        float v = row[j] == 0.0f ? 0.0f : row[j]; /* -0 and +0 are the same point */
        memcpy(&bits, &v, sizeof bits);
        h = (h ^ bits) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return ib_mix(h);
}

static int kd_rows_equal(const float *a, const float *b, int64_t d) {
    for (int64_t j = 0; j < d; j++)
        if (a[j] != b[j]) return 0;
    return 1;
}

/* Unique (row, label) pairs: writes a representative row index and a weight per
 * centre into rep[] and weight[]; returns the number of centres, or -1 if a
 * value is not finite. */
static int64_t kd_dedup(const float *t, int64_t n, int64_t d, const int64_t *labels, int64_t *rep,
                        double *weight, int64_t *table, int64_t cap) {
    const uint64_t mask = (uint64_t)(cap - 1);
    int64_t m = 0;
    for (int64_t i = 0; i < cap; i++) table[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        const float *row = t + i * d;
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(row[j])) return -1;
        uint64_t slot = kd_row_hash(row, d, labels[i]) & mask;
        for (;;) {
            int64_t c = table[slot];
            if (c < 0) {
                table[slot] = m;
                rep[m] = i;
                weight[m] = 1.0;
                m++;
                break;
            }
            if (labels[rep[c]] == labels[i] && kd_rows_equal(t + rep[c] * d, row, d)) {
                weight[c] += 1.0;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    return m;
}

/* ------------------------------------------------------------ ordering */

/* Reorder idx[lo:hi) so that centres split at the median of the widest
 * dimension, recursively, down to tiles of at most KD_TILE. */
static void kd_split(const float *t, int64_t d, const int64_t *rep, int64_t *idx, int64_t lo, int64_t hi,
                     float *key, int64_t tile) {
    if (hi - lo <= tile) return;
    int64_t best = 0;
    float best_span = -1.0f;
    for (int64_t j = 0; j < d; j++) {
        float a = INFINITY, b = -INFINITY;
        for (int64_t i = lo; i < hi; i++) {
            float v = t[rep[idx[i]] * d + j];
            a = v < a ? v : a;
            b = v > b ? v : b;
        }
        if (b - a > best_span) {
            best_span = b - a;
            best = j;
        }
    }
    /* quickselect the median by the chosen coordinate (cut on a tile boundary) */
    int64_t mid = lo + ((hi - lo) / 2 + tile - 1) / tile * tile;
    if (mid >= hi) mid = lo + (hi - lo) / 2;
    for (int64_t i = lo; i < hi; i++) key[i] = t[rep[idx[i]] * d + best];
    int64_t l = lo, r = hi - 1;
    while (l < r) {
        float pivot = key[(l + r) / 2];
        int64_t a = l, b = r;
        while (a <= b) {
            while (key[a] < pivot) a++;
            while (key[b] > pivot) b--;
            if (a <= b) {
                float tk = key[a]; key[a] = key[b]; key[b] = tk;
                int64_t ti = idx[a]; idx[a] = idx[b]; idx[b] = ti;
                a++;
                b--;
            }
        }
        if (mid <= b) r = b;
        else if (mid >= a) l = a;
        else break;
    }
    kd_split(t, d, rep, idx, lo, mid, key, tile);
    kd_split(t, d, rep, idx, mid, hi, key, tile);
}

/* ------------------------------------------------------------ kernel */

typedef unsigned __int128 kd_fixed;
#define KD_FIXED_ONE 18446744073709551616.0 /* 2^64 */

/* value (>= 0, < 2^63) on the 2^-64 grid, truncated: the same bits as
 * (kd_fixed)(value * 2^64), without the library call that conversion costs:
 * the integer part and the fraction (both exact) convert separately. */
static inline kd_fixed kd_to_fixed(double value) {
    uint64_t whole = (uint64_t)value;
    uint64_t frac = (uint64_t)((value - (double)whole) * KD_FIXED_ONE);
    return ((kd_fixed)whole << 64) | frac;
}
static inline double kd_from_fixed(kd_fixed value) { return (double)value / KD_FIXED_ONE; }

/* Pair sums of tile I against tile J (I <= J). Adds to acc (per centre, split
 * by the other centre's label: row sums for I go to acc[label(J)], column sums
 * for J to acc[label(I)]). acc is (n_labels, m).
 *
 * For each row u of tile I, the centres v of tile J go by in blocks of
 * KD_LANES (one AVX-512 vector): the squared distances accumulate in
 * registers over the d coordinates (neuron-major, so each coordinate of a
 * block is one vector load; x has KD_LANES columns of padding so that a block
 * may run past the tile), then exp, the column sums, and KD_LANES partial row
 * sums that are added up once per row. The lanes past the tile's end are
 * masked to 0. Fixed-size inner loops: the compiler keeps them in registers. */
KD_CLONES static void kd_tile_pair(const kd_centres *c, int64_t ti, int64_t tj, double scale, double cut,
                                   kd_fixed *restrict acc) {
    const int64_t i0 = c->tile_start[ti], i1 = c->tile_start[ti + 1];
    const int64_t j0 = c->tile_start[tj], j1 = c->tile_start[tj + 1];
    const int64_t m = c->m, d = c->d, stride = c->stride;
    const double *restrict x = c->x;
    const double *restrict w = c->w;
    double col[KD_TILE + KD_LANES];
    const int64_t yi = c->label[i0], yj = c->label[j0];
    kd_fixed *restrict row_out = acc + yj * m;
    kd_fixed *restrict col_out = acc + yi * m;
    const double *lo_j = c->lo + tj * d, *hi_j = c->hi + tj * d;
    for (int64_t v = 0; v < KD_TILE + KD_LANES; v++) col[v] = 0.0;
    for (int64_t u = i0; u < i1; u++) {
        const int64_t start = ti == tj ? u + 1 : j0; /* each unordered pair once */
        const int64_t len = j1 - start;
        if (len <= 0) continue;
        const double wu = w[u];
        const double *restrict xs = x + start;
        const double *restrict ws = w + start;
        double *restrict colp = col + (start - j0);
        /* the row against tile J's box: if even that is out of reach, so is
         * every pair of the row */
        double reach = 0.0;
        for (int64_t q = 0; q < d; q++) {
            const double xq = x[q * stride + u];
            double gap = lo_j[q] - xq, gap2 = xq - hi_j[q];
            gap = gap > gap2 ? gap : gap2;
            reach += gap > 0.0 ? gap * gap : 0.0;
        }
        if (scale * reach > cut) continue;
        double dist[KD_TILE];
        int64_t q = 0;
        if (d & 1) { /* odd d: one coordinate first, then pairs (half the passes over dist) */
            const double xq = x[u];
            for (int64_t k = 0; k < len; k++) {
                double diff = xq - xs[k];
                dist[k] = diff * diff;
            }
            q = 1;
        } else {
            for (int64_t k = 0; k < len; k++) dist[k] = 0.0;
        }
        for (; q < d; q += 2) {
            const double xq = x[q * stride + u], xq2 = x[(q + 1) * stride + u];
            const double *restrict xv = xs + q * stride;
            const double *restrict xv2 = xs + (q + 1) * stride;
            for (int64_t k = 0; k < len; k++) {
                double diff = xq - xv[k], diff2 = xq2 - xv2[k];
                dist[k] += diff * diff + diff2 * diff2;
            }
        }
        double row = 0.0;
#pragma omp simd reduction(+ : row)
        for (int64_t k = 0; k < len; k++) {
            double a = scale * dist[k];
            double e = kd_exp(a < cut ? -a : -cut);
            e = a <= cut ? e : 0.0;
            row += ws[k] * e;
            colp[k] += wu * e;
        }
        row_out[u] += kd_to_fixed(row);
    }
    for (int64_t v = j0; v < j1; v++) col_out[v] += kd_to_fixed(col[v - j0]);
}

static double kd_box_distance(const kd_centres *c, int64_t ti, int64_t tj) {
    double s = 0.0;
    for (int64_t q = 0; q < c->d; q++) {
        double gap = c->lo[tj * c->d + q] - c->hi[ti * c->d + q];
        double gap2 = c->lo[ti * c->d + q] - c->hi[tj * c->d + q];
        gap = gap > gap2 ? gap : gap2;
        if (gap > 0) s += gap * gap;
    }
    return s;
}

typedef struct {
    int64_t a, b;
} kd_pair;

/* A and B (see the top of this file) of one block; returns IB_OK, IB_NONFINITE
 * or IB_NO_MEMORY (common.h). */
static int kd_block(const float *t, int64_t n, int64_t d, const int64_t *labels, int64_t n_labels, double scale,
                    int n_threads, double *out) {
    int status = IB_NO_MEMORY;
    int64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    int64_t *rep = malloc((size_t)n * sizeof(int64_t));
    double *weight = malloc((size_t)n * sizeof(double));
    int64_t *table = malloc((size_t)cap * sizeof(int64_t));
    int64_t *idx = malloc((size_t)n * sizeof(int64_t));
    float *key = malloc((size_t)n * sizeof(float));
    int64_t *count = calloc((size_t)n_labels + 1, sizeof(int64_t));
    kd_centres c = {0};
    kd_fixed *acc = NULL;
    kd_pair *pairs = NULL;
    if (!rep || !weight || !table || !idx || !key || !count) goto done;

    int64_t m = kd_dedup(t, n, d, labels, rep, weight, table, cap);
    if (m < 0) {
        status = IB_NONFINITE;
        goto done;
    }
    /* order: by label (counting sort), then k-d within each label */
    for (int64_t u = 0; u < m; u++) count[labels[rep[u]] + 1]++;
    for (int64_t y = 0; y < n_labels; y++) count[y + 1] += count[y];
    int64_t *fill = table; /* reuse as the write cursor per label */
    for (int64_t y = 0; y < n_labels; y++) fill[y] = count[y];
    for (int64_t u = 0; u < m; u++) idx[fill[labels[rep[u]]]++] = u;
    const int64_t tile = KD_TILE;
    int64_t n_tiles = 0;
    for (int64_t y = 0; y < n_labels; y++) {
        kd_split(t, d, rep, idx, count[y], count[y + 1], key, tile);
        n_tiles += (count[y + 1] - count[y] + tile - 1) / tile;
    }
    c.m = m;
    c.d = d;
    c.n_tiles = n_tiles;
    c.stride = m + KD_LANES;
    c.x = calloc((size_t)(c.stride * d), sizeof(double));
    c.w = calloc((size_t)c.stride, sizeof(double));
    c.label = malloc((size_t)m * sizeof(int64_t));
    c.tile_start = malloc((size_t)(n_tiles + 1) * sizeof(int64_t));
    c.lo = malloc((size_t)(n_tiles * d) * sizeof(double));
    c.hi = malloc((size_t)(n_tiles * d) * sizeof(double));
    if (!c.x || !c.w || !c.label || !c.tile_start || !c.lo || !c.hi) goto done;
    for (int64_t p = 0; p < m; p++) {
        int64_t u = idx[p];
        const float *row = t + rep[u] * d;
        for (int64_t q = 0; q < d; q++) c.x[q * c.stride + p] = (double)row[q];
        c.w[p] = weight[u];
        c.label[p] = labels[rep[u]];
    }
    int64_t k = 0;
    for (int64_t y = 0; y < n_labels; y++)
        for (int64_t start = count[y]; start < count[y + 1]; start += tile) c.tile_start[k++] = start;
    c.tile_start[n_tiles] = m;
    for (k = 0; k < n_tiles; k++) {
        for (int64_t q = 0; q < d; q++) {
            double a = INFINITY, b = -INFINITY;
            for (int64_t p = c.tile_start[k]; p < c.tile_start[k + 1]; p++) {
                double v = c.x[q * c.stride + p];
                a = v < a ? v : a;
                b = v > b ? v : b;
            }
            c.lo[k * d + q] = a;
            c.hi[k * d + q] = b;
        }
    }

    /* the kernel's reach: beyond it, all terms together are < 2^-KD_PRUNE_BITS of a sum >= 1 */
    const double cut = log((double)n) + KD_PRUNE_BITS * log(2.0);
    int64_t n_pairs = 0;
    pairs = malloc((size_t)(n_tiles * (n_tiles + 1) / 2) * sizeof(kd_pair));
    if (!pairs) goto done;
    for (int64_t a = 0; a < n_tiles; a++)
        for (int64_t b = a; b < n_tiles; b++)
            if (scale * kd_box_distance(&c, a, b) <= cut) pairs[n_pairs++] = (kd_pair){a, b};

    const int64_t width = n_labels * m;
    acc = calloc((size_t)(width * n_threads), sizeof(kd_fixed));
    if (!acc) goto done;
    for (int64_t p = 0; p < m; p++) acc[c.label[p] * m + p] = kd_to_fixed(c.w[p]); /* its own weight */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_threads)
#endif
    for (int64_t k = 0; k < n_pairs; k++) {
#ifdef _OPENMP
        kd_fixed *mine = acc + (int64_t)omp_get_thread_num() * width;
#else
        kd_fixed *mine = acc;
#endif
        kd_tile_pair(&c, pairs[k].a, pairs[k].b, scale, cut, mine);
    }
    for (int th = 1; th < n_threads; th++)
        for (int64_t i = 0; i < width; i++) acc[i] += acc[th * width + i];
    double a_sum = 0.0, b_sum = 0.0;
    for (int64_t p = 0; p < m; p++) {
        kd_fixed total = 0;
        for (int64_t y = 0; y < n_labels; y++) total += acc[y * m + p];
        a_sum += c.w[p] * log(kd_from_fixed(total));
        b_sum += c.w[p] * log(kd_from_fixed(acc[c.label[p] * m + p]));
    }
    out[0] = a_sum / (double)n;
    out[1] = b_sum / (double)n;
    status = IB_OK;

done:
    free(rep); free(weight); free(table); free(idx); free(key); free(count);
    free(c.x); free(c.w); free(c.label); free(c.tile_start); free(c.lo); free(c.hi);
    free(acc); free(pairs);
    return status;
}

#endif /* IBSIM_KDE_CORE_H */
