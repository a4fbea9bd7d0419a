/* test_replica.c - unit tests of the store's side of replication
 * (store/replica.c, store/link.c): a topic copied record by record from
 * one store into another keeps its offsets, arrival times and Kafka
 * trailers byte for byte; a record sent twice is stored once, one past a
 * gap not at all; bad records change nothing; after a kill -9 the
 * topic's end is the high-water mark of what was stored; expired heads
 * are not brought back, and a skip to a source's start past the end
 * continues the topic there; the
 * replica id, the homes and the births survive a reopen, and a rename
 * keeps a topic's birth; links are kept, listed, paused and removed,
 * and go with their stream; hand-overs of homes asked are kept,
 * replaced, dropped, and go with their topic.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

static const char hdrs[] = "\x02" "h1\x02" "v1";
static const struct sf_kmsg kms[] = {
	{ .ts = 1700000000123, .value = "alpha", .value_len = 5,
	  .key = "k1", .key_len = 2, .headers = hdrs,
	  .headers_len = sizeof(hdrs) - 1, .nheaders = 1 },
	{ .ts = -1, .value = "beta", .value_len = 4, .key_len = -1 },
};

static struct store *open_sub(const char *dir, const char *sub)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	return open_store(p);
}

/* Source topic s/t in a: "one\n", "two\nthree\n", a Kafka batch with a
 * key, headers and a CreateTime, "four\n". */
static int fill_source(struct store *a, struct fx *fx, struct sf_topic *t)
{
	return CHECK(make_topic(a, fx)) &&
	       EQ(store_topic_load(a, fx->ino, t), 0) &&
	       EQ(append(a, fx, t, "one\n"), 0) &&
	       EQ(append(a, fx, t, "two\nthree\n"), 0) &&
	       EQ(store_kafka_append(a, fx->ino, fx->stream, t, kms, 2, true,
				     false, NULL), 0) &&
	       EQ(append(a, fx, t, "four\n"), 0);
}

/* Every record of (st, ino) from off: into r (its buffers the caller's). */
static int read_all(struct store *st, uint64_t ino, const struct sf_topic *t,
		    struct sf_rread *r)
{
	return store_topic_raw_read(st, ino, t, t->start, 1 << 20, r);
}

/* Replicate every record of r into (b, fx, t): how many were stored. */
static int push_all(struct store *b, const struct fx *fx, struct sf_topic *t,
		    const struct sf_rread *r, bool sync)
{
	int stored = 0;
	for (size_t i = 0; i < r->n; i++) {
		int x = store_topic_replicate(b, fx->ino, fx->stream, t,
					      &r->r[i], sync);
		if (x < 0)
			return x;
		stored += x == 0;
	}
	return stored;
}

static void same_records(const struct sf_rread *x, const struct sf_rread *y)
{
	if (!EQ(x->n, y->n))
		return;
	for (size_t i = 0; i < x->n; i++) {
		const struct sf_rrecord *a = &x->r[i], *b = &y->r[i];
		EQ(a->off, b->off);
		EQ(a->msg, b->msg);
		EQ(a->ns, b->ns);
		EQ(a->nmsgs, b->nmsgs);
		EQ(a->len, b->len);
		EQ(a->trailer_len, b->trailer_len);
		BYTES(a->bytes, b->bytes, a->len + a->trailer_len);
	}
}

static void test_replica_id(const char *dir)
{
	uint64_t id = 0, again = 0, other = 0;
	struct store *st = open_sub(dir, "a");
	if (!st || !EQ(store_replica_id(st, &id), 0))
		return;
	CHECK(id != 0);
	store_close(st);
	st = open_sub(dir, "a");
	if (!st)
		return;
	EQ(store_replica_id(st, &again), 0);
	EQ(again, id);
	store_close(st);
	st = open_sub(dir, "b");
	if (!st)
		return;
	EQ(store_replica_id(st, &other), 0);
	CHECK(other != 0 && other != id);
	store_close(st);
}

