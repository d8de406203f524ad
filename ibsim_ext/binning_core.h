/*
 * Binned entropies of activation patterns: the C core of ibsim_ext._binning.
 *
 * Semantics (defined by the NumPy twin in ibsim/estimators/reference.py): each
 * element t of a block (N rows = samples, d columns = neurons) gets the bin code
 *     k = floor(fl((t - lo) / width)),
 * clipped to [0, n_bins - 1] when n_bins > 0. A row of codes is a pattern.
 * The block's entropies are returned in bits: H(T), H(T|Y), H(T|X).
 *
 * Speed comes from four things, all exact:
 *  - the fast code path multiplies by 1/width and floors with the round-to-
 *    nearest "magic number" trick, branch-free and vectorisable; an element
 *    whose quotient lies within IB_EDGE_TOL of an integer (where the rounding
 *    of the product could move the floor) is recomputed with the exact
 *    division;
 *  - when codes fit in bytes, the block is coded in float32 over its
 *    contiguous elements (16 per AVX-512 vector, no gathers) with a rigorous
 *    error bound: a chunk holding any quotient within the bound of an integer
 *    is coded again the float64 way, and rows of byte codes are packed with
 *    a few word operations;
 *  - when the block's code range fits, a row is packed into one 64-bit key that
 *    is a bijection of the row (no hashing collisions to verify);
 *  - the hot loops are compiled for AVX-512, AVX2 and the baseline, chosen at
 *    load time (GCC target_clones), so wheels stay portable.
 * Otherwise rows are hashed and every hash hit is verified code by code.
 */
#ifndef IBSIM_BINNING_CORE_H
#define IBSIM_BINNING_CORE_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

#define IB_FAST_LIMIT 1.0e6
#define IB_EDGE_TOL 1.0e-9
#define IB_CODE_LIMIT 4.0e18


typedef struct {
    uint64_t key;   /* packed key, or row hash on the hashed path */
    int32_t id;     /* pattern id */
    uint32_t stamp; /* the slot is in use for the block with this stamp */
} ib_slot;

typedef struct {
    int64_t cap;         /* hash table capacity, a power of two >= 4N */
    ib_slot *table;      /* cap; zeroed once, then "cleared" by advancing the stamp */
    uint32_t stamp;      /* stamp of the current block (never 0 once started) */
    uint64_t *slots;     /* per row (N): first probe */
    int64_t *rep_row;    /* per pattern id (N): representative row (hashed path) */
    int64_t *counts;     /* per pattern id (N) */
    int64_t *ids;        /* per row (N) */
    uint64_t *keys;      /* per row (N) */
    uint8_t *bytes;      /* N * d + 16: byte codes (float32 path) */
    int64_t *codes_a;    /* d */
    int64_t *codes_b;    /* d */
    int64_t joint_size;  /* >= cap: dense joint counting up to this many cells */
    int64_t *joint;      /* joint_size: joint counts for H(T|Y), H(T|X) */
    int64_t *joint_key;  /* cap */
} ib_scratch;

static inline double ib_xlogx_sum(const int64_t *counts, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double c = (double)counts[i];
        if (c > 1.0) s += c * log2(c);
    }
    return s;
}

/* Exact code of one finite value; returns a status. */
static inline int ib_exact_code(double t, double lo, double width, int64_t n_bins, int64_t *code) {
    double k = floor((t - lo) / width);
    if (n_bins > 0) {
        if (k < 0.0) k = 0.0;
        if (k > (double)(n_bins - 1)) k = (double)(n_bins - 1);
    } else if (fabs(k) > IB_CODE_LIMIT) {
        return IB_CODE_OVERFLOW;
    }
    *code = (int64_t)k;
    return IB_OK;
}

