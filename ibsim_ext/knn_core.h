/* k-nearest-neighbour searches for the k-NN estimators: a k-d tree over one block.
 *
 * Three queries, each for every point of the tree against the tree itself,
 * parallel over tree leaves (OpenMP):
 *   - kn_kth_distance: the distance to the k-th nearest other point
 *     (the Euclidean metric takes a split: the distance is then the larger
 *     Euclidean norm of coordinates [0, split) and [split, d), KSG's joint
 *     norm; split >= d is the plain Euclidean norm); group >= 2 tells that
 *     rows [i group, (i + 1) group) are copies of one point (the noisy copies
 *     of one sample, as np.repeat lays them out), to be searched together;
 *   - kn_count_within: the points (the point itself included) at distance
 *     <= radius_i, per point i (callers pass the radius just below theirs for
 *     "strictly within");
 *   - kn_class_count: Ross's two numbers in one walk per point (see "Ross's
 *     search" below): the distance r_i to the k_i-th nearest other point of
 *     the point's own class, and the points of any class strictly within r_i,
 *     the numbers of kn_kth_distance per class and kn_count_within with
 *     nextafter(r_i, 0), bit for bit.
 *
 * The numbers equal scipy's cKDTree (query with k+1 / query_ball_point with
 * return_length) bit for bit, whatever group and whichever search runs: every
 * search computes each point-to-point distance the same way in float64
 * (max |x_j - y_j| for the max norm; for the Euclidean norm scipy's sum of
 * squares with four accumulators, compared squared against radius * radius,
 * the root taken only of the returned k-th distance; |a - b| and (a - b)^2 are
 * those of b - a), and the k-th smallest of a multiset, or a count, does not
 * depend on the search order nor on the shape of the tree, so long as every
 * point that could be nearer is reached and none is counted twice. Only the
 * pruning uses box distances: exact bounds for the max norm (rounding is
 * monotone), bounds widened by a relative 1e-9 for the Euclidean norm (a box
 * sum of squares is rounded in another order than a point's).
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
 * too, picked at run time; with k = 3, widths 1 to 12 run a copy compiled
 * for their width and norm alone, KN_WIDTHS). The row-major points are
 * kept only for the searches of one point at a time; the large arrays come
 * from memory kept between searches (kn_take, below), not fresh from the
 * system. A tree of KN_PART_TREE rows or more is built by the search's threads:
 * its top first, then the subtrees below it in parallel (kn_build_nodes: the
 * same tree, its node ids in another order); the passes over the coordinates
 * (the finite check, the leaves' copies and boxes) too, from KN_PAR_BUILD
 * coordinates.
 *
 * Three searches (see "The batched searches" below for the details):
 *   - the group tree's batches (k-th distances, group >= 2): a second tree
 *     whose leaves are the groups; each group's copies start from their
 *     distances to one another (the copies of a sample are usually each
 *     other's nearest neighbours in the wide layers: an upper bound on each
 *     copy's k-th distance before any search) and then walk the tree together,
 *     8 copies to a vector of doubles (one AVX-512 register, two AVX2), a node
 *     visited when any copy may have a nearer point there;
 *   - the point tree's leaves batched (k-th distances when the groups overlap
 *     or group = 1, counts, Ross's search): the same for the up to KN_LEAF points of one
 *     leaf, from their own leaf up the tree (each sibling subtree searched
 *     top-down), stopping once the leaf's box lies the largest bound inside the
 *     node's cell;
 *   - one point at a time (kept as the tests' second implementation): the
 *     query's own leaf, then up, each sibling subtree top-down, closer child
 *     first, boxes farther than the current k-th distance skipped (for counts:
 *     beyond the radius, or counted whole when entirely within it), until the
 *     query lies that distance inside the node's cell (a distance is at least
 *     any one coordinate's difference, or its square, and rounding is monotone).
 * kn_kth_distance picks the group tree when group >= 2 and neither a first look
 * at a few groups' centroids (kn_crowded, before building it) nor a probe of a
 * few groups finds them overlapping, else the point tree's leaves; kn_count_within and
 * kn_class_count the leaves. Status: IB_OK, IB_NONFINITE (a NaN or infinite
 * coordinate), IB_NO_MEMORY.
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
/* The searches compiled apart per width (KN_WIDTHS) are compiled for AVX-512 alone (one copy each, not three:
 * the compile time) and run only where the CPU has it. */
#define KN_WIDE __attribute__((target("avx512f"), optimize("fp-contract=off")))
#define KN_HAS_WIDE() __builtin_cpu_supports("avx512f")
#else
#define KN_CLONES
#define KN_WIDE
#define KN_HAS_WIDE() 1
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
    int64_t *part;     /* dp lanes: -1 for coordinates before the split, 0 after (the Euclidean joint norm); */
                       /* NULL without a split (split >= d: kn_split_lanes) */
} kn_tree;

/* Memory kept between searches. A page of fresh memory costs a fault on its first touch (about 2 us per 4 KB
 * page on the 2-core test machine, where a main-job block's searches touched some 1000 fresh pages: 10 % of
 * its time), and the system takes back what a search frees. So the large arrays of a search are taken from
 * blocks kept here (kn_take) and given back to them (kn_give), and the next search of a like size touches
 * no fresh page. Up to KN_KEEP_SLOTS blocks of at most KN_KEEP_MAX bytes, KN_KEEP_TOTAL in all, are kept
 * for the process (one lock; a kept block's content is never assumed: no zeros). */
#define KN_KEEP_SLOTS 64
#define KN_KEEP_MAX ((size_t)64 << 20)
#define KN_KEEP_TOTAL ((size_t)256 << 20)

typedef struct {
    void *p;
    size_t bytes;
    int busy;
} kn_kept;

static kn_kept kn_keep[KN_KEEP_SLOTS];

/* A block of at least bytes: the smallest idle kept one that fits, else a new one (kept when there is room:
 * a free slot, or the slot of an idle block, which is freed). NULL when out of memory. */
static void *kn_take(size_t bytes) {
    void *p = NULL, *drop = NULL;
    bytes = bytes > 0 ? bytes : 1;
#pragma omp critical(kn_keep)
    {
        int fit = -1;
        for (int i = 0; i < KN_KEEP_SLOTS; i++)
            if (kn_keep[i].p && !kn_keep[i].busy && kn_keep[i].bytes >= bytes &&
                (fit < 0 || kn_keep[i].bytes < kn_keep[fit].bytes))
                fit = i;
        if (fit >= 0) {
            kn_keep[fit].busy = 1;
            p = kn_keep[fit].p;
        }
    }
    if (p) return p;
    p = malloc(bytes);
    if (!p || bytes > KN_KEEP_MAX) return p;
#pragma omp critical(kn_keep)
    {
        int slot = -1;
        size_t total = bytes;
        for (int i = 0; i < KN_KEEP_SLOTS; i++) {
            total += kn_keep[i].bytes;
            if (slot < 0 && !kn_keep[i].p) slot = i;
        }
        for (int i = 0; i < KN_KEEP_SLOTS; i++)
            if (slot < 0 && !kn_keep[i].busy) slot = i;
        if (slot >= 0 && total - kn_keep[slot].bytes <= KN_KEEP_TOTAL) {
            drop = kn_keep[slot].p;
            kn_keep[slot].p = p;
            kn_keep[slot].bytes = bytes;
            kn_keep[slot].busy = 1;
        }
    }
    free(drop);
    return p;
}

/* Give back a block of kn_take (kept: idle again; else freed), or free one of malloc. */
static void kn_give(void *p) {
    int kept = 0;
    if (!p) return;
#pragma omp critical(kn_keep)
    {
        for (int i = 0; i < KN_KEEP_SLOTS && !kept; i++)
            if (kn_keep[i].p == p) {
                kn_keep[i].busy = 0;
                kept = 1;
            }
    }
    if (!kept) free(p);
}

static void kn_free(kn_tree *t) {
    kn_give(t->pts);
    kn_give(t->soa);
    kn_give(t->order);
    kn_give(t->leaves);
    kn_give(t->nodes);
    kn_give(t->lo);
    kn_give(t->hi);
    kn_give(t->clo);
    kn_give(t->chi);
    kn_give(t->part);
    memset(t, 0, sizeof(*t));
}

static inline double kn_max(double a, double b) { return a > b ? a : b; }
static inline double kn_min(double a, double b) { return a < b ? a : b; }

/* Whether the count doubles at x are all finite: no exponent field of all ones (NaN or infinite), tested on
 * the bits without a branch per value. */
static int kn_all_finite(const double *x, int64_t count) {
    uint64_t bad = 0;
    for (int64_t i = 0; i < count; i++) {
        uint64_t bits;
        memcpy(&bits, x + i, sizeof(bits));
        bad |= (~bits & 0x7ff0000000000000ULL) == 0;
    }
    return !bad;
}

/* The dimension of widest range over (up to about KN_SAMPLE of) the rows unit[a, b) of x (n x d), ties to
 * the lower dimension, and the middle of that range (0.5 lo + 0.5 hi) in *split:
 * the sliding midpoint's split, shared by the point tree and the group tree (the dimensions KN_SAMPLE_D at a
 * time, the rows' coordinates read in order). */
static int64_t kn_widest(const double *x, int64_t d, const int64_t *unit, int64_t a, int64_t b, double *split) {
    int64_t dim = 0, step = (b - a) / KN_SAMPLE > 1 ? (b - a) / KN_SAMPLE : 1;
    double spread = -1.0, lo_s[KN_SAMPLE_D], hi_s[KN_SAMPLE_D];
    *split = 0.0;
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
                *split = 0.5 * lo_s[j] + 0.5 * hi_s[j];
            }
    }
    return dim;
}

/* Push node's children that may hold a point within bound (box distances nl, nr, widened by slack), the
 * closer one last, so that it is popped first; returns the new top of the walk's stack. */
KN_INLINE int64_t kn_push(int64_t *stack, double *near_of, int64_t top, const kn_node *node, double nl,
                          double nr, double slack, double bound) {
    int64_t first = nl <= nr ? node->left : node->right, second = nl <= nr ? node->right : node->left;
    double n1 = kn_min(nl, nr), n2 = kn_max(nl, nr);
    if (n2 * slack <= bound) {
        stack[top] = second;
        near_of[top++] = n2;
    }
    if (n1 * slack <= bound) {
        stack[top] = first;
        near_of[top++] = n1;
    }
    return top;
}

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

/* Split rows unit[a, b) (of x, n x d) on coordinate dim: those below *split first (sliding midpoint),
 * or, from depth KN_FREE_DEPTH on or when a side would hold under an eighth, at the median (then
 * *split is the median's coordinate; key: scratch). Returns mid: rows before it have coordinate
 * dim <= *split, rows from it on >= *split. Shared by the point tree and the group tree. */
