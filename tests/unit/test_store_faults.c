/* test_store_faults.c - unit tests of the store (store/) under injected
 * faults, without FUSE: the index batch and LevelDB's healing, the store
 * read-only and healing by itself, durable appends whose index sync
 * fails, a failed segment sync and the rewrite before the next one,
 * failed and torn segment writes, a full disk and the ballast, namespace
 * batches, and a listing open across a heal.
 *
 * The fault shim (tests/faults/faultshim.c) is preloaded (meson sets
 * LD_PRELOAD) and found with dlsym; without its entry points the program
 * fails.  Every test arms exactly one fault right before the call it aims
 * at and checks the store's contract afterwards, through store.h and
 * internal.h, then disarms.  The harness is store_fixture.h's.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../faults/faultshim.h"
#include "store_fixture.h"

#define HEAL_WAIT_MS 60         /* past heal.c's 50 ms between attempts */

/* ========================================================================
 * The shim's entry points, and helpers
 */

static __typeof__(streamfs_fault_arm) *fault_arm;
static __typeof__(streamfs_fault_count) *fault_count;
static __typeof__(streamfs_fault_fired) *fault_fired;

static int find_shim(void)
{
	fault_arm = (__typeof__(fault_arm))dlsym(RTLD_DEFAULT,
						  "streamfs_fault_arm");
	fault_count = (__typeof__(fault_count))dlsym(RTLD_DEFAULT,
						      "streamfs_fault_count");
	fault_fired = (__typeof__(fault_fired))dlsym(RTLD_DEFAULT,
						      "streamfs_fault_fired");
	return fault_arm && fault_count && fault_fired;
}

/* Arm the rules for data folder dir; NULL disarms. */
#define ARM(dir, rules) EQ(fault_arm(dir, rules), 0)
#define DISARM(dir) EQ(fault_arm(dir, NULL), 0)

/* Record i of a test's topic: "rNNNN\n", 6 bytes, so it starts at 6 i. */
#define REC_LEN 6

static void rec_name(char *b, int i)
{
	snprintf(b, 8, "r%04d\n", i);
}

/* Append records [from, to). */
static int fill(struct store *st, const struct fx *fx, struct sf_topic *t,
		int from, int to)
{
	char one[8];
	int r = 0;
	for (int i = from; r == 0 && i < to; i++) {
		rec_name(one, i);
		r = append(st, fx, t, one);
	}
	return EQ(r, 0);
}

/* The topic reads as records [0, n) followed by tail. */
static int reads_recs_at(struct store *st, const struct fx *fx,
			 const struct sf_topic *t, int n, const char *tail,
			 const char *file, int line)
{
	size_t len = (size_t)n * REC_LEN + strlen(tail);
	char *want = malloc(len + 1);
	if (!check_at(want != NULL, "malloc", file, line))
		return 0;
	for (int i = 0; i < n; i++)
		rec_name(want + i * REC_LEN, i);
	strcpy(want + (size_t)n * REC_LEN, tail);
	int ok = eq_at(t->size, len, "topic size", file, line) &&
		 reads_at(st, fx->ino, t, 0, len, want, file, line);
	free(want);
	return ok;
}

#define READS_RECS(st, fx, t, n, tail) \
	reads_recs_at(st, fx, t, n, tail, __FILE__, __LINE__)

/* A test's store: topic s/t holding records [0, n), the path of its
 * stream's first segment and the segment's size and the topic's state
 * before the fault (size0, t0: set by cx_mark()). */
struct cx {
	struct store *st;
	struct fx fx;
	struct sf_topic t, t0;
	char seg[4096];
	long long size0;
};

static void cx_mark(struct cx *c)
{
	c->size0 = file_size(c->seg);
	c->t0 = c->t;
}

/* Open dir with n records in s/t (synced with sync); 1, or 0 after a
 * failed check (and nothing open). */
static int cx_open(struct cx *c, const char *dir, int n, bool sync)
{
	c->st = open_store(dir);
	if (c->st && make_topic(c->st, &c->fx) &&
	    EQ(store_topic_load(c->st, c->fx.ino, &c->t), 0) &&
	    fill(c->st, &c->fx, &c->t, 0, n) &&
	    (!sync || EQ(store_sync(c->st), 0))) {
		seg_file(c->seg, sizeof(c->seg), dir, c->fx.stream, 1);
		cx_mark(c);
		return 1;
	}
	store_close(c->st);
	return 0;
}

