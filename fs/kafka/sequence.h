/* sequence.h - the sequence numbers of idempotent producers: whether a
 * produced batch is the next one of its producer, a retry of one stored
 * already, or out of order (sequence.c, for produce.c).  Pure: the
 * producer's state is the store's (struct sf_producer). */
#ifndef STREAMFS_KAFKA_SEQUENCE_H
#define STREAMFS_KAFKA_SEQUENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* A batch's producer fields: sequences first..last (last = first + last
 * offset delta, wrapping past INT32_MAX to 0). */
struct kseq {
	int64_t pid;
	int16_t epoch;
	int32_t first, last;
};

/* The last sequence of a batch starting at first with delta more. */
int32_t kseq_last(int32_t first, int32_t delta);

/* Judge batch s against state p (known: p holds the stored state; false
 * when the producer has none on the topic).  KERR_NONE with *dup: a retry
 * of a stored batch, whose base offset is *base; KERR_NONE without: the
 * batch is to be appended, and p is the state to note it in (reset for a
 * new epoch or a first batch); otherwise the error code, p unchanged. */
int16_t kseq_check(struct sf_producer *p, bool known, const struct kseq *s,
		   bool *dup, uint64_t *base);

#endif