static int64_t kn_partition(const double *x, int64_t d, int64_t *unit, double *key, int64_t a, int64_t b,
                            int64_t dim, int64_t depth, double *split) {
    int64_t mid = a;
    if (depth < KN_FREE_DEPTH) {
        /* rows below split first: [a, mid) below, [mid, u) not */
        for (int64_t u = a; u < b; u++) {
            int64_t e = unit[u];
            int64_t below = x[e * d + dim] < *split;
            unit[u] = unit[mid];
            unit[mid] = e;
            mid += below;
        }
    }
    if ((mid - a) * 8 < b - a || (b - mid) * 8 < b - a) {
        mid = a + (b - a) / 2;
        for (int64_t u = a; u < b; u++) key[u] = x[unit[u] * d + dim];
        kn_select(key, unit, a, b, mid);
        *split = key[mid];
    }
    return mid;
}

/* The subtrees of a large tree's top, left by kn_build_node to be built in parallel: rows [a, b) of the tree
 * order at depth, a child of parent, in the cell at cells + 2 dp i (clo, then chi). */
#define KN_PARTS 256         /* subtrees at most (the top's nodes hold more than an eighth of the rows each:
                                fewer than 8 per depth, 17 depths with the most lopsided splits) */
#define KN_PART_TREE 16384   /* rows from which the tree's top is split into subtrees built in parallel */
typedef struct {
    int64_t a, b, parent, depth;
} kn_part;
typedef struct {
    kn_part part[KN_PARTS];
    double *cells;
    int64_t count, most, full; /* most: a node of at most so many rows is left as a subtree */
} kn_parts;

/* Build node id over rows [a, b) of the tree order (unit: tree position -> row of x) at depth depth in the
 * cell [clo, chi] (scratch of 2 dp, modified and restored); with parts (not NULL), a node of at most
 * parts->most rows is not built but left there (returns -1; full is set when there is no room).
 * The split: the dimension widest over (up to KN_SAMPLE of) the rows, at the
 * middle of their range (one branch-free pass, splitting off empty space as
 * scipy's sliding midpoint does); the median instead when that leaves fewer
 * than an eighth on a side, and always from depth KN_FREE_DEPTH on (so the
 * depth stays below KN_FREE_DEPTH + log2 n + 1). The tree's shape decides the
 * speed, never the answer. */
static int64_t kn_build_node(kn_tree *t, const double *x, int64_t *unit, double *key, int64_t a, int64_t b,
                             int64_t parent, int64_t depth, double *clo, double *chi, kn_parts *parts) {
    if (parts && b - a <= parts->most) {
        if (parts->count == KN_PARTS) {
            parts->full = 1;
            return -1;
        }
        kn_part *part = parts->part + parts->count;
        part->a = a;
        part->b = b;
        part->parent = parent;
        part->depth = depth;
        memcpy(parts->cells + 2 * t->dp * parts->count, clo, sizeof(double) * (size_t)t->dp);
        memcpy(parts->cells + 2 * t->dp * parts->count + t->dp, chi, sizeof(double) * (size_t)t->dp);
        parts->count++;
        return -1;
    }
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
        return id;
    }
    double split;
    int64_t dim = kn_widest(x, d, unit, a, b, &split);
    int64_t mid = kn_partition(x, d, unit, key, a, b, dim, depth, &split);
    /* rows before mid have coordinate dim <= split, rows from mid on >= split */
    double keep = chi[dim];
    chi[dim] = kn_min(keep, split);
    int64_t left = kn_build_node(t, x, unit, key, a, mid, id, depth + 1, clo, chi, parts);
    chi[dim] = keep;
    keep = clo[dim];
    clo[dim] = kn_max(keep, split);
    int64_t right = kn_build_node(t, x, unit, key, mid, b, id, depth + 1, clo, chi, parts);
    clo[dim] = keep;
    node = t->nodes + id;
    node->left = left;
    node->right = right;
    return id;
}

/* Build the tree's nodes over its n rows in the cell [clo, chi] (everything), as kn_build_node does from the
 * root; from KN_PART_TREE rows on, with n_threads >= 2, the top first (nodes of more than an eighth of the
 * rows), then its subtrees in parallel, each into its own stretch of the node, cell and leaf arrays (2 and 1
 * entries per row: enough for any subtree), then moved together in tree order. The same tree as one
 * thread's, only its node ids in another order (children still after their parent, leaves in tree order).
 * max_nodes: the arrays' length, at least 2 n + 2 KN_PARTS. */
static void kn_build_nodes(kn_tree *t, const double *x, int64_t *unit, double *key, double *clo, double *chi,
                           int n_threads) {
    int64_t n = t->n, dp = t->dp;
    kn_parts parts;
    parts.cells = n >= KN_PART_TREE && n_threads > 1 ? (double *)malloc(sizeof(double) * 2 * KN_PARTS * dp) : NULL;
    if (parts.cells) {
        parts.count = parts.full = 0;
        parts.most = n / 8;
        kn_build_node(t, x, unit, key, 0, n, -1, 0, clo, chi, &parts);
        if (parts.full) { /* no room for every subtree (not seen): start again, one thread */
            t->n_nodes = t->n_leaves = 0;
            free(parts.cells);
            parts.cells = NULL;
        }
    }
    if (!parts.cells) {
        kn_build_node(t, x, unit, key, 0, n, -1, 0, clo, chi, NULL);
        return;
    }
    int64_t top = t->n_nodes, base[KN_PARTS], made[KN_PARTS], leaves[KN_PARTS];
    for (int64_t i = 0, at = top; i < parts.count; i++) {
        base[i] = at;
        at += 2 * (parts.part[i].b - parts.part[i].a);
    }
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < parts.count; i++) {
        kn_tree sub = *t;
        sub.nodes = t->nodes + base[i];
        sub.clo = t->clo + base[i] * dp;
        sub.chi = t->chi + base[i] * dp;
        sub.leaves = t->leaves + (base[i] - top) / 2;
        sub.n_nodes = sub.n_leaves = 0;
        double *cell = parts.cells + 2 * dp * i;
        kn_build_node(&sub, x, unit, key, parts.part[i].a, parts.part[i].b, -1, parts.part[i].depth, cell,
                      cell + dp, NULL);
        made[i] = sub.n_nodes;
        leaves[i] = sub.n_leaves;
    }
    for (int64_t i = 0; i < parts.count; i++) {
        int64_t at = t->n_nodes, from = base[i], lfrom = (base[i] - top) / 2;
        memmove(t->nodes + at, t->nodes + from, sizeof(kn_node) * (size_t)made[i]);
        memmove(t->clo + at * dp, t->clo + from * dp, sizeof(double) * (size_t)(made[i] * dp));
        memmove(t->chi + at * dp, t->chi + from * dp, sizeof(double) * (size_t)(made[i] * dp));
        memmove(t->leaves + t->n_leaves, t->leaves + lfrom, sizeof(int64_t) * (size_t)leaves[i]);
        for (int64_t j = 0; j < made[i]; j++) {
            kn_node *node = t->nodes + at + j;
            node->parent = j == 0 ? parts.part[i].parent : node->parent + at;
            if (node->left >= 0) {
                node->left += at;
                node->right += at;
            }
        }
        for (int64_t j = 0; j < leaves[i]; j++) t->leaves[t->n_leaves + j] += at;
        kn_node *parent = t->nodes + parts.part[i].parent; /* the left child starts where its parent does */
        if (parent->start == parts.part[i].a)
            parent->left = at;
        else
            parent->right = at;
        t->n_nodes += made[i];
        t->n_leaves += leaves[i];
    }
    free(parts.cells);
}

/* The threads for a pass over the n x d coordinates of a tree's points while it is built: n_threads from
 * KN_PAR_BUILD coordinates, else one (smaller passes ran slower on two threads than on one: on the main job's
 * layers, Ross's 4096 x 2-10 points took 0.15-0.2 ms longer; the 32768 x 4 copies' leaves took 0.22 ms
 * instead of 0.33). */
#define KN_PAR_BUILD (1 << 16)
static inline int kn_build_threads(int64_t n, int64_t d, int n_threads) { return n * d >= KN_PAR_BUILD ? n_threads : 1; }

/* Whether the n x d doubles of x are all finite, read by n_threads threads. */
static int kn_finite_rows(const double *x, int64_t n, int64_t d, int n_threads) {
    int bad = 0;
#pragma omp parallel for num_threads(n_threads) schedule(static) reduction(| : bad)
    for (int64_t i = 0; i < n; i += 1024) bad |= !kn_all_finite(x + i * d, (n - i < 1024 ? n - i : 1024) * d);
    return !bad;
}

/* Each leaf's dimension-major copy of its rows (soa, from the rows of x that order names) and its box, the
 * leaves in parallel (n_threads), then each inner node's box from its children's, bottom-up (children come
 * after their parent in node order); the padding lanes of the boxes are 0. Both trees' last step. */
static void kn_fill_leaves(kn_tree *t, const double *x, int n_threads) {
    int64_t d = t->d, dp = t->dp;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t l = 0; l < t->n_leaves; l++) {
        const kn_node *node = t->nodes + t->leaves[l];
        int64_t cnt = node->end - node->start;
        double *lo = t->lo + t->leaves[l] * dp, *hi = t->hi + t->leaves[l] * dp, *s = t->soa + node->start * d;
        for (int64_t j = 0; j < dp; j++) {
            lo[j] = j < d ? INFINITY : 0.0;
            hi[j] = j < d ? -INFINITY : 0.0;
        }
        for (int64_t p = 0; p < cnt; p++) {
            const double *row = x + t->order[node->start + p] * d;
            for (int64_t j = 0; j < d; j++) {
                s[j * cnt + p] = row[j];
                lo[j] = kn_min(lo[j], row[j]);
                hi[j] = kn_max(hi[j], row[j]);
            }
        }
    }
    t->max_leaf = 0;
    for (int64_t l = 0; l < t->n_leaves; l++) {
        const kn_node *node = t->nodes + t->leaves[l];
        if (node->end - node->start > t->max_leaf) t->max_leaf = node->end - node->start;
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
}

/* t->part for KSG's split of t->d coordinates (t->dp set): NULL when split >= d (one norm of all coordinates,
 * box bounds without masks); returns 0 when out of memory. */
static int kn_split_lanes(kn_tree *t, int64_t split) {
    t->part = NULL;
    if (split >= t->d) return 1;
    t->part = (int64_t *)malloc(sizeof(int64_t) * (size_t)t->dp);
    if (!t->part) return 0;
    for (int64_t j = 0; j < t->dp; j++) t->part[j] = j < split ? -1 : 0;
    return 1;
}

/* Build the tree over n x d points x (row-major float64, finite); split: as for kn_kth_distance; rows:
 * whether to keep the points row-major too (pts: the one-point-at-a-time searches'; the batched k-th
 * distance search reads only the leaves' copies). */
