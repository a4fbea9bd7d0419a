/* histogram.h - fixed-size histograms of non-negative values (latencies
 * in nanoseconds, sizes in counts): log-linear buckets, exact up to 8,
 * then 8 buckets per power of two, so a bucket is at most 1/8 of its
 * values wide.  A value v lands in the bucket of v - 1 (0 and 1 share the
 * first), so that "at most 2^k" is exactly the buckets below one index
 * (hist_below): Prometheus' le bounds at powers of two are exact.
 *
 * A histogram is plain counts; its owner says which lock guards it
 * (metrics.c: fs.lock).  Values of 2^40 and more (18 minutes in ns) share
 * the last bucket. */
#ifndef STREAMFS_HISTOGRAM_H
#define STREAMFS_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB (1u << HIST_SUB_BITS)          /* buckets per octave */
#define HIST_TOP_OCTAVE 39                      /* of v - 1 */
#define HIST_BUCKETS ((HIST_TOP_OCTAVE - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
	uint64_t b[HIST_BUCKETS];
	uint64_t sum;           /* of the values, for averages */
};

static inline unsigned hist_index(uint64_t v)
{
	uint64_t u = v ? v - 1 : 0;
	if (u < HIST_SUB)
		return (unsigned)u;
	unsigned o = 63u - (unsigned)__builtin_clzll(u);
	if (o > HIST_TOP_OCTAVE)
		return HIST_BUCKETS - 1;
	return (o - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((u >> (o - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->sum += v;
}

/* The largest value bucket i holds (the last bucket: 2^40, "or more"). */
uint64_t hist_upper(unsigned i);
/* The number of buckets that hold only values of at most 2^k (k <= 39). */
unsigned hist_below(unsigned k);
/* The number of values in b. */
uint64_t hist_count(const uint64_t *b);
/* The value at quantile q (0 < q <= 1) of the n values counted in b: the
 * largest value of the bucket that holds it (at most 1/8 above the true
 * one); 0 when n is 0. */
uint64_t hist_quantile(const uint64_t *b, uint64_t n, double q);
/* The largest value of the highest bucket in use; 0 if none is. */
uint64_t hist_max(const uint64_t *b);

#endif
