/* db.c - the LevelDB handle: its options, opening it (at mount and again
 * when healing), closing it, what its error messages mean, and the
 * registry of long-lived iterators (directory listings) that must be
 * dropped before it closes.  Everything above reads and writes LevelDB
 * through this handle; writes go through heal.c's db_write(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* LevelDB reports the cause of an I/O error as strerror() text. */
static int errno_of_message(const char *msg)
{
	static const int known[] = { ENOSPC, EDQUOT, EROFS };
	for (size_t i = 0; msg && i < sizeof(known) / sizeof(known[0]); i++)
		if (strstr(msg, strerror(known[i])))
			return known[i];
	return EIO;
}

int store_db_error(const char *what, char *err)
{
	int e = errno_of_message(err);
	struct store_event ev = {
		.kind = STORE_EV_LEVELDB, .level = SF_LOG_ERROR, .what = what,
		.err = e, .detail = err ? err : "?",
	};
	report_event(&ev, "leveldb %s: %s", what, ev.detail);
	leveldb_free(err);
	return -e;
}

void db_options_init(struct store *st)
{
	st->opts = leveldb_options_create();
	st->cache = leveldb_cache_create_lru(32 << 20);
	st->filter = leveldb_filterpolicy_create_bloom(10);
	leveldb_options_set_create_if_missing(st->opts, 1);
	leveldb_options_set_cache(st->opts, st->cache);
	leveldb_options_set_filter_policy(st->opts, st->filter);
	leveldb_options_set_write_buffer_size(st->opts, DB_WRITE_BUFFER);
	leveldb_options_set_max_open_files(st->opts, 500);
	st->ropts = leveldb_readoptions_create();
	st->ropts_scan = leveldb_readoptions_create();
	leveldb_readoptions_set_fill_cache(st->ropts_scan, 0);
	st->wopts = leveldb_writeoptions_create();
	st->wopts_sync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(st->wopts_sync, 1);
}

int db_open(struct store *st, char *msg, size_t msglen)
{
	char path[4096], *err = NULL;
	snprintf(path, sizeof(path), "%s/db", st->datadir);
	st->db = leveldb_open(st->opts, path, &err);
	if (!st->db && errno_of_message(err) != EIO &&
	    space_release_ballast(st)) {
		/* A full disk: LevelDB needs room for a new log. */
		leveldb_free(err);
		err = NULL;
		st->db = leveldb_open(st->opts, path, &err);
	}
	if (st->db)
		return 0;
	int busy = err && strstr(err, "LOCK") != NULL;
	if (busy)
		snprintf(msg, msglen, "%s is already mounted (its store is "
			 "locked by another streamfs)", st->datadir);
	else
		snprintf(msg, msglen, "cannot open the store in %s: %s",
			 st->datadir, err ? err : "unknown error");
	int e = busy ? EBUSY : errno_of_message(err);
	leveldb_free(err);
	return -e;
}

void db_free(struct store *st)
{
	db_cursors_drop(st);
	if (st->db)
		leveldb_close(st->db);
	st->db = NULL;
	if (st->opts)
		leveldb_options_destroy(st->opts);
	if (st->cache)
		leveldb_cache_destroy(st->cache);
	if (st->filter)
		leveldb_filterpolicy_destroy(st->filter);
	if (st->ropts)
		leveldb_readoptions_destroy(st->ropts);
	if (st->ropts_scan)
		leveldb_readoptions_destroy(st->ropts_scan);
	if (st->wopts)
		leveldb_writeoptions_destroy(st->wopts);
	if (st->wopts_sync)
		leveldb_writeoptions_destroy(st->wopts_sync);
}

/* ---- long-lived iterators ---- */

void db_cursor_add(struct store *st, struct db_cursor *c)
{
	c->it = NULL;
	c->prev = NULL;
	c->next = st->cursors;
	if (st->cursors)
		st->cursors->prev = c;
	st->cursors = c;
}

void db_cursor_remove(struct store *st, struct db_cursor *c)
{
	if (c->it)
		leveldb_iter_destroy(c->it);
	c->it = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		st->cursors = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

void db_cursors_drop(struct store *st)
{
	for (struct db_cursor *c = st->cursors; c; c = c->next) {
		if (c->it)
			leveldb_iter_destroy(c->it);
		c->it = NULL;
	}
}

/* ---- what LevelDB says of itself (store_db_stats) ---- */

static uint64_t mib(double v)
{
	return v > 0 ? (uint64_t)(v + 0.5) << 20 : 0;
}

/* The "leveldb.stats" table: after a line of dashes, one line per level
 * in use: level, files, size, compaction time, read and written, the
 * last four in whole seconds and MiB. */
static void parse_stats(const char *s, struct store_db_stats *out)
{
	const char *p = strstr(s, "---\n");
	while (p && (p = strchr(p, '\n'))) {
		int level, files;
		double size, secs, rd, wr;
		p++;
		if (sscanf(p, "%d %d %lf %lf %lf %lf", &level, &files, &size,
			   &secs, &rd, &wr) != 6)
			break;
		if (level < 0 || level >= STORE_DB_LEVELS)
			continue;
		out->files[level] = files > 0 ? (uint64_t)files : 0;
		out->bytes[level] = mib(size);
		out->compaction_s[level] = secs > 0 ? (uint64_t)(secs + 0.5) : 0;
		out->compaction_read[level] = mib(rd);
		out->compaction_written[level] = mib(wr);
	}
}

int store_db_stats(struct store *st, struct store_db_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!st->db)
		return -EIO;
	char *s = leveldb_property_value(st->db, "leveldb.stats");
	if (s)
		parse_stats(s, out);
	leveldb_free(s);
	s = leveldb_property_value(st->db, "leveldb.approximate-memory-usage");
	if (s)
		out->memory = strtoull(s, NULL, 10);
	leveldb_free(s);
	return 0;
}
