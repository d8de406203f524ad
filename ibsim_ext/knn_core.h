/* k-nearest-neighbour searches for the k-NN estimators: a k-d tree over one block.
 *
 * Two queries, each for every point of the tree against the tree itself,
 * parallel over points (OpenMP):
 *   - kn_kth_distance: the distance to the k-th nearest other point;
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
 * k-th smallest of a multiset, or a count, does not depend on the search order.
 * Only the pruning uses box distances: exact bounds for the max norm (rounding
 * is monotone), bounds widened by a relative 1e-9 for the Euclidean norm (a box
 * sum of squares is rounded in another order than a point's).
 *
 * The tree: median splits down to leaves of at most KN_LEAF points, on the
 * widest dimension of the box the splits above cut out; the points are moved
 * into tree order as they are split (queries in that order walk the same
 * leaves, cache-warm), and each node's box is then shrunk to its points,
 * bottom-up. Every point is one query, OpenMP over points.
 * Status: IB_OK, IB_NONFINITE (a NaN or infinite coordinate), IB_NO_MEMORY.
 */
#ifndef IBSIM_KNN_CORE_H
#define IBSIM_KNN_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define KN_LEAF 12
#define KN_CHEBYSHEV 0
#define KN_EUCLIDEAN 1
#define KN_MAX_K 64 /* larger k: the heap lives on the heap */

typedef struct {
    int64_t start, end; /* points [start, end) in tree order */
    int64_t left, right; /* children, -1 for a leaf */
} kn_node;

typedef struct {
    int64_t n, d, n_nodes;
    double *pts;    /* n x d, tree order */
    int64_t *order; /* tree position -> original row */
    kn_node *nodes;
    double *lo, *hi; /* n_nodes x d boxes */
} kn_tree;

static void kn_free(kn_tree *t) {
    free(t->pts);
    free(t->order);
    free(t->nodes);
    free(t->lo);
    free(t->hi);
    memset(t, 0, sizeof(*t));
}

static inline double kn_max(double a, double b) { return a > b ? a : b; }
static inline double kn_min(double a, double b) { return a < b ? a : b; }

static inline void kn_swap(double *p, int64_t *order, int64_t d, int64_t i, int64_t j) {
    double *a = p + i * d, *b = p + j * d;
    for (int64_t c = 0; c < d; c++) {
        double tmp = a[c];
        a[c] = b[c];
        b[c] = tmp;
    }
    int64_t tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
}

/* Rearrange rows [lo, hi) of p (and order alike) so that the m-th smallest
 * coordinate dim sits at row m, no greater before it, no smaller after it
 * (Hoare's quickselect, median-of-three pivot). */
static void kn_select(double *p, int64_t *order, int64_t d, int64_t dim, int64_t lo, int64_t hi, int64_t m) {
    hi -= 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        double a = p[lo * d + dim], b = p[mid * d + dim], c = p[hi * d + dim];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (p[i * d + dim] < pivot) i++;
            while (p[j * d + dim] > pivot) j--;
            if (i <= j) kn_swap(p, order, d, i++, j--);
        }
        if (m <= j) hi = j;
        else if (m >= i) lo = i;
        else return;
    }
}

/* Build node id over rows [start, end), split inside the box [lo, hi) (scratch
 * of 2d, modified and restored); its compact box is set from its children. */
static int64_t kn_build_node(kn_tree *t, int64_t start, int64_t end, double *lo, double *hi) {
    int64_t d = t->d, id = t->n_nodes++;
    kn_node *node = t->nodes + id;
    double *blo = t->lo + id * d, *bhi = t->hi + id * d;
    node->start = start;
    node->end = end;
    node->left = node->right = -1;
    int64_t dim = 0;
    double spread = -1.0;
    for (int64_t j = 0; j < d; j++) {
        if (hi[j] - lo[j] > spread) {
            spread = hi[j] - lo[j];
            dim = j;
        }
    }
    if (end - start > KN_LEAF && spread > 0.0) {
        int64_t mid = start + (end - start) / 2;
        kn_select(t->pts, t->order, d, dim, start, end, mid);
        double split = t->pts[mid * d + dim], keep = hi[dim];
        hi[dim] = split;
        int64_t left = kn_build_node(t, start, mid, lo, hi);
        hi[dim] = keep;
        keep = lo[dim];
        lo[dim] = split;
        int64_t right = kn_build_node(t, mid, end, lo, hi);
        lo[dim] = keep;
        node = t->nodes + id;
        node->left = left;
        node->right = right;
        const double *ll = t->lo + left * d, *lh = t->hi + left * d, *rl = t->lo + right * d, *rh = t->hi + right * d;
        for (int64_t j = 0; j < d; j++) {
            blo[j] = kn_min(ll[j], rl[j]);
            bhi[j] = kn_max(lh[j], rh[j]);
        }
        if (spread > 0.0) return id;
    }
    for (int64_t j = 0; j < d; j++) {
        blo[j] = INFINITY;
        bhi[j] = -INFINITY;
    }
    for (int64_t i = start; i < end; i++) {
        const double *q = t->pts + i * d;
        for (int64_t j = 0; j < d; j++) {
            blo[j] = kn_min(blo[j], q[j]);
            bhi[j] = kn_max(bhi[j], q[j]);
        }
    }
    return id;
}

