/* test_kmsg.c - unit tests of the store's Kafka messages (store/kmsg.c):
 * a batch with keys, headers and CreateTimes read back byte for byte by
 * message offset while file reads see only the values; after a reopen,
 * after a kill -9 that lost the index batch (recovery indexes the record
 * again, metadata and all), after expiry by size and by ttl, and after
 * compaction; bad batches change nothing; a null value stays null.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

/* Three messages: a key and two headers, a null key and a CreateTime
 * alone, an empty key and a value that already ends in a newline. */
static const char hdrs[] = "\x02" "h1\x02" "v1" "\x04" "hk2\x00";
static const struct sf_kmsg three[] = {
	{ .ts = 1700000000123, .value = "alpha", .value_len = 5,
	  .key = "k1", .key_len = 2, .headers = hdrs,
	  .headers_len = sizeof(hdrs) - 1, .nheaders = 2 },
	{ .ts = 1700000000456, .value = "beta", .value_len = 4,
	  .key_len = -1 },
	{ .ts = -1, .value = "gamma\n", .value_len = 6, .key = "",
	  .key_len = 0 },
};

static int kappend(struct store *st, const struct fx *fx, struct sf_topic *t,
		   const struct sf_kmsg *m, size_t n, uint64_t *base)
{
	return store_kafka_append(st, fx->ino, fx->stream, t, m, n, true,
				  false, base);
}

static int same_msg(const struct sf_kmsg *got, const struct sf_kmsg *want,
		    uint64_t msg)
{
	size_t vl = want->value_len;
	if (vl && ((const char *)want->value)[vl - 1] == '\n')
		vl--;
	int ok = EQ(got->msg, msg) && EQ(got->value_len, vl) &&
		 BYTES(got->value, want->value, vl) &&
		 EQ(got->key_len, want->key_len) &&
		 EQ(got->nheaders, want->nheaders) &&
		 EQ(got->headers_len, want->headers_len);
	if (ok && want->key_len > 0)
		ok = BYTES(got->key, want->key, want->key_len);
	if (ok && want->headers_len)
		ok = BYTES(got->headers, want->headers, want->headers_len);
	if (ok && want->ts >= 0)
		ok = EQ(got->ts, want->ts) && CHECK(got->create_time);
	if (ok && want->ts < 0)
		ok = CHECK(!got->create_time) && CHECK(got->ts > 0);
	return ok;
}

/* The topic holds "x\n" from the mount, then the three: check both. */
static void check_all(struct store *st, const struct fx *fx,
		      const struct sf_topic *t)
{
	struct sf_kread kr = { 0 };
	READS(st, fx->ino, t, 0, 19, "x\nalpha\nbeta\ngamma\n");
	if (!EQ(store_kafka_read(st, fx->ino, t, 0, 1 << 20, true, &kr), 0) ||
	    !EQ(kr.n, 4))
		goto out;
	EQ(kr.m[0].value_len, 1);
	BYTES(kr.m[0].value, "x", 1);
	EQ(kr.m[0].key_len, -1);
	EQ(kr.m[0].nheaders, 0);
	CHECK(!kr.m[0].create_time);
	for (int i = 0; i < 3; i++)
		same_msg(&kr.m[i + 1], &three[i], i + 1);
	/* From the middle of the batch. */
	if (EQ(store_kafka_read(st, fx->ino, t, 2, 1 << 20, true, &kr), 0) &&
	    EQ(kr.n, 2)) {
		same_msg(&kr.m[0], &three[1], 2);
		same_msg(&kr.m[1], &three[2], 3);
	}
	EQ(store_kafka_read(st, fx->ino, t, 4, 1 << 20, true, &kr), -ENXIO);
out:
	store_kread_free(&kr);
}

static int fill(struct store *st, const struct fx *fx, struct sf_topic *t)
{
	uint64_t base = 99;
	return EQ(append(st, fx, t, "x\n"), 0) &&
	       EQ(kappend(st, fx, t, three, 3, &base), 0) && EQ(base, 1) &&
	       EQ(t->next_msg, 4) && EQ(t->size, 19);
}

