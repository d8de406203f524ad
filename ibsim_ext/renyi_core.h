/*
 * Squared-Gaussian-kernel pair sums for the matrix-based Renyi entropy of order
 * 2: the C core of ibsim_ext._renyi.
 *
 * For the N rows t_i of a block (samples x neurons) and the Gaussian Gram matrix
 * K_ij = exp(-|t_i - t_j|^2 / (2 sigma^2)), A = K / N, the order-2 entropy is
 * S_2(A) = -log2 sum_ij A_ij^2 = -log2 (P / N^2) with the pair sum
 *     P   = sum_ij exp(-s |t_i - t_j|^2),        s = 1 / sigma^2 (K squared)
 * and the joint entropies with a discrete variable (labels y, input groups g),
 * whose kernel is [y_i == y_j], use the same sum over the pairs that share it:
 *     P_y = sum_{ij : y_i == y_j} exp(-s |t_i - t_j|^2)    (likewise P_g).
 * The kernel returns the three sums; ibsim/estimators/kernels.py turns them
 * into bits. The NumPy twin, ibsim.estimators.reference.renyi2_entropies, is
 * the dense textbook formula.
 *
 * Exact to float64 rounding, in memory O(N d), never the N x N matrix:
 *  - identical (row, label, group) triples collapse into one centre with a
 *    weight w (their pairs are w^2 terms of exactly 1; common.h's ib_dedup_rows);
 *  - centres are cut into tiles of RN_TILE and pairs of tiles are visited once
 *    (the sums are symmetric), in parallel over tile pairs;
 *  - a tile pair sums each row in a fixed order in float64 and adds the row's
 *    partial sum to a 128-bit fixed-point accumulator (common.h), so the result
 *    is the same bits for any number of threads and any schedule;
 *  - terms exp(-a) with a > 60 are dropped: each is < 2^-86 while every sum
 *    holds its diagonal (>= N), so all of them together stay below 2^-86 N^2 / N
 *    relative, far under an ulp for any N below 2^30;
 *  - exp is common.h's branch-free polynomial, which vectorises.
 * No tile is skipped by distance (the kernel widths of the sigma rules reach
 * across the whole layer, so bounding boxes would rarely prune).
 */
#ifndef IBSIM_RENYI_CORE_H
#define IBSIM_RENYI_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"

#define RN_TILE 64
#define RN_EXP_FLOOR (-60.0)

typedef struct {
    int64_t m;      /* number of centres */
    int64_t d;      /* dimensions */
    double *x;      /* (d, m) coordinates, neuron-major */
    double *w;      /* (m,) weights (multiplicities) */
    int64_t *label; /* (m,) label of each centre */
    int64_t *group; /* (m,) input group of each centre */
} rn_centres;

/* Off-diagonal pair sums of tile I against tile J (I <= J; within one tile,
 * each unordered pair once), added to acc[0..2] (all pairs, same label, same
 * group), each pair counted once. */
IB_CLONES static void rn_tile_pair(const rn_centres *c, int64_t ti, int64_t tj, double scale,
                                   ib_fixed *restrict acc) {
    const int64_t i0 = ti * RN_TILE, i1 = (i0 + RN_TILE < c->m) ? i0 + RN_TILE : c->m;
    const int64_t j0 = tj * RN_TILE, j1 = (j0 + RN_TILE < c->m) ? j0 + RN_TILE : c->m;
    const int64_t m = c->m, d = c->d;
    const double *restrict x = c->x;
    const double *restrict w = c->w;
    const int64_t *restrict label = c->label;
    const int64_t *restrict group = c->group;
    double dist[RN_TILE];
    for (int64_t u = i0; u < i1; u++) {
        const int64_t start = ti == tj ? u + 1 : j0;
        const int64_t len = j1 - start;
        if (len <= 0) continue;
        for (int64_t k = 0; k < len; k++) dist[k] = 0.0;
        for (int64_t q = 0; q < d; q++) {
            const double xu = x[q * m + u];
            const double *restrict xv = x + q * m + start;
            for (int64_t k = 0; k < len; k++) {
                double diff = xu - xv[k];
                dist[k] += diff * diff;
            }
        }
        double all = 0.0, same_label = 0.0, same_group = 0.0;
        const int64_t yu = label[u], gu = group[u];
        for (int64_t k = 0; k < len; k++) {
            double a = scale * dist[k];
            double e = ib_exp(a < -RN_EXP_FLOOR ? -a : RN_EXP_FLOOR);
            e = a <= -RN_EXP_FLOOR ? e * w[start + k] : 0.0;
            all += e;
            same_label += label[start + k] == yu ? e : 0.0;
            same_group += group[start + k] == gu ? e : 0.0;
        }
        const double wu = w[u];
        acc[0] += ib_to_fixed(wu * all);
        acc[1] += ib_to_fixed(wu * same_label);
        acc[2] += ib_to_fixed(wu * same_group);
    }
}