/* The fault left the topic as it was: its state, in memory and loaded,
 * and its segment's size. */
static void cx_unchanged_at(struct cx *c, const char *file, int line)
{
	struct sf_topic l;
	same_topic_at(&c->t, &c->t0, file, line);
	if (eq_at(store_topic_load(c->st, c->fx.ino, &l), 0, "topic load",
		  file, line))
		same_topic_at(&l, &c->t0, file, line);
	eq_at(file_size(c->seg), c->size0, "segment size", file, line);
}

#define UNCHANGED(c) cx_unchanged_at(c, __FILE__, __LINE__)

/* Close, reopen and check that the topic is t and reads as records
 * [0, n) and tail; closed again afterwards. */
static void reopen_expect_at(struct cx *c, const char *dir,
			     const struct sf_topic *t, int n, const char *tail,
			     const char *file, int line)
{
	struct sf_topic l;
	store_close(c->st);
	c->st = open_store(dir);
	if (c->st && eq_at(store_topic_load(c->st, c->fx.ino, &l), 0,
			   "topic load after reopen", file, line)) {
		same_topic_at(&l, t, file, line);
		reads_recs_at(c->st, &c->fx, &l, n, tail, file, line);
	}
	store_close(c->st);
	c->st = NULL;
}

#define REOPEN_EXPECT(c, dir, t, n, tail) \
	reopen_expect_at(c, dir, t, n, tail, __FILE__, __LINE__)

static int append_sync(struct store *st, const struct fx *fx,
		       struct sf_topic *t, const char *s)
{
	struct iovec iov = { (void *)s, strlen(s) };
	return store_topic_append(st, fx->ino, fx->stream, t, &iov, 1,
				  iov.iov_len, count_lines(s, iov.iov_len),
				  true);
}

/* The last waiting index entry of ino, or NULL. */
static const struct idx_entry *last_waiting(struct store *st, uint64_t ino)
{
	const struct idx_entry *e, *last = NULL;
	unsigned pos = 0;
	while ((e = index_waiting(st, ino, &pos)) != NULL)
		last = e;
	return last;
}

/* ========================================================================
 * The index batch and LevelDB
 */

/* The 257th append writes the full batch first; that write fails once.
 * The store heals (reopens LevelDB, writes the batch again) and the
 * append goes on. */
static void test_batch_write_fails_once(const char *dir)
{
	struct cx c;
	struct sf_topic l;
	char one[8];
	if (!cx_open(&c, dir, INDEX_BATCH_MAX, false))
		return;
	EQ(index_waiting_count(c.st), INDEX_BATCH_MAX);
	uint64_t gen = c.st->gen;
	rec_name(one, INDEX_BATCH_MAX);
	ARM(dir, "db_write:1");
	EQ(append(c.st, &c.fx, &c.t, one), 0);
	EQ(fault_fired(), 1);
	DISARM(dir);
	/* healed: LevelDB reopened, the batch written, the new entry waits */
	EQ(c.st->gen, gen + 1);
	CHECK(!c.st->db_bad && !c.st->read_only);
	EQ(index_waiting_count(c.st), 1);
	EQ(file_size(c.seg), c.size0 + REC_HDR + REC_LEN);
	READS_RECS(c.st, &c.fx, &c.t, INDEX_BATCH_MAX + 1, "");
	EQ(store_topic_load(c.st, c.fx.ino, &l), 0);
	SAME_TOPIC(&l, &c.t);
	EQ(store_sync(c.st), 0);
	EQ(index_waiting_count(c.st), 0);
	REOPEN_EXPECT(&c, dir, &c.t, INDEX_BATCH_MAX + 1, "");
}

/* LevelDB cannot write at all: the store goes read-only, reads go on
 * (the waiting entries too), and once the disk is back the next append
 * after the pacing interval heals it. */
