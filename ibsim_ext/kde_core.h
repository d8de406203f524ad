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
 * Within a proven relative KD_SUM_BOUND = 2^-36 + 2^-37 + 2e-13 of every exact
 * sum (so A and B within 2.2e-11 nats, the bounds within 6.4e-11 bits), and
 * fast through structure:
 *  - identical rows with the same label collapse into one centre with a
 *    weight (common.h's ib_dedup_rows; exact);
 *  - centres are ordered by label, then by a k-d split, into tiles of KD_TILE
 *    with bounding boxes; a pair of tiles, or a row and a tile, farther apart
 *    than the kernel's reach is skipped. The reach is where
 *    exp(-s D) < 2^-KD_PRUNE_BITS / N: every sum contains its own centre
 *    (weight >= 1), and at most N terms are skipped from it, so all skipped
 *    terms together stay below 2^-36 of the sum (the test's simplex of
 *    neighbours just beyond the reach nearly attains it);
 *  - computed terms: exp within 2e-14 relative (common.h's ib_exp: 1e-15;
 *    kd_exp512, 16-entry table: 7e-15), the squared distance within (d + 2) ulp
 *    relative, i.e. s D within cut (d + 2) 2^-53 < 2e-13 absolute for
 *    d <= 32 (the box distances likewise, so a skip is never more than that
 *    inside the reach); where the AVX-512 kernel takes the Gram form
 *    (s D = s|u|^2 + s|v|^2 - 2 s u.v on centred coordinates, d FMAs instead
 *    of 2d operations), only where its rounding is proven below 2^-37
 *    relative per term (kd_gram_ok);
 *  - pairs are visited once (the sums are symmetric), tile by tile, in memory
 *    O(N d + threads N), never the N x N matrix; the AVX-512 kernel keeps
 *    KD_ROWS x 8 pairs in registers (distances, exp, row and column sums);
 *  - each pair of tiles sums in a fixed order, and its partial sums go into
 *    128-bit fixed-point accumulators (common.h: a 2^-64 grid, far finer than
 *    an ulp of a sum >= 1), whose addition is associative: the result is the
 *    same bits for any number of threads and any schedule (on one CPU: the
 *    AVX-512 and the portable kernels sum in different orders);
 *  - |log S~ - log S| <= delta / (1 - delta) for a relative error delta of S,
 *    and A, B are means of such logs: |dA|, |dB| <= 2.21e-11 nats, so
 *    I(X;T) = log N - A is within 3.2e-11 bits and I(T;Y) = H(Y) + B - A
 *    within 6.4e-11 bits of exact.
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

/* Centres per tile: 256 beat 128 (1.3x at var 0.1: each row's partial sums
 * and the tile pair's setup are amortised over twice the pairs) and 512
 * (coarser boxes: narrow kernels prune less) on the main job's layers. */
#define KD_TILE 256
#define KD_LANES 8
/* Rows of tile I per pass of the AVX-512 micro-kernel: 8 beat 4 (each column
 * load serves 8 rows; 8 independent exp chains). */
#define KD_ROWS 8
/* The Gram form of the distances (AVX-512 kernel): from 4 up to this many
 * dimensions, and where its rounding error is provably below 2^-KD_GRAM_BITS
 * relative per term (kd_gram_ok). */
#define KD_GRAM_MAX_D 32
#define KD_GRAM_BITS 37
/* kd_exp512's argument range is [-KD_EXP_RANGE, 1]. */
#define KD_EXP_RANGE 700.0
/* Pruning tolerance: all terms skipped from one sum S_i together stay below
 * 2^-KD_PRUNE_BITS of it (see kd_block). */
#define KD_PRUNE_BITS 36

/* The portable kernel's loops: compiled for x86-64-v4, AVX2 and baseline. */
#define KD_CLONES IB_CLONES_BYTES

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

/* Pair sums of tile I against tile J (I <= J). Adds to acc (per centre, split
 * by the other centre's label: row sums for I go to acc[label(J)], column sums
 * for J to acc[label(I)]). acc is (n_labels, m). The portable kernel (target
 * clones for AVX-512, AVX2 and baseline), used where the CPU lacks AVX-512 DQ
 * or the caller asks for it (kd_block's portable flag; the tests do).
 *
 * For each row u of tile I, the centres v of tile J go by in blocks of
 * KD_LANES (one AVX-512 vector): the squared distances accumulate in
 * registers over the d coordinates (neuron-major, so each coordinate of a
 * block is one vector load; x has KD_LANES columns of padding so that a block
 * may run past the tile), then exp, the column sums, and KD_LANES partial row
 * sums that are added up once per row. The lanes past the tile's end are
 * masked to 0. Fixed-size inner loops: the compiler keeps them in registers. */
KD_CLONES static void kd_tile_pair(const kd_centres *c, int64_t ti, int64_t tj, double scale, double cut,
                                   ib_fixed *restrict acc) {
    const int64_t i0 = c->tile_start[ti], i1 = c->tile_start[ti + 1];
    const int64_t j0 = c->tile_start[tj], j1 = c->tile_start[tj + 1];
    const int64_t m = c->m, d = c->d, stride = c->stride;
    const double *restrict x = c->x;
    const double *restrict w = c->w;
    double col[KD_TILE + KD_LANES];
    const int64_t yi = c->label[i0], yj = c->label[j0];
    ib_fixed *restrict row_out = acc + yj * m;
    ib_fixed *restrict col_out = acc + yi * m;
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
            double e = ib_exp(a < cut ? -a : -cut);
            e = a <= cut ? e : 0.0;
            row += ws[k] * e;
            colp[k] += wu * e;
        }
        row_out[u] += ib_to_fixed(row);
    }
    for (int64_t v = j0; v < j1; v++) col_out[v] += ib_to_fixed(col[v - j0]);
}

