/* heal.c - getting the store going again after a fault underneath.
 *
 * LevelDB's errors are sticky: after one failed write (of its log, a
 * table or its manifest) it refuses every later write until it is opened
 * again.  So a failed write marks the store (heal_note_fault), and heal()
 * closes LevelDB and opens it again: the reopen replays LevelDB's log,
 * with or without the batch that failed, and the caller (db_write) then
 * writes that batch once more, so its outcome is no longer in doubt.
 * Nothing else is lost: the index entries of appends wait in memory until
 * LevelDB has taken them (index.c), and segments are not touched.
 *
 * A write that still fails after that is refused to its caller, who
 * undoes its side (an append cuts its record back).  But LevelDB's log
 * may hold the batch all the same (only the sync failed), and the next
 * reopen would replay it: so the refused batch's inverse, read from the
 * handle before any reopen (LevelDB applies a batch to its memtable only
 * once the log write has succeeded), waits in st->undo and is written
 * first by the next heal that reopens LevelDB.
 *
 * Before closing, heal() checks that the disk under LevelDB takes a
 * synced write (a probe file in DATADIR/db).  If it does not, LevelDB stays
 * open as it is (reads go on working through it), the store is read-only
 * (writes get EROFS, or ENOSPC on a full disk), and the next write after
 * HEAL_PACE_NS tries again.  The log says when the store goes read-only
 * and when it takes writes again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define HEAL_PACE_NS (50 * 1000000LL)   /* between attempts while read-only */
#define PROBE_BYTES 4096

/* ---- the inverse of a batch ---- */

struct inverse {
	struct store *st;
	leveldb_writebatch_t *undo;
	bool failed;
};

/* Record the value key has now (before the batch): put it back, or
 * delete the key if it has none. */
static void invert_key(void *arg, const char *k, size_t klen)
{
	struct inverse *inv = arg;
	char *err = NULL;
	size_t len;
	char *old = leveldb_get(inv->st->db, inv->st->ropts, k, klen, &len,
				&err);
	if (err) {
		inv->failed = true;
		leveldb_free(err);
		return;
	}
	if (old)
		leveldb_writebatch_put(inv->undo, k, klen, old, len);
	else
		leveldb_writebatch_delete(inv->undo, k, klen);
	leveldb_free(old);
}

static void invert_put(void *arg, const char *k, size_t klen, const char *v,
		       size_t vlen)
{
	invert_key(arg, k, klen);
}

/* A batch that undoes b, or NULL if the old values cannot be read. */
static leveldb_writebatch_t *inverse_of(struct store *st,
					const leveldb_writebatch_t *b)
{
	struct inverse inv = { st, leveldb_writebatch_create(), false };
	leveldb_writebatch_iterate(b, &inv, invert_put, invert_key);
	if (!inv.failed)
		return inv.undo;
	leveldb_writebatch_destroy(inv.undo);
	struct store_event ev = {
		.kind = STORE_EV_LEVELDB, .level = SF_LOG_ERROR,
		.what = "inverse",
		.action = "the refused write may reappear after a reopen",
		.err = EIO,
	};
	report_event(&ev, "cannot read what a failed LevelDB write changed; "
		     "it may reappear after LevelDB is reopened");
	return NULL;
}

/* Keep undo for the next reopen, before the ones already kept (its old
 * values may include theirs). */
static void keep_undo(struct store *st, leveldb_writebatch_t *undo)
{
	if (!undo)
		return;
	if (st->undo) {
		leveldb_writebatch_append(undo, st->undo);
		leveldb_writebatch_destroy(st->undo);
	}
	st->undo = undo;
}

/* Right after a reopen: write the inverses of refused batches. */
static int write_undo(struct store *st)
{
	char *err = NULL;
	if (!st->undo)
		return 0;
	leveldb_write(st->db, st->wopts_sync, st->undo, &err);
	if (err)
		return store_db_error("undo", err);
	leveldb_writebatch_destroy(st->undo);
	st->undo = NULL;
	return 0;
}

void heal_free(struct store *st)
{
	if (st->undo)
		leveldb_writebatch_destroy(st->undo);
	st->undo = NULL;
}

/* ---- healing ---- */

void heal_note_fault(struct store *st, int err)
{
	st->db_bad = true;
	st->fault = err;
}