static void test_db_cannot_write(const char *dir)
{
	struct cx c;
	if (!cx_open(&c, dir, 10, false))
		return;
	ARM(dir, "db_write:1:always");
	int r = store_sync(c.st);
	CHECK(r == -EIO || r == -EROFS);
	CHECK(c.st->read_only);
	r = append(c.st, &c.fx, &c.t, "refused\n");
	CHECK(r == -EROFS || r == -EIO);
	CHECK(fault_fired() >= 2);      /* the write and the probe */
	UNCHANGED(&c);
	/* everything acknowledged reads, from the batch as well */
	EQ(index_waiting_count(c.st), 10);
	READS_RECS(c.st, &c.fx, &c.t, 10, "");
	DISARM(dir);
	sleep_ms(HEAL_WAIT_MS);
	EQ(append(c.st, &c.fx, &c.t, "after\n"), 0);
	CHECK(!c.st->read_only && !c.st->db_bad);
	READS_RECS(c.st, &c.fx, &c.t, 10, "after\n");
	REOPEN_EXPECT(&c, dir, &c.t, 10, "after\n");
}

/* A durable append syncs its segment only, when LevelDB holds nothing
 * recovery could not rebuild: its index entry waits with the others. */
static void test_durable_append_syncs_its_segment(const char *dir)
{
	struct cx c;
	if (!cx_open(&c, dir, 3, true))
		return;
	ARM(dir, "db_sync:1000");
	EQ(append_sync(c.st, &c.fx, &c.t, "durable\n"), 0);
	EQ(fault_count("db_sync"), 0);
	EQ(fault_count("seg_sync"), 1);
	EQ(index_waiting_count(c.st), 1);
	DISARM(dir);
	REOPEN_EXPECT(&c, dir, &c.t, 3, "durable\n");
}

/* Make LevelDB hold a write recovery could not rebuild (a new topic), so
 * that the next durable append must sync LevelDB as well. */
static int meta_pending(struct cx *c)
{
	struct fx other;
	return make_topic_in(c->st, "s", "other", &other);
}

/* A durable append whose LevelDB sync fails once: it heals and succeeds,
 * or fails; after a reopen the message is there once, or not at all. */
static void test_durable_db_sync_fails_once(const char *dir)
{
	struct cx c;
	if (!cx_open(&c, dir, 3, true))
		return;
	if (!meta_pending(&c)) {
		store_close(c.st);
		return;
	}
	ARM(dir, "db_sync:1");
	int r = append_sync(c.st, &c.fx, &c.t, "durable\n");
	EQ(fault_fired(), 1);
	DISARM(dir);
	if (r == 0) {
		EQ(file_size(c.seg), c.size0 + REC_HDR + 8);
		READS_RECS(c.st, &c.fx, &c.t, 3, "durable\n");
		REOPEN_EXPECT(&c, dir, &c.t, 3, "durable\n");
	} else {
		UNCHANGED(&c);
		REOPEN_EXPECT(&c, dir, &c.t0, 3, "");
	}
}

/* A durable append while LevelDB's syncs all fail: the append fails and
 * its record is cut back; once the disk is back and the store healed, and
 * after a reopen, the message is nowhere. */
static void test_durable_db_sync_fails_always(const char *dir)
{
	struct cx c;
	if (!cx_open(&c, dir, 3, true))
		return;
	if (!meta_pending(&c)) {
		store_close(c.st);
		return;
	}
	ARM(dir, "db_sync:1:always");
	CHECK(append_sync(c.st, &c.fx, &c.t, "refused\n") < 0);
	CHECK(fault_fired() >= 1);
	DISARM(dir);
	UNCHANGED(&c);
	READS_RECS(c.st, &c.fx, &c.t, 3, "");
	/* the store heals at the next write; the message stays gone */
	sleep_ms(HEAL_WAIT_MS);
	EQ(store_sync(c.st), 0);
	CHECK(!c.st->read_only && !c.st->db_bad);
	UNCHANGED(&c);
	REOPEN_EXPECT(&c, dir, &c.t0, 3, "");
}

/* The same, with another topic of the stream appending after the heal:
 * the segment then holds the stream's next record where the refused one
 * was, and the refused message must not come back after a reopen
 * either. */
