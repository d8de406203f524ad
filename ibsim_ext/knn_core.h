/* k-nearest-neighbour searches for the k-NN estimators: a k-d tree over one block.
 *
 * Two queries, each for every point of the tree against the tree itself,
 * parallel over points (OpenMP):
 *   - kn_kth_distance: the distance to the k-th nearest other point
 *     (the Euclidean metric takes a split: the distance is then the larger
 *     Euclidean norm of coordinates [0, split) and [split, d), KSG's joint
 *     norm; split >= d is the plain Euclidean norm);
 *   - kn_count_within: the points (the point itself included) at distance
 *     <= radius_i, per point i (callers pass the radius just below theirs for
 *     "strictly within").
 *
 * The numbers equal scipy's cKDTree (query with k+1 / query_ball_point with
 * return_length) bit for bit: both compute every point-to-point distance the
 * same way in float64 (max |x_j - y_j| for the max-norm; for the Euclidean
 * norm scipy's sum of squares with four accumulators, compared squared against
 * radius * radius, the root taken only of the returned k-th distance), and the
 * k-th smallest of a multiset, or a count, does not depend on the search order
 * nor on the shape of the tree. Only the pruning uses box distances: exact
 * bounds for the max norm (rounding is monotone), bounds widened by a relative
 * 1e-9 for the Euclidean norm (a box sum of squares is rounded in another order
 * than a point's).
 *
 * The tree: splits down to leaves of at most KN_LEAF points, on the widest
 * dimension of a sample of the node's points, at the middle of their range
 * (scipy's sliding midpoint: empty space is split off) or at the median when
 * that is too lopsided; the points are stored in tree order, row-major and,
 * per leaf, dimension-major (one query's distances to a whole leaf are one
 * vector loop). Each node keeps the box of its points (for pruning) and its
 * cell, the splits above it (every point outside the node lies beyond one of
 * them). Boxes, cells and the row-major points are padded to a multiple of 4
 * coordinates (KN_LANES), so that a box test is a few 4-wide vector operations
 * (GCC vector extensions; the search loops are compiled for AVX-512 and AVX2
 * too, picked at run time).
 *
 * The search starts at the query's own leaf and walks up: at each level the
 * sibling subtree is searched top-down, closer child first, skipping boxes
 * farther than the current k-th distance (or beyond the radius; counted whole
 * when entirely within it), and the walk stops once the query lies at least
 * that distance inside the node's cell (no point outside can then change the
 * answer: a distance is at least any one coordinate's difference, or its
 * square, and rounding is monotone). Every point is one query, OpenMP over the
 * leaves.
 * Status: IB_OK, IB_NONFINITE (a NaN or infinite coordinate), IB_NO_MEMORY.
 */
#ifndef IBSIM_KNN_CORE_H
#define IBSIM_KNN_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define KN_LEAF 32
#define KN_SAMPLE 64     /* rows sampled for a node's widest dimension */
#define KN_SAMPLE_D 16   /* dimensions sampled at once */
#define KN_FREE_DEPTH 64 /* median splits from this depth on */
#define KN_LANES 4       /* coordinates per vector of a box test */
#define KN_CHEBYSHEV 0
#define KN_EUCLIDEAN 1
#define KN_STACK 256 /* the walk's stack: the tree's depth is below KN_FREE_DEPTH + log2 n + 1 */

/* The search loops are compiled for AVX-512 and AVX2 too (no FMA: a contracted
 * multiply-add would round the sums of squares differently from scipy's). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KN_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off")))
#else
#define KN_CLONES
#endif

/* The search's helpers are inlined into the compiled-per-CPU loops. */
#if defined(__GNUC__)
#define KN_INLINE static inline __attribute__((always_inline))
#else
#define KN_INLINE static inline
#endif

typedef struct {
    int64_t start, end; /* points [start, end) in tree order */
    int64_t left, right; /* children, -1 for a leaf */
    int64_t parent;      /* -1 for the root */
} kn_node;

