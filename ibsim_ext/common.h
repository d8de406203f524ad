/* Shared by the C cores of ibsim_ext: CPU dispatch and the hash finaliser. */
#ifndef IBSIM_COMMON_H
#define IBSIM_COMMON_H

#include <stdint.h>

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

#endif /* IBSIM_COMMON_H */