static void test_homes(const char *dir)
{
	struct fx fx, fy;
	uint64_t id, home = 0;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !CHECK(make_topic_in(st, "s", "u", &fy)) ||
	    !EQ(store_replica_id(st, &id), 0))
		return;
	EQ(store_topic_home(st, fx.ino, &home), 0);
	EQ(home, id);
	EQ(store_topic_set_home(st, fx.ino, 0), -EINVAL);
	EQ(store_topic_set_home(st, fx.ino, 0x1234abcdull), 0);
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	EQ(store_topic_home(st, fx.ino, &home), 0);
	EQ(home, 0x1234abcdull);
	EQ(store_topic_home(st, fy.ino, &home), 0);
	EQ(home, id);
	/* The home goes with the topic. */
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_topic_home(st, fx.ino, &home), 0);
	EQ(home, id);
	store_close(st);
}

/* A birth is kept once and read back as kept, through a reopen and a
 * rename; a topic from before births reads a derived one (its home and
 * ctime) until one is kept; and it goes with the topic. */
static void test_births(const char *dir)
{
	struct fx fx, fy;
	struct sf_birth b = { 0 }, got = { 0 };
	struct sf_birth born = { 0x1234abcdull, 1700000000123456789ll };
	struct sf_inode in;
	uint64_t id, ino;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !CHECK(make_topic_in(st, "s", "u", &fy)) ||
	    !EQ(store_replica_id(st, &id), 0) ||
	    !EQ(store_get_inode(st, fy.ino, &in), 0))
		return;
	/* None kept: derived from the home and the ctime, not kept. */
	EQ(store_topic_birth(st, fy.ino, &got), 1);
	EQ(got.replica, id);
	EQ(got.ns, (int64_t)in.ctime.tv_sec * 1000000000ll + in.ctime.tv_nsec);
	/* Born here now, in the batch that makes it a topic. */
	struct store_batch *bt = store_batch_new();
	EQ(store_put_birth_new(st, bt, fy.ino), 0);
	EQ(store_commit(st, bt, false), 0);
	store_batch_free(bt);
	EQ(store_topic_birth(st, fy.ino, &b), 0);
	EQ(b.replica, id);
	CHECK(b.ns > 0);
	/* A second one changes nothing: a birth is set once. */
	bt = store_batch_new();
	EQ(store_put_birth_new(st, bt, fy.ino), 0);
	EQ(store_commit(st, bt, false), 0);
	store_batch_free(bt);
	EQ(store_topic_birth(st, fy.ino, &got), 0);
	EQ(sf_birth_cmp(&got, &b), 0);
	/* A copy's home and birth, together. */
	struct sf_birth zero = { 0, 5 };
	EQ(store_topic_set_origin(st, fx.ino, 0x1234abcdull, &zero), -EINVAL);
	EQ(store_topic_set_origin(st, fx.ino, 0, &born), -EINVAL);
	EQ(store_topic_set_origin(st, fx.ino, 0x1234abcdull, &born), 0);
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	EQ(store_topic_birth(st, fx.ino, &got), 0);
	EQ(got.replica, born.replica);
	EQ(got.ns, born.ns);
	EQ(store_topic_home(st, fx.ino, &ino), 0);
	EQ(ino, 0x1234abcdull);
	/* A rename (the entry moves, the inode stays) keeps it. */
	bt = store_batch_new();
	store_del_dirent(bt, fx.stream, "t");
	store_put_dirent(bt, fx.stream, "t2", fx.ino, DT_REG);
	EQ(store_commit(st, bt, false), 0);
	store_batch_free(bt);
	EQ(store_lookup(st, fx.stream, "t2", &ino), 0);
	EQ(ino, fx.ino);
	EQ(store_topic_birth(st, ino, &got), 0);
	EQ(sf_birth_cmp(&got, &born), 0);
	EQ(store_topic_birth(st, fy.ino, &got), 0);
	EQ(sf_birth_cmp(&got, &b), 0);
	/* Ordered by time, then replica id. */
	struct sf_birth e1 = { 9, 10 }, e2 = { 1, 11 }, e3 = { 2, 11 };
	CHECK(sf_birth_cmp(&e1, &e2) < 0 && sf_birth_cmp(&e2, &e3) < 0 &&
	      sf_birth_cmp(&e3, &e1) > 0);
	/* The birth goes with the topic (none kept, none to derive). */
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_topic_birth(st, fx.ino, &got), -ENOENT);
	store_close(st);
}