/* Build the tree over n x d points x (row-major float64, finite). */
static int kn_build(kn_tree *t, const double *x, int64_t n, int64_t d) {
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->d = d;
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return IB_NONFINITE;
    int64_t max_nodes = 4 * (n / (KN_LEAF / 2 + 1)) + 8;
    t->pts = (double *)malloc(sizeof(double) * (size_t)(n * d > 0 ? n * d : 1));
    t->order = (int64_t *)malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    t->nodes = (kn_node *)malloc(sizeof(kn_node) * (size_t)max_nodes);
    t->lo = (double *)malloc(sizeof(double) * (size_t)((max_nodes + 1) * d));
    t->hi = (double *)malloc(sizeof(double) * (size_t)((max_nodes + 1) * d));
    if (!t->pts || !t->order || !t->nodes || !t->lo || !t->hi) {
        kn_free(t);
        return IB_NO_MEMORY;
    }
    memcpy(t->pts, x, sizeof(double) * (size_t)(n * d));
    for (int64_t i = 0; i < n; i++) t->order[i] = i;
    /* the scratch box: the last slot of lo/hi */
    double *lo = t->lo + max_nodes * d, *hi = t->hi + max_nodes * d;
    for (int64_t j = 0; j < d; j++) {
        lo[j] = INFINITY;
        hi[j] = -INFINITY;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            lo[j] = kn_min(lo[j], x[i * d + j]);
            hi[j] = kn_max(hi[j], x[i * d + j]);
        }
    if (n > 0) kn_build_node(t, 0, n, lo, hi);
    return IB_OK;
}

/* scipy's sqeuclidean_distance_double: four accumulators, then the tail. */
static inline double kn_sqeuclidean(const double *u, const double *v, int64_t n) {
    double acc[4] = {0., 0., 0., 0.};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        double d0 = u[i] - v[i], d1 = u[i + 1] - v[i + 1], d2 = u[i + 2] - v[i + 2], d3 = u[i + 3] - v[i + 3];
        acc[0] += d0 * d0;
        acc[1] += d1 * d1;
        acc[2] += d2 * d2;
        acc[3] += d3 * d3;
    }
    double s = acc[0] + acc[1] + acc[2] + acc[3];
    for (; i < n; i++) {
        double e = u[i] - v[i];
        s += e * e;
    }
    return s;
}

static inline double kn_chebyshev(const double *u, const double *v, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s = kn_max(s, fabs(u[i] - v[i]));
    return s;
}

/* The max norm, or the larger squared Euclidean norm of coordinates [0, split) and [split, n). */
static inline double kn_dist(int metric, const double *u, const double *v, int64_t n, int64_t split) {
    if (metric == KN_CHEBYSHEV) return kn_chebyshev(u, v, n);
    if (split >= n) return kn_sqeuclidean(u, v, n);
    return kn_max(kn_sqeuclidean(u, v, split), kn_sqeuclidean(u + split, v + split, n - split));
}

/* Smallest and largest distance (squared for the Euclidean norm) from q to the box of node id. */
static inline void kn_box(const kn_tree *t, int metric, int64_t id, const double *q, double *near, double *far,
                          int64_t split) {
    const double *lo = t->lo + id * t->d, *hi = t->hi + id * t->d;
    double a = 0.0, b = 0.0, a1 = 0.0, b1 = 0.0;
    for (int64_t j = 0; j < t->d; j++) {
        if (j == split) {
            a1 = a;
            b1 = b;
            a = b = 0.0;
        }
        double gap = kn_max(kn_max(lo[j] - q[j], q[j] - hi[j]), 0.0);
        double wide = kn_max(hi[j] - q[j], q[j] - lo[j]);
        if (metric == KN_CHEBYSHEV) {
            a = kn_max(a, gap);
            b = kn_max(b, wide);
        } else {
            a += gap * gap;
            b += wide * wide;
        }
    }
    *near = kn_max(a, a1);
    *far = kn_max(b, b1);
}

