/* Shared by the C cores of ibsim_ext: CPU dispatch and the hash finaliser. */
#ifndef IBSIM_COMMON_H
#define IBSIM_COMMON_H

#include <stdint.h>
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

/* exp(x) for x in [-60, 0] (callers clamp), branch-free so that loops
 * vectorise: Cody-Waite reduction and a degree-13 polynomial, ~1 ulp. The same
 * arithmetic as kde_core.h's kd_exp, shared here for the other cores
 * (renyi_core.h). */
static inline double ib_exp(double x) {
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    double kd = (x * log2e + magic) - magic;
    double r = (x - kd * ln2_hi) - kd * ln2_lo;
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
    int64_t bits = ((int64_t)kd + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 128-bit fixed point on a 2^-64 grid: sums whose addition is associative, so
 * a result is the same bits for any number of threads and any schedule. */
typedef unsigned __int128 ib_fixed;
#define IB_FIXED_ONE 18446744073709551616.0 /* 2^64 */
static inline ib_fixed ib_to_fixed(double value) { return (ib_fixed)(value * IB_FIXED_ONE); }
static inline double ib_from_fixed(ib_fixed value) { return (double)value / IB_FIXED_ONE; }

#endif /* IBSIM_COMMON_H */