/* Copied record by record, the topic is the same in both, trailers and
 * all, and reads the same through every reader, also after a reopen. */
static void test_copy_identical(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb;
	struct sf_rread ra = { 0 }, rb = { 0 };
	struct sf_kread kr = { 0 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) || !EQ(ra.n, 4))
		return;
	CHECK(ra.r[2].trailer_len > 0);
	EQ(ra.r[0].trailer_len, 0);
	EQ(push_all(b, &fb, &tb, &ra, false), 4);
	SAME_TOPIC(&ta, &tb);
	store_close(b);
	char p[4096];
	snprintf(p, sizeof(p), "%s/b", dir);
	b = reopen_load(p, &fb, &tb);
	if (!b)
		return;
	SAME_TOPIC(&ta, &tb);
	if (EQ(read_all(b, fb.ino, &tb, &rb), 0))
		same_records(&ra, &rb);
	READS(b, fb.ino, &tb, 0, tb.size, "one\ntwo\nthree\nalpha\nbeta\nfour\n");
	if (EQ(store_kafka_read(b, fb.ino, &tb, 3, 1 << 20, true, &kr), 0) &&
	    EQ(kr.n, 3)) {
		EQ(kr.m[0].key_len, 2);
		BYTES(kr.m[0].key, "k1", 2);
		EQ(kr.m[0].headers_len, sizeof(hdrs) - 1);
		EQ(kr.m[0].ts, 1700000000123);
		CHECK(kr.m[0].create_time);
		EQ(kr.m[1].key_len, -1);
		CHECK(!kr.m[1].create_time);
	}
	store_kread_free(&kr);
	store_rread_free(&ra);
	store_rread_free(&rb);
	store_close(a);
	store_close(b);
}

/* An idempotent producer's tag (an SFK2 trailer) travels with its
 * record, byte for byte. */
static void test_producer_tag(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb;
	struct sf_rread ra = { 0 }, rb = { 0 };
	struct sf_ptag tag = { .pid = 7, .epoch = 2, .first_seq = 0,
			       .last_seq = 1 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !CHECK(make_topic(a, &fa)) ||
	    !EQ(store_topic_load(a, fa.ino, &ta), 0) ||
	    !EQ(store_kafka_append_tagged(a, fa.ino, fa.stream, &ta, kms, 2,
					  true, false, &tag, NULL), 0) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) || !EQ(ra.n, 1))
		return;
	const char *tr = (const char *)ra.r[0].bytes + ra.r[0].len;
	EQ(get_le32(tr + ra.r[0].trailer_len - 4), REC_TRAILER_MAGIC_PRODUCER);
	EQ(push_all(b, &fb, &tb, &ra, true), 1);
	if (EQ(read_all(b, fb.ino, &tb, &rb), 0))
		same_records(&ra, &rb);
	store_rread_free(&ra);
	store_rread_free(&rb);
	store_close(a);
	store_close(b);
}

/* A batch sent again (a reconnect, a second path) is stored once. */
static void test_duplicates(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb, before;
	struct sf_rread ra = { 0 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) ||
	    !EQ(push_all(b, &fb, &tb, &ra, true), 4))
		return;
	before = tb;
	unsigned waiting = index_waiting_count(b);
	for (size_t i = 0; i < ra.n; i++)
		EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[i],
					 false), 1);
	SAME_TOPIC(&tb, &before);
	EQ(index_waiting_count(b), waiting);
	EQ(store_topic_load(b, fb.ino, &tb), 0);
	SAME_TOPIC(&tb, &before);
	READS(b, fb.ino, &tb, 0, tb.size, "one\ntwo\nthree\nalpha\nbeta\nfour\n");
	store_rread_free(&ra);
	store_close(a);
	store_close(b);
}

