/* link.c - replication links as LevelDB keeps them (N link_id): which
 * local stream pushes to which stream of which peer, and whether the
 * link is paused.  Ids come from a counter (Mlink_next) and are never
 * reused; every change is written synced.  A stream's links go with its
 * purge (namespace.c calls link_purge_stream).  docs/format.md has the
 * layout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char meta_link_next[] = "Mlink_next";

#define LINK_VERSION 1
#define LINK_HEAD 17            /* version(1) flags(4) stream(8) +2+2 */

static bool field_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	return n > 0 && n < cap;
}

static size_t link_encode(char *v, const struct sf_link *l)
{
	size_t pn = strlen(l->peer), sn = strlen(l->peer_stream);
	v[0] = LINK_VERSION;
	put_le32(v + 1, l->flags);
	put_le64(v + 5, l->stream);
	v[13] = (char)(pn & 0xff);
	v[14] = (char)(pn >> 8);
	memcpy(v + 15, l->peer, pn);
	char *q = v + 15 + pn;
	q[0] = (char)(sn & 0xff);
	q[1] = (char)(sn >> 8);
	memcpy(q + 2, l->peer_stream, sn);
	return 15 + pn + 2 + sn;
}

static size_t get_len16(const char *p)
{
	return (unsigned char)p[0] | ((size_t)(unsigned char)p[1] << 8);
}

static int link_decode(const char *k, size_t klen, const char *v,
		       size_t vlen, struct sf_link *l)
{
	memset(l, 0, sizeof(*l));
	if (klen != 9 || vlen < LINK_HEAD || v[0] != LINK_VERSION)
		return -EIO;
	l->id = get_be64(k + 1);
	l->flags = get_le32(v + 1);
	l->stream = get_le64(v + 5);
	size_t pn = get_len16(v + 13);
	if (pn >= sizeof(l->peer) || 15 + pn + 2 > vlen)
		return -EIO;
	memcpy(l->peer, v + 15, pn);
	size_t sn = get_len16(v + 15 + pn);
	if (sn >= sizeof(l->peer_stream) || 15 + pn + 2 + sn != vlen)
		return -EIO;
	memcpy(l->peer_stream, v + 17 + pn, sn);
	return 0;
}

struct link_walk {
	int (*fn)(const struct sf_link *, void *);
	void *arg;
};

static int link_one(const char *k, size_t klen, const char *v, size_t vlen,
		    void *arg)
{
	struct link_walk *w = arg;
	struct sf_link l;
	int r = link_decode(k, klen, v, vlen, &l);
	return r ? r : w->fn(&l, w->arg);
}

/* Call fn for every link in id order; stops at fn's first non-zero. */
static int link_each(struct store *st,
		     int (*fn)(const struct sf_link *, void *), void *arg)
{
	struct link_walk w = { fn, arg };
	return db_each_kind(st, KEY_LINK, link_one, &w, "link scan");
}

static int get_link(struct store *st, uint64_t id, struct sf_link *l)
{
	char k[KEY_MAX], *err = NULL;
	size_t len, kl = key_u64(k, KEY_LINK, id);
	int r = db_ready(st);
	if (r < 0)
		return r;
	char *v = leveldb_get(st->db, st->ropts, k, kl, &len, &err);
	if (err)
		return store_db_error("get", err);
	r = v ? link_decode(k, kl, v, len, l) : -ENOENT;
	leveldb_free(v);
	return r;
}

static int put_link(struct store *st, const struct sf_link *l,
		    leveldb_writebatch_t *b)
{
	char k[KEY_MAX];
	char *v = malloc(LINK_HEAD + sizeof(l->peer) + sizeof(l->peer_stream));
	if (!v)
		return -ENOMEM;
	size_t vl = link_encode(v, l);
	leveldb_writebatch_put(b, k, key_u64(k, KEY_LINK, l->id), v, vl);
	free(v);
	int r = db_write(st, b, true);
	return r;
}

static int same_target(const struct sf_link *l, void *arg)
{
	const struct sf_link *n = arg;
	return l->stream == n->stream && strcmp(l->peer, n->peer) == 0 &&
	       strcmp(l->peer_stream, n->peer_stream) == 0 ? -EEXIST : 0;
}

static int next_link_id(struct store *st, uint64_t *id)
{
	char *err = NULL;
	size_t len;
	char *v = leveldb_get(st->db, st->ropts, meta_link_next,
			      sizeof(meta_link_next) - 1, &len, &err);
	if (err)
		return store_db_error("get", err);
	*id = v && len == 8 ? get_le64(v) : 1;
	leveldb_free(v);
	return *id == 0 || *id == UINT64_MAX ? -EOVERFLOW : 0;
}

int store_link_add(struct store *st, struct sf_link *l)
{
	if (!field_ok(l->peer, sizeof(l->peer)) ||
	    !field_ok(l->peer_stream, sizeof(l->peer_stream)) ||
	    (l->flags & ~SF_LINK_PAUSED))
		return -EINVAL;
	int r = store_writable(st);
	if (r == 0)
		r = link_each(st, same_target, l);
	uint64_t id = 0;
	if (r == 0)
		r = next_link_id(st, &id);
	if (r < 0)
		return r;
	char v[8];
	put_le64(v, id + 1);
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	leveldb_writebatch_put(b, meta_link_next, sizeof(meta_link_next) - 1,
			       v, 8);
	struct sf_link n = *l;
	n.id = id;
	r = put_link(st, &n, b);
	leveldb_writebatch_destroy(b);
	if (r == 0)
		l->id = id;
	return r;
}

int store_link_del(struct store *st, uint64_t id)
{
	struct sf_link l;
	char k[KEY_MAX];
	int r = get_link(st, id, &l);
	if (r < 0)
		return r;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	leveldb_writebatch_delete(b, k, key_u64(k, KEY_LINK, id));
	r = db_write(st, b, true);
	leveldb_writebatch_destroy(b);
	return r;
}

int store_link_set_flags(struct store *st, uint64_t id, uint32_t flags)
{
	struct sf_link l;
	if (flags & ~SF_LINK_PAUSED)
		return -EINVAL;
	int r = get_link(st, id, &l);
	if (r < 0 || l.flags == flags)
		return r;
	l.flags = flags;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	r = put_link(st, &l, b);
	leveldb_writebatch_destroy(b);
	return r;
}

struct link_out {
	struct sf_link *out;
	size_t max, n;
};

static int collect(const struct sf_link *l, void *arg)
{
	struct link_out *o = arg;
	if (o->n < o->max)
		o->out[o->n] = *l;
	o->n++;
	return 0;
}

int store_link_list(struct store *st, struct sf_link *out, size_t max)
{
	struct link_out o = { out, max, 0 };
	int r = link_each(st, collect, &o);
	return r < 0 ? r : (int)o.n;
}

struct purge {
	uint64_t stream;
	leveldb_writebatch_t *b;
	unsigned n;
};

static int note_purged(const struct sf_link *l, void *arg)
{
	struct purge *p = arg;
	char k[KEY_MAX];
	if (l->stream == p->stream) {
		leveldb_writebatch_delete(p->b, k, key_u64(k, KEY_LINK, l->id));
		p->n++;
	}
	return 0;
}

int link_purge_stream(struct store *st, uint64_t ino)
{
	struct purge p = { ino, leveldb_writebatch_create(), 0 };
	int r = link_each(st, note_purged, &p);
	if (r == 0 && p.n > 0)
		r = db_write(st, p.b, false);
	leveldb_writebatch_destroy(p.b);
	return r;
}