static int kn_build(kn_tree *t, const double *x, int64_t n, int64_t d, int64_t split, int rows, int n_threads) {
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->d = d;
    int64_t dp = (d + KN_LANES - 1) / KN_LANES * KN_LANES;
    t->dp = dp;
    int passes = kn_build_threads(n, d, n_threads); /* the threads of the passes over the coordinates */
    if (!kn_finite_rows(x, n, d, passes)) return IB_NONFINITE;
    int64_t max_nodes = 2 * n + 2 * KN_PARTS;
    size_t nd = (size_t)(n * d > 0 ? n * d : 1), nn = (size_t)(n > 0 ? n : 1);
    t->pts = rows ? (double *)kn_take(sizeof(double) * nn * (size_t)dp) : NULL;
    t->soa = (double *)kn_take(sizeof(double) * nd);
    t->order = (int64_t *)kn_take(sizeof(int64_t) * nn); /* tree position -> row: the build's work order */
    t->leaves = (int64_t *)kn_take(sizeof(int64_t) * (size_t)max_nodes);
    t->nodes = (kn_node *)kn_take(sizeof(kn_node) * (size_t)max_nodes);
    t->lo = (double *)kn_take(sizeof(double) * (size_t)(max_nodes * dp));
    t->hi = (double *)kn_take(sizeof(double) * (size_t)(max_nodes * dp));
    t->clo = (double *)kn_take(sizeof(double) * (size_t)((max_nodes + 1) * dp));
    t->chi = (double *)kn_take(sizeof(double) * (size_t)((max_nodes + 1) * dp));
    int64_t *unit = t->order;
    double *key = (double *)kn_take(sizeof(double) * nn);
    if ((rows && !t->pts) || !t->soa || !t->order || !t->leaves || !t->nodes || !t->lo || !t->hi || !t->clo ||
        !t->chi || !key || !kn_split_lanes(t, split)) {
        kn_give(key);
        kn_free(t);
        return IB_NO_MEMORY;
    }
    for (int64_t i = 0; i < n; i++) unit[i] = i;
    /* the root's cell (scratch: the last slot of clo/chi) is everything */
    double *clo = t->clo + max_nodes * dp, *chi = t->chi + max_nodes * dp;
    for (int64_t j = 0; j < dp; j++) {
        clo[j] = -INFINITY;
        chi[j] = INFINITY;
    }
    if (n > 0) kn_build_nodes(t, x, unit, key, clo, chi, n_threads);
    kn_give(key);
    if (rows) {
#pragma omp parallel for num_threads(passes) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            memcpy(t->pts + i * dp, x + t->order[i] * d, sizeof(double) * (size_t)d);
            for (int64_t j = d; j < dp; j++) t->pts[i * dp + j] = 0.0;
        }
    }
    kn_fill_leaves(t, x, passes);
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

/* A lower bound of the distance (squared for the Euclidean norm) between a point
 * of box [glo, ghi] and a point of box [lo, hi] (dp coordinates, padded), and,
 * when far is not NULL, an upper bound. Exact bounds for the max norm; the
 * Euclidean sums are rounded in another order than a point's (callers widen
 * them). part: the tree's lanes of KSG's split (kn_tree.part), or NULL for a
 * norm of all d coordinates together (no masks). */