/* A record past the end of a topic with live records is a gap. */
static void test_gap(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb, before;
	struct sf_rread ra = { 0 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) ||
	    !EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[0],
				      false), 0))
		return;
	before = tb;
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[2], false),
	   -ERANGE);
	SAME_TOPIC(&tb, &before);
	EQ(store_topic_load(b, fb.ino, &tb), 0);
	SAME_TOPIC(&tb, &before);
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[1], false),
	   0);
	store_rread_free(&ra);
	store_close(a);
	store_close(b);
}

/* Records that do not fit are refused and change nothing. */
static void test_bad_records(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb, before;
	struct sf_rread ra = { 0 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) ||
	    !EQ(push_all(b, &fb, &tb, &ra, false), 4))
		return;
	before = tb;
	char tr[256];
	const struct sf_rrecord *k = &ra.r[2];
	memcpy(tr, k->bytes, k->len + k->trailer_len);
	struct sf_rrecord next = { .off = tb.size, .msg = tb.next_msg,
				   .ns = tb.last_ns, .nmsgs = 1, .len = 2,
				   .bytes = "x\n" };
	struct sf_rrecord bad[12];
	int nb = 0;
	bad[nb] = next; bad[nb++].msg++;                /* msg skips one */
	bad[nb] = next; bad[nb++].msg--;                /* msg goes back */
	bad[nb] = next; bad[nb++].ns = tb.last_ns - 1;  /* time goes back */
	bad[nb] = next; bad[nb++].ns = 0;
	bad[nb] = next; bad[nb++].len = 0;
	bad[nb] = next; bad[nb++].nmsgs = 0;
	bad[nb] = next; bad[nb].nmsgs = 2; bad[nb].len = 4;
	bad[nb++].bytes = "x\nyy";                      /* lines do not end */
	bad[nb] = next; bad[nb].nmsgs = 3; bad[nb].len = 4;
	bad[nb++].bytes = "x\ny\n";                     /* two lines, not 3 */
	bad[nb] = next; bad[nb].off = tb.size - 1;      /* straddles the end */
	bad[nb++].len = 3;
	/* The Kafka record with a damaged trailer: its length, its magic,
	 * one message too many for it. */
	struct sf_rrecord kb = *k;
	kb.off = tb.size;
	kb.msg = tb.next_msg;
	kb.ns = tb.last_ns;
	kb.bytes = tr;
	char *tail = tr + k->len + k->trailer_len;
	bad[nb] = kb; bad[nb++].trailer_len = k->trailer_len - 1;
	bad[nb] = kb; bad[nb].nmsgs = 1; bad[nb].len = 6;  /* "alpha\n" */
	nb++;
	for (int i = 0; i < nb; i++) {
		int r = store_topic_replicate(b, fb.ino, fb.stream, &tb,
					      &bad[i], true);
		if (!EQ(r, -EINVAL))
			printf("  bad record %d\n", i);
		SAME_TOPIC(&tb, &before);
	}
	tail[-1] ^= 1;          /* the magic's last byte */
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &kb, true),
	   -EINVAL);
	tail[-1] ^= 1;
	EQ(store_topic_load(b, fb.ino, &tb), 0);
	SAME_TOPIC(&tb, &before);
	/* The good one after them all. */
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &kb, true), 0);
	EQ(tb.next_msg, before.next_msg + 2);
	store_rread_free(&ra);
	store_close(a);
	store_close(b);
}

static struct store *crash_store;

/* kill -9 with the entries still in the index batch: recovery indexes
 * the records again, so the topic's end is all that was stored, and a
 * resend from any point stores nothing twice.  A topic that started past
 * 0 (the source's head had expired) is recovered the same way. */
