/* namespace.c - namespace records in LevelDB: inode numbers, inodes,
 * directory entries, attributes, symlinks and orphans, listings, atomic
 * batches of changes, and purging an inode with everything it owns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* A batch: LevelDB's, and the inode records it changes. */
#define BATCH_INODES 16

struct store_batch {
	leveldb_writebatch_t *wb;
	/* The records it puts or deletes, so that the inode cache forgets
	 * them once it is written (all of it, when more than fit). */
	uint64_t inos[BATCH_INODES];
	unsigned ninos;
	bool many;
};

#define WB(b) ((b)->wb)

leveldb_writebatch_t *batch_leveldb(struct store_batch *b)
{
	return WB(b);
}

#define INO_CHUNK 4096           /* numbers reserved per meta write */

static const char meta_next_ino[] = "Mnext_ino";

/* ---- inode numbers ---- */

int ino_load(struct store *st)
{
	char *err = NULL;
	size_t len;
	char *v = leveldb_get(st->db, st->ropts, meta_next_ino,
			      sizeof(meta_next_ino) - 1, &len, &err);
	if (err)
		return store_db_error("get", err);
	st->next_ino = 2;                       /* 1 is the root */
	if (v && len == 8)
		st->next_ino = get_le64(v);
	leveldb_free(v);
	st->ino_limit = st->next_ino;
	return 0;
}

int store_alloc_ino(struct store *st, uint64_t *ino)
{
	if (st->next_ino >= st->ino_limit) {
		char v[8];
		put_le64(v, st->next_ino + INO_CHUNK);
		/* Not synced: any inode record made from this chunk is
		 * written after this in LevelDB's log, so it cannot survive
		 * a crash that loses this. */
		leveldb_writebatch_t *b = leveldb_writebatch_create();
		leveldb_writebatch_put(b, meta_next_ino,
				       sizeof(meta_next_ino) - 1, v, 8);
		int r = db_write(st, b, false);
		leveldb_writebatch_destroy(b);
		if (r < 0)
			return r;
		st->ino_limit = st->next_ino + INO_CHUNK;
	}
	*ino = st->next_ino++;
	return 0;
}

int ino_count(struct store *st)
{
	char p[1] = { KEY_INODE };
	uint64_t n = 0;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, 1); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t kl;
		const char *k = leveldb_iter_key(it, &kl);
		if (kl != 9 || k[0] != KEY_INODE)
			break;
		n++;
	}
	char *err = NULL;
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	if (err)
		return store_db_error("count", err);
	st->ninodes = n;
	return 0;
}

void store_inode_added(struct store *st)
{
	st->ninodes++;
}

/* ---- reading records ---- */

/* Get a value: 0 with *val malloc'd (leveldb_free), -ENOENT, or -EIO. */
static int db_get(struct store *st, const char *k, size_t klen, char **val,
		  size_t *len)
{
	char *err = NULL;
	int r = db_ready(st);
	if (r < 0)
		return r;
	*val = leveldb_get(st->db, st->ropts, k, klen, len, &err);
	if (err)
		return store_db_error("get", err);
	return *val ? 0 : -ENOENT;
}

/* ---- the inode cache ----
 * The records read last, direct-mapped by inode number: an open, a
 * getattr or a permission check of a file in use reads no LevelDB.  Every
 * record the store writes goes through a struct store_batch, whose commit
 * makes the cache forget what it touched; a LevelDB reopened after a fault
 * (st->gen) makes it forget everything. */

#define ICACHE_SIZE 4096        /* a power of two */

struct icache_slot {
	uint64_t ino;           /* 0: empty */
	uint64_t gen;           /* st->gen when it was read */
	struct sf_inode in;
};

static struct icache_slot *icache_slot(struct store *st, uint64_t ino)
{
	if (!st->icache)
		st->icache = calloc(ICACHE_SIZE, sizeof(struct icache_slot));
	return st->icache ? &st->icache[ino & (ICACHE_SIZE - 1)] : NULL;
}

void icache_forget(struct store *st, uint64_t ino)
{
	struct icache_slot *s = st->icache
		? &st->icache[ino & (ICACHE_SIZE - 1)] : NULL;
	if (s && s->ino == ino)
		s->ino = 0;
}

void icache_clear(struct store *st)
{
	if (st->icache)
		memset(st->icache, 0, ICACHE_SIZE * sizeof(struct icache_slot));
}