/* Codes of one row (general path, same arithmetic as ib_pack_rows); returns a status. */
static inline int ib_row_codes(const float *row, int64_t d, double lo, double width, double inv,
                               int64_t n_bins, int64_t *codes) {
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    for (int64_t j = 0; j < d; j++) {
        double t = (double)row[j];
        double u = t - lo;
        double q = u * inv;
        if (fabs(q) < IB_FAST_LIMIT) {
            double r = (q + magic) - magic;
            double fr = q - r;
            if (fabs(fr) >= IB_EDGE_TOL || u == 0.0) {
                int64_t c = (int64_t)r - (fr < 0.0);
                if (n_bins > 0) {
                    c = c < 0 ? 0 : c;
                    c = c > n_bins - 1 ? n_bins - 1 : c;
                }
                codes[j] = c;
                continue;
            }
        }
        int status = ib_exact_code(t, lo, width, n_bins, &codes[j]);
        if (status != IB_OK) return status;
    }
    return IB_OK;
}

/* Minimum and maximum of a block; returns 1 if any element is NaN or infinite.
 *
 * Works on the bit patterns: an exponent of all ones marks NaN and inf, and
 * u ^ ((u >> 31) & 0x7fffffff) maps IEEE order onto int32 order, so both are
 * integer operations that vectorise (float min/max with NaN rules does not). */
IB_CLONES static int ib_minmax(const float *restrict t, int64_t n, float *mn, float *mx) {
    int32_t a = INT32_MAX, b = INT32_MIN, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t u;
        memcpy(&u, t + i, sizeof u);
        bad |= (u & 0x7f800000) == 0x7f800000;
        int32_t k = u ^ ((u >> 31) & 0x7fffffff);
        a = k < a ? k : a;
        b = k > b ? k : b;
    }
    a ^= (a >> 31) & 0x7fffffff;
    b ^= (b >> 31) & 0x7fffffff;
    memcpy(mn, &a, sizeof a);
    memcpy(mx, &b, sizeof b);
    return bad;
}

/* Packed keys of all rows (fast path): key = sum_j (code_j - cmin) << (j * bits).
 *
 * Column by column, so the inner loop over rows has one shift and vectorises
 * (strided loads become gathers). The floor avoids float-to-int conversions in
 * the hot path: r = (q + M) - M rounds q to the nearest integer (|q| < 2**51),
 * and floor(q) = r - (q < r). Returns 1 if any element's quotient lies within
 * IB_EDGE_TOL of an integer (other than an exact zero numerator, whose quotient
 * is exactly 0), where the rounding of the product could move the floor: the
 * caller then takes the exact path for the block. */
IB_CLONES static int ib_pack_rows(const float *restrict t, int64_t n, int64_t d, double lo,
                                  double inv, int32_t clip_hi, int32_t cmin, int bits,
                                  uint64_t *restrict keys) {
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    int edge = 0;
    for (int64_t j = 0; j < d; j++) {
        const int shift = (int)(j * bits);
        const float *col = t + j;
        for (int64_t i = 0; i < n; i++) {
            double u = (double)col[i * d] - lo;
            double q = u * inv;
            double r = (q + magic) - magic;
            double fr = q - r;
            int32_t c = (int32_t)r - (fr < 0.0);
            if (clip_hi >= 0) { /* loop-invariant: unswitched by the compiler */
                c = c < 0 ? 0 : c;
                c = c > clip_hi ? clip_hi : c;
            }
            uint64_t field = (uint64_t)(uint32_t)(c - cmin) << shift;
            keys[i] = j == 0 ? field : keys[i] | field;
            edge |= (fabs(fr) < IB_EDGE_TOL) & (u != 0.0);
        }
    }
    return edge;
}

#define IB_BYTE_CHUNK 256
#define IB_F32_SPAN 4096.0

/* Byte codes (code - cmin) of m contiguous elements in float32; returns 1 if any
 * quotient lies within tol of an integer (then the caller codes them again).
 *
 * q = fl32(fl32(t - lo32) * inv32) differs from (t - lo) / width by less than
 * 2**-22 * span (span = max |t - lo| / width + |lo| / width, three float32
 * roundings and lo32 = fl32(lo)); the caller passes tol = 2**-20 * span (and
 * at least FLT_MIN), so an element farther than tol from an integer has the
 * exact floor. zero_ok: lo is a float32, so u == 0 means t == lo exactly. */
