/* test_kafka_sequence.c - unit tests of the idempotent producers'
 * sequence rules (fs/kafka/sequence.c): a first batch at 0, the next
 * right after the last, a retry of any of the 5 kept batches answered
 * with its base offset, gaps and overlaps out of order, epochs older
 * refused and newer ones starting again at 0, sequences wrapping past
 * INT32_MAX; a refusal leaves the state as it was.
 */
#include <stdint.h>

#include "check.h"
#include "kafka.h"
#include "sequence.h"

static int16_t judge(struct sf_producer *p, bool known, int16_t epoch,
		     int32_t first, int32_t last, bool *dup, uint64_t *base)
{
	struct kseq s = { 7, epoch, first, last };
	return kseq_check(p, known, &s, dup, base);
}

static void test_first_batch(void)
{
	struct sf_producer p = { .epoch = 9, .n = 3 };
	bool dup = true;
	uint64_t base = 0;
	CHECK(judge(&p, false, 2, 3, 4, &dup, &base) ==
	      KERR_UNKNOWN_PRODUCER_ID);
	CHECK(p.epoch == 9 && p.n == 3);
	CHECK(judge(&p, false, 2, 0, 4, &dup, &base) == KERR_NONE);
	CHECK(!dup && p.epoch == 2 && p.n == 0);
	CHECK(judge(&p, false, 0, -1, 0, &dup, &base) == KERR_INVALID_RECORD);
}

static void test_next_retry_gap(void)
{
	struct sf_producer p = { .epoch = 1 };
	bool dup;
	uint64_t base = 0;
	for (int i = 0; i < 6; i++)
		store_producer_note(&p, i * 2, i * 2 + 1, 100 + i * 2);
	/* Kept: batches 1..5 (sequences 2..11). */
	CHECK(judge(&p, true, 1, 12, 12, &dup, &base) == KERR_NONE && !dup);
	CHECK(judge(&p, true, 1, 4, 5, &dup, &base) == KERR_NONE && dup &&
	      base == 104);
	CHECK(judge(&p, true, 1, 10, 11, &dup, &base) == KERR_NONE && dup &&
	      base == 110);
	CHECK(judge(&p, true, 1, 0, 1, &dup, &base) ==
	      KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);      /* forgotten */
	CHECK(judge(&p, true, 1, 13, 13, &dup, &base) ==
	      KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);      /* a gap */
	CHECK(judge(&p, true, 1, 4, 6, &dup, &base) ==
	      KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);      /* an overlap */
	CHECK(p.n == 5 && p.epoch == 1);
}

static void test_epochs(void)
{
	struct sf_producer p = { .epoch = 3 };
	bool dup;
	uint64_t base;
	store_producer_note(&p, 0, 4, 0);
	CHECK(judge(&p, true, 2, 5, 5, &dup, &base) ==
	      KERR_INVALID_PRODUCER_EPOCH);
	CHECK(judge(&p, true, 4, 5, 5, &dup, &base) ==
	      KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK(p.epoch == 3 && p.n == 1);
	CHECK(judge(&p, true, 4, 0, 0, &dup, &base) == KERR_NONE && !dup);
	CHECK(p.epoch == 4 && p.n == 0);
}

static void test_wrap(void)
{
	CHECK(kseq_last(5, 3) == 8);
	CHECK(kseq_last(INT32_MAX - 1, 3) == 1);
	struct sf_producer p = { .epoch = 0 };
	bool dup;
	uint64_t base;
	store_producer_note(&p, INT32_MAX - 1, INT32_MAX, 50);
	CHECK(judge(&p, true, 0, 0, 2, &dup, &base) == KERR_NONE && !dup);
	CHECK(judge(&p, true, 0, INT32_MAX, 0, &dup, &base) ==
	      KERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
}

int main(void)
{
	test_first_batch();
	test_next_retry_gap();
	test_epochs();
	test_wrap();
	return check_summary();
}