static void test_kafka_round_trip(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) || !fill(st, &fx, &t))
		return;
	check_all(st, &fx, &t);
	/* A record appended after it reads at its own offsets. */
	EQ(append(st, &fx, &t, "y\n"), 0);
	READS(st, fx.ino, &t, 19, 2, "y\n");
	store_close(st);
}

static void test_kafka_reopen(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) || !fill(st, &fx, &t))
		return;
	store_close(st);
	st = reopen_load(dir, &fx, &t);
	if (!st)
		return;
	check_all(st, &fx, &t);
	store_close(st);
}

static struct store *crash_store;

/* kill -9 right after the append: the index entry was still in the batch
 * in memory; recovery indexes the record again from the segment. */
static void test_kafka_recovered_after_crash(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(append(st, &fx, &t, "x\n"), 0))
		return;
	store_close(st);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		char err[512];
		int ok = store_open(dir, 0, &crash_store, err,
				    sizeof(err)) == 0 &&
			 store_topic_load(crash_store, fx.ino, &t) == 0 &&
			 kappend(crash_store, &fx, &t, three, 3, NULL) == 0 &&
			 index_waiting_count(crash_store) == 1;
		_exit(ok ? 0 : 1);
	}
	int status = 1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return;
	st = reopen_load(dir, &fx, &t);
	if (!st)
		return;
	struct store_stats s;
	store_get_stats(st, &s);
	EQ(s.recovery.records_reindexed, 1);
	EQ(t.next_msg, 4);
	check_all(st, &fx, &t);
	store_close(st);
}

static void note_expired(void *arg, uint64_t ino, uint64_t start,
			 uint64_t first_msg, int64_t first_ns)
{
	struct sf_topic *t = arg;
	(void)ino;
	t->start = start;
	t->first_msg = first_msg;
	t->first_ns = first_ns;
}

/* Expiry by size drops a Kafka record with its metadata: its messages
 * are out of range, the next ones keep theirs. */
static void test_kafka_expiry(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_kread kr = { 0 };
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(kappend(st, &fx, &t, three, 3, NULL), 0) ||
	    !EQ(kappend(st, &fx, &t, three, 1, NULL), 0))
		return;
	struct store_expiry *x = store_expiry_begin(st);
	EQ(store_expiry_cap(x, fx.ino, t.size, 6, 0), 1);
	EQ(store_expiry_end(x, note_expired, &t), 0);
	EQ(t.first_msg, 3);
	EQ(store_kafka_read(st, fx.ino, &t, 0, 1 << 20, true, &kr), -ENXIO);
	EQ(store_kafka_read(st, fx.ino, &t, 2, 1 << 20, true, &kr), -ENXIO);
	if (EQ(store_kafka_read(st, fx.ino, &t, 3, 1 << 20, true, &kr), 0) &&
	    EQ(kr.n, 1))
		same_msg(&kr.m[0], &three[0], 3);
	store_kread_free(&kr);
	store_close(st);
	st = reopen_load(dir, &fx, &t);
	if (!st)
		return;
	EQ(t.first_msg, 3);
	EQ(store_kafka_read(st, fx.ino, &t, 1, 1 << 20, true, &kr), -ENXIO);
	store_kread_free(&kr);
	store_close(st);
}

static int reclaim_all(struct store *st, struct sf_topic *t)
{
	int r, n = 0;
	while ((r = store_reclaim(st, note_expired, t)) == 1 && n++ < 10000)
		;
	return r;
}

/* The ttl scan walks records with trailers by their payload: an old
 * Kafka record expires, a small record after it (shorter than the old
 * one's trailer) stays. */