KN_INLINE double kn_box2(int metric, int64_t dp, const int64_t *part, const double *glo, const double *ghi,
                         const double *lo, const double *hi, double *far) {
    const kn_v4 zero = {0.0, 0.0, 0.0, 0.0};
    kn_v4 a = zero, b = zero, a1 = zero, b1 = zero;
    for (int64_t j = 0; j < dp; j += KN_LANES) {
        kn_v4 vl = KN_LOAD(lo + j), vh = KN_LOAD(hi + j), gl = KN_LOAD(glo + j), gh = KN_LOAD(ghi + j);
        kn_v4 gap = KN_VMAX(vl - gh, gl - vh), wide = KN_VMAX(vh - gl, gh - vl);
        if (metric == KN_CHEBYSHEV) {
            a = KN_VMAX(a, gap);
            b = KN_VMAX(b, wide);
        } else if (!part) {
            gap = KN_VMAX(gap, zero);
            a += gap * gap;
            b += wide * wide;
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

/* kn_box2 from the point q (a box of one point). */
KN_INLINE double kn_box(int metric, int64_t dp, const int64_t *part, const double *q, const double *lo,
                        const double *hi, double *far) {
    return kn_box2(metric, dp, part, q, q, lo, hi, far);
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

/* One query of class lab: fold the points of leaf id into its best[0..m) (its own class only) and record
 * every distance <= best[m - 1] in cand (returns the new number recorded). */
KN_INLINE int64_t kn_rfold1(const kn_tree *t, int metric, int64_t id, const double *q, int64_t lab,
                            const int64_t *labt, double *best, int64_t m, double *dist, double *cand, int64_t nc) {
    const kn_node *node = t->nodes + id;
    int64_t cnt = node->end - node->start;
    const int64_t *rl = labt + node->start;
    kn_leaf_dist(metric, t->soa + node->start * t->d, cnt, t->d, t->d, q, dist);
    for (int64_t p = 0; p < cnt; p++) {
        if (rl[p] == lab) kn_insert(best, m, dist[p]);
        if (dist[p] <= best[m - 1]) cand[nc++] = dist[p];
    }
    return nc;
}

/* Fold every point of the subtree at id that may be nearer than best[m - 1], closer child first. With labt
 * (Ross's search, a query of class lab; split is then d) kn_rfold1 at the leaves, recording into cand from
 * cand[nc] (returns the new nc); without (NULL: inlined away), kn_fold (returns nc unchanged). */
KN_INLINE int64_t kn_descend(const kn_tree *t, int metric, int64_t split, double slack, int64_t id, const double *q,
                             double *best, int64_t m, double *dist, int64_t lab, const int64_t *labt, double *cand,
                             int64_t nc) {
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
            if (labt)
                nc = kn_rfold1(t, metric, stack[top], q, lab, labt, best, m, dist, cand, nc);
            else
                kn_fold(t, metric, split, stack[top], q, best, m, dist);
            continue;
        }
        double nl = kn_box(metric, dp, t->part, q, t->lo + node->left * dp, t->hi + node->left * dp, NULL);
        double nr = kn_box(metric, dp, t->part, q, t->lo + node->right * dp, t->hi + node->right * dp, NULL);
        top = kn_push(stack, near_of, top, node, nl, nr, slack, best[m - 1]);
    }
    return nc;
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
            kn_descend(t, metric, split, slack, parent->left == id ? parent->right : parent->left, q, best, m, dist, 0,
                       NULL, NULL, 0);
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

/* The batched searches: the queries of one leaf searched together (the
 * header comment above tells why the numbers are the per-point search's).
 *
 * The group tree (kn_kth_distance with group >= 2): a second tree over the
 * same rows whose leaves are the groups (rows [i g, i g + g), the last group
 * possibly shorter: the noisy copies of one sample), split on the groups'
 * centroids (widest dimension, middle of the range or the median, as
 * kn_build_node), each node the box of its rows. kn_batch_kth searches one
 * leaf's rows (of either tree) together, up to KN_GC vectors of KN_GL queries,
 * a vector of doubles holding one number per query:
 *   1. each query's KN_GL-wide best distances start with its distances to every
 *      row of its own leaf (itself included, at 0): an upper bound R_j on its
 *      k-th distance (+inf while the leaf holds at most k rows);
 *   2. one walk down the tree for the batch: a node is entered when its box
 *      comes within max_j R_j of the leaf's box (a box-to-box bound), closer
 *      child first; at another leaf, each vector with a query whose own box
 *      bound is below its R_j takes its distances to every row there (kn_gdist:
 *      kn_leaf_dist's operations, so the same float64 numbers) and folds them
 *      into its best, a min/max pass per rank (no branch per query), R_j
 *      shrinking.
 * Every row of the own leaf is counted once and every row never reached lies
 * beyond R_j. kn_batch_count counts the same way (a node's rows counted whole
 * when its box lies within the smallest bound of the batch).
 * Which search runs (KN_AUTO): with group >= 2 the group tree's, unless the
 * first look (kn_crowded) finds the groups crowded, or a
 * probe (KN_PROBE of its leaves, searched first) passes KN_BATCH_WORK units of
 * work (a vector of distances, or a node's two box bounds) per vector of
 * queries: the copies of different samples then overlap (the narrow layers)
 * and the group tree's boxes with them; else, and with group = 1, the point
 * tree's leaves batched. The per-point search (KN_PER_POINT) stays as the
 * tests' second implementation. */
#define KN_GL 8             /* queries per vector: 8 doubles */
#define KN_GC 4             /* vectors of queries per walk (KN_LEAF rows) */
#define KN_PROBE 32         /* leaves searched to choose the search */
#define KN_BATCH_WORK 512   /* work per vector of queries (rows of distances, nodes) above which a probe fails */
#define KN_AUTO 0           /* the group tree's batches or the point tree's, chosen by kn_crowded and the probe */
#define KN_GROUPED 1        /* the group tree's batches, no probe (with group >= 2) */
#define KN_PER_POINT 2      /* one query at a time (the tests' second implementation) */
#define KN_LEAVES 3         /* the point tree's leaves batched */

typedef double kn_v8 __attribute__((vector_size(64)));
typedef double kn_v8u __attribute__((vector_size(64), aligned(8)));
typedef int64_t kn_m8 __attribute__((vector_size(64)));
#define KN_LOAD8(p) (*(const kn_v8u *)(p))
#define KN_STORE8(p, v) (*(kn_v8u *)(p) = (v))
#define KN_BLEND8(m, a, b) ((kn_v8)(((m) & (kn_m8)(a)) | (~(m) & (kn_m8)(b))))
#define KN_VMAX8(a, b) KN_BLEND8((a) > (b), a, b)

/* Rows in group i of n rows in groups of g. */
static inline int64_t kn_gsize(int64_t n, int64_t g, int64_t i) { return n - i * g < g ? n - i * g : g; }

/* The centroid of group i (rows [i g, i g + size) of the n x d rows x) into c[0], c[stride], ... */
static inline void kn_centroid(const double *x, int64_t n, int64_t d, int64_t g, int64_t i, double *c,
                               int64_t stride) {
    int64_t size = kn_gsize(n, g, i);
    for (int64_t j = 0; j < d; j++) {
        double sum = 0.0;
        for (int64_t p = 0; p < size; p++) sum += x[(i * g + p) * d + j];
        c[j * stride] = sum / (double)size;
    }
}

/* Build node id of the group tree over items [a, b) (groups, in tree order; c: their centroids, ng x d;
 * key: scratch); node start/end are item positions until kn_gbuild turns them into rows. */
static int64_t kn_gbuild_node(kn_tree *t, const double *c, int64_t *items, double *key, int64_t a, int64_t b,
                              int64_t parent, int64_t depth) {
    int64_t d = t->d, id = t->n_nodes++;
    kn_node *node = t->nodes + id;
    node->start = a;
    node->end = b;
    node->left = node->right = -1;
    node->parent = parent;
    if (b - a <= 1) {
        t->leaves[t->n_leaves++] = id;
        return id;
    }
    double split;
    int64_t dim = kn_widest(c, d, items, a, b, &split);
    int64_t mid = kn_partition(c, d, items, key, a, b, dim, depth, &split);
    int64_t left = kn_gbuild_node(t, c, items, key, a, mid, id, depth + 1);
    int64_t right = kn_gbuild_node(t, c, items, key, mid, b, id, depth + 1);
    node = t->nodes + id;
    node->left = left;
    node->right = right;
    return id;
}

/* Build the group tree over n x d rows x (finite): a kn_tree whose leaves are the groups of group rows
 * (soa, order, leaves, nodes, boxes and part as kn_build's; no row-major points, no cells). */
static int kn_gbuild(kn_tree *t, const double *x, int64_t n, int64_t d, int64_t split, int64_t group,
                     int n_threads) {
    memset(t, 0, sizeof(*t));
    n_threads = kn_build_threads(n, d, n_threads);
    if (!kn_finite_rows(x, n, d, n_threads)) return IB_NONFINITE;
    int64_t ng = (n + group - 1) / group, max_nodes = 2 * ng, dp = (d + KN_LANES - 1) / KN_LANES * KN_LANES;
    t->n = n;
    t->d = d;
    t->dp = dp;
    t->soa = (double *)kn_take(sizeof(double) * (size_t)(n * d));
    t->order = (int64_t *)kn_take(sizeof(int64_t) * (size_t)n);
    t->leaves = (int64_t *)kn_take(sizeof(int64_t) * (size_t)max_nodes);
    t->nodes = (kn_node *)kn_take(sizeof(kn_node) * (size_t)max_nodes);
    t->lo = (double *)kn_take(sizeof(double) * (size_t)(max_nodes * dp));
    t->hi = (double *)kn_take(sizeof(double) * (size_t)(max_nodes * dp));
    int64_t *items = (int64_t *)kn_take(sizeof(int64_t) * (size_t)ng);
    int64_t *pos = (int64_t *)kn_take(sizeof(int64_t) * (size_t)(ng + 1));
    double *c = (double *)kn_take(sizeof(double) * (size_t)(ng * d));
    double *key = (double *)kn_take(sizeof(double) * (size_t)ng);
    if (!t->soa || !t->order || !t->leaves || !t->nodes || !t->lo || !t->hi || !items || !pos || !c || !key ||
        !kn_split_lanes(t, split)) {
        kn_give(items);
        kn_give(pos);
        kn_give(c);
        kn_give(key);
        kn_free(t);
        return IB_NO_MEMORY;
    }
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t i = 0; i < ng; i++) {
        kn_centroid(x, n, d, group, i, c + i * d, 1);
        items[i] = i;
    }
    kn_gbuild_node(t, c, items, key, 0, ng, -1, 0);
    /* the groups' rows in tree order; each leaf's rows dimension-major */
    pos[0] = 0;
    for (int64_t u = 0; u < ng; u++) {
        int64_t i = items[u], size = kn_gsize(n, group, i);
        pos[u + 1] = pos[u] + size;
        for (int64_t p = 0; p < size; p++) t->order[pos[u] + p] = i * group + p;
    }
    for (int64_t id = 0; id < t->n_nodes; id++) {
        t->nodes[id].start = pos[t->nodes[id].start];
        t->nodes[id].end = pos[t->nodes[id].end];
    }
    kn_give(items);
    kn_give(pos);
    kn_give(c);
    kn_give(key);
    kn_fill_leaves(t, x, n_threads);
    return IB_OK;
}

/* Lower bounds of the distances (squared for the Euclidean norm) from the KN_GL
 * queries qT (dimension-major: d x KN_GL) to box [lo, hi], into near. */
KN_INLINE void kn_gbox(int metric, int64_t d, int64_t split, const double *qT, const double *lo, const double *hi,
                       double *near) {
    const kn_v8 zero = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    kn_v8 a = zero, a1 = zero;
    if (metric == KN_CHEBYSHEV) {
        for (int64_t j = 0; j < d; j++) {
            kn_v8 vq = KN_LOAD8(qT + j * KN_GL);
            a = KN_VMAX8(a, KN_VMAX8(lo[j] - vq, vq - hi[j]));
        }
    } else {
        int64_t to = split < d ? split : d;
        for (int64_t j = 0; j < to; j++) {
            kn_v8 vq = KN_LOAD8(qT + j * KN_GL);
            kn_v8 gap = KN_VMAX8(KN_VMAX8(lo[j] - vq, vq - hi[j]), zero);
            a += gap * gap;
        }
        for (int64_t j = to; j < d; j++) {
            kn_v8 vq = KN_LOAD8(qT + j * KN_GL);
            kn_v8 gap = KN_VMAX8(KN_VMAX8(lo[j] - vq, vq - hi[j]), zero);
            a1 += gap * gap;
        }
        a = KN_VMAX8(a, a1);
    }
    KN_STORE8(near, a);
}

/* The distances (squared for the Euclidean norm) from the KN_GL queries qT to
 * the row whose coordinate j is c[j * stride], into out: kn_leaf_dist's,
 * operation for operation (the same float64 numbers: |c - q| is |q - c|). */
KN_INLINE void kn_gdist(int metric, int64_t d, int64_t split, const double *qT, const double *c, int64_t stride,
                        double *out) {
    const kn_v8 zero = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    const kn_m8 abs = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    if (metric == KN_CHEBYSHEV) {
        kn_v8 r = zero;
        for (int64_t j = 0; j < d; j++) {
            kn_v8 e = (kn_v8)((kn_m8)(c[j * stride] - KN_LOAD8(qT + j * KN_GL)) & abs); /* fabs */
            r = KN_VMAX8(r, e);
        }
        KN_STORE8(out, r);
        return;
    }
    kn_v8 r = zero;
    for (int64_t part = 0; part < 2; part++) {
        int64_t from = part ? split : 0, to = part ? d : (split < d ? split : d);
        if (from >= to) break;
        kn_v8 a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        int64_t j = from;
        for (; j + 4 <= to; j += 4) {
            const double *q = qT + j * KN_GL, *cj = c + j * stride;
            kn_v8 e0 = cj[0] - KN_LOAD8(q), e1 = cj[stride] - KN_LOAD8(q + KN_GL);
            kn_v8 e2 = cj[2 * stride] - KN_LOAD8(q + 2 * KN_GL), e3 = cj[3 * stride] - KN_LOAD8(q + 3 * KN_GL);
            a0 += e0 * e0;
            a1 += e1 * e1;
            a2 += e2 * e2;
            a3 += e3 * e3;
        }
        kn_v8 sum = a0 + a1 + a2 + a3;
        for (; j < to; j++) {
            kn_v8 e = c[j * stride] - KN_LOAD8(qT + j * KN_GL);
            sum += e * e;
        }
        r = part ? KN_VMAX8(r, sum) : sum;
    }
    KN_STORE8(out, r);
}

/* Whether any lane of mask m is set (halves folded: a few vector operations). */
KN_INLINE int kn_any8(const kn_m8 *m) {
    kn_m4 h4[2];
    memcpy(h4, m, sizeof(h4));
    h4[0] |= h4[1];
    typedef int64_t kn_m2 __attribute__((vector_size(16)));
    kn_m2 h2[2];
    memcpy(h2, h4, sizeof(h2));
    h2[0] |= h2[1];
    return (h2[0][0] | h2[0][1]) != 0;
}

/* The smallest and the largest of the KN_GL lanes at p (none NaN): halves folded as vectors, not a chain of
 * scalar comparisons. */
KN_INLINE double kn_hmin8(const double *p) {
    kn_v4 a = KN_VMIN(KN_LOAD(p), KN_LOAD(p + 4));
    return kn_min(kn_min(a[0], a[2]), kn_min(a[1], a[3]));
}
KN_INLINE double kn_hmax8(const double *p) {
    kn_v4 a = KN_VMAX(KN_LOAD(p), KN_LOAD(p + 4));
    return kn_max(kn_max(a[0], a[2]), kn_max(a[1], a[3]));
}

/* Fold dist (one per query) into the queries' best (m x KN_GL, ascending per
 * query): one min/max pass per rank, no branch per query; nothing to do when no
 * query has it below its m-th. */
KN_INLINE void kn_ginsert(double *best, int64_t m, const double *dist) {
    kn_v8 v = KN_LOAD8(dist);
    kn_m8 lower = v < KN_LOAD8(best + (m - 1) * KN_GL);
    if (!kn_any8(&lower)) return;
    for (int64_t i = 0; i < m; i++) {
        kn_v8 b = KN_LOAD8(best + i * KN_GL);
        kn_m8 less = v < b;
        KN_STORE8(best + i * KN_GL, KN_BLEND8(less, v, b));
        v = KN_BLEND8(less, b, v);
    }
}

/* Fold the cnt rows at o (dimension-major, cnt per coordinate) into the best of the vectors of queries
 * whose bit is set in live (qT and best: KN_GC vectors apart): row by row, all vectors at once (their passes
 * independent), skipped when no query of any vector has the row below its m-th (one test for them all). */
KN_INLINE void kn_gfold(int metric, int64_t d, int64_t split, const double *qT, const double *o, int64_t cnt,
                        unsigned live, double *best, int64_t m) {
    double dist[KN_GC][KN_GL];
    for (int64_t p = 0; p < cnt; p++) {
        kn_m8 lower = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int c = 0; c < KN_GC; c++) {
            if (!(live >> c & 1)) continue;
            kn_gdist(metric, d, split, qT + c * d * KN_GL, o + p, cnt, dist[c]);
            lower |= KN_LOAD8(dist[c]) < KN_LOAD8(best + (c * m + m - 1) * KN_GL);
        }
        if (!kn_any8(&lower)) continue;
        for (int c = 0; c < KN_GC; c++) {
            if (!(live >> c & 1)) continue;
            kn_v8 v = KN_LOAD8(dist[c]);
            double *b = best + c * m * KN_GL;
            for (int64_t i = 0; i < m; i++) {
                kn_v8 bi = KN_LOAD8(b + i * KN_GL);
                kn_m8 less = v < bi;
                KN_STORE8(b + i * KN_GL, KN_BLEND8(less, v, bi));
                v = KN_BLEND8(less, bi, v);
            }
        }
    }
}

/* Whether any query may have a row nearer than its bound (near * slack <= bound). */
KN_INLINE int kn_live8(const double *near, double slack, const double *bound) {
    kn_m8 m = KN_LOAD8(near) * slack <= KN_LOAD8(bound);
    return kn_any8(&m);
}

/* The largest bound of nc vectors of queries (their best's last rank, m x KN_GL apart). */
KN_INLINE double kn_reach(const double *best, int64_t m, int64_t nc) {
    double r = -INFINITY;
    for (int64_t c = 0; c < nc; c++) r = kn_max(r, kn_hmax8(best + (c * m + m - 1) * KN_GL));
    return r;
}

/* Whether every row outside node id of the point tree is at distance >= bound
 * from every point of box [glo, ghi]: the box lies that far inside each split of
 * the node's cell (kn_inside for a box). */
KN_INLINE int kn_box_inside(const kn_tree *t, int metric, int64_t id, const double *glo, const double *ghi,
                            double bound) {
    const double *clo = t->clo + id * t->dp, *chi = t->chi + id * t->dp;
    kn_v4 g = {INFINITY, INFINITY, INFINITY, INFINITY};
    for (int64_t j = 0; j < t->dp; j += KN_LANES)
        g = KN_VMIN(g, KN_VMIN(KN_LOAD(glo + j) - KN_LOAD(clo + j), KN_LOAD(chi + j) - KN_LOAD(ghi + j)));
    double gap = KN_HMIN(g);
    if (metric != KN_CHEBYSHEV) gap = gap < 0.0 ? -1.0 : gap * gap;
    return gap >= bound;
}

/* The smallest lower bound of the distances from the KN_GL queries qT to box [lo, hi] among the queries that
 * may have a row there nearer than their own bound (near * slack <= bound, KN_GL bounds); +inf when none may. */
KN_INLINE double kn_lanes_near(int metric, int64_t d, int64_t split, const double *qT, const double *lo,
                               const double *hi, double slack, const double *bound) {
    const kn_v8 inf = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    double near[KN_GL];
    kn_gbox(metric, d, split, qT, lo, hi, near);
    kn_v8 v = KN_LOAD8(near);
    KN_STORE8(near, KN_BLEND8(v * slack <= KN_LOAD8(bound), v, inf));
    return kn_hmin8(near);
}

/* The widths (with their padded widths dp) for which the batched searches are compiled apart, per norm, with
 * the m = k + 1 ranks of the estimators' default k = 3: d, dp and m are then constants and the loops over
 * coordinates and ranks unrolled (the smoke run's max-norm k-NN blocks: 12-14 % less time; the main job's
 * Euclidean blocks: Ross's search 20 % less; the same numbers). Other widths and k take the search compiled
 * for any. X-macros: X(d, dp) per width; the max norm pushes a group's children by each copy's own bound in
 * the narrow widths only (kn_batch_kth). */
#define KN_NARROW_WIDTHS(X) X(1, 4) X(2, 4) X(3, 4) X(4, 4) X(5, 8) X(6, 8) X(7, 8)
#define KN_WIDE_WIDTHS(X) X(8, 8) X(9, 12) X(10, 12) X(11, 12) X(12, 12)
#define KN_WIDTHS(X) KN_NARROW_WIDTHS(X) KN_WIDE_WIDTHS(X)
/* The widest of KN_NARROW_WIDTHS, which run 1, 2, ...: their count. */
#define KN_ONE_MORE(D, DP) +1
#define KN_NARROW_WIDTH (0 KN_NARROW_WIDTHS(KN_ONE_MORE))
#define KN_MAX_WIDTH 12
#define KN_WIDTH_M 4

/* The entry of a by-width table (the search compiled for any, then the max norm's widths 1 to KN_MAX_WIDTH,
 * then the Euclidean norm's) for tree t and m ranks: 0 for the search compiled for any. */
static inline int64_t kn_width_case(const kn_tree *t, int metric, int64_t m) {
    if (t->d > KN_MAX_WIDTH || m != KN_WIDTH_M || !KN_HAS_WIDE()) return 0;
    return metric == KN_CHEBYSHEV ? t->d : KN_MAX_WIDTH + t->d;
}

/* The k-th distances of the rows at tree positions [from, to) of leaf own (at
 * most KN_GC KN_GL of them); returns the rows whose distances were taken, per
 * vector of queries (the probe's measure; the search stops, its numbers not
 * written, once that passes limit). Scratch: qT (KN_GC x d x KN_GL),
 * best (KN_GC x m x KN_GL). */
KN_INLINE int64_t kn_batch_kth(const kn_tree *t, int metric, int64_t d, int64_t dp, int64_t split, int64_t own,
                               int64_t from, int64_t to, int64_t m, int64_t limit, double *qT, double *best,
                               double *out) {
    int64_t work = 0, s0 = t->nodes[own].start, cnt0 = t->nodes[own].end - s0;
    int64_t nc = (to - from + KN_GL - 1) / KN_GL;
    double slack = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN;
    double near[KN_GL];
    const double *s = t->soa + s0 * d;
    /* the queries, dimension-major (lanes past to repeat the first query; their best stays -inf) */
    for (int64_t c = 0; c < nc; c++)
        for (int64_t l = 0; l < KN_GL; l++) {
            int64_t p = from + c * KN_GL + l < to ? from + c * KN_GL + l : from;
            for (int64_t j = 0; j < d; j++) qT[(c * d + j) * KN_GL + l] = s[j * cnt0 + p - s0];
            for (int64_t i = 0; i < m; i++)
                best[(c * m + i) * KN_GL + l] = from + c * KN_GL + l < to ? INFINITY : -INFINITY;
        }
    kn_gfold(metric, d, split, qT, s, cnt0, (1u << nc) - 1, best, m);
    double reach = kn_reach(best, m, nc);
    const double *glo = t->lo + own * dp, *ghi = t->hi + own * dp;
    int64_t stack[KN_STACK], top = 0, at = own;
    double near_of[KN_STACK];
    /* up from the own leaf: each sibling subtree searched top-down, until the batch's box lies reach inside
     * the node's cell (the point tree; the group tree has no cells: up to the root) */
    while (t->nodes[at].parent >= 0 && work <= limit && !(t->clo && kn_box_inside(t, metric, at, glo, ghi, reach))) {
        const kn_node *parent = t->nodes + t->nodes[at].parent;
        int64_t sibling = parent->left == at ? parent->right : parent->left;
        at = t->nodes[at].parent;
        stack[0] = sibling;
        near_of[0] = kn_box2(metric, dp, t->part, glo, ghi, t->lo + sibling * dp, t->hi + sibling * dp, NULL);
        top = 1;
        while (top > 0 && work <= limit) {
            top--;
            if (near_of[top] * slack > reach) continue;
            int64_t id = stack[top];
            const kn_node *node = t->nodes + id;
            if (node->left < 0) {
                int64_t cnt = node->end - node->start;
                const double *o = t->soa + node->start * d;
                unsigned live = 0;
                for (int64_t c = 0; c < nc; c++) {
                    kn_gbox(metric, d, split, qT + c * d * KN_GL, t->lo + id * dp, t->hi + id * dp, near);
                    live |= (unsigned)kn_live8(near, slack, best + (c * m + m - 1) * KN_GL) << c;
                }
                if (!live) continue;
                kn_gfold(metric, d, split, qT, o, cnt, live, best, m);
                work += cnt * __builtin_popcount(live);
                reach = kn_reach(best, m, nc);
                continue;
            }
            /* One vector of queries (a group's copies): each child's box against each query's own bound, which
             * the batch's box bound against the largest passes too often (the main job's layers, interleaved
             * A/B: Euclidean widths 10 to 5 4-9 % less time, the max norm's width 5 6 %). In the max norm's
             * wide layers, whose groups stand apart, the cheaper batch bound decides which children to push
             * (3-4 % faster in width 10), and each query's own bound is tested when a node is popped. More
             * vectors: the batch's bound (no gain). */
            const double *lo = t->lo, *hi = t->hi, *last = best + (m - 1) * KN_GL;
            double nl, nr;
            if (nc == 1 && (metric != KN_CHEBYSHEV || d <= KN_NARROW_WIDTH)) {
                nl = kn_lanes_near(metric, d, split, qT, lo + node->left * dp, hi + node->left * dp, slack, last);
                nr = kn_lanes_near(metric, d, split, qT, lo + node->right * dp, hi + node->right * dp, slack, last);
            } else {
                if (nc == 1) {
                    kn_gbox(metric, d, split, qT, lo + id * dp, hi + id * dp, near);
                    if (!kn_live8(near, slack, last)) continue;
                }
                nl = kn_box2(metric, dp, t->part, glo, ghi, lo + node->left * dp, hi + node->left * dp, NULL);
                nr = kn_box2(metric, dp, t->part, glo, ghi, lo + node->right * dp, hi + node->right * dp, NULL);
            }
            work++; /* two box bounds: about one vector of distances */
            top = kn_push(stack, near_of, top, node, nl, nr, slack, reach);
        }
    }
    if (work > limit) return work;
    for (int64_t c = 0; c < nc; c++)
        for (int64_t l = 0; l < KN_GL && from + c * KN_GL + l < to; l++) {
            double r = best[(c * m + m - 1) * KN_GL + l];
            out[t->order[from + c * KN_GL + l]] = metric == KN_CHEBYSHEV ? r : sqrt(r);
        }
    return work;
}

/* The leaves t->leaves[from, to) in steps of stride (the probe: every stride-th leaf) while the work stays
 * within limit; returns the work. */
KN_INLINE int64_t kn_batches_kth_of(const kn_tree *t, int metric, int64_t d, int64_t dp, int64_t split, int64_t from,
                                    int64_t to, int64_t stride, int64_t limit, int64_t m, double *qT, double *best,
                                    double *out) {
    int64_t work = 0;
    for (int64_t l = from; l < to && work <= limit; l += stride) {
        int64_t own = t->leaves[l], a = t->nodes[own].start, b = t->nodes[own].end;
        for (int64_t q = a; q < b; q += KN_GC * KN_GL) {
            int64_t e = b - q < KN_GC * KN_GL ? b : q + KN_GC * KN_GL;
            if (metric == KN_CHEBYSHEV)
                work += kn_batch_kth(t, KN_CHEBYSHEV, d, dp, split, own, q, e, m, limit - work, qT, best, out);
            else
                work += kn_batch_kth(t, KN_EUCLIDEAN, d, dp, split, own, q, e, m, limit - work, qT, best, out);
        }
    }
    return work;
}

/* kn_batches_kth_of compiled apart for each norm (the prefix c for the max norm, e for the Euclidean) and each
 * width of KN_WIDTHS with k = 3 (d, dp and m constants), and once for any other case. The split is a constant
 * too unless KSG's joint norm splits the coordinates (split < d; the max norm ignores it): a split known only
 * at run time kept the Euclidean sums' loops over coordinates from being unrolled (the main job's Euclidean
 * k-th distances: widths 4 and 3 took 23 % and 17 % longer, width 10 ran slower than the copy for any). */
#define KN_KTH_WIDTH(NAME, METRIC, D, DP)                                                                            \
    KN_WIDE static int64_t kn_batches_kth_##NAME##D(const kn_tree *t, int metric, int64_t split, int64_t from,       \
                                                    int64_t to, int64_t stride, int64_t limit, int64_t m, double *qT, \
                                                    double *best, double *out) {                                     \
        (void)metric, (void)m;                                                                                       \
        if (METRIC == KN_CHEBYSHEV || split >= D)                                                                    \
            return kn_batches_kth_of(t, METRIC, D, DP, D, from, to, stride, limit, KN_WIDTH_M, qT, best, out);       \
        return kn_batches_kth_of(t, METRIC, D, DP, split, from, to, stride, limit, KN_WIDTH_M, qT, best, out);       \
    }
