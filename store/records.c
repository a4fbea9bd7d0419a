/* records.c - LevelDB records one at a time: reading a fixed-size value
 * by its key, writing or deleting one key, and walking every record of
 * one kind (the keys that start with one prefix byte, see keys.c) in key
 * order.  The small tables (homes, births, feeds, hand-overs, links,
 * cursor tombstones, segment states) share these instead of each
 * repeating the get, check and free. */
#include <errno.h>
#include <string.h>

#include "internal.h"

int db_get_fixed(struct store *st, const char *k, size_t klen, void *out,
		 size_t size)
{
	char *err = NULL;
	size_t len;
	int r = db_ready(st);
	if (r < 0)
		return r;
	char *v = leveldb_get(st->db, st->ropts, k, klen, &len, &err);
	if (err)
		return store_db_error("get", err);
	if (!v)
		return -ENOENT;
	if (len == size)
		memcpy(out, v, size);
	else
		r = -EIO;
	leveldb_free(v);
	return r;
}

int db_get_u64(struct store *st, const char *k, size_t klen, uint64_t *out)
{
	char v[8];
	int r = db_get_fixed(st, k, klen, v, sizeof v);
	if (r == 0)
		*out = get_le64(v);
	return r;
}

int db_put_one(struct store *st, const char *k, size_t klen, const void *v,
	       size_t vlen, bool sync)
{
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	if (v)
		leveldb_writebatch_put(b, k, klen, v, vlen);
	else
		leveldb_writebatch_delete(b, k, klen);
	int r = db_write(st, b, sync);
	leveldb_writebatch_destroy(b);
	return r;
}

int db_each_kind(struct store *st, char kind,
		 int (*fn)(const char *k, size_t klen, const char *v,
			   size_t vlen, void *arg),
		 void *arg, const char *what)
{
	char p[1] = { kind };
	int r = db_ready(st);
	if (r < 0)
		return r;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, 1); r == 0 && leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = leveldb_iter_key(it, &klen);
		if (klen < 1 || k[0] != kind)
			break;
		const char *v = leveldb_iter_value(it, &vlen);
		r = fn(k, klen, v, vlen, arg);
	}
	char *err = NULL;
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err)
		return store_db_error(what, err);
	return r;
}