int store_get_inode(struct store *st, uint64_t ino, struct sf_inode *out)
{
	char k[KEY_MAX], *v;
	size_t len;
	struct icache_slot *s = icache_slot(st, ino);
	if (s && s->ino == ino && s->gen == st->gen) {
		*out = s->in;
		return 0;
	}
	int r = db_get(st, k, key_u64(k, KEY_INODE, ino), &v, &len);
	if (r < 0)
		return r;
	r = inode_decode(v, len, ino, out);
	leveldb_free(v);
	if (r == 0 && s) {
		s->ino = ino;
		s->gen = st->gen;
		s->in = *out;
	}
	return r;
}

int store_lookup(struct store *st, uint64_t dir, const char *name,
		 uint64_t *ino)
{
	char k[KEY_MAX], *v;
	size_t len;
	int r = db_get(st, k, key_u64_name(k, KEY_DIRENT, dir, name), &v, &len);
	if (r < 0)
		return r;
	if (len < 8)
		r = -EIO;
	else
		*ino = get_be64(v);
	leveldb_free(v);
	return r;
}

int store_get_symlink(struct store *st, uint64_t ino, char **out)
{
	char k[KEY_MAX], *v;
	size_t len;
	int r = db_get(st, k, key_u64(k, KEY_SYMLINK, ino), &v, &len);
	if (r < 0)
		return r == -ENOENT ? -EIO : r;
	*out = malloc(len + 1);
	if (*out) {
		memcpy(*out, v, len);
		(*out)[len] = 0;
	}
	leveldb_free(v);
	return *out ? 0 : -ENOMEM;
}

int store_get_xattr(struct store *st, uint64_t ino, const char *name,
		    char **val, size_t *len)
{
	char k[KEY_MAX], *v;
	int r = db_get(st, k, key_u64_name(k, KEY_XATTR, ino, name), &v, len);
	if (r < 0)
		return r == -ENOENT ? -ENODATA : r;
	*val = malloc(*len + 1);
	if (*val) {
		memcpy(*val, v, *len);
		(*val)[*len] = 0;
	}
	leveldb_free(v);
	return *val ? 0 : -ENOMEM;
}

/* ---- prefix scans ---- */

/* A listing keeps the last name it returned, so that when LevelDB is
 * reopened under it (heal.c drops every listing's iterator first) it goes
 * on from there with a new iterator. */
struct store_dirit {
	struct store *st;
	struct db_cursor cur;           /* .it NULL until used or after a heal */
	char prefix[9];
	char name[256];                 /* the last name returned */
	size_t nlen;
	bool started;
};

static bool has_prefix(leveldb_iterator_t *it, const char *p, size_t plen)
{
	size_t klen;
	if (!leveldb_iter_valid(it))
		return false;
	const char *k = leveldb_iter_key(it, &klen);
	return klen >= plen && memcmp(k, p, plen) == 0;
}

static int iter_error(leveldb_iterator_t *it)
{
	char *err = NULL;
	leveldb_iter_get_error(it, &err);
	return err ? store_db_error("scan", err) : 0;
}

struct store_dirit *store_dirit_open(struct store *st, uint64_t dir)
{
	struct store_dirit *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->st = st;
	key_u64(d->prefix, KEY_DIRENT, dir);
	db_cursor_add(st, &d->cur);
	return d;
}

/* Position a fresh iterator: at the first entry, or just past the last
 * name returned. */
static int dirit_seek(struct store_dirit *d)
{
	char k[KEY_MAX];
	int r = db_ready(d->st);
	if (r < 0)
		return r;
	d->cur.it = leveldb_create_iterator(d->st->db, d->st->ropts_scan);
	if (!d->started) {
		leveldb_iter_seek(d->cur.it, d->prefix, 9);
		d->started = true;
		return 0;
	}
	memcpy(k, d->prefix, 9);
	memcpy(k + 9, d->name, d->nlen);
	leveldb_iter_seek(d->cur.it, k, 9 + d->nlen);
	size_t klen;
	if (leveldb_iter_valid(d->cur.it) &&
	    (leveldb_iter_key(d->cur.it, &klen), klen == 9 + d->nlen) &&
	    memcmp(leveldb_iter_key(d->cur.it, &klen), k, klen) == 0)
		leveldb_iter_next(d->cur.it);
	return 0;
}