static inline double kn_near(const kn_tree *t, int metric, int64_t id, const double *q, int64_t split) {
    const double *lo = t->lo + id * t->d, *hi = t->hi + id * t->d;
    double a = 0.0;
    if (metric == KN_CHEBYSHEV) {
        for (int64_t j = 0; j < t->d; j++) a = kn_max(a, kn_max(lo[j] - q[j], q[j] - hi[j]));
        return a;
    }
    double a1 = 0.0;
    for (int64_t j = 0; j < t->d; j++) {
        if (j == split) {
            a1 = a;
            a = 0.0;
        }
        double gap = kn_max(kn_max(lo[j] - q[j], q[j] - hi[j]), 0.0);
        a += gap * gap;
    }
    return kn_max(a, a1);
}

/* The box bounds of the Euclidean norm are rounded in another order than a point's distance. */
#define KN_SLACK_UP 1.000000001
#define KN_SLACK_DOWN 0.999999999

/* best[0..m) ascending: the m smallest distances seen; descend closer child first. */
static void kn_search(const kn_tree *t, int metric, int64_t id, const double *q, double *best, int64_t m,
                      double slack, int64_t split) {
    const kn_node *node = t->nodes + id;
    if (node->left < 0) {
        for (int64_t i = node->start; i < node->end; i++) {
            double dist = kn_dist(metric, t->pts + i * t->d, q, t->d, split);
            if (dist < best[m - 1]) {
                int64_t j = m - 1;
                while (j > 0 && best[j - 1] > dist) {
                    best[j] = best[j - 1];
                    j--;
                }
                best[j] = dist;
            }
        }
        return;
    }
    double nl = kn_near(t, metric, node->left, q, split), nr = kn_near(t, metric, node->right, q, split);
    int64_t first = nl <= nr ? node->left : node->right, second = nl <= nr ? node->right : node->left;
    double n1 = kn_min(nl, nr), n2 = kn_max(nl, nr);
    if (n1 * slack <= best[m - 1]) kn_search(t, metric, first, q, best, m, slack, split);
    if (n2 * slack <= best[m - 1]) kn_search(t, metric, second, q, best, m, slack, split);
}

static int64_t kn_count(const kn_tree *t, int metric, int64_t id, const double *q, double bound, int64_t split) {
    const kn_node *node = t->nodes + id;
    double near, far;
    kn_box(t, metric, id, q, &near, &far, split);
    if (metric == KN_CHEBYSHEV) {
        if (near > bound) return 0;
        if (far <= bound) return node->end - node->start;
    } else {
        if (near * KN_SLACK_DOWN > bound) return 0;
        if (far * KN_SLACK_UP <= bound) return node->end - node->start;
    }
    if (node->left >= 0)
        return kn_count(t, metric, node->left, q, bound, split) + kn_count(t, metric, node->right, q, bound, split);
    int64_t c = 0;
    for (int64_t i = node->start; i < node->end; i++) c += kn_dist(metric, t->pts + i * t->d, q, t->d, split) <= bound;
    return c;
}

/* out[i] = distance from row i of x to its k-th nearest other row (k < n). */
static int kn_kth_distance(const double *x, int64_t n, int64_t d, int64_t k, int metric, int64_t split, int n_threads,
                           double *out) {
    kn_tree t;
    int status = kn_build(&t, x, n, d);
    if (status != IB_OK) return status;
    int failed = 0;
    int64_t m = k + 1; /* the point itself comes first, at distance 0 */
    double slack = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        double local[KN_MAX_K + 1];
        double *best = m <= KN_MAX_K + 1 ? local : (double *)malloc(sizeof(double) * (size_t)m);
        if (!best) {
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 256)
            for (int64_t i = 0; i < n; i++) {
                for (int64_t j = 0; j < m; j++) best[j] = INFINITY;
                kn_search(&t, metric, 0, t.pts + i * d, best, m, slack, split);
                double r = best[m - 1];
                out[t.order[i]] = metric == KN_CHEBYSHEV ? r : sqrt(r);
            }
            if (best != local) free(best);
        }
    }
    kn_free(&t);
    return failed ? IB_NO_MEMORY : IB_OK;
}

/* out[i] = rows of x (row i included) at distance <= radius[i] from row i
 * (none for a negative or NaN radius). */
static int kn_count_within(const double *x, int64_t n, int64_t d, const double *radius, int metric, int64_t split,
                           int n_threads, int64_t *out) {
    kn_tree t;
    int status = kn_build(&t, x, n, d);
    if (status != IB_OK) return status;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 256)
    for (int64_t i = 0; i < n; i++) {
        double r = radius[t.order[i]];
        double bound = metric == KN_CHEBYSHEV ? r : r * r;
        out[t.order[i]] = r >= 0.0 ? kn_count(&t, metric, 0, t.pts + i * d, bound, split) : 0;
    }
    kn_free(&t);
    return IB_OK;
}

#endif /* IBSIM_KNN_CORE_H */