typedef struct {
    int64_t n, d, dp, n_nodes, n_leaves, max_leaf; /* dp: d rounded up to KN_LANES */
    double *pts;     /* n x dp, tree order, padded with 0 */
    double *soa;     /* per leaf [start, end): d x (end - start) at soa + start * d */
    int64_t *order;  /* tree position -> original row */
    int64_t *leaves; /* the leaves' node ids, in tree order */
    kn_node *nodes;
    double *lo, *hi;   /* n_nodes x dp boxes of the points (padded with 0) */
    double *clo, *chi; /* n_nodes x dp cells (padded with -inf, inf): the splits above a node bound */
                       /* every point outside it */
    int64_t *part;     /* dp lanes: -1 for coordinates before the split, 0 after (the Euclidean joint norm) */
} kn_tree;

static void kn_free(kn_tree *t) {
    free(t->pts);
    free(t->soa);
    free(t->order);
    free(t->leaves);
    free(t->nodes);
    free(t->lo);
    free(t->hi);
    free(t->clo);
    free(t->chi);
    free(t->part);
    memset(t, 0, sizeof(*t));
}

static inline double kn_max(double a, double b) { return a > b ? a : b; }
static inline double kn_min(double a, double b) { return a < b ? a : b; }

/* Rearrange key[lo, hi) (and unit alike) so that the m-th smallest key sits at
 * m, no greater before it, no smaller after it (Hoare's quickselect,
 * median-of-three pivot). */
static void kn_select(double *key, int64_t *unit, int64_t lo, int64_t hi, int64_t m) {
    hi -= 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        double a = key[lo], b = key[mid], c = key[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (key[i] < pivot) i++;
            while (key[j] > pivot) j--;
            if (i <= j) {
                double tk = key[i];
                key[i] = key[j];
                key[j] = tk;
                int64_t tu = unit[i];
                unit[i] = unit[j];
                unit[j] = tu;
                i++;
                j--;
            }
        }
        if (m <= j) hi = j;
        else if (m >= i) lo = i;
        else return;
    }
}

/* Build node id over rows [a, b) of the tree order (unit: tree position -> row of x) at depth depth in the
 * cell [clo, chi] (scratch of 2 dp, modified and restored).
 * The split: the dimension widest over (up to KN_SAMPLE of) the rows, at the
 * middle of their range (one branch-free pass, splitting off empty space as
 * scipy's sliding midpoint does); the median instead when that leaves fewer
 * than an eighth on a side, and always from depth KN_FREE_DEPTH on (so the
 * depth stays below KN_FREE_DEPTH + log2 n + 1). The tree's shape decides the
 * speed, never the answer. */
static int64_t kn_build_node(kn_tree *t, const double *x, int64_t *unit, double *key, int64_t a, int64_t b,
                             int64_t parent, int64_t depth, double *clo, double *chi) {
    int64_t d = t->d, id = t->n_nodes++;
    kn_node *node = t->nodes + id;
    node->start = a;
    node->end = b;
    node->left = node->right = -1;
    node->parent = parent;
    memcpy(t->clo + id * t->dp, clo, sizeof(double) * (size_t)t->dp);
    memcpy(t->chi + id * t->dp, chi, sizeof(double) * (size_t)t->dp);
    if (b - a <= KN_LEAF) {
        t->leaves[t->n_leaves++] = id;
        if (b - a > t->max_leaf) t->max_leaf = b - a;
        return id;
    }
    int64_t dim = 0, step = (b - a) / KN_SAMPLE > 1 ? (b - a) / KN_SAMPLE : 1;
    double spread = -1.0, split = 0.0, lo_s[KN_SAMPLE_D], hi_s[KN_SAMPLE_D];
    for (int64_t j0 = 0; j0 < d; j0 += KN_SAMPLE_D) {
        int64_t w = d - j0 < KN_SAMPLE_D ? d - j0 : KN_SAMPLE_D;
        for (int64_t j = 0; j < w; j++) {
            lo_s[j] = INFINITY;
            hi_s[j] = -INFINITY;
        }
        for (int64_t u = a; u < b; u += step) {
            const double *row = x + unit[u] * d + j0;
            for (int64_t j = 0; j < w; j++) {
                lo_s[j] = kn_min(lo_s[j], row[j]);
                hi_s[j] = kn_max(hi_s[j], row[j]);
            }
        }
        for (int64_t j = 0; j < w; j++)
            if (hi_s[j] - lo_s[j] > spread) {
                spread = hi_s[j] - lo_s[j];
                dim = j0 + j;
                split = 0.5 * lo_s[j] + 0.5 * hi_s[j];
            }
    }
    int64_t mid = a;
    if (depth < KN_FREE_DEPTH) {
        /* rows below split first: [a, mid) below, [mid, u) not */
        for (int64_t u = a; u < b; u++) {
            int64_t e = unit[u];
            int64_t below = x[e * d + dim] < split;
            unit[u] = unit[mid];
            unit[mid] = e;
            mid += below;
        }
    }
    if ((mid - a) * 8 < b - a || (b - mid) * 8 < b - a) {
        mid = a + (b - a) / 2;
        for (int64_t u = a; u < b; u++) key[u] = x[unit[u] * d + dim];
        kn_select(key, unit, a, b, mid);
        split = key[mid];
    }
    /* rows before mid have coordinate dim <= split, rows from mid on >= split */
    double keep = chi[dim];
    chi[dim] = kn_min(keep, split);
    int64_t left = kn_build_node(t, x, unit, key, a, mid, id, depth + 1, clo, chi);
    chi[dim] = keep;
    keep = clo[dim];
    clo[dim] = kn_max(keep, split);
    int64_t right = kn_build_node(t, x, unit, key, mid, b, id, depth + 1, clo, chi);
    clo[dim] = keep;
    node = t->nodes + id;
    node->left = left;
    node->right = right;
    return id;
}