#define KN_KTH_C(D, DP) KN_KTH_WIDTH(c, KN_CHEBYSHEV, D, DP)
#define KN_KTH_E(D, DP) KN_KTH_WIDTH(e, KN_EUCLIDEAN, D, DP)
KN_WIDTHS(KN_KTH_C)
KN_WIDTHS(KN_KTH_E)
KN_CLONES static int64_t kn_batches_kth_any(const kn_tree *t, int metric, int64_t split, int64_t from, int64_t to,
                                            int64_t stride, int64_t limit, int64_t m, double *qT, double *best,
                                            double *out) {
    return kn_batches_kth_of(t, metric, t->d, t->dp, split, from, to, stride, limit, m, qT, best, out);
}

/* The leaves t->leaves[from, to) in steps of stride, the search compiled for the tree's width. */
static int64_t kn_batches_kth(const kn_tree *t, int metric, int64_t split, int64_t from, int64_t to, int64_t stride,
                              int64_t limit, int64_t m, double *qT, double *best, double *out) {
#define KN_KTH_ENTRY_C(D, DP) kn_batches_kth_c##D,
#define KN_KTH_ENTRY_E(D, DP) kn_batches_kth_e##D,
    static int64_t (*const by_width[2 * KN_MAX_WIDTH + 1])(const kn_tree *, int, int64_t, int64_t, int64_t,
                                                           int64_t, int64_t, int64_t, double *, double *, double *) = {
        kn_batches_kth_any, KN_WIDTHS(KN_KTH_ENTRY_C) KN_WIDTHS(KN_KTH_ENTRY_E)};
    return by_width[kn_width_case(t, metric, m)](t, metric, split, from, to, stride, limit, m, qT, best, out);
}