/* P, P_y, P_g (see the top of this file) of one block into out[0..2]; returns
 * IB_OK, IB_NONFINITE or IB_NO_MEMORY (common.h). labels and groups are (n,)
 * arrays (all zeros when unused). */
static int rn_block(const float *t, int64_t n, int64_t d, const int64_t *labels, const int64_t *groups,
                    double scale, int n_threads, double *out) {
    int status = IB_NO_MEMORY;
    int64_t *rep = malloc((size_t)n * sizeof(int64_t));
    double *weight = malloc((size_t)n * sizeof(double));
    rn_centres c = {0};
    ib_fixed *acc = NULL;
    if (!rep || !weight) goto done;

    int64_t m = ib_dedup_rows(t, n, d, labels, groups, rep, weight);
    if (m < 0) {
        status = m == -1 ? IB_NONFINITE : IB_NO_MEMORY;
        goto done;
    }
    c.m = m;
    c.d = d;
    c.x = malloc((size_t)(m * d) * sizeof(double));
    c.w = malloc((size_t)m * sizeof(double));
    c.label = malloc((size_t)m * sizeof(int64_t));
    c.group = malloc((size_t)m * sizeof(int64_t));
    if (!c.x || !c.w || !c.label || !c.group) goto done;
    for (int64_t p = 0; p < m; p++) {
        const float *row = t + rep[p] * d;
        for (int64_t q = 0; q < d; q++) c.x[q * m + p] = (double)row[q];
        c.w[p] = weight[p];
        c.label[p] = labels[rep[p]];
        c.group[p] = groups[rep[p]];
    }
    const int64_t n_tiles = (m + RN_TILE - 1) / RN_TILE;
    const int64_t n_pairs = n_tiles * (n_tiles + 1) / 2;
    acc = calloc((size_t)(3 * n_threads), sizeof(ib_fixed));
    if (!acc) goto done;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_threads)
#endif
    for (int64_t k = 0; k < n_pairs; k++) {
        /* the k-th pair (a, b), a <= b, in row-major order of the upper triangle */
        int64_t a = 0, rest = k;
        while (rest >= n_tiles - a) {
            rest -= n_tiles - a;
            a++;
        }
#ifdef _OPENMP
        ib_fixed *mine = acc + 3 * (int64_t)omp_get_thread_num();
#else
        ib_fixed *mine = acc;
#endif
        rn_tile_pair(&c, a, a + rest, scale, mine);
    }
    ib_fixed total[3] = {0, 0, 0};
    for (int th = 0; th < n_threads; th++)
        for (int k = 0; k < 3; k++) total[k] += acc[3 * th + k];
    double diagonal = 0.0; /* each centre's own w^2 pairs, kernel 1: exact integers */
    for (int64_t p = 0; p < m; p++) diagonal += c.w[p] * c.w[p];
    for (int k = 0; k < 3; k++) out[k] = diagonal + 2.0 * ib_from_fixed(total[k]);
    status = IB_OK;

done:
    free(rep); free(weight);
    free(c.x); free(c.w); free(c.label); free(c.group);
    free(acc);
    return status;
}

#endif /* IBSIM_RENYI_CORE_H */