static void test_kill_point(const char *dir)
{
	struct fx fa, fb, fc;
	struct sf_topic ta, tb, tc;
	struct sf_rread ra = { 0 };
	char p[4096];
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !CHECK(make_topic_in(b, "s", "late", &fc)) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0))
		return;
	store_close(b);
	snprintf(p, sizeof(p), "%s/b", dir);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		char err[512];
		struct sf_topic t, u;
		int ok = store_open(p, 0, &crash_store, err, sizeof(err)) == 0 &&
			 store_topic_load(crash_store, fb.ino, &t) == 0 &&
			 store_topic_load(crash_store, fc.ino, &u) == 0 &&
			 store_topic_replicate(crash_store, fc.ino, fc.stream,
					       &u, &ra.r[2], false) == 0 &&
			 push_all(crash_store, &fb, &t, &ra, false) == 4 &&
			 index_waiting_count(crash_store) == 5;
		_exit(ok ? 0 : 1);
	}
	int status = 1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return;
	b = reopen_load(p, &fb, &tb);
	if (!b || !EQ(store_topic_load(b, fc.ino, &tc), 0))
		return;
	SAME_TOPIC(&ta, &tb);
	EQ(tc.start, ra.r[2].off);
	EQ(tc.size, ra.r[3].off);
	EQ(tc.first_msg, ra.r[2].msg);
	EQ(tc.next_msg, ra.r[3].msg);
	EQ(push_all(b, &fb, &tb, &ra, true), 0);
	EQ(push_all(b, &fc, &tc, &ra, true), 1);       /* "four\n" */
	READS(b, fb.ino, &tb, 0, tb.size, "one\ntwo\nthree\nalpha\nbeta\nfour\n");
	store_rread_free(&ra);
	store_close(a);
	store_close(b);
}

/* What expired here is not brought back.  A source whose first live
 * record is past this replica's end is a gap for every record, until
 * the link skips to it: then what is live here expires, the topic goes
 * on at the source's start, and the bytes between read as zeros. */
static void test_retention(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb, before;
	struct sf_rread ra = { 0 }, r2 = { 0 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) ||
	    !EQ(push_all(b, &fb, &tb, &ra, false), 4))
		return;
	/* b expires its first two records: sent again, they stay expired. */
	struct store_expiry *x = store_expiry_begin(b);
	EQ(store_expiry_cap(x, fb.ino, tb.size, tb.size - ra.r[2].off, 0), 2);
	EQ(store_expiry_end(x, NULL, NULL), 0);
	EQ(store_topic_load(b, fb.ino, &tb), 0);
	EQ(tb.start, ra.r[2].off);
	before = tb;
	EQ(push_all(b, &fb, &tb, &ra, false), 0);
	SAME_TOPIC(&tb, &before);
	/* a writes on; b's link lags beyond a's retention. */
	struct sf_topic ta2 = ta;
	EQ(append(a, &fa, &ta2, "five\n"), 0);
	EQ(append(a, &fa, &ta2, "six\n"), 0);
	if (!EQ(store_topic_raw_read(a, fa.ino, &ta2, ta.size, 1 << 20, &r2),
		0) || !EQ(r2.n, 2))
		return;
	const struct sf_rrecord *six = &r2.r[1];
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, six, false),
	   -ERANGE);
	SAME_TOPIC(&tb, &before);
	/* Skips that do not go forward change nothing. */
	EQ(store_topic_skip(b, fb.ino, &tb, tb.size - 1, tb.next_msg + 1),
	   -EINVAL);
	EQ(store_topic_skip(b, fb.ino, &tb, six->off, tb.next_msg - 1),
	   -EINVAL);
	EQ(store_topic_skip(b, fb.ino, &tb, tb.size, tb.next_msg + 1),
	   -EINVAL);
	EQ(store_topic_skip(b, fb.ino, &tb, tb.size, tb.next_msg), 0);
	SAME_TOPIC(&tb, &before);
	EQ(store_topic_load(b, fb.ino, &tb), 0);
	SAME_TOPIC(&tb, &before);
	/* The skip: b's live records expire with the gap. */
	EQ(store_topic_skip(b, fb.ino, &tb, six->off, six->msg), 0);
	EQ(tb.start, six->off);
	EQ(tb.size, six->off);
	EQ(tb.next_msg, six->msg);
	struct sf_topic loaded;
	EQ(store_topic_load(b, fb.ino, &loaded), 0);
	EQ(loaded.start, six->off);
	EQ(loaded.size, six->off);
	EQ(loaded.first_msg, six->msg);
	EQ(loaded.next_msg, six->msg);
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, six, true), 0);
	EQ(tb.start, six->off);
	EQ(tb.size, ta2.size);
	EQ(tb.next_msg, ta2.next_msg);
	EQ(tb.first_msg, six->msg);
	char want[64] = { 0 }, got[64];
	memcpy(want + six->off, "six\n", 4);
	EQ(read_into(b, fb.ino, &tb, 0, six->off + 4, got, sizeof(got)),
	   six->off + 4);
	BYTES(got, want, six->off + 4);
	/* ... and the skipped record is not taken afterwards. */
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &r2.r[0], false),
	   1);
	store_close(b);
	char p[4096];
	snprintf(p, sizeof(p), "%s/b", dir);
	b = reopen_load(p, &fb, &tb);
	if (b) {
		EQ(tb.start, six->off);
		EQ(tb.size, ta2.size);
		store_close(b);
	}
	store_rread_free(&ra);
	store_rread_free(&r2);
	store_close(a);
}