static void test_durable_refused_stream_goes_on(const char *dir)
{
	struct cx c;
	struct fx other;
	struct sf_topic o, l;
	if (!cx_open(&c, dir, 3, true))
		return;
	if (!make_topic_in(c.st, "s", "other", &other) ||
	    !EQ(store_topic_load(c.st, other.ino, &o), 0))
		goto out;
	ARM(dir, "db_sync:1:always");
	CHECK(append_sync(c.st, &c.fx, &c.t, "refused\n") < 0);
	DISARM(dir);
	sleep_ms(HEAL_WAIT_MS);
	EQ(append(c.st, &other, &o, "other\n"), 0);
	EQ(store_sync(c.st), 0);
	REOPEN_EXPECT(&c, dir, &c.t0, 3, "");
	if (!(c.st = open_store(dir)))
		return;
	EQ(store_topic_load(c.st, other.ino, &l), 0);
	SAME_TOPIC(&l, &o);
	READS(c.st, other.ino, &l, 0, 6, "other\n");
out:
	store_close(c.st);
}

/* ========================================================================
 * Segments
 */

/* store_sync's segment sync fails: the caller gets EIO, and the next sync
 * writes the records the failed one covered again before syncing. */
static void test_seg_sync_fails(const char *dir)
{
	struct cx c;
	if (!cx_open(&c, dir, 5, false))
		return;
	ARM(dir, "seg_sync:1");
	EQ(store_sync(c.st), -EIO);
	EQ(fault_fired(), 1);
	EQ(fault_count("seg_write"), 0);
	EQ(fault_count("seg_sync"), 1);
	/* no append in between: the next sync rewrites the 5 records */
	EQ(store_sync(c.st), 0);
	EQ(fault_count("seg_write"), 5);
	EQ(fault_count("seg_sync"), 2);
	/* and the one after has nothing to write again */
	EQ(store_sync(c.st), 0);
	EQ(fault_count("seg_write"), 5);
	DISARM(dir);
	EQ(file_size(c.seg), c.size0);
	READS_RECS(c.st, &c.fx, &c.t, 5, "");
	REOPEN_EXPECT(&c, dir, &c.t, 5, "");
}

/* An append whose segment write fails under rules: -EIO, nothing of it
 * anywhere, and the next append lands where it would have. */
static void expect_seg_write_fails(const char *dir, const char *rules)
{
	struct cx c;
	if (!cx_open(&c, dir, 3, false))
		return;
	unsigned waiting = index_waiting_count(c.st);
	ARM(dir, rules);
	EQ(append(c.st, &c.fx, &c.t, "torn\n"), -EIO);
	CHECK(fault_fired() >= 1);
	DISARM(dir);
	UNCHANGED(&c);
	EQ(index_waiting_count(c.st), waiting);
	/* the next append takes the same topic and segment offsets */
	EQ(append(c.st, &c.fx, &c.t, "next\n"), 0);
	const struct idx_entry *e = last_waiting(c.st, c.fx.ino);
	if (CHECK(e != NULL)) {
		EQ(e->off, c.t0.size);
		EQ(e->seg_off, c.size0);
	}
	EQ(file_size(c.seg), c.size0 + REC_HDR + 5);
	READS(c.st, c.fx.ino, &c.t, c.t0.size, 5, "next\n");
	READS_RECS(c.st, &c.fx, &c.t, 3, "next\n");
	REOPEN_EXPECT(&c, dir, &c.t, 3, "next\n");
}

static void test_seg_write_fails(const char *dir)
{
	expect_seg_write_fails(dir, "seg_write:1");
}

/* A torn write: half the record written, then the rest fails. */
static void test_seg_write_torn(const char *dir)
{
	expect_seg_write_fails(dir, "seg_write:1:short,seg_write:2");
}

/* A short write alone is no error: the store writes the rest. */
static void test_seg_write_short(const char *dir)
{
	struct cx c;
	if (!cx_open(&c, dir, 3, false))
		return;
	ARM(dir, "seg_write:1:short");
	EQ(append(c.st, &c.fx, &c.t, "whole\n"), 0);
	EQ(fault_fired(), 1);
	EQ(fault_count("seg_write"), 2);
	DISARM(dir);
	EQ(file_size(c.seg), c.size0 + REC_HDR + 6);
	READS_RECS(c.st, &c.fx, &c.t, 3, "whole\n");
	REOPEN_EXPECT(&c, dir, &c.t, 3, "whole\n");
}