IB_CLONES_BYTES static int ib_codes_f32(const float *restrict t, int64_t m, float lo32, float inv32, float tol,
                                  int zero_ok, int32_t clip_hi, int32_t cmin, uint8_t *restrict out) {
    const float magic = 12582912.0f; /* 1.5 * 2**23 */
    const float zero = zero_ok ? 0.0f : NAN; /* u != NAN always: no exemption */
    int edge = 0;
    for (int64_t i = 0; i < m; i++) {
        float u = t[i] - lo32;
        float q = u * inv32;
        float r = (q + magic) - magic;
        float fr = q - r;
        int32_t c = (int32_t)r - (fr < 0.0f);
        if (clip_hi >= 0) {
            c = c < 0 ? 0 : c;
            c = c > clip_hi ? clip_hi : c;
        }
        out[i] = (uint8_t)(c - cmin);
        edge |= (fabsf(fr) < tol) & (u != zero);
    }
    return edge;
}

/* Byte codes of a whole block: float32 chunks, any flagged chunk coded again
 * element by element the float64 way (ib_row_codes). Returns a status. */
static int ib_byte_codes(const float *t, int64_t m, double lo, double width, double inv, double span,
                         int64_t n_bins, int64_t cmin, uint8_t *out) {
    const float lo32 = (float)lo, inv32 = (float)inv;
    const float tol = fmaxf((float)ldexp(span, -20), FLT_MIN);
    const int zero_ok = (double)lo32 == lo;
    const int32_t clip_hi = n_bins > 0 ? (int32_t)(n_bins - 1) : -1;
    for (int64_t start = 0; start < m; start += IB_BYTE_CHUNK) {
        int64_t len = m - start < IB_BYTE_CHUNK ? m - start : IB_BYTE_CHUNK;
        if (!ib_codes_f32(t + start, len, lo32, inv32, tol, zero_ok, clip_hi, (int32_t)cmin, out + start)) continue;
        for (int64_t i = start; i < start + len; i++) {
            int64_t c;
            int status = ib_row_codes(t + i, 1, lo, width, inv, n_bins, &c);
            if (status != IB_OK) return status;
            out[i] = (uint8_t)(c - cmin);
        }
    }
    return IB_OK;
}

/* Eight byte fields of `bits` bits each (1 <= bits <= 8), moved together: 8 * bits bits. */
static inline uint64_t ib_compact_bytes(uint64_t x, int bits) {
    x = (x & 0x00FF00FF00FF00FFULL) | ((x & 0xFF00FF00FF00FF00ULL) >> (8 - bits));
    x = (x & 0x0000FFFF0000FFFFULL) | ((x & 0xFFFF0000FFFF0000ULL) >> (16 - 2 * bits));
    return (x & 0x00000000FFFFFFFFULL) | ((x & 0xFFFFFFFF00000000ULL) >> (32 - 4 * bits));
}

/* Packed keys of rows of at most 16 byte codes (two words per row, vectorised
 * over rows); the same keys as ib_pack_rows. */
IB_CLONES_BYTES static void ib_pack_bytes16(const uint8_t *restrict bytes, int64_t n, int64_t d, int bits,
                                            uint64_t *restrict keys) {
    const uint64_t tail_mask = d >= 16 ? ~0ULL : d <= 8 ? 0ULL : (1ULL << (8 * (d - 8))) - 1;
    const uint64_t head_mask = d >= 8 ? ~0ULL : (1ULL << (8 * d)) - 1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t x, y;
        memcpy(&x, bytes + i * d, sizeof x);
        memcpy(&y, bytes + i * d + 8, sizeof y);
        keys[i] = ib_compact_bytes(x & head_mask, bits) | (ib_compact_bytes(y & tail_mask, bits) << (8 * bits) % 64);
    }
}

/* Packed keys of rows of byte codes, the same keys as ib_pack_rows: code j at
 * bit j * bits. Needs bits <= 8, d * bits <= 64 and 16 readable bytes past the end. */
static void ib_pack_bytes(const uint8_t *bytes, int64_t n, int64_t d, int bits, uint64_t *keys) {
    if (d <= 16) {
        ib_pack_bytes16(bytes, n, d, bits, keys);
        return;
    }
    const int64_t words = (d + 7) / 8;
    const int64_t tail = d - 8 * (words - 1); /* bytes in the last word, 1..8 */
    const uint64_t tail_mask = tail == 8 ? ~0ULL : (1ULL << (8 * tail)) - 1;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *row = bytes + i * d;
        uint64_t key = 0;
        for (int64_t w = 0; w < words; w++) {
            uint64_t x;
            memcpy(&x, row + 8 * w, sizeof x);
            if (w == words - 1) x &= tail_mask;
            key |= ib_compact_bytes(x, bits) << (8 * bits * w);
        }
        keys[i] = key;
    }
}