/* A topic whose every record expired here is no different: a record
 * past its end is a gap. */
static void test_gap_after_expiry(const char *dir)
{
	struct fx fa, fb;
	struct sf_topic ta, tb;
	struct sf_rread ra = { 0 };
	struct store *a = open_sub(dir, "a"), *b = open_sub(dir, "b");
	if (!a || !b || !fill_source(a, &fa, &ta) ||
	    !CHECK(make_topic(b, &fb)) ||
	    !EQ(store_topic_load(b, fb.ino, &tb), 0) ||
	    !EQ(read_all(a, fa.ino, &ta, &ra), 0) ||
	    !EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[0],
				      false), 0))
		return;
	struct store_expiry *x = store_expiry_begin(b);
	EQ(store_expiry_cap(x, fb.ino, tb.size, 1, 0), 1);
	EQ(store_expiry_end(x, NULL, NULL), 0);
	EQ(store_topic_load(b, fb.ino, &tb), 0);
	EQ(tb.start, tb.size);
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[2], false),
	   -ERANGE);
	EQ(store_topic_replicate(b, fb.ino, fb.stream, &tb, &ra.r[1], false),
	   0);
	EQ(tb.start, ra.r[1].off);
	store_rread_free(&ra);
	store_close(a);
	store_close(b);
}

static void test_raw_read(const char *dir)
{
	struct fx fa;
	struct sf_topic ta;
	struct sf_rread r = { 0 };
	struct store *a = open_store(dir);
	if (!a || !fill_source(a, &fa, &ta))
		return;
	EQ(store_topic_raw_read(a, fa.ino, &ta, 1, 1 << 20, &r), -EINVAL);
	EQ(r.n, 0);
	EQ(store_topic_raw_read(a, fa.ino, &ta, ta.size + 1, 1 << 20, &r),
	   -EINVAL);
	EQ(store_topic_raw_read(a, fa.ino, &ta, ta.size, 1 << 20, &r), 0);
	EQ(r.n, 0);
	/* At least one record, about max_bytes of them. */
	EQ(store_topic_raw_read(a, fa.ino, &ta, 0, 1, &r), 0);
	EQ(r.n, 1);
	EQ(store_topic_raw_read(a, fa.ino, &ta, 4, 5, &r), 0);
	EQ(r.n, 1);
	EQ(r.r[0].off, 4);
	EQ(r.r[0].msg, 1);
	EQ(r.r[0].nmsgs, 2);
	BYTES(r.r[0].bytes, "two\nthree\n", 10);
	EQ(store_topic_raw_read(a, fa.ino, &ta, 4, 11, &r), 0);
	EQ(r.n, 2);
	store_rread_free(&r);
	store_close(a);
}