/* --------------------------------------------------- the AVX-512 kernel */

#if defined(__GNUC__) && defined(__x86_64__) && !defined(KD_NO_AVX512)
#include <immintrin.h>
#define KD_AVX512 1
#define KD_512 __attribute__((target("avx512f,avx512dq")))

/* exp(x) for x in [-700, 1], 8 lanes: x = (16 K + j) ln2/16 + r, |r| <= ln2/32,
 * exp(x) = 2^K 2^(j/16) exp(r). 2^(j/16) comes from a 16-entry table held in
 * two registers (one vpermt2pd, which reads the low 4 bits of the index: no
 * memory, no gather), exp(r) from its Taylor polynomial of degree 6
 * (remainder < 0.0217^7/7! < 4.5e-16 relative). With the reduction (below),
 * the rounding of the polynomial, of the table entry (half an ulp) and of the
 * product, within 7e-15 relative of exp(x) for x >= -60 (6e-14 below). K and j are read from the bits of the rounding
 * sum x 16/ln2 + 1.5 * 2^52, and 2^K is applied by vscalefpd. */
KD_512 static inline __m512d kd_exp512(__m512d x, __m512d table_lo, __m512d table_hi) {
    const __m512d magic = _mm512_set1_pd(6755399441055744.0); /* 1.5 * 2**52 */
    const __m512d shifted = _mm512_fmadd_pd(x, _mm512_set1_pd(16.0 * 1.4426950408889634), magic); /* 16 / ln2 */
    const __m512d kd = _mm512_sub_pd(shifted, magic);
    /* r = x - kd ln2/16 in one FMA (exact product, one rounding) with ln2/16
     * rounded to double (off by < 2^-58): r is off by < |kd| 2^-58, and exp(x)
     * by that relative. Within the reach (x >= -cut > -60 for N < 2^34),
     * |kd| < 1390: < 4.8e-15; down to -KD_EXP_RANGE (unclamped tile pairs),
     * |kd| < 16200: < 5.7e-14, on terms below 2^-36 / N of their sum. */
    const __m512d r = _mm512_fnmadd_pd(kd, _mm512_set1_pd(0.04332169878499658), x);
    __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(1.0 / 720.0), r, _mm512_set1_pd(1.0 / 120.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 24.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 6.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
    /* the low 4 bits of the rounding sum are those of 16 K + j, i.e. j */
    const __m512d entry = _mm512_permutex2var_pd(table_lo, _mm512_castpd_si512(shifted), table_hi);
    /* times 2^floor(kd / 16) = 2^K (kd / 16 is exact) */
    return _mm512_scalef_pd(_mm512_mul_pd(p, entry), _mm512_mul_pd(kd, _mm512_set1_pd(1.0 / 16)));
}

/* Whether tile pair (I, J) may use the Gram form, and its centre c (d values):
 * the middle of the box around both tiles. With u~ = fl(u - c), v~ = fl(v - c)
 * and R_I, R_J bounds of |u~|, |v~| over the tiles (from the boxes), the
 * computed arg = fl(-s|u~|^2 - s|v~|^2) + sum_q fl(2s u~_q) v~_q (d FMAs) is
 * within (2d + 4) eps s (R_I + R_J)^2 (eps = 2^-53, to first order) of
 * -s |u - v|^2: the norms' rounding (d + 2) eps s (|u~|^2 + |v~|^2), the FMA
 * chain's d eps s (|u~| + |v~|)^2, the scaled rows' eps 2s |u~||v~| and the
 * centring's 2 eps s (|u~| + |v~|)^2. One Gram pair's term is then within
 * that relative error of exact. The form is used where 2 (d + 6) eps s
 * (R_I + R_J)^2 -- above (2d + 4) eps s (R_I + R_J)^2 by 8 eps s (R_I + R_J)^2,
 * room for the rounding of R_I, R_J and of the bound itself -- is at most
 * 2^-KD_GRAM_BITS, for 4 <= d <= KD_GRAM_MAX_D (below 4 it saves nothing). */
static int kd_gram_ok(const kd_centres *c, int64_t ti, int64_t tj, double scale, double *centre) {
    const int64_t d = c->d;
    if (d < 4 || d > KD_GRAM_MAX_D) return 0;
    const double *lo_i = c->lo + ti * d, *hi_i = c->hi + ti * d;
    const double *lo_j = c->lo + tj * d, *hi_j = c->hi + tj * d;
    double r_i = 0.0, r_j = 0.0;
    for (int64_t q = 0; q < d; q++) {
        const double lo = lo_i[q] < lo_j[q] ? lo_i[q] : lo_j[q], hi = hi_i[q] > hi_j[q] ? hi_i[q] : hi_j[q];
        centre[q] = 0.5 * lo + 0.5 * hi;
        const double a = fmax(fabs(lo_i[q] - centre[q]), fabs(hi_i[q] - centre[q]));
        const double b = fmax(fabs(lo_j[q] - centre[q]), fabs(hi_j[q] - centre[q]));
        r_i += a * a;
        r_j += b * b;
    }
    const double reach = sqrt(r_i) + sqrt(r_j);
    const double bound = 2.0 * (double)(d + 6) * 0x1p-53 * scale * reach * reach;
    return bound <= ldexp(1.0, -KD_GRAM_BITS);
}

/* kd_tile_pair (below) with AVX-512 intrinsics: the same micro-kernel, KD_ROWS
 * rows against KD_LANES centres in registers, with mask registers for the
 * reach and the tile's edges (masked FMAs add only the kept terms), and a row
 * vector whose 8 pairs are all out of reach skips its exp (narrow kernels:
 * most pairs of a tile pair in reach of the boxes are not themselves). */
KD_512 static inline __attribute__((always_inline)) void
kd_tile_pair512_impl(const kd_centres *c, int64_t ti, int64_t tj, double scale, double cut, const double *table,
                     ib_fixed *restrict acc, const int clamp) {
    const int64_t i0 = c->tile_start[ti], i1 = c->tile_start[ti + 1];
    const int64_t j0 = c->tile_start[tj], j1 = c->tile_start[tj + 1];
    const int64_t m = c->m, d = c->d, stride = c->stride;
    const double *restrict x = c->x;
    const double *restrict w = c->w;
    const int diagonal = ti == tj;
    double col[KD_TILE + KD_LANES];
    const int64_t yi = c->label[i0], yj = c->label[j0];
    ib_fixed *restrict row_out = acc + yj * m;
    ib_fixed *restrict col_out = acc + yi * m;
    const double *lo_j = c->lo + tj * d, *hi_j = c->hi + tj * d;
    const __m512d table_lo = _mm512_loadu_pd(table), table_hi = _mm512_loadu_pd(table + 8);
    const __m512d neg_scale = _mm512_set1_pd(-scale), neg_cut = _mm512_set1_pd(-cut);
    for (int64_t v = 0; v < KD_TILE + KD_LANES; v++) col[v] = 0.0;
    /* The Gram form of the squared distances (d FMAs per vector instead of d
     * subtractions and d FMAs), on coordinates centred on the middle of the
     * two tiles' boxes, where its rounding is provably small enough; else the
     * differences. See kd_gram_ok. */
    double centre[KD_GRAM_MAX_D];
    double gram_x[KD_GRAM_MAX_D * (KD_TILE + KD_LANES)], gram_norm[KD_TILE + KD_LANES];
    const int gram = kd_gram_ok(c, ti, tj, scale, centre);
    if (gram) {
        for (int64_t v = 0; v < KD_TILE + KD_LANES; v++) gram_norm[v] = 0.0;
        for (int64_t q = 0; q < d; q++)
            for (int64_t v = 0; v < KD_TILE + KD_LANES; v++) {
                const double y = j0 + v < j1 ? x[q * stride + j0 + v] - centre[q] : 0.0;
                gram_x[q * (KD_TILE + KD_LANES) + v] = y;
                gram_norm[v] += y * y;
            }
        for (int64_t v = 0; v < KD_TILE + KD_LANES; v++) gram_norm[v] *= scale;
    }
    for (int64_t u0 = i0; u0 < i1; u0 += KD_ROWS) {
        int64_t urow[KD_ROWS];
        __m512d wu[KD_ROWS];
        int any = 0;
        for (int r = 0; r < KD_ROWS; r++) {
            const int64_t u = u0 + r;
            urow[r] = u < i1 ? u : u0;
            wu[r] = _mm512_set1_pd(u < i1 ? w[u] : 0.0);
            double reach = 0.0;
            for (int64_t q = 0; q < d; q++) {
                const double xq = x[q * stride + urow[r]];
                double gap = lo_j[q] - xq, gap2 = xq - hi_j[q];
                gap = gap > gap2 ? gap : gap2;
                reach += gap > 0.0 ? gap * gap : 0.0;
            }
            any |= u < i1 && scale * reach <= cut;
        }
        if (!any) continue;
        const int64_t first = diagonal ? j0 + (u0 + 1 - j0) / KD_LANES * KD_LANES : j0;
        __m512d row[KD_ROWS];
        for (int r = 0; r < KD_ROWS; r++) row[r] = _mm512_setzero_pd();
        /* Gram form: the rows' centred coordinates times 2 scale, and -scale |row|^2 */
        double yu[KD_ROWS][KD_GRAM_MAX_D], nu[KD_ROWS];
        if (gram)
            for (int r = 0; r < KD_ROWS; r++) {
                double norm = 0.0;
                for (int64_t q = 0; q < d; q++) {
                    const double y = x[q * stride + urow[r]] - centre[q];
                    norm += y * y;
                    yu[r][q] = 2.0 * scale * y;
                }
                nu[r] = scale * norm;
            }
        for (int64_t v0 = first; v0 < j1; v0 += KD_LANES) {
            __m512d arg[KD_ROWS];
            if (gram) {
                /* arg = 2 s (u~ . v~) - s |u~|^2 - s |v~|^2 */
                const __m512d nv = _mm512_loadu_pd(gram_norm + (v0 - j0));
                for (int r = 0; r < KD_ROWS; r++) arg[r] = _mm512_sub_pd(_mm512_set1_pd(-nu[r]), nv);
                for (int64_t q = 0; q < d; q++) {
                    const __m512d yv = _mm512_loadu_pd(gram_x + q * (KD_TILE + KD_LANES) + (v0 - j0));
                    for (int r = 0; r < KD_ROWS; r++) arg[r] = _mm512_fmadd_pd(_mm512_set1_pd(yu[r][q]), yv, arg[r]);
                }
            } else {
                __m512d dist[KD_ROWS];
                for (int r = 0; r < KD_ROWS; r++) dist[r] = _mm512_setzero_pd();
                for (int64_t q = 0; q < d; q++) {
                    const __m512d xv = _mm512_loadu_pd(x + q * stride + v0);
                    const double *xq = x + q * stride;
                    for (int r = 0; r < KD_ROWS; r++) {
                        const __m512d diff = _mm512_sub_pd(_mm512_set1_pd(xq[urow[r]]), xv);
                        dist[r] = _mm512_fmadd_pd(diff, diff, dist[r]);
                    }
                }
                for (int r = 0; r < KD_ROWS; r++) arg[r] = _mm512_mul_pd(dist[r], neg_scale);
            }
            /* lanes kept by position: v < j1, rows < i1, and v > u on the diagonal tile */
            const int64_t valid = j1 - v0;
            const __mmask8 tail = valid >= KD_LANES ? (__mmask8)0xFF : (__mmask8)((1u << valid) - 1u);
            const __m512d wv = _mm512_loadu_pd(w + v0);
            __m512d colsum = _mm512_setzero_pd();
            __mmask8 keep[KD_ROWS];
            int kept = 0;
            for (int r = 0; r < KD_ROWS; r++) {
                keep[r] = tail;
                if (diagonal) {
                    const int64_t skip = u0 + r + 1 - v0; /* lanes l < skip have v <= u */
                    keep[r] &= skip <= 0 ? (__mmask8)0xFF : skip >= KD_LANES ? (__mmask8)0 : (__mmask8)(0xFFu << skip);
                }
                if (clamp) keep[r] &= _mm512_cmp_pd_mask(arg[r], neg_cut, _CMP_GE_OQ);
                kept |= keep[r];
            }
            if (clamp && !kept) continue; /* all KD_ROWS x KD_LANES pairs out of reach (narrow kernels) */
            /* the rows' exps side by side (independent chains); the Gram form
             * may round a tiny distance to a tiny positive arg, which kd_exp512
             * takes as well. Unclamped (every pair of the tile pair within
             * KD_EXP_RANGE): every term is kept, exact, pruned or not. */
            for (int r = 0; r < KD_ROWS; r++) {
                const __m512d e = kd_exp512(clamp ? _mm512_max_pd(arg[r], neg_cut) : arg[r], table_lo, table_hi);
                row[r] = _mm512_mask3_fmadd_pd(wv, e, row[r], keep[r]);
                colsum = _mm512_mask3_fmadd_pd(wu[r], e, colsum, keep[r]);
            }
            double *colp = col + (v0 - j0);
            _mm512_storeu_pd(colp, _mm512_add_pd(_mm512_loadu_pd(colp), colsum));
        }
        for (int r = 0; r < KD_ROWS && u0 + r < i1; r++) {
            double lanes[KD_LANES], total = 0.0;
            _mm512_storeu_pd(lanes, row[r]);
            for (int l = 0; l < KD_LANES; l++) total += lanes[l];
            row_out[u0 + r] += ib_to_fixed(total);
        }
    }
    for (int64_t v = j0; v < j1; v++) col_out[v] += ib_to_fixed(col[v - j0]);
}

/* The largest squared distance between two boxes (their farthest corners). */
static double kd_box_far(const kd_centres *c, int64_t ti, int64_t tj) {
    double s = 0.0;
    for (int64_t q = 0; q < c->d; q++) {
        const double a = c->hi[tj * c->d + q] - c->lo[ti * c->d + q], b = c->hi[ti * c->d + q] - c->lo[tj * c->d + q];
        const double gap = a > b ? a : b;
        s += gap * gap;
    }
    return s;
}

/* Tile pairs whose every pair is within KD_EXP_RANGE (wide kernels) take the
 * unclamped kernel: no reach test, no clamp (every term exact). */
KD_512 static void kd_tile_pair512(const kd_centres *c, int64_t ti, int64_t tj, double scale, double cut,
                                   const double *table, ib_fixed *restrict acc) {
    if (scale * kd_box_far(c, ti, tj) * (1.0 + 0x1p-40) <= KD_EXP_RANGE)
        kd_tile_pair512_impl(c, ti, tj, scale, cut, table, acc, 0);
    else
        kd_tile_pair512_impl(c, ti, tj, scale, cut, table, acc, 1);
}
#endif

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

/* Whether this CPU runs the AVX-512 kernel. */
static inline int kd_has_avx512(void) {
#ifdef KD_AVX512
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

/* A and B (see the top of this file) of one block; returns IB_OK, IB_NONFINITE
 * or IB_NO_MEMORY (common.h). portable: the portable kernel even where the
 * AVX-512 one would run (for the tests). */
static int kd_block(const float *t, int64_t n, int64_t d, const int64_t *labels, int64_t n_labels, double scale,
                    int n_threads, int portable, double *out) {
    int status = IB_NO_MEMORY;
    int64_t *rep = malloc((size_t)n * sizeof(int64_t));
    double *weight = malloc((size_t)n * sizeof(double));
    int64_t *fill = malloc((size_t)(n_labels + 1) * sizeof(int64_t));
    int64_t *idx = malloc((size_t)n * sizeof(int64_t));
    float *key = malloc((size_t)n * sizeof(float));
    int64_t *count = calloc((size_t)n_labels + 1, sizeof(int64_t));
    kd_centres c = {0};
    ib_fixed *acc = NULL;
    kd_pair *pairs = NULL;
    if (!rep || !weight || !fill || !idx || !key || !count) goto done;

    int64_t m = ib_dedup_rows(t, n, d, labels, NULL, rep, weight);
    if (m < 0) {
        status = m == -1 ? IB_NONFINITE : IB_NO_MEMORY;
        goto done;
    }
    /* order: by label (counting sort), then k-d within each label */
    for (int64_t u = 0; u < m; u++) count[labels[rep[u]] + 1]++;
    for (int64_t y = 0; y < n_labels; y++) count[y + 1] += count[y];
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

#ifdef KD_AVX512
    /* 2^(j/16), j = 0..15, for kd_exp512 */
    double exp_table[16];
    for (int j = 0; j < 16; j++) exp_table[j] = exp2(j / 16.0);
    const int wide = !portable && kd_has_avx512();
#endif
    const int64_t width = n_labels * m;
    acc = calloc((size_t)(width * n_threads), sizeof(ib_fixed));
    if (!acc) goto done;
    for (int64_t p = 0; p < m; p++) acc[c.label[p] * m + p] = ib_to_fixed(c.w[p]); /* its own weight */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_threads)
#endif
    for (int64_t k = 0; k < n_pairs; k++) {
#ifdef _OPENMP
        ib_fixed *mine = acc + (int64_t)omp_get_thread_num() * width;
#else
        ib_fixed *mine = acc;
#endif
#ifdef KD_AVX512
        if (wide) {
            kd_tile_pair512(&c, pairs[k].a, pairs[k].b, scale, cut, exp_table, mine);
            continue;
        }
#endif
        kd_tile_pair(&c, pairs[k].a, pairs[k].b, scale, cut, mine);
    }
    for (int th = 1; th < n_threads; th++)
        for (int64_t i = 0; i < width; i++) acc[i] += acc[th * width + i];
    double a_sum = 0.0, b_sum = 0.0;
    for (int64_t p = 0; p < m; p++) {
        ib_fixed total = 0;
        for (int64_t y = 0; y < n_labels; y++) total += acc[y * m + p];
        a_sum += c.w[p] * log(ib_from_fixed(total));
        b_sum += c.w[p] * log(ib_from_fixed(acc[c.label[p] * m + p]));
    }
    out[0] = a_sum / (double)n;
    out[1] = b_sum / (double)n;
    status = IB_OK;

done:
    free(rep); free(weight); free(fill); free(idx); free(key); free(count);
    free(c.x); free(c.w); free(c.label); free(c.tile_start); free(c.lo); free(c.hi);
    free(acc); free(pairs);
    return status;
}

#endif /* IBSIM_KDE_CORE_H */