/* Build the tree over n x d points x (row-major float64, finite); split: as for kn_kth_distance. */
static int kn_build(kn_tree *t, const double *x, int64_t n, int64_t d, int64_t split) {
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->d = d;
    int64_t dp = (d + KN_LANES - 1) / KN_LANES * KN_LANES;
    t->dp = dp;
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return IB_NONFINITE;
    int64_t max_nodes = 2 * n + 1;
    size_t nd = (size_t)(n * d > 0 ? n * d : 1), nn = (size_t)(n > 0 ? n : 1);
    t->pts = (double *)calloc((size_t)(n > 0 ? n : 1) * (size_t)dp, sizeof(double));
    t->soa = (double *)malloc(sizeof(double) * nd);
    t->order = (int64_t *)malloc(sizeof(int64_t) * nn);
    t->leaves = (int64_t *)malloc(sizeof(int64_t) * (size_t)max_nodes);
    t->nodes = (kn_node *)malloc(sizeof(kn_node) * (size_t)max_nodes);
    t->lo = (double *)malloc(sizeof(double) * (size_t)(max_nodes * dp));
    t->hi = (double *)malloc(sizeof(double) * (size_t)(max_nodes * dp));
    t->clo = (double *)malloc(sizeof(double) * (size_t)((max_nodes + 1) * dp));
    t->chi = (double *)malloc(sizeof(double) * (size_t)((max_nodes + 1) * dp));
    t->part = (int64_t *)malloc(sizeof(int64_t) * (size_t)dp);
    int64_t *unit = (int64_t *)malloc(sizeof(int64_t) * nn);
    double *key = (double *)malloc(sizeof(double) * nn);
    if (!t->pts || !t->soa || !t->order || !t->leaves || !t->nodes || !t->lo || !t->hi || !t->clo || !t->chi ||
        !t->part || !unit || !key) {
        free(unit);
        free(key);
        kn_free(t);
        return IB_NO_MEMORY;
    }
    for (int64_t j = 0; j < dp; j++) t->part[j] = j < split ? -1 : 0;
    for (int64_t i = 0; i < n; i++) unit[i] = i;
    /* the root's cell (scratch: the last slot of clo/chi) is everything */
    double *clo = t->clo + max_nodes * dp, *chi = t->chi + max_nodes * dp;
    for (int64_t j = 0; j < dp; j++) {
        clo[j] = -INFINITY;
        chi[j] = INFINITY;
    }
    if (n > 0) kn_build_node(t, x, unit, key, 0, n, -1, 0, clo, chi);
    memcpy(t->order, unit, sizeof(int64_t) * (size_t)n);
    free(unit);
    free(key);
    for (int64_t i = 0; i < n; i++) memcpy(t->pts + i * dp, x + t->order[i] * d, sizeof(double) * (size_t)d);
    /* leaves: dimension-major copies and boxes; then the boxes bottom-up (children follow their parent) */
    for (int64_t l = 0; l < t->n_leaves; l++) {
        const kn_node *node = t->nodes + t->leaves[l];
        int64_t cnt = node->end - node->start;
        double *lo = t->lo + t->leaves[l] * dp, *hi = t->hi + t->leaves[l] * dp, *s = t->soa + node->start * d;
        for (int64_t j = 0; j < dp; j++) {
            lo[j] = j < d ? INFINITY : 0.0;
            hi[j] = j < d ? -INFINITY : 0.0;
        }
        for (int64_t j = 0; j < d; j++) {
            for (int64_t p = 0; p < cnt; p++) {
                double v = t->pts[(node->start + p) * dp + j];
                s[j * cnt + p] = v;
                lo[j] = kn_min(lo[j], v);
                hi[j] = kn_max(hi[j], v);
            }
        }
    }
    for (int64_t id = t->n_nodes - 1; id >= 0; id--) {
        const kn_node *node = t->nodes + id;
        if (node->left < 0) continue;
        const double *ll = t->lo + node->left * dp, *lh = t->hi + node->left * dp;
        const double *rl = t->lo + node->right * dp, *rh = t->hi + node->right * dp;
        for (int64_t j = 0; j < dp; j++) {
            t->lo[id * dp + j] = kn_min(ll[j], rl[j]);
            t->hi[id * dp + j] = kn_max(lh[j], rh[j]);
        }
    }
    return IB_OK;
}

