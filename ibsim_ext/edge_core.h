/* EDGE base estimators (Noshad, Zeng & Hero 2019): randomised hashing of a
 * continuous layer, then plug-in mutual information with a discrete partner.
 *
 * One block (N samples x d neurons, float32) and one ensemble member l:
 *
 *   H1: code_k = floor(t_k / (factor_l * width_k) + shift_lk)       (float64)
 *       i.e. floor((t_k + b_k) / eps_k) with eps_k = factor_l * width_k and
 *       the random shift b_k = shift_lk * eps_k, shift_lk in [0, 1)
 *   H2: h = hash_seed + l; for each k: h = ib_mix(h ^ (uint64) code_k);
 *       bucket = h mod n_buckets                                      (F = c_H N)
 *
 * and with S(keys) = sum over distinct keys of c log c (c its count):
 *
 *   I(T;Y) = log N + (S(bucket, y) - S(bucket) - S(y)) / N
 *   I(X;T) = log N + (S(bucket, g) - S(bucket) - S(g)) / N   (g: input group)
 *          = log N - S(bucket) / N                           (every input distinct)
 *
 * in nats: the edge sum (1/N) sum_ij N_ij log(N N_ij / (N_i M_j)) of the
 * dependence graph, written with counts. Counting is an open-addressing table
 * of 64-bit keys (every probe compares the key itself), so the whole member is
 * O(N d). The NumPy twin is ibsim.estimators.reference.edge_base_estimates. */
#ifndef IBSIM_EDGE_CORE_H
#define IBSIM_EDGE_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* |code| beyond this does not fit int64 safely: refused as IB_CODE_OVERFLOW
 * (the same limit as the binning twin's CODE_LIMIT). */
#define EDGE_CODE_LIMIT 4.0e18

typedef struct {
    uint64_t* keys;
    int64_t* counts;
    int64_t capacity; /* a power of two >= 2 N */
} edge_table;

/* sum_c c log c over the distinct keys of keys[0..n) */
static double edge_sum_clogc(const uint64_t* keys, int64_t n, edge_table* table) {
    const uint64_t mask = (uint64_t)table->capacity - 1;
    memset(table->counts, 0, (size_t)table->capacity * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        uint64_t slot = ib_mix(keys[i]) & mask;
        while (table->counts[slot] && table->keys[slot] != keys[i]) slot = (slot + 1) & mask;
        table->keys[slot] = keys[i];
        table->counts[slot]++;
    }
    double total = 0.0;
    for (int64_t s = 0; s < table->capacity; s++) {
        const int64_t c = table->counts[s];
        if (c > 1) total += (double)c * log((double)c);
    }
    return total;
}

/* sum_c c log c over the distinct (bucket, partner) pairs; a slot remembers
 * the index of its first sample, and every probe compares both values. */
static double edge_sum_clogc_pairs(const uint64_t* bucket, const int64_t* partner, int64_t n, edge_table* table) {
    const uint64_t mask = (uint64_t)table->capacity - 1;
    memset(table->counts, 0, (size_t)table->capacity * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        uint64_t slot = ib_mix(bucket[i] ^ ((uint64_t)partner[i] * 0x9e3779b97f4a7c15ULL)) & mask;
        while (table->counts[slot]) {
            const uint64_t first = table->keys[slot];
            if (bucket[first] == bucket[i] && partner[first] == partner[i]) break;
            slot = (slot + 1) & mask;
        }
        if (!table->counts[slot]) table->keys[slot] = (uint64_t)i;
        table->counts[slot]++;
    }
    double total = 0.0;
    for (int64_t s = 0; s < table->capacity; s++) {
        const int64_t c = table->counts[s];
        if (c > 1) total += (double)c * log((double)c);
    }
    return total;
}

/* The bucket of every sample under member (factor, shift row, salt).
 * Returns IB_OK, IB_NONFINITE or IB_CODE_OVERFLOW. */
static int edge_hash_member(const float* t, int64_t n, int64_t d, const double* width, double factor,
                            const double* shift, uint64_t salt, uint64_t n_buckets, uint64_t* bucket) {
    for (int64_t i = 0; i < n; i++) {
        const float* row = t + i * d;
        uint64_t h = salt;
        for (int64_t k = 0; k < d; k++) {
            const double value = (double)row[k];
            if (!isfinite(value)) return IB_NONFINITE;
            const double eps = factor * width[k];
            const double q = value / eps + shift[k];
            if (!(fabs(q) <= EDGE_CODE_LIMIT)) return IB_CODE_OVERFLOW;
            const int64_t code = (int64_t)floor(q);
            h = ib_mix(h ^ (uint64_t)code);
        }
        bucket[i] = h % n_buckets;
    }
    return IB_OK;
}

/* All members of one block: out[l * 2 + 0] = I(X;T), out[l * 2 + 1] = I(T;Y), nats.
 *
 * t: (n, d) float32; width: (d,) base widths; factor: (L,); shift: (L, d);
 * labels (n,) in [0, n_labels); groups (n,) in [0, n_groups) or n_groups == 0
 * when every input is distinct. */
static int edge_block(const float* t, int64_t n, int64_t d, const double* width, int64_t n_members,
                      const double* factor, const double* shift, uint64_t hash_seed, uint64_t n_buckets,
                      const int64_t* labels, int64_t n_labels, const int64_t* groups, int64_t n_groups,
                      double* out) {
    int64_t capacity = 16;
    while (capacity < 2 * n) capacity *= 2;
    edge_table table;
    table.capacity = capacity;
    table.keys = (uint64_t*)malloc((size_t)capacity * sizeof(uint64_t));
    table.counts = (int64_t*)malloc((size_t)capacity * sizeof(int64_t));
    uint64_t* bucket = (uint64_t*)malloc((size_t)(n > 0 ? n : 1) * sizeof(uint64_t));
    uint64_t* pair = (uint64_t*)malloc((size_t)(n > 0 ? n : 1) * sizeof(uint64_t));
    int status = IB_OK;
    if (!table.keys || !table.counts || !bucket || !pair) {
        status = IB_NO_MEMORY;
        goto done;
    }
    const double log_n = log((double)n);
    for (int64_t i = 0; i < n; i++) pair[i] = (uint64_t)labels[i];
    const double s_y = edge_sum_clogc(pair, n, &table);
    double s_g = 0.0;
    if (n_groups > 0) {
        for (int64_t i = 0; i < n; i++) pair[i] = (uint64_t)groups[i];
        s_g = edge_sum_clogc(pair, n, &table);
    }
    for (int64_t l = 0; l < n_members; l++) {
        status = edge_hash_member(t, n, d, width, factor[l], shift + l * d, hash_seed + (uint64_t)l, n_buckets,
                                  bucket);
        if (status != IB_OK) goto done;
        const double s_t = edge_sum_clogc(bucket, n, &table);
        out[l * 2 + 1] = log_n + (edge_sum_clogc_pairs(bucket, labels, n, &table) - s_t - s_y) / (double)n;
        if (n_groups > 0)
            out[l * 2 + 0] = log_n + (edge_sum_clogc_pairs(bucket, groups, n, &table) - s_t - s_g) / (double)n;
        else
            out[l * 2 + 0] = log_n - s_t / (double)n;
    }
done:
    free(table.keys);
    free(table.counts);
    free(bucket);
    free(pair);
    return status;
}

#endif /* IBSIM_EDGE_CORE_H */
