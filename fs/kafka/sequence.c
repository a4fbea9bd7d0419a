/* sequence.c - the sequence rules of idempotent producers, as a Kafka
 * broker applies them to one partition: the first batch of a producer
 * (or of a new epoch) starts at 0; each later one starts right after the
 * last stored; a batch equal to one of the 5 most recent is a retry and
 * is answered with its first answer; anything else is out of order. */
#include "kafka.h"
#include "sequence.h"

int32_t kseq_last(int32_t first, int32_t delta)
{
	int64_t l = (int64_t)first + delta;
	return (int32_t)(l > INT32_MAX ? l - INT32_MAX - 1 : l);
}

static int32_t next_of(int32_t last)
{
	return last == INT32_MAX ? 0 : last + 1;
}

int16_t kseq_check(struct sf_producer *p, bool known, const struct kseq *s,
		   bool *dup, uint64_t *base)
{
	*dup = false;
	if (s->first < 0 || s->epoch < 0)
		return KERR_INVALID_RECORD;
	if (!known || s->epoch > p->epoch) {
		if (s->first != 0)
			return known ? KERR_OUT_OF_ORDER_SEQUENCE_NUMBER
				     : KERR_UNKNOWN_PRODUCER_ID;
		*p = (struct sf_producer){ .epoch = s->epoch };
		return KERR_NONE;
	}
	if (s->epoch < p->epoch)
		return KERR_INVALID_PRODUCER_EPOCH;
	for (unsigned i = 0; i < p->n; i++) {
		if (p->b[i].first_seq == s->first &&
		    p->b[i].last_seq == s->last) {
			*dup = true;
			*base = p->b[i].base;
			return KERR_NONE;
		}
	}
	if (p->n && s->first == next_of(p->b[p->n - 1].last_seq))
		return KERR_NONE;
	if (p->n == 0 && s->first == 0)
		return KERR_NONE;
	return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
}