/* Does the disk under LevelDB take a small synced write? */
static int probe(struct store *st)
{
	char path[4096], buf[PROBE_BYTES];
	memset(buf, 0, sizeof(buf));
	snprintf(path, sizeof(path), "%s/db/heal-probe", st->datadir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	ssize_t n = write(fd, buf, sizeof(buf));
	if (n != (ssize_t)sizeof(buf))
		r = n < 0 ? -errno : -ENOSPC;
	else if (fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	unlink(path);
	return r;
}

/* The error a write gets while the store is read-only. */
static int read_only_errno(const struct store *st)
{
	return st->fault == ENOSPC || st->fault == EDQUOT ? -st->fault
							   : -EROFS;
}

static int go_read_only(struct store *st, int r)
{
	if (!st->read_only) {
		struct store_event ev = {
			.kind = STORE_EV_READ_ONLY, .level = SF_LOG_ERROR,
			.what = "reopen", .err = -r,
			.action = "writes refused, reads go on; tried again",
		};
		report_event(&ev, "the store in %s is read-only: LevelDB "
			     "cannot write (%s); reads go on, and writes are "
			     "tried again", st->datadir, strerror(-r));
	}
	st->read_only = true;
	return read_only_errno(st);
}

int heal(struct store *st)
{
	char msg[512];
	if (!st->db_bad && st->db)
		return 0;
	st->heal_tried_ns = store_now_ns();
	if (st->fault == ENOSPC || st->fault == EDQUOT)
		space_release_ballast(st);
	int r = probe(st);
	if (r < 0)
		return go_read_only(st, r);
	db_cursors_drop(st);
	if (st->db)
		leveldb_close(st->db);
	st->db = NULL;
	r = db_open(st, msg, sizeof(msg));
	if (r < 0) {
		struct store_event ev = {
			.kind = STORE_EV_LEVELDB, .level = SF_LOG_ERROR,
			.what = "open", .err = -r, .detail = msg,
		};
		report_event(&ev, "%s", msg);
		return go_read_only(st, r);
	}
	if ((r = write_undo(st)) < 0)
		return go_read_only(st, r);
	struct store_event ev = {
		.kind = STORE_EV_HEALED, .level = SF_LOG_INFO,
		.what = "reopen", .err = st->fault,
		.action = st->read_only ? "writable again" : "healed",
	};
	report_event(&ev, "%s: LevelDB reopened after a failed write (%s); "
		     "writes go on", st->read_only ? "read-only no more"
						  : "healed",
		     strerror(st->fault));
	st->db_bad = false;
	st->read_only = false;
	st->fault = 0;
	st->gen++;
	return 0;
}

/* What a successful write leaves unsynced: anything (db_unsynced), and
 * anything recovery could not rebuild from the segments (meta_unsynced:
 * all but index writes, see index.c). */
static void db_note_written(struct store *st, bool sync)
{
	st->stats.db_writes++;
	st->stats.db_synced_writes += sync;
	st->db_unsynced = !sync;
	if (sync)
		st->meta_unsynced = false;
	else if (!st->writing_index)
		st->meta_unsynced = true;
}

int db_write(struct store *st, leveldb_writebatch_t *b, bool sync)
{
	char *err = NULL;
	int r = store_writable(st);
	if (r < 0)
		return r;
	leveldb_write(st->db, sync ? st->wopts_sync : st->wopts, b, &err);
	if (!err) {
		db_note_written(st, sync);
		return 0;
	}
	r = store_db_error("write", err);
	leveldb_writebatch_t *undo = inverse_of(st, b);
	heal_note_fault(st, -r);
	/* The batch may or may not be in LevelDB's log now; writing it
	 * again after the reopen makes it so either way (a batch of puts
	 * and deletes applied twice is applied once). */
	if (heal(st) == 0) {
		err = NULL;
		leveldb_write(st->db, sync ? st->wopts_sync : st->wopts, b,
			      &err);
		if (!err) {
			if (undo)
				leveldb_writebatch_destroy(undo);
			db_note_written(st, sync);
			return 0;
		}
		r = store_db_error("write", err);
		heal_note_fault(st, -r);
	}
	keep_undo(st, undo);    /* refused: it must not come back */
	return r;
}

/* ---- opening ---- */

int store_writable(struct store *st)
{
	if (!st->db_bad && st->db)
		return 0;
	if (store_now_ns() - st->heal_tried_ns < HEAL_PACE_NS)
		return read_only_errno(st);
	return heal(st) < 0 ? read_only_errno(st) : 0;
}

int db_ready(struct store *st)
{
	if (st->db)
		return 0;
	if (store_now_ns() - st->heal_tried_ns >= HEAL_PACE_NS)
		heal(st);
	return st->db ? 0 : -EIO;
}
