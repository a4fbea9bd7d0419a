/* test_kproducer.c - unit tests of the store's Kafka producer states
 * (store/kproducer.c): producer ids never handed out twice, across a
 * reopen and a kill -9; a state read back as written, the oldest batch
 * forgotten past five; the state written with the append's index entries
 * (in LevelDB when the call returns: a kill -9 right after keeps both),
 * and put back by recovery from the record's tag when a kill -9 took
 * that write;
 * a refused write leaves the entries waiting; the state deleted with its
 * topic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"

static const struct sf_kmsg one = {
	.ts = -1, .value = "v", .value_len = 1, .key_len = -1,
};

static void test_ids_never_reused(const char *dir)
{
	struct store *st = open_store(dir);
	int64_t a = -1, b = -1, c = -1;
	if (!st || !EQ(store_producer_id_next(st, &a), 0) ||
	    !EQ(store_producer_id_next(st, &b), 0))
		return;
	CHECK(a >= 0 && b == a + 1);
	store_close(st);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {                 /* an id handed out, then kill -9 */
		struct store *cs;
		char err[512];
		int64_t x;
		int ok = store_open(dir, 0, &cs, err, sizeof(err)) == 0 &&
			 store_producer_id_next(cs, &x) == 0 && x == b + 1;
		_exit(ok ? 0 : 1);
	}
	int status = 1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	st = open_store(dir);
	if (!st || !EQ(store_producer_id_next(st, &c), 0))
		return;
	EQ(c, b + 2);
	store_close(st);
}

static void test_state_round_trip(const char *dir)
{
	struct fx fx;
	struct store *st = open_store(dir);
	struct sf_producer p = { .epoch = 3 }, got;
	if (!st || !CHECK(make_topic(st, &fx)))
		return;
	EQ(store_producer_get(st, fx.ino, 7, &got), -ENODATA);
	EQ(store_producer_get(st, fx.ino, -1, &got), -EINVAL);
	for (int i = 0; i < 7; i++)
		store_producer_note(&p, i * 10, i * 10 + 9, 100 + i);
	EQ(p.n, SF_PRODUCER_BATCHES);
	EQ(p.b[0].first_seq, 20);       /* the two oldest are forgotten */
	EQ(store_producer_put(st, fx.ino, 7, &p, false), 0);
	if (!EQ(store_producer_get(st, fx.ino, 7, &got), 0))
		return;
	EQ(got.epoch, 3);
	EQ(got.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		EQ(got.b[i].first_seq, (i + 2) * 10);
		EQ(got.b[i].last_seq, (i + 2) * 10 + 9);
		EQ(got.b[i].base, 102 + i);
	}
	/* Another producer and another topic are apart. */
	EQ(store_producer_get(st, fx.ino, 8, &got), -ENODATA);
	EQ(store_producer_get(st, fx.ino + 1, 7, &got), -ENODATA);
	store_close(st);
	st = open_store(dir);
	if (!st)
		return;
	EQ(store_producer_get(st, fx.ino, 7, &got), 0);
	EQ(got.n, 5);
	store_close(st);
}

/* The append's entry waits in the index batch; the state's put writes it
 * and the state in one LevelDB write, so a kill -9 right after leaves
 * both (and recovery indexes nothing again). */
static void test_state_with_its_append(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0))
		return;
	store_close(st);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		struct store *cs;
		char err[512];
		struct sf_producer p = { .epoch = 0 };
		uint64_t base = 99;
		int ok = store_open(dir, 0, &cs, err, sizeof(err)) == 0 &&
			 store_topic_load(cs, fx.ino, &t) == 0 &&
			 store_kafka_append(cs, fx.ino, fx.stream, &t, &one, 1,
					    true, false, &base) == 0 &&
			 index_waiting_count(cs) == 1;
		store_producer_note(&p, 0, 0, base);
		ok = ok && store_producer_put(cs, fx.ino, 5, &p, false) == 0 &&
		     index_waiting_count(cs) == 0;
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
	struct sf_producer got;
	store_get_stats(st, &s);
	EQ(s.recovery.records_reindexed, 0);
	EQ(t.next_msg, 1);
	if (EQ(store_producer_get(st, fx.ino, 5, &got), 0) && EQ(got.n, 1))
		EQ(got.b[0].base, 0);
	store_close(st);
}