/* The batched search over tree t (its leaves in parallel); with probe, first a probe of KN_PROBE leaves:
 * returns 0 (and writes nothing) when the probe passes KN_BATCH_WORK per vector of queries, 1 once done,
 * -1 out of memory. */
static int kn_batched_kth(const kn_tree *t, int64_t k, int metric, int64_t split, int probe, int n_threads,
                          double *out) {
    int64_t m = k + 1, nl = t->n_leaves, d = t->d, scratch = KN_GC * KN_GL * (d > m ? d : m);
    int failed = 0;
    if (probe && nl >= 4 * KN_PROBE) {
        double *qT = (double *)malloc(sizeof(double) * (size_t)scratch);
        double *best = (double *)malloc(sizeof(double) * (size_t)scratch);
        double *trial = (double *)kn_take(sizeof(double) * (size_t)t->n);
        int slower = 0, ok = qT && best && trial;
        if (ok) {
            int64_t stride = nl / KN_PROBE, vectors = 0;
            for (int64_t l = 0; l < nl; l += stride) {
                const kn_node *node = t->nodes + t->leaves[l];
                vectors += (node->end - node->start + KN_GL - 1) / KN_GL;
            }
            int64_t limit = KN_BATCH_WORK * vectors;
            slower = kn_batches_kth(t, metric, split, 0, nl, stride, limit, m, qT, best, trial) > limit;
        }
        free(qT);
        free(best);
        kn_give(trial);
        if (!ok) return -1;
        if (slower) return 0;
    }
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        double *qT = (double *)malloc(sizeof(double) * (size_t)scratch);
        double *best = (double *)malloc(sizeof(double) * (size_t)scratch);
        if (!qT || !best) {
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t l = 0; l < nl; l += 16)
                kn_batches_kth(t, metric, split, l, l + 16 < nl ? l + 16 : nl, 1, INT64_MAX, m, qT, best, out);
        }
        free(qT);
        free(best);
    }
    return failed ? -1 : 1;
}

/* Whether the groups of group rows of x crowd each other so much that the group tree's search would not pay,
 * judged before building it (KN_AUTO's first look, which spares the build and the probe where groups
 * overlap): KN_PROBE groups spread over the rows, each counting the groups within twice its radius (the
 * largest max-norm distance of its rows from its centroid; centroids against centroids, among KN_CROWD
 * groups spread over the rows, the count scaled up to all); crowded when they count more than
 * KN_BATCH_WORK / group on average (as many groups' rows as a probe's vector may fold before it gives up).
 * On the main job's layers the counts are 0 to 3.5 in widths 10 to 5 (where the group tree's search is as
 * fast or faster) and 166 to 1864 in widths 4 to 2 (3 to 70 times slower). A guess for speed only: either
 * search gives the same numbers. 0 when out of memory (the probe decides). */
#define KN_CROWD 512
static int kn_crowded(const double *x, int64_t n, int64_t d, int64_t group) {
    int64_t ng = (n + group - 1) / group, stride = ng / KN_PROBE, every = ng / KN_CROWD > 1 ? ng / KN_CROWD : 1;
    int64_t nc = (ng + every - 1) / every, count = 0, samples = 0;
    if (ng < 4 * KN_PROBE) return 0; /* as for the probe: too few groups to judge by a sample */
    double *cT = (double *)kn_take(sizeof(double) * (size_t)((nc + 1) * d));
    double *near = (double *)kn_take(sizeof(double) * (size_t)nc);
    if (!cT || !near) {
        kn_give(cT);
        kn_give(near);
        return 0;
    }
    double *own = cT + nc * d;
    for (int64_t i = 0; i < nc; i++) kn_centroid(x, n, d, group, i * every, cT + i, nc); /* dimension-major */
    for (int64_t g = 0; g < ng; g += stride, samples++) {
        double radius = 0.0;
        kn_centroid(x, n, d, group, g, own, 1);
        for (int64_t p = 0; p < kn_gsize(n, group, g); p++)
            for (int64_t j = 0; j < d; j++) radius = kn_max(radius, fabs(x[(g * group + p) * d + j] - own[j]));
        for (int64_t h = 0; h < nc; h++) near[h] = 0.0;
        for (int64_t j = 0; j < d; j++)
            for (int64_t h = 0; h < nc; h++) near[h] = kn_max(near[h], fabs(cT[j * nc + h] - own[j]));
        int64_t within = g % every == 0 ? -1 : 0; /* not itself */
        for (int64_t h = 0; h < nc; h++) within += near[h] <= 2.0 * radius;
        count += within * every;
    }
    kn_give(cT);
    kn_give(near);
    return count > KN_BATCH_WORK / group * samples;
}

/* out[i] = distance from row i of x to its k-th nearest other row (k < n). group >= 2: rows
 * [i group, i group + group) are near each other (the copies of one sample); how: KN_AUTO, or the search to
 * run (KN_GROUPED, KN_LEAVES, KN_PER_POINT); *ran: the search that ran. The same numbers for any group, any
 * search. */
static int kn_kth_distance(const double *x, int64_t n, int64_t d, int64_t k, int metric, int64_t split, int64_t group,
                           int how, int n_threads, double *out, int *ran) {
    kn_tree t;
    int status;
    if (group > 1 && (how == KN_GROUPED || (how == KN_AUTO && !kn_crowded(x, n, d, group)))) {
        *ran = KN_GROUPED;
        status = kn_gbuild(&t, x, n, d, split, group, n_threads);
        if (status != IB_OK) return status;
        int done = kn_batched_kth(&t, k, metric, split, how == KN_AUTO, n_threads, out);
        kn_free(&t);
        if (done) return done < 0 ? IB_NO_MEMORY : IB_OK;
    }
    status = kn_build(&t, x, n, d, split, how == KN_PER_POINT, n_threads);
    if (status != IB_OK) return status;
    if (how != KN_PER_POINT) {
        *ran = KN_LEAVES;
        int done = kn_batched_kth(&t, k, metric, split, 0, n_threads, out);
        kn_free(&t);
        return done < 0 ? IB_NO_MEMORY : IB_OK;
    }
    *ran = KN_PER_POINT;
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

/* The counts of kn_count_within for the rows at tree positions [from, to) of
 * leaf own (at most KN_GC KN_GL), batched as kn_batch_kth: one walk from the
 * root for them all, a node skipped when its box lies beyond the largest bound
 * from the leaf's box, counted whole when within the smallest; at a leaf every
 * vector of queries compares its distances (kn_leaf_dist's numbers) with its
 * bounds. Scratch: qT (KN_GC x d x KN_GL), bound (KN_GC x KN_GL). */
KN_INLINE void kn_batch_count(const kn_tree *t, int metric, int64_t split, int64_t own, int64_t from, int64_t to,
                              const double *radius, double *qT, double *bound, int64_t *out) {
    int64_t d = t->d, dp = t->dp, s0 = t->nodes[own].start, cnt0 = t->nodes[own].end - s0;
    int64_t nc = (to - from + KN_GL - 1) / KN_GL;
    double down = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN, up = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_UP;
    double dist[KN_GL], reach = -INFINITY, least = INFINITY;
    kn_m8 count[KN_GC];
    const double *s = t->soa + s0 * d;
    for (int64_t c = 0; c < nc; c++) {
        for (int64_t l = 0; l < KN_GL; l++) {
            int64_t p = from + c * KN_GL + l < to ? from + c * KN_GL + l : from;
            for (int64_t j = 0; j < d; j++) qT[(c * d + j) * KN_GL + l] = s[j * cnt0 + p - s0];
            double r = from + c * KN_GL + l < to ? radius[t->order[p]] : -1.0;
            double b = r >= 0.0 ? (metric == KN_CHEBYSHEV ? r : r * r) : -INFINITY; /* -inf: counts nothing */
            bound[c * KN_GL + l] = b;
            if (b >= 0.0) {
                reach = kn_max(reach, b);
                least = kn_min(least, b);
            }
        }
        count[c] = (kn_m8){0, 0, 0, 0, 0, 0, 0, 0};
    }
    if (reach >= 0.0) {
        const double *glo = t->lo + own * dp, *ghi = t->hi + own * dp;
        int64_t stack[KN_STACK], top = 0, at = own;
        stack[top++] = own;
        /* the own leaf, then up: each sibling subtree, until the batch's box lies strictly beyond reach inside
         * the node's cell */
        for (;;) {
            while (top > 0) {
                int64_t id = stack[--top];
                const kn_node *node = t->nodes + id;
                double far, near = kn_box2(metric, dp, t->part, glo, ghi, t->lo + id * dp, t->hi + id * dp, &far);
                if (near * down > reach) continue;
                if (far * up <= least) { /* every row within every bound (the -inf lanes are never read) */
                    for (int64_t c = 0; c < nc; c++) count[c] += node->end - node->start;
                    continue;
                }
                if (node->left >= 0) {
                    stack[top++] = node->right;
                    stack[top++] = node->left;
                    continue;
                }
                int64_t cnt = node->end - node->start;
                const double *o = t->soa + node->start * d;
                unsigned live = 0;
                for (int64_t c = 0; c < nc; c++) {
                    kn_gbox(metric, d, split, qT + c * d * KN_GL, t->lo + id * dp, t->hi + id * dp, dist);
                    live |= (unsigned)kn_live8(dist, down, bound + c * KN_GL) << c;
                }
                for (int64_t p = 0; p < cnt && live; p++)
                    for (int64_t c = 0; c < nc; c++) {
                        if (!(live >> c & 1)) continue;
                        kn_gdist(metric, d, split, qT + c * d * KN_GL, o + p, cnt, dist);
                        count[c] -= (kn_m8)(KN_LOAD8(dist) <= KN_LOAD8(bound + c * KN_GL));
                    }
            }
            if (t->nodes[at].parent < 0 || kn_box_inside(t, metric, at, glo, ghi, nextafter(reach, INFINITY))) break;
            const kn_node *parent = t->nodes + t->nodes[at].parent;
            stack[top++] = parent->left == at ? parent->right : parent->left;
            at = t->nodes[at].parent;
        }
    }
    for (int64_t c = 0; c < nc; c++)
        for (int64_t l = 0; l < KN_GL && from + c * KN_GL + l < to; l++)
            out[t->order[from + c * KN_GL + l]] = bound[c * KN_GL + l] >= 0.0 ? count[c][l] : 0;
}

/* The leaves [from, to) of kn_count_within, one metric compiled apart each. */
KN_CLONES static void kn_leaves_count(const kn_tree *t, int metric, int64_t split, int64_t from, int64_t to,
                                      const double *radius, int batched, double *dist, int64_t *out) {
    if (batched) {
        for (int64_t l = from; l < to; l++) {
            int64_t own = t->leaves[l], a = t->nodes[own].start, b = t->nodes[own].end;
            for (int64_t q = a; q < b; q += KN_GC * KN_GL) {
                int64_t e = b - q < KN_GC * KN_GL ? b : q + KN_GC * KN_GL;
                if (metric == KN_CHEBYSHEV)
                    kn_batch_count(t, KN_CHEBYSHEV, split, own, q, e, radius, dist + KN_GC * KN_GL, dist, out);
                else
                    kn_batch_count(t, KN_EUCLIDEAN, split, own, q, e, radius, dist + KN_GC * KN_GL, dist, out);
            }
        }
        return;
    }
    if (metric == KN_CHEBYSHEV)
        for (int64_t l = from; l < to; l++) kn_leaf_count(t, KN_CHEBYSHEV, split, l, radius, dist, out);
    else
        for (int64_t l = from; l < to; l++) kn_leaf_count(t, KN_EUCLIDEAN, split, l, radius, dist, out);
}

/* out[i] = rows of x (row i included) at distance <= radius[i] from row i
 * (none for a negative or NaN radius). */
static int kn_count_within(const double *x, int64_t n, int64_t d, const double *radius, int metric, int64_t split,
                           int how, int n_threads, int64_t *out) {
    kn_tree t;
    int status = kn_build(&t, x, n, d, split, how == KN_PER_POINT, n_threads);
    if (status != IB_OK) return status;
    int failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        /* per point: one leaf's distances; batched: the bounds, then the queries */
        int64_t scratch = KN_GC * KN_GL * (d + 1) > t.max_leaf ? KN_GC * KN_GL * (d + 1) : t.max_leaf;
        double *dist = (double *)malloc(sizeof(double) * (size_t)(scratch > 0 ? scratch : 1));
        if (!dist) {
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = 0; c < t.n_leaves; c += 16)
                kn_leaves_count(&t, metric, split, c, c + 16 < t.n_leaves ? c + 16 : t.n_leaves, radius,
                                how != KN_PER_POINT, dist, out);
        }
        free(dist);
    }
    kn_free(&t);
    return failed ? IB_NO_MEMORY : IB_OK;
}

