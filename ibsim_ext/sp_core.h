/* Gaussian-mixture log densities at arbitrary points, for the sample-propagation
 * estimator (Goldfeld et al. 2019): per query q_i (drawn around centre owner[i])
 *
 *   out[i, 0] = log sum_j            exp(-scale |q_i - c_j|^2)   (all centres)
 *   out[i, 1] = log sum_{j: y_j = y} exp(-scale |q_i - c_j|^2)   (y = labels[owner[i]])
 *   out[i, 2] = log sum_{j: g_j = g} exp(-scale |q_i - c_j|^2)   (g = groups[owner[i]];
 *               without groups: the owner's term alone, -scale |q_i - c_owner|^2)
 *
 * Each sum is shifted by its own maximum (log-sum-exp), so nothing underflows
 * however far the query lies from the centres. Distances are plain float64
 * differences (no |q|^2 + |c|^2 - 2 q.c cancellation); each query's sums run in
 * one thread in centre order, so the result is the same bits for any number of
 * threads. Queries are taken in tiles of SP_TILE: each pass over the centres'
 * coordinates (transposed to (d, n) float64) serves the whole tile.
 * The NumPy twin is ibsim.estimators.reference.sp_log_sums. */
#ifndef IBSIM_SP_CORE_H
#define IBSIM_SP_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "common.h"

#define SP_TILE 4
#define SP_LANES 8
/* exp(x) below this is < 9e-27 of the sum's largest term (which is 1): clamped. */
#define SP_EXP_FLOOR (-60.0)

/* Squared distances of SP_TILE queries to every centre: dist[t * np + j].
 * The centres are stored in panels of SP_LANES (ct[(j / L) * d * L + k * L + j % L],
 * zero-padded to np = a multiple of L): per panel, the SP_TILE x SP_LANES sums
 * run over the coordinates in registers, one contiguous load per coordinate. */
IB_CLONES static void sp_distances(const double* const* q, const double* ct, int64_t np, int64_t d, double* dist) {
    const double *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    for (int64_t panel = 0; panel < np / SP_LANES; panel++) {
        const double* c = ct + panel * d * SP_LANES;
        double a0[SP_LANES] = {0}, a1[SP_LANES] = {0}, a2[SP_LANES] = {0}, a3[SP_LANES] = {0};
        for (int64_t k = 0; k < d; k++) {
            const double x0 = q0[k], x1 = q1[k], x2 = q2[k], x3 = q3[k];
#pragma omp simd
            for (int l = 0; l < SP_LANES; l++) {
                const double v = c[k * SP_LANES + l];
                a0[l] += (x0 - v) * (x0 - v);
                a1[l] += (x1 - v) * (x1 - v);
                a2[l] += (x2 - v) * (x2 - v);
                a3[l] += (x3 - v) * (x3 - v);
            }
        }
        double* out = dist + panel * SP_LANES;
        for (int l = 0; l < SP_LANES; l++) {
            out[l] = a0[l];
            out[np + l] = a1[l];
            out[2 * np + l] = a2[l];
            out[3 * np + l] = a3[l];
        }
    }
}

/* log sum_j exp(-scale dist[j]) over the centres j with key[j] == want (all of them when key is NULL). */
IB_CLONES static double sp_log_sum(const double* dist, int64_t n, double scale, const int64_t* key, int64_t want) {
    double lo = INFINITY; /* the smallest distance: the sum's largest term */
#pragma omp simd reduction(min : lo)
    for (int64_t j = 0; j < n; j++) {
        const double v = (key == NULL || key[j] == want) ? dist[j] : INFINITY;
        lo = v < lo ? v : lo;
    }
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
        double x = -scale * (dist[j] - lo);
        x = x > SP_EXP_FLOOR ? x : SP_EXP_FLOOR;
        const double term = ib_exp(x);
        sum += (key == NULL || key[j] == want) ? term : 0.0;
    }
    return -scale * lo + log(sum);
}

/* The three log sums of one query from its squared distances `dist` (n):
 * one exp per centre, shifted by the largest term of all; a label's (group's)
 * sum reuses those terms when its own largest term is within exp(-SP_REUSE) of
 * the overall largest (the clamped terms then weigh < n exp(-60 + SP_REUSE) of
 * it: below 1e-13 relative for n < 2^24), else is summed again with its own
 * shift. */