int store_dirit_next(struct store_dirit *d, const char **name, size_t *nlen,
		     uint64_t *ino, uint32_t *dtype)
{
	if (!d->cur.it) {
		int r = dirit_seek(d);
		if (r < 0)
			return r;
	} else {
		leveldb_iter_next(d->cur.it);
	}
	if (!has_prefix(d->cur.it, d->prefix, 9))
		return iter_error(d->cur.it);
	size_t klen, vlen;
	const char *k = leveldb_iter_key(d->cur.it, &klen);
	const char *v = leveldb_iter_value(d->cur.it, &vlen);
	if (vlen < 9 || klen - 9 > 255)
		return -EIO;
	memcpy(d->name, k + 9, klen - 9);
	d->name[klen - 9] = 0;
	d->nlen = klen - 9;
	*name = d->name;
	*nlen = d->nlen;
	*ino = get_be64(v);
	*dtype = (unsigned char)v[8];
	return 1;
}

void store_dirit_close(struct store_dirit *d)
{
	if (!d)
		return;
	db_cursor_remove(d->st, &d->cur);
	free(d);
}

int store_dir_is_empty(struct store *st, uint64_t dir)
{
	struct store_dirit *d = store_dirit_open(st, dir);
	const char *n;
	size_t nl;
	uint64_t ino;
	uint32_t t;
	if (!d)
		return -ENOMEM;
	int r = store_dirit_next(d, &n, &nl, &ino, &t);
	store_dirit_close(d);
	return r < 0 ? r : !r;
}

int store_list_xattr(struct store *st, uint64_t ino,
		     int (*fn)(const char *name, size_t len, void *arg),
		     void *arg)
{
	char p[9];
	int r = db_ready(st);
	if (r < 0)
		return r;
	key_u64(p, KEY_XATTR, ino);
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, 9); r == 0 && has_prefix(it, p, 9);
	     leveldb_iter_next(it)) {
		size_t klen;
		const char *k = leveldb_iter_key(it, &klen);
		r = fn(k + 9, klen - 9, arg);
	}
	if (r == 0)
		r = iter_error(it);
	leveldb_iter_destroy(it);
	return r;
}

/* Delete every key that starts with prefix, in chunks. */
/* Delete every key that starts with prefix, in chunks.  The keys are
 * gathered first and written after the iterator is gone, so that a
 * write that has to heal (reopen LevelDB) holds no iterator. */
/* Delete every key with prefix p, 8192 per write.  With index, the keys
 * are a topic's index entries: the bytes they leave dead in the segments
 * are counted (segtab.c). */
static int delete_prefix(struct store *st, const char *p, size_t plen,
			 bool index)
{
	int r = 0;
	while (r == 0) {
		r = db_ready(st);
		if (r < 0)
			break;
		leveldb_iterator_t *it = leveldb_create_iterator(st->db,
								 st->ropts_scan);
		leveldb_writebatch_t *b = leveldb_writebatch_create();
		struct dead_list dl = { 0 };
		int n = 0;
		for (leveldb_iter_seek(it, p, plen);
		     n < 8192 && has_prefix(it, p, plen);
		     leveldb_iter_next(it)) {
			size_t klen, vlen;
			struct idx_entry e;
			const char *k = leveldb_iter_key(it, &klen);
			const char *v = leveldb_iter_value(it, &vlen);
			leveldb_writebatch_delete(b, k, klen);
			if (index && idx_decode(k, klen, v, vlen, &e) == 0)
				dead_add(&dl, e.seg_stream, e.seg_seq,
					 REC_HDR + idx_rec_len(&e));
			n++;
		}
		r = iter_error(it);
		leveldb_iter_destroy(it);
		dead_put(st, &dl, b);
		if (r == 0 && n > 0)
			r = db_write(st, b, false);
		if (r == 0)
			dead_commit(st, &dl);
		leveldb_writebatch_destroy(b);
		if (n < 8192)
			break;
	}
	return r;
}

