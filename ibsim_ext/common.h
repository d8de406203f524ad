/* Shared by the C cores of ibsim_ext: CPU dispatch, status codes, the hash
 * finaliser, exp, 128-bit fixed-point sums and the removal of identical rows. */
#ifndef IBSIM_COMMON_H
#define IBSIM_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Hot loops are compiled for AVX-512, AVX2 and baseline x86-64; the loader picks
 * one (GCC target_clones), so one binary runs everywhere. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define IB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#if __GNUC__ >= 12
/* Byte-wide vector work needs AVX-512 BW/VL too (x86-64-v4): 3x faster than the
 * avx512f clone for float32-to-byte code loops. */
#define IB_CLONES_BYTES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define IB_CLONES_BYTES IB_CLONES
#endif
#else
#define IB_CLONES
#define IB_CLONES_BYTES
#endif

/* The status every kernel returns for a block: the one list of kernel status
 * codes (ibsim/estimators/kernels.py maps them to messages through the
 * extensions' STATUS_* constants). */
enum ib_status { IB_OK = 0, IB_NONFINITE = 1, IB_CODE_OVERFLOW = 2, IB_NO_MEMORY = 3 };

/* splitmix64's finaliser: spreads the bits so the low bits index a table well */
static inline uint64_t ib_mix(uint64_t h) {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* exp(x) for x in [-708, 0] (callers clamp), branch-free so that loops
 * vectorise: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, and the Taylor
 * polynomial of degree 13 (remainder < 0.347^14/14! < 4e-18 relative; with
 * rounding, within 1e-15 relative of exp(x), ~1 ulp). The integer k is read
 * from the bits of the rounding sum x log2e + 1.5 * 2^52 (its low mantissa
 * bits), so no double-to-integer conversion is needed and the loops vectorise
 * without AVX-512 DQ. The one exp of every core (kde, renyi, sp). */
static inline double ib_exp(double x) {
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    const double shifted = x * log2e + magic;
    const double kd = shifted - magic;
    const double r = (x - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
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
    uint64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    /* bits = bits(1.5 * 2^52) + k: its low 52 bits are those of k, so adding the
     * bias and shifting by 52 leaves the biased exponent k + 1023 */
    bits = (bits + 1023u) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 128-bit fixed point on a 2^-64 grid: sums whose addition is associative, so
 * a result is the same bits for any number of threads and any schedule. */
typedef unsigned __int128 ib_fixed;
#define IB_FIXED_ONE 18446744073709551616.0 /* 2^64 */
/* value (>= 0, < 2^63) on the 2^-64 grid, truncated: the same bits as
 * (ib_fixed)(value * 2^64), without the library call (__fixunsdfti) that
 * conversion costs: the integer part and the fraction (both exact) convert
 * separately. */
static inline ib_fixed ib_to_fixed(double value) {
    const uint64_t whole = (uint64_t)value;
    const uint64_t frac = (uint64_t)((value - (double)whole) * IB_FIXED_ONE);
    return ((ib_fixed)whole << 64) | frac;
}
static inline double ib_from_fixed(ib_fixed value) { return (double)value / IB_FIXED_ONE; }

/* ------------------------------------------------ identical rows (kde, renyi) */

/* Hash of a float32 row and up to two integer keys (label, group). */
static inline uint64_t ib_row_hash(const float *row, int64_t d, int64_t key_a, int64_t key_b) {
    uint64_t h = ib_mix(0x9e3779b97f4a7c15ULL ^ (uint64_t)key_a) ^ ib_mix((uint64_t)key_b + 0x632be59bd9b4e019ULL);
    for (int64_t j = 0; j < d; j++) {
        uint32_t bits;
        float v = row[j] == 0.0f ? 0.0f : row[j]; /* -0 and +0 are the same point */
        memcpy(&bits, &v, sizeof bits);
        h = (h ^ bits) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return ib_mix(h);
}

/* The smallest power of two >= 16 and >= n. */
static inline int64_t ib_pow2_at_least(int64_t n) {
    int64_t cap = 16;
    while (cap < n) cap *= 2;
    return cap;
}

/* The distinct (row, key_a, key_b) of a block t (n, d): centre c (numbered in
 * the order of first appearance, so independent of the hash) gets its first
 * row rep[c] and its multiplicity weight[c] (rep and weight: n entries each).
 * key_b may be NULL (no second key). Returns the number of centres, -1 if a
 * value is not finite, -2 if out of memory (for its hash table). */
static inline int64_t ib_dedup_rows(const float *t, int64_t n, int64_t d, const int64_t *key_a,
                                    const int64_t *key_b, int64_t *rep, double *weight) {
    const int64_t cap = ib_pow2_at_least(2 * n);
    const uint64_t mask = (uint64_t)(cap - 1);
    int64_t *table = (int64_t *)malloc((size_t)cap * sizeof(int64_t));
    if (!table) return -2;
    int64_t m = 0;
    for (int64_t i = 0; i < cap; i++) table[i] = -1;
    for (int64_t i = 0; i < n && m >= 0; i++) {
        const float *row = t + i * d;
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(row[j])) m = -1;
        if (m < 0) break;
        const int64_t b = key_b ? key_b[i] : 0;
        uint64_t slot = ib_row_hash(row, d, key_a[i], b) & mask;
        for (;;) {
            const int64_t c = table[slot];
            if (c < 0) {
                table[slot] = m;
                rep[m] = i;
                weight[m] = 1.0;
                m++;
                break;
            }
            const float *other = t + rep[c] * d;
            int same = key_a[rep[c]] == key_a[i] && (!key_b || key_b[rep[c]] == b);
            for (int64_t j = 0; same && j < d; j++) same = other[j] == row[j];
            if (same) {
                weight[c] += 1.0;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    free(table);
    return m;
}

#endif /* IBSIM_COMMON_H */