/* Ross's search (kn_class_count): per point i of class c_i, r_i = the distance
 * to its k_i-th nearest other point of its own class (k_i = min(k, size - 1))
 * and m_i = the points of any class (i included) at distance <= the bound that
 * kn_count_within gets from Ross's caller for "strictly within r_i": with
 * r' = nextafter(r_i, 0), r' for the max norm, r' * r' against the squared
 * distances for the Euclidean norm (kn_ross_bound). One walk per query: the
 * k_i best distances of its own class kept as kn_kth_distance keeps them
 * (pruning by the current k_i-th, s), and every point of any class met at
 * distance <= s recorded; the count is the recorded distances <= the final
 * bound B. Correct because B <= the final s <= every earlier s (B = r' < r_i,
 * or r' * r' <= s, rounding being monotone and s a float64), so every point
 * within B is reached (the walk prunes only boxes beyond the current s and
 * stops once every point outside the node lies strictly beyond it) while s is
 * still at least its distance, and recorded, once. A query keeps up to KN_CAND
 * recorded distances in the batched search; when they fill up, those beyond
 * its current s are dropped, and when more than half remain, it is counted
 * afterwards by kn_count_within's walk with its final bound instead. */
#define KN_CAND 256 /* recorded distances per query of a batch */

/* The radius (kn_kth_distance's number) and the count bound of a k-th distance s (squared for the Euclidean
 * norm): Ross's caller's np.nextafter(radius, 0), compared as kn_count_within compares. */
KN_INLINE double kn_ross_bound(int metric, double s, double *radius) {
    if (metric == KN_CHEBYSHEV) {
        *radius = s;
        return nextafter(s, 0.0);
    }
    double r = sqrt(s), below = nextafter(r, 0.0);
    *radius = r;
    return below * below;
}

/* The points within bound (>= 0) of the point q of leaf own: kn_leaf_count's walk for one point. */
KN_INLINE int64_t kn_point_count(const kn_tree *t, int metric, int64_t own, const double *q, double bound,
                                 double *dist) {
    int64_t c = kn_count(t, metric, t->d, own, q, bound, dist), id = own;
    while (t->nodes[id].parent >= 0 && !kn_inside(t, metric, id, q, bound, 1)) {
        const kn_node *parent = t->nodes + t->nodes[id].parent;
        c += kn_count(t, metric, t->d, parent->left == id ? parent->right : parent->left, q, bound, dist);
        id = t->nodes[id].parent;
    }
    return c;
}

/* Ross's numbers of the points of leaf l, one at a time (the tests' second implementation): its own leaf,
 * then up the tree, each sibling subtree, until every point outside the node lies strictly beyond the
 * current k_i-th distance. Scratch: best (k_i + 1), dist (a leaf), cand (n). */
KN_INLINE void kn_leaf_ross(const kn_tree *t, int metric, int64_t l, const int64_t *labt, const int64_t *kq,
                            double *best, double *dist, double *cand, double *radius, int64_t *count) {
    double slack = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN;
    int64_t own = t->leaves[l];
    const kn_node *leaf = t->nodes + own;
    for (int64_t i = leaf->start; i < leaf->end; i++) {
        int64_t row = t->order[i], m = kq[i] + 1, lab = labt[i];
        if (kq[i] < 1) {
            radius[row] = 0.0;
            count[row] = 0;
            continue;
        }
        const double *q = t->pts + i * t->dp;
        for (int64_t j = 0; j < m; j++) best[j] = INFINITY;
        int64_t nc = kn_rfold1(t, metric, own, q, lab, labt, best, m, dist, cand, 0), id = own;
        while (t->nodes[id].parent >= 0 && !kn_inside(t, metric, id, q, best[m - 1], 1)) {
            const kn_node *parent = t->nodes + t->nodes[id].parent;
            nc = kn_descend(t, metric, t->d, slack, parent->left == id ? parent->right : parent->left, q, best, m, dist,
                            lab, labt, cand, nc);
            id = t->nodes[id].parent;
        }
        double r, bound = kn_ross_bound(metric, best[m - 1], &r);
        int64_t c = 0;
        for (int64_t j = 0; j < nc; j++) c += cand[j] <= bound;
        radius[row] = r;
        count[row] = c;
    }
}

/* Record distance v for query lane (its current k_i-th distance: bound) in its KN_CAND slots of cand; when
 * they are full, keep those <= bound, and past half of them give up (ncand -1: counted by a walk). */
KN_INLINE void kn_record(double *cand, int64_t *ncand, int64_t lane, double v, double bound) {
    int64_t n = ncand[lane];
    if (n < 0) return;
    double *c = cand + lane * KN_CAND;
    if (n == KN_CAND) {
        int64_t kept = 0;
        for (int64_t j = 0; j < n; j++)
            if (c[j] <= bound) c[kept++] = c[j];
        if (kept > KN_CAND / 2) {
            ncand[lane] = -1;
            return;
        }
        n = kept;
    }
    c[n] = v;
    ncand[lane] = n + 1;
}

/* Fold the cnt rows at o (dimension-major; their classes rlab) into the vectors of queries whose bit is set
 * in live (classes llab): each query's best (m x KN_GL per vector) takes the rows of its own class (the
 * others enter as +inf), and every row at distance <= the query's m-th best is recorded. Row by row, all
 * vectors at once, skipped when no query of any vector has the row within its m-th (one test for them all:
 * a row that enters a best is within it). */
KN_INLINE void kn_rfold(int metric, int64_t d, const double *qT, const double *o, int64_t cnt, const int64_t *rlab,
                        unsigned live, const kn_m8 *llab, double *best, int64_t m, double *cand, int64_t *ncand) {
    const kn_v8 inf = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    const kn_m8 none = {0, 0, 0, 0, 0, 0, 0, 0};
    double dist[KN_GC][KN_GL];
    for (int64_t p = 0; p < cnt; p++) {
        kn_m8 within = none;
        for (int c = 0; c < KN_GC; c++) {
            if (!(live >> c & 1)) continue;
            kn_gdist(metric, d, d, qT + c * d * KN_GL, o + p, cnt, dist[c]);
            within |= KN_LOAD8(dist[c]) <= KN_LOAD8(best + (c * m + m - 1) * KN_GL);
        }
        if (!kn_any8(&within)) continue;
        kn_m8 row = none + rlab[p];
        for (int c = 0; c < KN_GC; c++) {
            if (!(live >> c & 1)) continue;
            double *b = best + c * m * KN_GL, *last = b + (m - 1) * KN_GL;
            kn_v8 v = KN_LOAD8(dist[c]);
            kn_m8 rec = v <= KN_LOAD8(last);
            if (!kn_any8(&rec)) continue;
            kn_v8 w = KN_BLEND8(llab[c] == row, v, inf);
            kn_m8 lower = w < KN_LOAD8(last);
            if (kn_any8(&lower))
                for (int64_t i = 0; i < m; i++) {
                    kn_v8 bi = KN_LOAD8(b + i * KN_GL);
                    kn_m8 less = w < bi;
                    KN_STORE8(b + i * KN_GL, KN_BLEND8(less, w, bi));
                    w = KN_BLEND8(less, bi, w);
                }
            rec = v <= KN_LOAD8(last);
            for (int l = 0; l < KN_GL; l++)
                if (rec[l]) kn_record(cand, ncand, c * KN_GL + l, dist[c][l], last[l]);
        }
    }
}

/* Ross's numbers of the rows at tree positions [from, to) of leaf own (at most KN_GC KN_GL), batched as
 * kn_batch_kth (m = the largest k_i + 1 ranks; a query of a smaller k_i starts with m - 1 - k_i ranks at
 * -inf, so that its m-th best is its (k_i + 1)-th; a query not searched, all -inf, is never live), then
 * each query's count from its recorded distances (or kn_point_count's walk). Scratch: qT (KN_GC x d x
 * KN_GL), best (KN_GC x m x KN_GL), cand (KN_GC KN_GL KN_CAND), ncand (KN_GC KN_GL), dist (a leaf). */
