/* cursor.c - consumer groups' committed cursors: for each (topic, group)
 * the byte offset a group has consumed up to, the message offset there
 * and when it was committed, kept in LevelDB under C keys (getting,
 * setting, deleting and listing them, group names checked), and each
 * removed cursor's tombstone under Z keys: when it was removed, so that
 * replication can carry the removal by the same "later wins" rule as
 * commits (docs/design.md, "Replication").  A tombstone is dropped when
 * the group commits again on the topic.  A topic's cursors and
 * tombstones are keyed by its inode number, so a rename keeps them;
 * store_purge_inode (namespace.c) removes them with the topic.
 *
 * Whether an offset is a message boundary of the topic is topic.c's
 * question (store_topic_boundary), asked by the caller first: this file
 * only stores what it is given, and clamps what it reads to the topic's
 * live bytes. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define CURSOR_VAL_SIZE 24
_Static_assert(CURSOR_VAL_SIZE == 24,
	       "cursor value is 24 bytes: update docs/format.md");

int store_cursor_name_check(const char *group)
{
	size_t n = strlen(group);
	if (n == 0 || n > SF_GROUP_MAX || strcmp(group, ".") == 0 ||
	    strcmp(group, "..") == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = group[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return -EINVAL;
	}
	return 0;
}

static void cursor_encode(char *v, const struct sf_cursor *c)
{
	put_le64(v, c->off);
	put_le64(v + 8, c->msg);
	put_le64(v + 16, (uint64_t)c->ns);
}

static int cursor_decode(const char *v, size_t len, struct sf_cursor *c)
{
	if (len != CURSOR_VAL_SIZE)
		return -EIO;
	c->off = get_le64(v);
	c->msg = get_le64(v + 8);
	c->ns = (int64_t)get_le64(v + 16);
	return 0;
}

void store_cursor_clamp(const struct sf_topic *t, struct sf_cursor *c)
{
	if (c->off < t->start) {
		c->off = t->start;
		c->msg = t->first_msg;
	} else if (c->off > t->size) {
		c->off = t->size;
		c->msg = t->next_msg;
	}
}

int store_cursor_get(struct store *st, uint64_t ino, const struct sf_topic *t,
		     const char *group, struct sf_cursor *out)
{
	char k[KEY_MAX], *err = NULL;
	size_t len;
	int r = store_cursor_name_check(group);
	if (r == 0)
		r = db_ready(st);
	if (r < 0)
		return r;
	char *v = leveldb_get(st->db, st->ropts, k,
			      key_u64_name(k, KEY_CURSOR, ino, group), &len,
			      &err);
	if (err)
		return store_db_error("get", err);
	if (!v)
		return -ENODATA;
	r = cursor_decode(v, len, out);
	leveldb_free(v);
	if (r == 0 && t)
		store_cursor_clamp(t, out);
	return r;
}

/* Put (c != NULL) or delete the cursor of group on topic ino; a put
 * drops the group's tombstone, a delete keeps one with time gone_ns. */
static int cursor_write(struct store *st, uint64_t ino, const char *group,
			const struct sf_cursor *c, int64_t gone_ns, bool sync)
{
	char k[KEY_MAX], g[KEY_MAX], v[CURSOR_VAL_SIZE];
	size_t klen = key_u64_name(k, KEY_CURSOR, ino, group);
	size_t glen = key_u64_name(g, KEY_CURSOR_GONE, ino, group);
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	if (c) {
		cursor_encode(v, c);
		leveldb_writebatch_put(b, k, klen, v, sizeof(v));
		leveldb_writebatch_delete(b, g, glen);
	} else {
		put_le64(v, (uint64_t)gone_ns);
		leveldb_writebatch_delete(b, k, klen);
		leveldb_writebatch_put(b, g, glen, v, 8);
	}
	int r = db_write(st, b, sync);
	leveldb_writebatch_destroy(b);
	return r;
}

