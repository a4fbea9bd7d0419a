/* kind_walk.c - walking every LevelDB record of one kind (the keys that
 * start with one prefix byte, see keys.c), in key order: the loop the
 * tables of links, hand-overs and the like share. */
#include "internal.h"

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