/* Distances (squared for the Euclidean norm) from q to the cnt points of a leaf
 * stored dimension-major at s: the max norm, or scipy's sum of squares (four
 * accumulators over coordinates 4i + c, added up, then the remaining ones),
 * over coordinates [0, split) and [split, d) apart, the larger taken. */
KN_INLINE void kn_leaf_dist(int metric, const double *restrict s, int64_t cnt, int64_t d, int64_t split,
                                const double *restrict q, double *restrict out) {
    if (metric == KN_CHEBYSHEV) {
        for (int64_t p = 0; p < cnt; p++) out[p] = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double *c = s + j * cnt, qj = q[j];
            for (int64_t p = 0; p < cnt; p++) out[p] = kn_max(out[p], fabs(c[p] - qj));
        }
        return;
    }
    for (int64_t part = 0; part < 2; part++) {
        int64_t from = part ? split : 0, to = part ? d : (split < d ? split : d);
        if (from >= to) break;
        double a0[KN_LEAF], a1[KN_LEAF], a2[KN_LEAF], a3[KN_LEAF], sum[KN_LEAF];
        for (int64_t base = 0; base < cnt; base += KN_LEAF) {
            int64_t w = cnt - base < KN_LEAF ? cnt - base : KN_LEAF;
            for (int64_t p = 0; p < w; p++) a0[p] = a1[p] = a2[p] = a3[p] = 0.0;
            int64_t j = from;
            for (; j + 4 <= to; j += 4) {
                const double *c0 = s + j * cnt + base, *c1 = c0 + cnt, *c2 = c1 + cnt, *c3 = c2 + cnt;
                double q0 = q[j], q1 = q[j + 1], q2 = q[j + 2], q3 = q[j + 3];
                for (int64_t p = 0; p < w; p++) {
                    double e0 = c0[p] - q0, e1 = c1[p] - q1, e2 = c2[p] - q2, e3 = c3[p] - q3;
                    a0[p] += e0 * e0;
                    a1[p] += e1 * e1;
                    a2[p] += e2 * e2;
                    a3[p] += e3 * e3;
                }
            }
            for (int64_t p = 0; p < w; p++) sum[p] = a0[p] + a1[p] + a2[p] + a3[p];
            for (; j < to; j++) {
                const double *c = s + j * cnt + base, qj = q[j];
                for (int64_t p = 0; p < w; p++) {
                    double e = c[p] - qj;
                    sum[p] += e * e;
                }
            }
            if (part == 0)
                for (int64_t p = 0; p < w; p++) out[base + p] = sum[p];
            else
                for (int64_t p = 0; p < w; p++) out[base + p] = kn_max(out[base + p], sum[p]);
        }
    }
}

/* 4-wide vectors (GCC/clang vector extensions: AVX2/AVX-512 registers in those
 * clones). Macros, not functions: a vector passed by value would change the
 * ABI of the baseline clone. kn_v4u: the same, loaded from any 8-byte boundary. */