/* ========================================================================
 * Space, namespace batches, listings
 */

static long long free_bytes(const char *dir)
{
	struct statvfs sv;
	return statvfs(dir, &sv) == 0 ? (long long)sv.f_bavail * sv.f_frsize
				      : -1;
}

/* A namespace batch of one new inode (a regular file), with its entry
 * "new" in dir unless dir is 0. */
static struct store_batch *new_file_batch(struct store *st, uint64_t dir,
					  uint64_t *ino)
{
	struct sf_inode in = { .mode = S_IFREG | 0644, .nlink = 1 };
	in.ino = *ino = new_ino(st);
	struct store_batch *b = store_batch_new();
	store_put_inode(b, &in);
	if (dir)
		store_put_dirent(b, dir, "new", in.ino, DT_REG);
	return b;
}

/* The batch of new_file_batch() is wholly in the store, or (!there) not
 * at all. */
static void new_file_at(struct store *st, uint64_t dir, uint64_t ino,
			bool there, const char *file, int line)
{
	struct sf_inode in;
	uint64_t found = 0;
	eq_at(store_get_inode(st, ino, &in), there ? 0 : -ENOENT, "inode",
	      file, line);
	eq_at(store_lookup(st, dir, "new", &found), there ? 0 : -ENOENT,
	      "entry", file, line);
	eq_at(found, there ? ino : 0, "entry's inode", file, line);
}

#define NEW_FILE(st, dir, ino, there) \
	new_file_at(st, dir, ino, there, __FILE__, __LINE__)

/* LevelDB finds the disk full: the ballast goes, the write heals and
 * succeeds; appends are refused only while the ballast has no room, and
 * the first space check with room puts it back. */
static void test_db_write_enospc(const char *dir)
{
	struct cx c;
	char ballast[4096];
	uint64_t ino;
	if (!cx_open(&c, dir, 3, false))
		return;
	snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
	CHECK(c.st->ballast);
	EQ(file_size(ballast), DB_WRITE_BUFFER);
	struct store_batch *b = new_file_batch(c.st, c.fx.stream, &ino);
	ARM(dir, "db_write:1:once:ENOSPC");
	EQ(store_commit(c.st, b, false), 0);
	EQ(fault_fired(), 1);
	DISARM(dir);
	store_batch_free(b);
	NEW_FILE(c.st, c.fx.stream, ino, true);
	CHECK(!c.st->ballast);
	EQ(file_size(ballast), -1);
	/* no room for the ballast (DB_WRITE_BUFFER bytes): refused, and it
	 * stays away */
	long long avail = free_bytes(dir);
	if (!CHECK(avail > DB_WRITE_BUFFER))
		goto out;
	c.st->reserve = avail - DB_WRITE_BUFFER / 2;
	EQ(store_space_check(c.st, 100), -ENOSPC);
	EQ(append(c.st, &c.fx, &c.t, "refused\n"), -ENOSPC);
	CHECK(!c.st->ballast);
	EQ(file_size(ballast), -1);
	UNCHANGED(&c);
	/* room again: the ballast is back and appends go on */
	c.st->reserve = 0;
	EQ(store_space_check(c.st, 100), 0);
	CHECK(c.st->ballast);
	EQ(file_size(ballast), DB_WRITE_BUFFER);
	EQ(append(c.st, &c.fx, &c.t, "after\n"), 0);
	REOPEN_EXPECT(&c, dir, &c.t, 3, "after\n");
	return;
out:
	store_close(c.st);
}

/* A namespace batch whose write fails once is written after the heal. */
static void test_commit_write_fails_once(const char *dir)
{
	struct cx c;
	uint64_t ino;
	if (!cx_open(&c, dir, 3, false))
		return;
	struct store_batch *b = new_file_batch(c.st, c.fx.stream, &ino);
	ARM(dir, "db_write:1");
	EQ(store_commit(c.st, b, false), 0);
	EQ(fault_fired(), 1);
	DISARM(dir);
	store_batch_free(b);
	NEW_FILE(c.st, c.fx.stream, ino, true);
	REOPEN_EXPECT(&c, dir, &c.t, 3, "");
	if ((c.st = open_store(dir)))
		NEW_FILE(c.st, c.fx.stream, ino, true);
	store_close(c.st);
}