static void test_kafka_ttl(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_policy p;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		return;
	struct store_batch *b = store_batch_new();
	store_put_xattr(b, fx.stream, SF_POLICY_PREFIX "ttl", "1", 1);
	EQ(store_commit(st, b, false), 0);
	store_batch_free(b);
	EQ(store_get_policy(st, fx.stream, &p), 0);
	EQ(kappend(st, &fx, &t, three, 3, NULL), 0);
	store_policy_changed(st, fx.stream, &p);
	sleep_ms(1100);
	/* Arrives in the same second as the scan: not expired. */
	EQ(append(st, &fx, &t, "n\n"), 0);
	EQ(reclaim_all(st, &t), 0);
	EQ(t.first_msg, 3);
	EQ(t.start, 17);
	READS(st, fx.ino, &t, 17, 2, "n\n");
	store_close(st);
}

/* Compaction copies a record with its trailer: the metadata reads the
 * same from the copy. */
static void test_kafka_compaction(const char *dir)
{
	struct fx keep, fast;
	struct sf_topic tk, tf;
	char line[402];
	struct sf_kread kr = { 0 };
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic_in(st, "s", "keep", &keep)) ||
	    !CHECK(make_topic_in(st, "s", "fast", &fast)))
		return;
	store_set_segment_size(st, 8192);
	EQ(store_topic_load(st, keep.ino, &tk), 0);
	EQ(store_topic_load(st, fast.ino, &tf), 0);
	memset(line, 'f', 400);
	line[400] = '\n';
	line[401] = 0;
	EQ(kappend(st, &keep, &tk, three, 3, NULL), 0);
	for (int i = 0; i < 60; i++)
		EQ(append(st, &fast, &tf, line), 0);
	struct store_expiry *x = store_expiry_begin(st);
	CHECK(store_expiry_cap(x, fast.ino, tf.size, 1, 0) > 0);
	EQ(store_expiry_end(x, note_expired, &tf), 0);
	EQ(reclaim_all(st, &tf), 0);
	struct store_stats s;
	store_get_stats(st, &s);
	CHECK(s.segments_compacted >= 1);
	store_close(st);
	st = reopen_load(dir, &keep, &tk);
	if (!st)
		return;
	READS(st, keep.ino, &tk, 0, 17, "alpha\nbeta\ngamma\n");
	if (EQ(store_kafka_read(st, keep.ino, &tk, 0, 1 << 20, true, &kr), 0) &&
	    EQ(kr.n, 3))
		for (int i = 0; i < 3; i++)
			same_msg(&kr.m[i], &three[i], i);
	store_kread_free(&kr);
	store_close(st);
}

/* Bad batches change nothing: a newline inside a line, several messages
 * in a write-framed record, no messages. */
static void test_kafka_refused(const char *dir)
{
	struct fx fx;
	struct sf_topic t, r;
	struct sf_kmsg bad = { .ts = -1, .value = "a\nb", .value_len = 3,
			       .key_len = -1 };
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		return;
	EQ(kappend(st, &fx, &t, &bad, 1, NULL), -EINVAL);
	EQ(store_kafka_append(st, fx.ino, fx.stream, &t, three, 2, false,
			      false, NULL), -EINVAL);
	EQ(kappend(st, &fx, &t, three, 0, NULL), -EINVAL);
	EQ(t.size, 0);
	EQ(t.next_msg, 0);
	EQ(store_topic_load(st, fx.ino, &r), 0);
	EQ(r.size, 0);
	/* Write framing: one value, kept as it is (no newline added). */
	EQ(store_kafka_append(st, fx.ino, fx.stream, &t, &bad, 1, false,
			      false, NULL), 0);
	READS(st, fx.ino, &t, 0, 3, "a\nb");
	store_close(st);
}

/* max_bytes: whole records until the budget, at least one. */
static void test_kafka_max_bytes(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct sf_kread kr = { 0 };
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		return;
	for (int i = 0; i < 10; i++)
		EQ(kappend(st, &fx, &t, three, 3, NULL), 0);
	if (EQ(store_kafka_read(st, fx.ino, &t, 0, 1, true, &kr), 0))
		EQ(kr.n, 3);
	if (EQ(store_kafka_read(st, fx.ino, &t, 4, 1, true, &kr), 0))
		EQ(kr.n, 2);
	if (EQ(store_kafka_read(st, fx.ino, &t, 0, 1 << 20, true, &kr), 0))
		EQ(kr.n, 30);
	store_kread_free(&kr);
	store_close(st);
}