typedef double kn_v4 __attribute__((vector_size(32)));
typedef double kn_v4u __attribute__((vector_size(32), aligned(8)));
typedef int64_t kn_m4 __attribute__((vector_size(32)));
typedef int64_t kn_m4u __attribute__((vector_size(32), aligned(8)));
#define KN_LOAD(p) (*(const kn_v4u *)(p))
#define KN_LOADM(p) (*(const kn_m4u *)(p))
#define KN_BLEND(m, a, b) ((kn_v4)(((m) & (kn_m4)(a)) | (~(m) & (kn_m4)(b))))
#define KN_VMAX(a, b) KN_BLEND((a) > (b), a, b)
#define KN_VMIN(a, b) KN_BLEND((a) < (b), a, b)
#define KN_HMAX(v) kn_max(kn_max((v)[0], (v)[1]), kn_max((v)[2], (v)[3]))
#define KN_HMIN(v) kn_min(kn_min((v)[0], (v)[1]), kn_min((v)[2], (v)[3]))
#define KN_HSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

/* A lower bound of the distance (squared for the Euclidean norm) from point q
 * to the points of box [lo, hi] (dp coordinates, padded), and, when far is not
 * NULL, an upper bound. Exact bounds for the max norm; the Euclidean sums are
 * rounded in another order than a point's (callers widen them). */
KN_INLINE double kn_box(int metric, int64_t dp, const int64_t *part, const double *q, const double *lo,
                            const double *hi, double *far) {
    const kn_v4 zero = {0.0, 0.0, 0.0, 0.0};
    kn_v4 a = zero, b = zero, a1 = zero, b1 = zero;
    for (int64_t j = 0; j < dp; j += KN_LANES) {
        kn_v4 vq = KN_LOAD(q + j), vl = KN_LOAD(lo + j), vh = KN_LOAD(hi + j);
        kn_v4 gap = KN_VMAX(vl - vq, vq - vh);
        kn_v4 wide = KN_VMAX(vh - vq, vq - vl);
        if (metric == KN_CHEBYSHEV) {
            a = KN_VMAX(a, gap);
            b = KN_VMAX(b, wide);
        } else {
            kn_m4 first = KN_LOADM(part + j);
            gap = KN_VMAX(gap, zero);
            kn_v4 g2 = gap * gap, w2 = wide * wide;
            a += (kn_v4)((kn_m4)g2 & first);
            a1 += (kn_v4)((kn_m4)g2 & ~first);
            b += (kn_v4)((kn_m4)w2 & first);
            b1 += (kn_v4)((kn_m4)w2 & ~first);
        }
    }
    if (metric == KN_CHEBYSHEV) {
        if (far) *far = KN_HMAX(b);
        return KN_HMAX(a);
    }
    if (far) *far = kn_max(KN_HSUM(b), KN_HSUM(b1));
    return kn_max(KN_HSUM(a), KN_HSUM(a1));
}

/* The box bounds of the Euclidean norm are rounded in another order than a point's distance. */
#define KN_SLACK_UP 1.000000001
#define KN_SLACK_DOWN 0.999999999

/* Insert dist into best[0..m) (ascending) if smaller than best[m - 1]. */
KN_INLINE void kn_insert(double *best, int64_t m, double dist) {
    if (dist < best[m - 1]) {
        int64_t j = m - 1;
        while (j > 0 && best[j - 1] > dist) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = dist;
    }
}

/* Whether every point outside node id is at distance >= bound (strict: > bound)
 * from q: q lies that far inside each split of the node's cell (a point beyond
 * a split is at least as far in that coordinate, rounding being monotone, and a
 * distance is at least any one coordinate's difference, or its square). */
KN_INLINE int kn_inside(const kn_tree *t, int metric, int64_t id, const double *q, double bound, int strict) {
    const double *clo = t->clo + id * t->dp, *chi = t->chi + id * t->dp;
    kn_v4 g = {INFINITY, INFINITY, INFINITY, INFINITY};
    for (int64_t j = 0; j < t->dp; j += KN_LANES) {
        kn_v4 vq = KN_LOAD(q + j);
        g = KN_VMIN(g, KN_VMIN(vq - KN_LOAD(clo + j), KN_LOAD(chi + j) - vq));
    }
    double gap = KN_HMIN(g);
    if (metric != KN_CHEBYSHEV) gap = gap < 0.0 ? -1.0 : gap * gap;
    return strict ? gap > bound : gap >= bound;
}