/* A namespace batch LevelDB cannot write: an error, the older records
 * still read, and the batch is not there after a reopen. */
static void test_commit_write_fails_always(const char *dir)
{
	struct cx c;
	struct sf_inode in;
	uint64_t ino, found = 0;
	if (!cx_open(&c, dir, 3, false))
		return;
	struct store_batch *b = new_file_batch(c.st, c.fx.stream, &ino);
	ARM(dir, "db_write:1:always");
	int r = store_commit(c.st, b, false);
	CHECK(r == -EIO || r == -EROFS);
	CHECK(c.st->read_only);
	store_batch_free(b);
	EQ(store_get_inode(c.st, 1, &in), 0);
	EQ(store_get_inode(c.st, c.fx.stream, &in), 0);
	EQ(store_get_inode(c.st, c.fx.ino, &in), 0);
	EQ(in.kind, SF_KIND_TOPIC);
	EQ(store_lookup(c.st, 1, "s", &found), 0);
	EQ(found, c.fx.stream);
	NEW_FILE(c.st, c.fx.stream, ino, false);
	READS_RECS(c.st, &c.fx, &c.t, 3, "");
	DISARM(dir);
	sleep_ms(HEAL_WAIT_MS);
	REOPEN_EXPECT(&c, dir, &c.t, 3, "");
	if ((c.st = open_store(dir)))
		NEW_FILE(c.st, c.fx.stream, ino, false);
	store_close(c.st);
}

#define NAMES 20

/* A listing open across a heal (LevelDB reopened under it) goes on from
 * the last name it returned: nothing repeated, nothing skipped. */
static void test_listing_across_heal(const char *dir)
{
	struct store *st = open_store(dir);
	struct store_dirit *it = NULL;
	char name[16];
	const char *n;
	size_t nlen;
	uint64_t d, ino, other;
	uint32_t dtype;
	if (!st || !(d = make_node(st, 1, "d", S_IFDIR | 0755, 0)))
		goto out;
	for (int i = 0; i < NAMES; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		if (!make_node(st, d, name, S_IFREG | 0644, SF_KIND_TOPIC))
			goto out;
	}
	it = store_dirit_open(st, d);
	if (!CHECK(it != NULL) ||
	    !EQ(store_dirit_next(it, &n, &nlen, &ino, &dtype), 1))
		goto out;
	CHECK(strcmp(n, "n00") == 0);
	uint64_t gen = st->gen;
	struct store_batch *b = new_file_batch(st, 0, &other);
	ARM(dir, "db_write:1");
	EQ(store_commit(st, b, false), 0);
	EQ(fault_fired(), 1);
	DISARM(dir);
	store_batch_free(b);
	EQ(st->gen, gen + 1);
	int i = 1, r;
	while ((r = store_dirit_next(it, &n, &nlen, &ino, &dtype)) == 1) {
		snprintf(name, sizeof(name), "n%02d", i++);
		if (!CHECK(strcmp(n, name) == 0)) {
			fprintf(stderr, "  got \"%s\", want \"%s\"\n", n, name);
			break;
		}
	}
	EQ(r, 0);
	EQ(i, NAMES);
out:
	store_dirit_close(it);
	store_close(st);
}

/* ======================================================================== */

static const struct test tests[] = {
	T(test_batch_write_fails_once),
	T(test_db_cannot_write),
	T(test_durable_append_syncs_its_segment),
	T(test_durable_db_sync_fails_once),
	T(test_durable_db_sync_fails_always),
	T(test_durable_refused_stream_goes_on),
	T(test_seg_sync_fails),
	T(test_seg_write_fails),
	T(test_seg_write_torn),
	T(test_seg_write_short),
	T(test_db_write_enospc),
	T(test_commit_write_fails_once),
	T(test_commit_write_fails_always),
	T(test_listing_across_heal),
};

int main(int argc, char **argv)
{
	if (!CHECK(find_shim())) {
		fprintf(stderr, "test_store_faults: the fault shim's entry "
			"points are missing: run it with LD_PRELOAD naming "
			"libstreamfs_faultshim.so (meson test does)\n");
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	return fixture_main("test_store_faults", tests, NTESTS(tests), argc,
			    argv);
}