static int find_link(const struct sf_link *ls, int n, uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (ls[i].id == id)
			return i;
	return -1;
}

static void test_links(const char *dir)
{
	struct fx fx, fy;
	struct sf_link ls[8];
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic_in(st, "plant", "t", &fx)) ||
	    !CHECK(make_topic_in(st, "other", "t", &fy)))
		return;
	struct sf_link l = { .stream = fx.stream };
	strcpy(l.peer, "127.0.0.1:9000");
	strcpy(l.peer_stream, "plant");
	EQ(store_link_list(st, ls, 8), 0);
	EQ(store_link_add(st, &l), 0);
	uint64_t first = l.id;
	CHECK(first != 0);
	EQ(store_link_add(st, &l), -EEXIST);
	struct sf_link m = l;
	strcpy(m.peer_stream, "plant2");
	EQ(store_link_add(st, &m), 0);
	struct sf_link o = l;
	o.stream = fy.stream;
	EQ(store_link_add(st, &o), 0);
	CHECK(first < m.id && m.id < o.id);
	/* Bad ones. */
	struct sf_link bad = l;
	bad.peer[0] = 0;
	EQ(store_link_add(st, &bad), -EINVAL);
	bad = l;
	bad.peer_stream[0] = 0;
	EQ(store_link_add(st, &bad), -EINVAL);
	bad = l;
	memset(bad.peer, 'x', sizeof(bad.peer));
	EQ(store_link_add(st, &bad), -EINVAL);
	bad = l;
	bad.flags = 0x80;
	EQ(store_link_add(st, &bad), -EINVAL);
	EQ(store_link_list(st, ls, 8), 3);
	EQ(store_link_set_flags(st, m.id, SF_LINK_PAUSED), 0);
	EQ(store_link_set_flags(st, m.id, 0x80), -EINVAL);
	EQ(store_link_set_flags(st, 999, SF_LINK_PAUSED), -ENOENT);
	EQ(store_link_del(st, o.id), 0);
	EQ(store_link_del(st, o.id), -ENOENT);
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	if (EQ(store_link_list(st, ls, 8), 2)) {
		EQ(ls[0].id, first);
		EQ(ls[1].id, m.id);
		EQ(ls[0].stream, fx.stream);
		CHECK(strcmp(ls[0].peer, "127.0.0.1:9000") == 0);
		CHECK(strcmp(ls[1].peer_stream, "plant2") == 0);
		EQ(ls[0].flags, 0);
		EQ(ls[1].flags, SF_LINK_PAUSED);
	}
	EQ(store_link_list(st, ls, 1), 2);      /* the count, not what fit */
	/* Ids are not reused, also that of the last one removed. */
	struct sf_link n = o;
	EQ(store_link_add(st, &n), 0);
	CHECK(n.id > o.id);
	/* A stream's links go with it. */
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_purge_inode(st, fx.stream), 0);
	int c = store_link_list(st, ls, 8);
	if (EQ(c, 1)) {
		EQ(ls[0].id, n.id);
		EQ(find_link(ls, c, first), -1);
	}
	store_close(st);
}

struct hlist {
	struct sf_handover h[4];
	int n;
};

static int collect_handover(const struct sf_handover *h, void *arg)
{
	struct hlist *l = arg;
	if (l->n < 4)
		l->h[l->n] = *h;
	l->n++;
	return 0;
}

/* Hand-overs asked are kept across a reopen, replaced (asked, then
 * handed with an end), dropped, and go with their topic; bad ones are
 * refused. */