#define SP_REUSE 20.0
IB_CLONES static void sp_query(const double* dist, int64_t n, double scale, const int64_t* labels, int64_t label,
                               const int64_t* groups, int64_t group, int64_t own, double* out) {
    double lo = INFINITY, lo_y = INFINITY, lo_g = INFINITY;
#pragma omp simd reduction(min : lo, lo_y)
    for (int64_t j = 0; j < n; j++) {
        const double v = dist[j];
        lo = v < lo ? v : lo;
        const double vy = labels[j] == label ? v : INFINITY;
        lo_y = vy < lo_y ? vy : lo_y;
    }
    if (groups != NULL)
#pragma omp simd reduction(min : lo_g)
        for (int64_t j = 0; j < n; j++) {
            const double vg = groups[j] == group ? dist[j] : INFINITY;
            lo_g = vg < lo_g ? vg : lo_g;
        }
    double sum = 0.0, sum_y = 0.0, sum_g = 0.0;
#pragma omp simd reduction(+ : sum, sum_y)
    for (int64_t j = 0; j < n; j++) {
        double x = -scale * (dist[j] - lo);
        x = x > SP_EXP_FLOOR ? x : SP_EXP_FLOOR;
        const double term = ib_exp(x);
        sum += term;
        sum_y += labels[j] == label ? term : 0.0;
    }
    if (groups != NULL)
#pragma omp simd reduction(+ : sum_g)
        for (int64_t j = 0; j < n; j++) {
            double x = -scale * (dist[j] - lo);
            x = x > SP_EXP_FLOOR ? x : SP_EXP_FLOOR;
            sum_g += groups[j] == group ? ib_exp(x) : 0.0;
        }
    out[0] = -scale * lo + log(sum);
    out[1] = scale * (lo_y - lo) <= SP_REUSE ? -scale * lo + log(sum_y) : sp_log_sum(dist, n, scale, labels, label);
    if (groups == NULL)
        out[2] = -scale * dist[own];
    else
        out[2] = scale * (lo_g - lo) <= SP_REUSE ? -scale * lo + log(sum_g) : sp_log_sum(dist, n, scale, groups, group);
}

/* The three log sums of every query (see the top of this file).
 *
 * queries (m, d) float64, owner (m,) in [0, n), centres (n, d) float32,
 * labels (n,), groups (n,) or NULL; out (m, 3). Returns an ib_status. */
static int sp_block(const double* queries, const int64_t* owner, int64_t m, const float* centres, int64_t n,
                    int64_t d, const int64_t* labels, const int64_t* groups, double scale, int n_threads,
                    double* out) {
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(centres[i])) return IB_NONFINITE;
    for (int64_t i = 0; i < m * d; i++)
        if (!isfinite(queries[i])) return IB_NONFINITE;
    const int64_t np = (n + SP_LANES - 1) / SP_LANES * SP_LANES;
    double* ct = (double*)calloc((size_t)(np * d), sizeof(double));
    if (ct == NULL) return IB_NO_MEMORY;
    for (int64_t j = 0; j < n; j++)
        for (int64_t k = 0; k < d; k++) ct[(j / SP_LANES) * d * SP_LANES + k * SP_LANES + j % SP_LANES] = (double)centres[j * d + k];
    int failed = 0;
    const int64_t tiles = (m + SP_TILE - 1) / SP_TILE;
#pragma omp parallel num_threads(n_threads)
    {
        double* dist = (double*)malloc(sizeof(double) * (size_t)(SP_TILE * np));
        if (dist == NULL) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t tile = 0; tile < tiles; tile++) {
            if (dist == NULL) continue;
            const int64_t first = tile * SP_TILE;
            const int nt = (int)(m - first < SP_TILE ? m - first : SP_TILE);
            const double* q[SP_TILE];
            for (int t = 0; t < SP_TILE; t++) q[t] = queries + (first + (t < nt ? t : nt - 1)) * d;
            sp_distances(q, ct, np, d, dist);
            for (int t = 0; t < nt; t++) {
                const int64_t i = first + t, own = owner[i];
                const double* row = dist + (int64_t)t * np;
                sp_query(row, n, scale, labels, labels[own], groups, groups == NULL ? 0 : groups[own], own,
                         out + 3 * i);
            }
        }
        free(dist);
    }
    free(ct);
    return failed ? IB_NO_MEMORY : IB_OK;
}

#endif /* IBSIM_SP_CORE_H */