/* Fold the points of leaf id into q's best[0..m) (ascending, dist: scratch). */
KN_INLINE void kn_fold(const kn_tree *t, int metric, int64_t split, int64_t id, const double *q, double *best,
                           int64_t m, double *dist) {
    const kn_node *node = t->nodes + id;
    int64_t cnt = node->end - node->start;
    kn_leaf_dist(metric, t->soa + node->start * t->d, cnt, t->d, split, q, dist);
    for (int64_t p = 0; p < cnt; p++) kn_insert(best, m, dist[p]);
}

/* Fold every point of the subtree at id that may be nearer than best[m - 1], closer child first. */
KN_INLINE void kn_descend(const kn_tree *t, int metric, int64_t split, double slack, int64_t id, const double *q,
                              double *best, int64_t m, double *dist) {
    int64_t dp = t->dp, stack[KN_STACK];
    double near_of[KN_STACK];
    int64_t top = 0;
    stack[top] = id;
    near_of[top++] = kn_box(metric, dp, t->part, q, t->lo + id * dp, t->hi + id * dp, NULL);
    while (top > 0) {
        top--;
        if (near_of[top] * slack > best[m - 1]) continue;
        const kn_node *node = t->nodes + stack[top];
        if (node->left < 0) {
            kn_fold(t, metric, split, stack[top], q, best, m, dist);
            continue;
        }
        double nl = kn_box(metric, dp, t->part, q, t->lo + node->left * dp, t->hi + node->left * dp, NULL);
        double nr = kn_box(metric, dp, t->part, q, t->lo + node->right * dp, t->hi + node->right * dp, NULL);
        int64_t first = nl <= nr ? node->left : node->right, second = nl <= nr ? node->right : node->left;
        double n1 = kn_min(nl, nr), n2 = kn_max(nl, nr);
        if (n2 * slack <= best[m - 1]) {
            stack[top] = second;
            near_of[top++] = n2;
        }
        if (n1 * slack <= best[m - 1]) {
            stack[top] = first;
            near_of[top++] = n1;
        }
    }
}

/* The k-th distances of the points of leaf l (m = k + 1: the point itself
 * comes first, at distance 0): its own leaf first, then up the tree, each
 * sibling subtree, until the ball is inside the cell. */
KN_INLINE void kn_leaf_kth(const kn_tree *t, int metric, int64_t split, int64_t l, int64_t m, double *best,
                               double *dist, double *out) {
    double slack = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN;
    int64_t own = t->leaves[l];
    const kn_node *leaf = t->nodes + own;
    for (int64_t i = leaf->start; i < leaf->end; i++) {
        const double *q = t->pts + i * t->dp;
        for (int64_t j = 0; j < m; j++) best[j] = INFINITY;
        kn_fold(t, metric, split, own, q, best, m, dist);
        int64_t id = own;
        while (t->nodes[id].parent >= 0 && !kn_inside(t, metric, id, q, best[m - 1], 0)) {
            const kn_node *parent = t->nodes + t->nodes[id].parent;
            kn_descend(t, metric, split, slack, parent->left == id ? parent->right : parent->left, q, best, m, dist);
            id = t->nodes[id].parent;
        }
        double r = best[m - 1];
        out[t->order[i]] = metric == KN_CHEBYSHEV ? r : sqrt(r);
    }
}

/* The leaves [from, to) of kn_kth_distance, one metric compiled apart each (constants fold). */
KN_CLONES static void kn_leaves_kth(const kn_tree *t, int metric, int64_t split, int64_t from, int64_t to, int64_t m,
                                    double *best, double *dist, double *out) {
    if (metric == KN_CHEBYSHEV)
        for (int64_t l = from; l < to; l++) kn_leaf_kth(t, KN_CHEBYSHEV, split, l, m, best, dist, out);
    else
        for (int64_t l = from; l < to; l++) kn_leaf_kth(t, KN_EUCLIDEAN, split, l, m, best, dist, out);
}

/* out[i] = distance from row i of x to its k-th nearest other row (k < n). */
static int kn_kth_distance(const double *x, int64_t n, int64_t d, int64_t k, int metric, int64_t split, int n_threads,
                           double *out) {
    kn_tree t;
    int status = kn_build(&t, x, n, d, split);
    if (status != IB_OK) return status;
    int failed = 0;
    int64_t m = k + 1; /* the point itself comes first, at distance 0 */
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        double *best = (double *)malloc(sizeof(double) * (size_t)m);
        double *dist = (double *)malloc(sizeof(double) * (size_t)(t.max_leaf > 0 ? t.max_leaf : 1));
        if (!best || !dist) {
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = 0; c < t.n_leaves; c += 16)
                kn_leaves_kth(&t, metric, split, c, c + 16 < t.n_leaves ? c + 16 : t.n_leaves, m, best, dist, out);
        }
        free(best);
        free(dist);
    }
    kn_free(&t);
    return failed ? IB_NO_MEMORY : IB_OK;
}

