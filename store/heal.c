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
	if (!st->read_only)
		fprintf(stderr, "streamfs: error: the store in %s is read-only: "
			"LevelDB cannot write (%s); reads go on, and writes are "
			"tried again\n", st->datadir, strerror(-r));
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
		fprintf(stderr, "streamfs: error: %s\n", msg);
		return go_read_only(st, r);
	}
	fprintf(stderr, "streamfs: %s: LevelDB reopened after a failed write "
		"(%s); writes go on\n", st->read_only ? "read-only no more"
						     : "healed",
		strerror(st->fault));
	st->db_bad = false;
	st->read_only = false;
	st->fault = 0;
	st->gen++;
	return 0;
}

int db_write(struct store *st, leveldb_writebatch_t *b, bool sync)
{
	char *err = NULL;
	int r = store_writable(st);
	if (r < 0)
		return r;
	leveldb_write(st->db, sync ? st->wopts_sync : st->wopts, b, &err);
	if (!err)
		return 0;
	r = store_db_error("write", err);
	heal_note_fault(st, -r);
	/* The batch may or may not be in LevelDB's log now; writing it
	 * again after the reopen makes it so either way (a batch of puts
	 * and deletes applied twice is applied once). */
	if (heal(st) < 0)
		return r;
	err = NULL;
	leveldb_write(st->db, sync ? st->wopts_sync : st->wopts, b, &err);
	if (!err)
		return 0;
	r = store_db_error("write", err);
	heal_note_fault(st, -r);
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