/* kill -9 after a tagged append, before the state's write: the index
 * batch (entry and state) is lost, and recovery, indexing the record
 * again, puts the state back from the record's tag.  The record's
 * messages read as ever. */
static void test_state_recovered_from_tag(const char *dir)
{
	struct fx fx;
	struct sf_topic t;
	struct store *st = open_store(dir);
	if (!st || !CHECK(make_topic(st, &fx)) ||
	    !EQ(store_topic_load(st, fx.ino, &t), 0) ||
	    !EQ(append(st, &fx, &t, "x\n"), 0))
		return;
	/* An earlier batch of the producer, in LevelDB already. */
	struct sf_producer p = { .epoch = 2 };
	store_producer_note(&p, 0, 1, 0);
	EQ(store_producer_put(st, fx.ino, 9, &p, false), 0);
	store_close(st);
	fflush(stdout);
	fflush(stderr);
	static const struct sf_kmsg two[] = {
		{ .ts = -1, .value = "a", .value_len = 1, .key_len = -1 },
		{ .ts = -1, .value = "b", .value_len = 1, .key_len = -1 },
	};
	const struct sf_ptag tag = { 9, 2, 2, 3 };
	pid_t pid = fork();
	if (pid == 0) {
		struct store *cs;
		char err[512];
		int ok = store_open(dir, 0, &cs, err, sizeof(err)) == 0 &&
			 store_topic_load(cs, fx.ino, &t) == 0 &&
			 store_kafka_append_tagged(cs, fx.ino, fx.stream, &t,
						   two, 2, true, false, &tag,
						   NULL) == 0 &&
			 index_waiting_count(cs) == 1;
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
	struct sf_producer got;
	store_get_stats(st, &s);
	EQ(s.recovery.records_reindexed, 1);
	EQ(t.next_msg, 3);
	if (EQ(store_producer_get(st, fx.ino, 9, &got), 0) &&
	    EQ(got.n, 2) && EQ(got.epoch, 2)) {
		EQ(got.b[1].first_seq, 2);
		EQ(got.b[1].last_seq, 3);
		EQ(got.b[1].base, 1);
	}
	READS(st, fx.ino, &t, 0, 6, "x\na\nb\n");
	struct sf_kread kr = { 0 };
	if (EQ(store_kafka_read(st, fx.ino, &t, 1, 1 << 20, true, &kr), 0) &&
	    EQ(kr.n, 2)) {
		EQ(kr.m[0].value_len, 1);
		EQ(kr.m[1].msg, 2);
		EQ(kr.m[1].key_len, -1);
	}
	store_kread_free(&kr);
	store_close(st);
}

static void test_state_refused(const char *dir)
{
	struct fx fx;
	struct store *st = open_store(dir);
	struct sf_producer p = { .n = SF_PRODUCER_BATCHES + 1 }, got;
	if (!st || !CHECK(make_topic(st, &fx)))
		return;
	EQ(store_producer_put(st, fx.ino, 1, &p, false), -EINVAL);
	p.n = 0;
	EQ(store_producer_put(st, fx.ino, -1, &p, false), -EINVAL);
	EQ(store_producer_get(st, fx.ino, 1, &got), -ENODATA);
	store_close(st);
}

static void test_state_goes_with_topic(const char *dir)
{
	struct fx fx;
	struct store *st = open_store(dir);
	struct sf_producer p = { .epoch = 1 }, got;
	if (!st || !CHECK(make_topic(st, &fx)))
		return;
	store_producer_note(&p, 0, 4, 0);
	EQ(store_producer_put(st, fx.ino, 1, &p, false), 0);
	EQ(store_producer_put(st, fx.ino, 2, &p, false), 0);
	EQ(store_purge_inode(st, fx.ino), 0);
	EQ(store_producer_get(st, fx.ino, 1, &got), -ENODATA);
	EQ(store_producer_get(st, fx.ino, 2, &got), -ENODATA);
	store_close(st);
}

static const struct test tests[] = {
	T(test_ids_never_reused),
	T(test_state_round_trip),
	T(test_state_with_its_append),
	T(test_state_recovered_from_tag),
	T(test_state_refused),
	T(test_state_goes_with_topic),
};

int main(int argc, char **argv)
{
	return fixture_main("test_kproducer", tests, NTESTS(tests), argc,
			    argv);
}