KN_INLINE void kn_batch_ross(const kn_tree *t, int metric, int64_t d, int64_t dp, int64_t own, int64_t from,
                             int64_t to, int64_t m, const int64_t *labt, const int64_t *kq, double *qT, double *best,
                             double *cand, int64_t *ncand, double *dist, double *radius, int64_t *count) {
    int64_t s0 = t->nodes[own].start, cnt0 = t->nodes[own].end - s0;
    int64_t nc = (to - from + KN_GL - 1) / KN_GL;
    double slack = metric == KN_CHEBYSHEV ? 1.0 : KN_SLACK_DOWN;
    double near[KN_GL];
    kn_m8 llab[KN_GC];
    const double *s = t->soa + s0 * d;
    int searched = 0;
    for (int64_t c = 0; c < nc; c++)
        for (int64_t l = 0; l < KN_GL; l++) {
            int64_t p = from + c * KN_GL + l, in = p < to;
            if (!in) p = from;
            int64_t kl = in ? kq[p] : 0;
            for (int64_t j = 0; j < d; j++) qT[(c * d + j) * KN_GL + l] = s[j * cnt0 + p - s0];
            for (int64_t i = 0; i < m; i++)
                best[(c * m + i) * KN_GL + l] = kl > 0 && i >= m - 1 - kl ? INFINITY : -INFINITY;
            llab[c][l] = in ? labt[p] : -2;
            ncand[c * KN_GL + l] = 0;
            searched |= kl > 0;
        }
    if (searched) {
        kn_rfold(metric, d, qT, s, cnt0, labt + s0, (1u << nc) - 1, llab, best, m, cand, ncand);
        double reach = kn_reach(best, m, nc);
        const double *glo = t->lo + own * dp, *ghi = t->hi + own * dp;
        int64_t stack[KN_STACK], top = 0, at = own;
        double near_of[KN_STACK];
        /* up from the own leaf: each sibling subtree top-down, until the batch's box lies strictly beyond
         * reach inside the node's cell */
        while (t->nodes[at].parent >= 0 && !kn_box_inside(t, metric, at, glo, ghi, nextafter(reach, INFINITY))) {
            const kn_node *parent = t->nodes + t->nodes[at].parent;
            int64_t sibling = parent->left == at ? parent->right : parent->left;
            at = t->nodes[at].parent;
            stack[0] = sibling;
            near_of[0] = kn_box2(metric, dp, t->part, glo, ghi, t->lo + sibling * dp, t->hi + sibling * dp, NULL);
            top = 1;
            while (top > 0) {
                top--;
                if (near_of[top] * slack > reach) continue;
                int64_t id = stack[top];
                const kn_node *node = t->nodes + id;
                if (node->left < 0) {
                    unsigned live = 0;
                    for (int64_t c = 0; c < nc; c++) {
                        kn_gbox(metric, d, d, qT + c * d * KN_GL, t->lo + id * dp, t->hi + id * dp, near);
                        live |= (unsigned)kn_live8(near, slack, best + (c * m + m - 1) * KN_GL) << c;
                    }
                    if (!live) continue;
                    kn_rfold(metric, d, qT, t->soa + node->start * d, node->end - node->start, labt + node->start,
                             live, llab, best, m, cand, ncand);
                    reach = kn_reach(best, m, nc);
                    continue;
                }
                const double *lo = t->lo, *hi = t->hi;
                double nl = kn_box2(metric, dp, t->part, glo, ghi, lo + node->left * dp, hi + node->left * dp, NULL);
                double nr = kn_box2(metric, dp, t->part, glo, ghi, lo + node->right * dp, hi + node->right * dp,
                                    NULL);
                top = kn_push(stack, near_of, top, node, nl, nr, slack, reach);
            }
        }
    }
    for (int64_t c = 0; c < nc; c++)
        for (int64_t l = 0; l < KN_GL && from + c * KN_GL + l < to; l++) {
            int64_t p = from + c * KN_GL + l, row = t->order[p], lane = c * KN_GL + l, n = ncand[lane];
            if (kq[p] < 1) {
                radius[row] = 0.0;
                count[row] = 0;
                continue;
            }
            double r, bound = kn_ross_bound(metric, best[(c * m + m - 1) * KN_GL + l], &r);
            double *rec = cand + lane * KN_CAND;
            int64_t within = 0;
            if (n < 0) {
                within = kn_point_count(t, metric, own, t->pts + p * dp, bound, dist);
            } else {
                for (int64_t j = 0; j < n; j++) within += rec[j] <= bound;
            }
            radius[row] = r;
            count[row] = within;
        }
}

/* The leaves [from, to) of kn_class_count, for a tree of width d (padded: dp), one metric compiled apart each. */
KN_INLINE void kn_leaves_ross_of(const kn_tree *t, int metric, int64_t d, int64_t dp, int64_t from, int64_t to,
                                 int batched, int64_t m, const int64_t *labt, const int64_t *kq, double *qT,
                                 double *best, double *cand, int64_t *ncand, double *dist, double *radius,
                                 int64_t *count) {
    for (int64_t l = from; l < to; l++) {
        if (!batched) {
            if (metric == KN_CHEBYSHEV)
                kn_leaf_ross(t, KN_CHEBYSHEV, l, labt, kq, best, dist, cand, radius, count);
            else
                kn_leaf_ross(t, KN_EUCLIDEAN, l, labt, kq, best, dist, cand, radius, count);
            continue;
        }
        int64_t own = t->leaves[l], a = t->nodes[own].start, b = t->nodes[own].end;
        for (int64_t q = a; q < b; q += KN_GC * KN_GL) {
            int64_t e = b - q < KN_GC * KN_GL ? b : q + KN_GC * KN_GL;
            if (metric == KN_CHEBYSHEV)
                kn_batch_ross(t, KN_CHEBYSHEV, d, dp, own, q, e, m, labt, kq, qT, best, cand, ncand, dist, radius,
                              count);
            else
                kn_batch_ross(t, KN_EUCLIDEAN, d, dp, own, q, e, m, labt, kq, qT, best, cand, ncand, dist, radius,
                              count);
        }
    }
}

/* kn_leaves_ross_of compiled apart for each norm and each width of KN_WIDTHS with k = 3, and once for any
 * other case. */
#define KN_ROSS_WIDTH(NAME, METRIC, D, DP)                                                                           \
    KN_WIDE static void kn_leaves_ross_##NAME##D(const kn_tree *t, int metric, int64_t from, int64_t to,             \
                                                 int batched, int64_t m, const int64_t *labt, const int64_t *kq,     \
                                                 double *qT, double *best, double *cand, int64_t *ncand,             \
                                                 double *dist, double *radius, int64_t *count) {                     \
        (void)metric, (void)m;                                                                                       \
        kn_leaves_ross_of(t, METRIC, D, DP, from, to, batched, KN_WIDTH_M, labt, kq, qT, best, cand, ncand, dist,    \
                          radius, count);                                                                            \
    }
#define KN_ROSS_C(D, DP) KN_ROSS_WIDTH(c, KN_CHEBYSHEV, D, DP)
#define KN_ROSS_E(D, DP) KN_ROSS_WIDTH(e, KN_EUCLIDEAN, D, DP)
KN_WIDTHS(KN_ROSS_C)
KN_WIDTHS(KN_ROSS_E)
KN_CLONES static void kn_leaves_ross_any(const kn_tree *t, int metric, int64_t from, int64_t to, int batched,
                                         int64_t m, const int64_t *labt, const int64_t *kq, double *qT, double *best,
                                         double *cand, int64_t *ncand, double *dist, double *radius, int64_t *count) {
    kn_leaves_ross_of(t, metric, t->d, t->dp, from, to, batched, m, labt, kq, qT, best, cand, ncand, dist, radius,
                      count);
}

/* The leaves [from, to) of kn_class_count, the search compiled for the tree's width. */
static void kn_leaves_ross(const kn_tree *t, int metric, int64_t from, int64_t to, int batched, int64_t m,
                           const int64_t *labt, const int64_t *kq, double *qT, double *best, double *cand,
                           int64_t *ncand, double *dist, double *radius, int64_t *count) {
#define KN_ROSS_ENTRY_C(D, DP) kn_leaves_ross_c##D,
#define KN_ROSS_ENTRY_E(D, DP) kn_leaves_ross_e##D,
    static void (*const by_width[2 * KN_MAX_WIDTH + 1])(const kn_tree *, int, int64_t, int64_t, int, int64_t,
                                                        const int64_t *, const int64_t *, double *, double *, double *,
                                                        int64_t *, double *, double *, int64_t *) = {
        kn_leaves_ross_any, KN_WIDTHS(KN_ROSS_ENTRY_C) KN_WIDTHS(KN_ROSS_ENTRY_E)};
    by_width[kn_width_case(t, metric, m)](t, metric, from, to, batched, m, labt, kq, qT, best, cand, ncand, dist,
                                          radius, count);
}

/* Ross's search over the n x d points x with labels (classes 0 .. n_labels - 1; any other label: no class):
 * per point i of a class of size >= 2, radius[i] = the distance to its k_i-th nearest other point of its
 * class (k_i = min(k, size - 1)) and count[i] = the points of any class (i included) at distance below it
 * as kn_ross_bound tells; 0 and 0 for the others. how: KN_AUTO or KN_LEAVES (the points of a leaf batched),
 * KN_PER_POINT (one at a time): the same numbers. */
static int kn_class_count(const double *x, int64_t n, int64_t d, const int64_t *labels, int64_t n_labels, int64_t k,
                          int metric, int how, int n_threads, double *radius, int64_t *count) {
    kn_tree t;
    int status = kn_build(&t, x, n, d, d, 1, n_threads);
    if (status != IB_OK) return status;
    int64_t *size = (int64_t *)calloc((size_t)(n_labels > 0 ? n_labels : 1), sizeof(int64_t));
    int64_t *labt = (int64_t *)kn_take(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    int64_t *kq = (int64_t *)kn_take(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!size || !labt || !kq) {
        free(size);
        kn_give(labt);
        kn_give(kq);
        kn_free(&t);
        return IB_NO_MEMORY;
    }
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < n_labels) size[labels[i]]++;
    int64_t kmax = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = labels[t.order[i]], in = c >= 0 && c < n_labels;
        labt[i] = in ? c : -1;
        kq[i] = in && size[c] > 1 ? (k < size[c] - 1 ? k : size[c] - 1) : 0;
        if (kq[i] > kmax) kmax = kq[i];
        radius[i] = 0.0;
        count[i] = 0;
    }
    free(size);
    int failed = 0;
    if (kmax > 0) {
        int64_t m = kmax + 1, batched = how != KN_PER_POINT;
        int64_t nq = batched ? KN_GC * KN_GL * (d > m ? d : m) : m;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
        {
            double *qT = (double *)malloc(sizeof(double) * (size_t)nq);
            double *best = (double *)malloc(sizeof(double) * (size_t)nq);
            double *cand = (double *)malloc(sizeof(double) * (size_t)(batched ? KN_GC * KN_GL * KN_CAND : n));
            int64_t *ncand = (int64_t *)malloc(sizeof(int64_t) * KN_GC * KN_GL);
            double *dist = (double *)malloc(sizeof(double) * (size_t)(t.max_leaf > 0 ? t.max_leaf : 1));
            if (!qT || !best || !cand || !ncand || !dist) {
                failed = 1;
            } else {
#pragma omp for schedule(dynamic, 1)
                for (int64_t c = 0; c < t.n_leaves; c += 4)
                    kn_leaves_ross(&t, metric, c, c + 4 < t.n_leaves ? c + 4 : t.n_leaves, (int)batched, m, labt, kq,
                                   qT, best, cand, ncand, dist, radius, count);
            }
            free(qT);
            free(best);
            free(cand);
            free(ncand);
            free(dist);
        }
    }
    kn_give(labt);
    kn_give(kq);
    kn_free(&t);
    return failed ? IB_NO_MEMORY : IB_OK;
}

#endif /* IBSIM_KNN_CORE_H */
