/* histogram.c - reading the fixed-size histograms of histogram.h: bucket
 * bounds, counts, quantiles. */
#include "histogram.h"

uint64_t hist_upper(unsigned i)
{
	if (i < HIST_SUB)
		return i + 1;
	unsigned o = i / HIST_SUB + HIST_SUB_BITS - 1;
	uint64_t width = 1ull << (o - HIST_SUB_BITS);
	uint64_t low = (uint64_t)(HIST_SUB + i % HIST_SUB) * width;
	return low + width;     /* the bucket's last u is low + width - 1 */
}

unsigned hist_below(unsigned k)
{
	/* Values of at most 2^k are those with u = v - 1 below 2^k. */
	uint64_t x = 1ull << k;
	if (x <= HIST_SUB)
		return (unsigned)x;
	if (k > HIST_TOP_OCTAVE)
		return HIST_BUCKETS;
	return (k - HIST_SUB_BITS + 1) * HIST_SUB;
}

uint64_t hist_count(const uint64_t *b)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		n += b[i];
	return n;
}

uint64_t hist_quantile(const uint64_t *b, uint64_t n, double q)
{
	if (n == 0)
		return 0;
	/* The rank of the value wanted, 1-based: ceil(q * n). */
	double want = q * (double)n;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += b[i];
		if (seen >= rank)
			return hist_upper(i);
	}
	return hist_upper(HIST_BUCKETS - 1);
}

uint64_t hist_max(const uint64_t *b)
{
	for (unsigned i = HIST_BUCKETS; i-- > 0;)
		if (b[i])
			return hist_upper(i);
	return 0;
}