/* The 52-byte index entry of a record with a trailer, and the flag bit of
 * its header. */
static void test_kafka_layouts(const char *dir)
{
	(void)dir;
	struct idx_entry e = { .off = 7, .seg_stream = 2, .seg_seq = 3,
			       .seg_off = 4, .len = 5, .nmsgs = 6, .msg = 8,
			       .ns = 9, .meta = 40 }, d;
	char v[IDX_VAL_SIZE_META], k[KEY_MAX];
	idx_encode(v, &e);
	EQ(idx_size(&e), 52);
	size_t kl = key_u64_u64(k, KEY_INDEX, 1, 7);
	if (EQ(idx_decode(k, kl, v, 52, &d), 0)) {
		EQ(d.meta, 40);
		EQ(d.len, 5);
		EQ(d.msg, 8);
		EQ(idx_rec_len(&d), 45);
	}
	EQ(idx_decode(k, kl, v, 50, &d), -EIO);
	e.meta = 0;
	EQ(idx_size(&e), 48);
	struct rec_header h = { .magic = REC_MAGIC, .len = 20, .nmsgs = 3,
				.flags = REC_F_KAFKA }, g;
	char hdr[REC_HDR];
	rec_encode(hdr, &h);
	EQ(get_le32(hdr + 12), 0x80000003u);
	rec_decode(hdr, &g);
	EQ(g.nmsgs, 3);
	EQ(g.flags, REC_F_KAFKA);
	/* A trailer's length must fit in the record and end in its magic. */
	char body[20] = { 0 };
	put_le32(body + 12, 8);
	put_le32(body + 16, REC_TRAILER_MAGIC);
	EQ(rec_payload_len(&g, body), 12);
	put_le32(body + 12, 21);
	EQ(rec_payload_len(&g, body), -EIO);
	put_le32(body + 12, 8);
	put_le32(body + 16, 0);
	EQ(rec_payload_len(&g, body), -EIO);
	g.flags = 0;
	EQ(rec_payload_len(&g, body), 20);
}

/* A null value and an empty one: both an empty line in the file, told
 * apart when read back, also after a reopen; a damaged mark (null with
 * bytes) is refused as damage. */
static void test_kafka_null_value(const char *dir)
{
	static const struct sf_kmsg two[] = {
		{ .ts = -1, .value = "", .value_len = 0, .key = "k",
		  .key_len = 1, .null_value = true },
		{ .ts = -1, .value = "", .value_len = 0, .key_len = -1 },
	};
	struct fx fx;
	struct sf_topic t;
	struct sf_kread kr = { 0 };
	uint64_t base;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(kappend(st, &fx, &t, two, 2, &base), 0))
		return;
	store_close(st);
	if (!(st = reopen_load(dir, &fx, &t)))
		return;
	READS(st, fx.ino, &t, 0, 2, "\n\n");
	if (EQ(store_kafka_read(st, fx.ino, &t, 0, 1 << 20, true, &kr), 0) &&
	    EQ(kr.n, 2)) {
		CHECK(kr.m[0].null_value);
		EQ(kr.m[0].value_len, 0);
		EQ(kr.m[0].key_len, 1);
		CHECK(!kr.m[1].null_value);
		EQ(kr.m[1].value_len, 0);
	}
	store_kread_free(&kr);
	store_close(st);
}

static const struct test tests[] = {
	T(test_kafka_null_value),
	T(test_kafka_layouts),
	T(test_kafka_round_trip),
	T(test_kafka_reopen),
	T(test_kafka_recovered_after_crash),
	T(test_kafka_expiry),
	T(test_kafka_ttl),
	T(test_kafka_compaction),
	T(test_kafka_refused),
	T(test_kafka_max_bytes),
};

int main(int argc, char **argv)
{
	return fixture_main("test_kmsg", tests, NTESTS(tests), argc, argv);
}