int store_purge_inode(struct store *st, uint64_t ino)
{
	char k[KEY_MAX];
	/* Waiting index entries written after the deletes would bring them
	 * back. */
	int r = index_flush(st, false);
	if (r == 0)
		r = delete_prefix(st, k, key_u64(k, KEY_XATTR, ino), false);
	if (r == 0)
		r = delete_prefix(st, k, key_u64(k, KEY_INDEX, ino), true);
	if (r == 0)     /* consumer group cursors (cursor.c) */
		r = delete_prefix(st, k, key_u64(k, KEY_CURSOR, ino), false);
	if (r == 0)     /* ... and their removals */
		r = delete_prefix(st, k, key_u64(k, KEY_CURSOR_GONE, ino),
				  false);
	if (r == 0)     /* Kafka producers' states (kproducer.c) */
		r = delete_prefix(st, k, key_u64(k, KEY_KPRODUCER, ino),
				  false);
	if (r == 0)     /* replication links of a stream (link.c) */
		r = link_purge_stream(st, ino);
	if (r == 0)     /* ... and the streams it receives (feed.c) */
		r = delete_prefix(st, k, key_u64(k, KEY_FEED, ino), false);
	if (r < 0)
		return r;
	store_blob_unlink(st, ino);
	struct store_batch *b = store_batch_new();
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_HOME, ino));
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_HANDOVER, ino));
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_BIRTH, ino));
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_SYMLINK, ino));
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_HEAD, ino));
	store_del_orphan(b, ino);
	store_del_inode(b, ino);
	r = store_commit(st, b, false);
	store_batch_free(b);
	if (r == 0 && st->ninodes > 0)
		st->ninodes--;
	return r;
}

/* ---- batches: LevelDB's, and the inode records they change ---- */


struct store_batch *store_batch_new(void)
{
	struct store_batch *b = calloc(1, sizeof(*b));
	if (b && !(b->wb = leveldb_writebatch_create())) {
		free(b);
		b = NULL;
	}
	return b;
}

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	leveldb_writebatch_destroy(b->wb);
	free(b);
}

static void batch_note_inode(struct store_batch *b, uint64_t ino)
{
	if (b->ninos < BATCH_INODES)
		b->inos[b->ninos++] = ino;
	else
		b->many = true;
}

void store_put_inode(struct store_batch *b, const struct sf_inode *in)
{
	char k[KEY_MAX], v[INODE_REC_SIZE];
	inode_encode(v, in);
	leveldb_writebatch_put(WB(b), k, key_u64(k, KEY_INODE, in->ino), v,
			       sizeof(v));
	batch_note_inode(b, in->ino);
}

void store_del_inode(struct store_batch *b, uint64_t ino)
{
	char k[KEY_MAX];
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_INODE, ino));
	batch_note_inode(b, ino);
}

void store_put_dirent(struct store_batch *b, uint64_t dir, const char *name,
		      uint64_t ino, uint32_t dtype)
{
	char k[KEY_MAX], v[9];
	put_be64(v, ino);
	v[8] = (char)dtype;
	leveldb_writebatch_put(WB(b), k, key_u64_name(k, KEY_DIRENT, dir, name),
			       v, sizeof(v));
}

void store_del_dirent(struct store_batch *b, uint64_t dir, const char *name)
{
	char k[KEY_MAX];
	leveldb_writebatch_delete(WB(b), k,
				  key_u64_name(k, KEY_DIRENT, dir, name));
}

void store_put_xattr(struct store_batch *b, uint64_t ino, const char *name,
		     const void *val, size_t len)
{
	char k[KEY_MAX];
	leveldb_writebatch_put(WB(b), k, key_u64_name(k, KEY_XATTR, ino, name),
			       val, len);
}

void store_del_xattr(struct store_batch *b, uint64_t ino, const char *name)
{
	char k[KEY_MAX];
	leveldb_writebatch_delete(WB(b), k,
				  key_u64_name(k, KEY_XATTR, ino, name));
}

void store_put_symlink(struct store_batch *b, uint64_t ino, const char *target)
{
	char k[KEY_MAX];
	leveldb_writebatch_put(WB(b), k, key_u64(k, KEY_SYMLINK, ino), target,
			       strlen(target));
}

void store_put_orphan(struct store_batch *b, uint64_t ino)
{
	char k[KEY_MAX];
	leveldb_writebatch_put(WB(b), k, key_u64(k, KEY_ORPHAN, ino), "", 0);
}

void store_del_orphan(struct store_batch *b, uint64_t ino)
{
	char k[KEY_MAX];
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_ORPHAN, ino));
}

int store_commit(struct store *st, struct store_batch *b, bool sync)
{
	int r = db_write(st, WB(b), sync);
	/* Written or not (a failed write may still be replayed by a heal),
	 * the cache forgets what the batch touched. */
	if (b->many)
		icache_clear(st);
	for (unsigned i = 0; !b->many && i < b->ninos; i++)
		icache_forget(st, b->inos[i]);
	return r;
}