/* Points of the subtree at id within bound (>= 0) of q. */
KN_INLINE int64_t kn_count(const kn_tree *t, int metric, int64_t split, int64_t id, const double *q, double bound,
                               double *dist) {
    double down = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN, up = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_UP;
    int64_t dp = t->dp, stack[KN_STACK], top = 0, c = 0;
    stack[top++] = id;
    while (top > 0) {
        const kn_node *node = t->nodes + stack[--top];
        int64_t at = (int64_t)(node - t->nodes) * dp;
        double far, near = kn_box(metric, dp, t->part, q, t->lo + at, t->hi + at, &far);
        if (near * down > bound) continue;
        if (far * up <= bound) {
            c += node->end - node->start;
            continue;
        }
        if (node->left >= 0) {
            stack[top++] = node->right;
            stack[top++] = node->left;
            continue;
        }
        int64_t cnt = node->end - node->start;
        kn_leaf_dist(metric, t->soa + node->start * t->d, cnt, t->d, split, q, dist);
        for (int64_t p = 0; p < cnt; p++) c += dist[p] <= bound;
    }
    return c;
}

/* The counts of the points of leaf l: its own leaf first, then up the tree,
 * each sibling subtree, until the ball is strictly inside the cell. */
KN_INLINE void kn_leaf_count(const kn_tree *t, int metric, int64_t split, int64_t l, const double *radius,
                                 double *dist, int64_t *out) {
    int64_t own = t->leaves[l];
    const kn_node *leaf = t->nodes + own;
    for (int64_t i = leaf->start; i < leaf->end; i++) {
        double r = radius[t->order[i]];
        if (!(r >= 0.0)) {
            out[t->order[i]] = 0;
            continue;
        }
        double bound = metric == KN_CHEBYSHEV ? r : r * r;
        const double *q = t->pts + i * t->dp;
        int64_t c = kn_count(t, metric, split, own, q, bound, dist), id = own;
        while (t->nodes[id].parent >= 0 && !kn_inside(t, metric, id, q, bound, 1)) {
            const kn_node *parent = t->nodes + t->nodes[id].parent;
            c += kn_count(t, metric, split, parent->left == id ? parent->right : parent->left, q, bound, dist);
            id = t->nodes[id].parent;
        }
        out[t->order[i]] = c;
    }
}

/* The leaves [from, to) of kn_count_within, one metric compiled apart each. */
KN_CLONES static void kn_leaves_count(const kn_tree *t, int metric, int64_t split, int64_t from, int64_t to,
                                      const double *radius, double *dist, int64_t *out) {
    if (metric == KN_CHEBYSHEV)
        for (int64_t l = from; l < to; l++) kn_leaf_count(t, KN_CHEBYSHEV, split, l, radius, dist, out);
    else
        for (int64_t l = from; l < to; l++) kn_leaf_count(t, KN_EUCLIDEAN, split, l, radius, dist, out);
}

/* out[i] = rows of x (row i included) at distance <= radius[i] from row i
 * (none for a negative or NaN radius). */
static int kn_count_within(const double *x, int64_t n, int64_t d, const double *radius, int metric, int64_t split,
                           int n_threads, int64_t *out) {
    kn_tree t;
    int status = kn_build(&t, x, n, d, split);
    if (status != IB_OK) return status;
    int failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        double *dist = (double *)malloc(sizeof(double) * (size_t)(t.max_leaf > 0 ? t.max_leaf : 1));
        if (!dist) {
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = 0; c < t.n_leaves; c += 16)
                kn_leaves_count(&t, metric, split, c, c + 16 < t.n_leaves ? c + 16 : t.n_leaves, radius, dist, out);
        }
        free(dist);
    }
    kn_free(&t);
    return failed ? IB_NO_MEMORY : IB_OK;
}

#endif /* IBSIM_KNN_CORE_H */