static void test_handovers(const char *dir)
{
	struct fx fx, fy;
	struct hlist l = { .n = 0 };
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !CHECK(make_topic_in(st, "s", "u", &fy)))
		return;
	EQ(store_handover_list(st, collect_handover, &l), 0);
	EQ(l.n, 0);
	struct sf_handover h = { .ino = fx.ino, .stream = fx.stream,
				 .home = 0x77 };
	EQ(store_handover_put(st, &h), -EINVAL);        /* no name */
	strcpy(h.name, "t");
	struct sf_handover bad = h;
	bad.home = 0;
	EQ(store_handover_put(st, &bad), -EINVAL);
	bad = h;
	bad.stream = 0;
	EQ(store_handover_put(st, &bad), -EINVAL);
	bad = h;
	memset(bad.name, 'x', sizeof(bad.name));
	EQ(store_handover_put(st, &bad), -EINVAL);
	EQ(store_handover_put(st, &h), 0);
	struct sf_handover g = { .ino = fy.ino, .stream = fy.stream,
				 .home = 0x88, .handed = true, .end = 12,
				 .next = 3 };
	strcpy(g.name, "u");
	EQ(store_handover_put(st, &g), 0);
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	EQ(store_handover_list(st, collect_handover, &l), 0);
	if (EQ(l.n, 2)) {
		EQ(l.h[0].ino, fx.ino);
		EQ(l.h[0].stream, fx.stream);
		EQ(l.h[0].home, 0x77);
		EQ(l.h[0].handed, false);
		EQ(l.h[0].end, 0);
		CHECK(strcmp(l.h[0].name, "t") == 0);
		EQ(l.h[1].ino, fy.ino);
		EQ(l.h[1].handed, true);
		EQ(l.h[1].end, 12);
		EQ(l.h[1].next, 3);
		CHECK(strcmp(l.h[1].name, "u") == 0);
	}
	/* Answered: the same record, now with its end. */
	h.handed = true;
	h.end = 40;
	h.next = 9;
	EQ(store_handover_put(st, &h), 0);
	l.n = 0;
	EQ(store_handover_list(st, collect_handover, &l), 0);
	if (EQ(l.n, 2)) {
		EQ(l.h[0].handed, true);
		EQ(l.h[0].end, 40);
		EQ(l.h[0].next, 9);
	}
	EQ(store_handover_del(st, fx.ino), 0);
	EQ(store_handover_del(st, fx.ino), 0);  /* none: nothing to do */
	/* It goes with its topic. */
	EQ(store_purge_inode(st, fy.ino), 0);
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	l.n = 0;
	EQ(store_handover_list(st, collect_handover, &l), 0);
	EQ(l.n, 0);
	store_close(st);
}

/* The stream of each sending replica a stream receives: noted, replaced,
 * kept over a reopen, and gone with the stream. */
static void test_feeds(const char *dir)
{
	struct fx fx;
	uint64_t src = 0;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)))
		return;
	EQ(store_feed_get(st, fx.stream, 0x77, &src), -ENOENT);
	EQ(store_feed_set(st, fx.stream, 0, 5), -EINVAL);
	EQ(store_feed_set(st, fx.stream, 0x77, 0), -EINVAL);
	EQ(store_feed_set(st, fx.stream, 0x77, 5), 0);
	EQ(store_feed_set(st, fx.stream, 0x88, 6), 0);
	EQ(store_feed_set(st, fx.stream, 0x77, 9), 0);  /* replaced */
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	EQ(store_feed_get(st, fx.stream, 0x77, &src), 0);
	EQ(src, 9);
	EQ(store_feed_get(st, fx.stream, 0x88, &src), 0);
	EQ(src, 6);
	EQ(store_feed_get(st, fx.ino, 0x77, &src), -ENOENT);
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_purge_inode(st, fx.stream), 0);
	EQ(store_feed_get(st, fx.stream, 0x77, &src), -ENOENT);
	EQ(store_feed_get(st, fx.stream, 0x88, &src), -ENOENT);
	store_close(st);
}

static const struct test tests[] = {
	T(test_replica_id),
	T(test_homes),
	T(test_copy_identical),
	T(test_producer_tag),
	T(test_duplicates),
	T(test_gap),
	T(test_bad_records),
	T(test_kill_point),
	T(test_retention),
	T(test_gap_after_expiry),
	T(test_raw_read),
	T(test_links),
	T(test_handovers),
	T(test_feeds),
	T(test_births),
};

int main(int argc, char **argv)
{
	return fixture_main("test_replica", tests, NTESTS(tests), argc, argv);
}