/* Start using the table for a new block: slots stamped otherwise are empty.
 * (Clearing a table of 4N slots per block cost as much as hashing the block.) */
static inline void ib_table_start(ib_scratch *s) {
    if (++s->stamp == 0) {
        memset(s->table, 0, (size_t)s->cap * sizeof(ib_slot));
        s->stamp = 1;
    }
}

/* Table slot indices of all keys, in a loop of its own so that it vectorises. */
IB_CLONES static void ib_slots_of(const uint64_t *restrict keys, int64_t n, uint64_t mask,
                                  uint64_t *restrict slots) {
    for (int64_t i = 0; i < n; i++) slots[i] = ib_mix(keys[i]) & mask;
}

/* Count distinct packed keys; fills ids[] and counts[]; returns the pattern count.
 * Keys and ids share one slot (one cache line per probe); the table is at most a
 * quarter full, so most inserts find their slot at the first probe. */
static int64_t ib_count_keys(const uint64_t *keys, int64_t n, ib_scratch *s) {
    const uint64_t mask = (uint64_t)(s->cap - 1);
    ib_slot *table = s->table;
    int64_t n_pat = 0;
    ib_table_start(s);
    const uint32_t stamp = s->stamp;
    ib_slots_of(keys, n, mask, s->slots);
    for (int64_t i = 0; i < n; i++) {
        const uint64_t key = keys[i];
        uint64_t slot = s->slots[i];
        if (i + 8 < n) __builtin_prefetch(&table[s->slots[i + 8]]);
        for (;;) {
            if (table[slot].stamp != stamp) {
                table[slot].stamp = stamp;
                table[slot].id = (int32_t)n_pat;
                table[slot].key = key;
                s->counts[n_pat] = 1;
                s->ids[i] = n_pat++;
                break;
            }
            if (table[slot].key == key) {
                int64_t id = table[slot].id;
                s->counts[id]++;
                s->ids[i] = id;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    return n_pat;
}

static inline uint64_t ib_hash_codes(const int64_t *codes, int64_t d) {
    uint64_t h = 0x84222325cbf29ce4ULL;
    for (int64_t j = 0; j < d; j++) {
        h = (h ^ (uint64_t)codes[j]) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return ib_mix(h);
}

/* Count distinct rows by hashing codes and verifying hits (general path). */
static int ib_count_rows_hashed(const float *t, int64_t n, int64_t d, double lo, double width,
                                int64_t n_bins, ib_scratch *s, int64_t *n_pat_out) {
    const uint64_t mask = (uint64_t)(s->cap - 1);
    const double inv = 1.0 / width;
    int64_t n_pat = 0;
    ib_slot *table = s->table;
    ib_table_start(s);
    const uint32_t stamp = s->stamp;
    for (int64_t i = 0; i < n; i++) {
        int status = ib_row_codes(t + i * d, d, lo, width, inv, n_bins, s->codes_a);
        if (status != IB_OK) return status;
        uint64_t h = ib_hash_codes(s->codes_a, d);
        uint64_t slot = h & mask;
        for (;;) {
            if (table[slot].stamp != stamp) {
                table[slot].stamp = stamp;
                table[slot].id = (int32_t)n_pat;
                table[slot].key = h;
                s->rep_row[n_pat] = i;
                s->counts[n_pat] = 1;
                s->ids[i] = n_pat++;
                break;
            }
            if (table[slot].key == h) {
                int64_t id = table[slot].id;
                ib_row_codes(t + s->rep_row[id] * d, d, lo, width, inv, n_bins, s->codes_b);
                if (memcmp(s->codes_a, s->codes_b, (size_t)d * sizeof(int64_t)) == 0) {
                    s->counts[id]++;
                    s->ids[i] = id;
                    break;
                }
            }
            slot = (slot + 1) & mask;
        }
    }
    *n_pat_out = n_pat;
    return IB_OK;
}

/* sum over distinct (ids[i], other[i]) pairs of c log2 c. */
static double ib_joint_xlogx(const int64_t *ids, int64_t n_pat, const int64_t *other,
                             int64_t n_other, int64_t n, ib_scratch *s) {
    if (n_pat * n_other <= s->joint_size) {
        int64_t size = n_pat * n_other;
        memset(s->joint, 0, (size_t)size * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) s->joint[ids[i] * n_other + other[i]]++;
        return ib_xlogx_sum(s->joint, size);
    }
    const uint64_t mask = (uint64_t)(s->cap - 1);
    for (int64_t i = 0; i < s->cap; i++) {
        s->joint_key[i] = -1;
        s->joint[i] = 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t key = ids[i] * n_other + other[i];
        uint64_t slot = ib_mix((uint64_t)key) & mask;
        while (s->joint_key[slot] != -1 && s->joint_key[slot] != key) slot = (slot + 1) & mask;
        s->joint_key[slot] = key;
        s->joint[slot]++;
    }
    return ib_xlogx_sum(s->joint, s->cap);
}

/* Bits needed to hold every value in [0, max_value]. */
static inline int ib_bits_for(uint64_t max_value) {
    int bits = 1;
    while (bits < 64 && (max_value >> bits) != 0) bits++;
    return bits;
}

/* H(T), H(T|Y), H(T|X) of one block in bits; returns a status. */
static int ib_block_entropies(const float *t, int64_t n, int64_t d, double lo, double width,
                              int64_t n_bins, const int64_t *labels, int64_t n_labels,
                              double label_term, const int64_t *groups, int64_t n_groups,
                              double group_term, ib_scratch *s, double *out) {
    float mn, mx;
    int64_t n_pat = 0, cmin, cmax;
    int status;
    const double nd = (double)n;
    const double inv = 1.0 / width;

    if (ib_minmax(t, n * d, &mn, &mx)) return IB_NONFINITE;
    /* floor((t - lo) / width) is monotone in t, so the extreme codes come from the
     * extreme values. */
    if ((status = ib_exact_code((double)mn, lo, width, n_bins, &cmin)) != IB_OK) return status;
    if ((status = ib_exact_code((double)mx, lo, width, n_bins, &cmax)) != IB_OK) return status;
    double qmax = fmax(fabs(((double)mn - lo) * inv), fabs(((double)mx - lo) * inv));
    int bits = ib_bits_for((uint64_t)(cmax - cmin));

    int fast = qmax < IB_FAST_LIMIT && (int64_t)bits * d <= 64;
    const double span = qmax + fabs(lo) * inv;
    if (fast && bits <= 8 && span < IB_F32_SPAN && inv < 1e30 && (lo == 0.0 || fabs(lo) > 1e-30)) {
        if ((status = ib_byte_codes(t, n * d, lo, width, inv, span, n_bins, cmin, s->bytes)) != IB_OK)
            return status;
        ib_pack_bytes(s->bytes, n, d, bits, s->keys);
    } else if (fast) {
        /* a quotient within IB_EDGE_TOL of an integer is rare: redo the block exactly */
        fast = !ib_pack_rows(t, n, d, lo, inv, n_bins > 0 ? (int32_t)(n_bins - 1) : -1,
                             (int32_t)cmin, bits, s->keys);
    }
    if (fast) {
        n_pat = ib_count_keys(s->keys, n, s);
    } else {
        status = ib_count_rows_hashed(t, n, d, lo, width, n_bins, s, &n_pat);
        if (status != IB_OK) return status;
    }

    out[0] = log2(nd) - ib_xlogx_sum(s->counts, n_pat) / nd;
    out[1] = n_labels > 0 ? (label_term - ib_joint_xlogx(s->ids, n_pat, labels, n_labels, n, s)) / nd
                          : 0.0;
    out[2] = (n_groups > 0 && n_groups < n)
                 ? (group_term - ib_joint_xlogx(s->ids, n_pat, groups, n_groups, n, s)) / nd
                 : 0.0;
    return IB_OK;
}

#endif /* IBSIM_BINNING_CORE_H */