int store_cursor_set(struct store *st, uint64_t ino, const char *group,
		     const struct sf_cursor *c, bool sync)
{
	int r = store_cursor_name_check(group);
	return r < 0 ? r : cursor_write(st, ino, group, c, 0, sync);
}

int store_cursor_delete(struct store *st, uint64_t ino, const char *group,
			bool sync)
{
	struct sf_cursor old;
	int r = store_cursor_get(st, ino, NULL, group, &old);
	if (r < 0)
		return r;
	int64_t ns = store_now_ns();
	if (ns <= old.ns)       /* the removal comes after what it removes */
		ns = old.ns < INT64_MAX ? old.ns + 1 : INT64_MAX;
	return cursor_write(st, ino, group, NULL, ns, sync);
}

int store_cursor_remove_at(struct store *st, uint64_t ino, const char *group,
			   int64_t ns, bool sync)
{
	int r = store_cursor_name_check(group);
	return r < 0 ? r : cursor_write(st, ino, group, NULL, ns, sync);
}

int store_cursor_gone_get(struct store *st, uint64_t ino, const char *group,
			  int64_t *ns)
{
	char k[KEY_MAX];
	uint64_t v;
	int r = store_cursor_name_check(group);
	if (r == 0)
		r = db_get_u64(st, k, key_u64_name(k, KEY_CURSOR_GONE, ino,
						   group), &v);
	if (r == 0)
		*ns = (int64_t)v;
	return r == -ENOENT ? -ENODATA : r;
}

/* Call each(group, value, arg) for every key of kind on topic ino in
 * group-name order. */
static int scan_groups(struct store *st, char kind, uint64_t ino,
		       int (*each)(const char *group, const char *v,
				   size_t vlen, void *arg),
		       void *arg)
{
	char p[9], group[SF_GROUP_MAX + 1];
	int r = db_ready(st);
	if (r < 0)
		return r;
	key_u64(p, kind, ino);
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, 9); r == 0 && leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = leveldb_iter_key(it, &klen);
		if (klen < 9 || memcmp(k, p, 9) != 0)
			break;
		const char *v = leveldb_iter_value(it, &vlen);
		if (klen - 9 > SF_GROUP_MAX) {
			r = -EIO;
			break;
		}
		memcpy(group, k + 9, klen - 9);
		group[klen - 9] = 0;
		r = each(group, v, vlen, arg);
	}
	if (r == 0) {
		char *err = NULL;
		leveldb_iter_get_error(it, &err);
		if (err)
			r = store_db_error("scan", err);
	}
	leveldb_iter_destroy(it);
	return r;
}

struct list_arg {
	const struct sf_topic *t;
	int (*fn)(const char *group, const struct sf_cursor *c, void *arg);
	int (*gone)(const char *group, int64_t ns, void *arg);
	void *arg;
};

static int each_cursor(const char *group, const char *v, size_t vlen,
		       void *arg)
{
	struct list_arg *a = arg;
	struct sf_cursor c;
	if (cursor_decode(v, vlen, &c) < 0)
		return -EIO;
	if (a->t)
		store_cursor_clamp(a->t, &c);
	return a->fn(group, &c, a->arg);
}

static int each_gone(const char *group, const char *v, size_t vlen,
		     void *arg)
{
	struct list_arg *a = arg;
	if (vlen != 8)
		return -EIO;
	return a->gone(group, (int64_t)get_le64(v), a->arg);
}

int store_cursor_list(struct store *st, uint64_t ino,
		      const struct sf_topic *t,
		      int (*fn)(const char *group, const struct sf_cursor *c,
				void *arg),
		      void *arg)
{
	struct list_arg a = { .t = t, .fn = fn, .arg = arg };
	return scan_groups(st, KEY_CURSOR, ino, each_cursor, &a);
}

int store_cursor_gone_list(struct store *st, uint64_t ino,
			   int (*fn)(const char *group, int64_t ns, void *arg),
			   void *arg)
{
	struct list_arg a = { .gone = fn, .arg = arg };
	return scan_groups(st, KEY_CURSOR_GONE, ino, each_gone, &a);
}
