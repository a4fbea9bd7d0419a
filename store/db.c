/* db.c - the LevelDB side of the store: opening and closing the data
 * folder, inode numbers, namespace records (inodes, directory entries,
 * attributes, symlinks, orphans), atomic batches of them, and db_write(),
 * through which every write to LevelDB after recovery goes, so that a
 * failed one is healed (heal.c) instead of stopping the store. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

#define INO_CHUNK 4096           /* numbers reserved per meta write */

static const char meta_next_ino[] = "Mnext_ino";

int64_t store_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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
	fprintf(stderr, "streamfs: error: leveldb %s: %s\n", what,
		err ? err : "?");
	leveldb_free(err);
	return -e;
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

static int open_subdir(const char *datadir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void db_options_init(struct store *st)
{
	st->opts = leveldb_options_create();
	st->cache = leveldb_cache_create_lru(32 << 20);
	st->filter = leveldb_filterpolicy_create_bloom(10);
	leveldb_options_set_create_if_missing(st->opts, 1);
	leveldb_options_set_cache(st->opts, st->cache);
	leveldb_options_set_filter_policy(st->opts, st->filter);
	leveldb_options_set_write_buffer_size(st->opts, DB_WRITE_BUFFER);
	leveldb_options_set_max_open_files(st->opts, 500);
}

int heal_open_db(struct store *st, char *msg, size_t msglen)
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

static int load_next_ino(struct store *st)
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

static int make_root(struct store *st)
{
	struct sf_inode in;
	if (store_get_inode(st, 1, &in) == 0)
		return 0;
	memset(&in, 0, sizeof(in));
	in.ino = 1;
	in.mode = S_IFDIR | 0755;
	in.uid = getuid();
	in.gid = getgid();
	in.nlink = 2;
	clock_gettime(CLOCK_REALTIME, &in.mtime);
	in.atime = in.ctime = in.mtime;
	struct store_batch *b = store_batch_new();
	store_put_inode(b, &in);
	int r = store_commit(st, b, true);
	store_batch_free(b);
	return r;
}

int store_open(const char *datadir, uint64_t reserve, struct store **out,
	       char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->datadir = strdup(datadir);
	st->reserve = reserve;
	st->segdirfd = st->blobdirfd = -1;
	int r = -ENOMEM;
	if (!st->datadir)
		goto fail;
	if (mkdir(datadir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", datadir,
			 strerror(errno));
		goto fail;
	}
	st->ropts = leveldb_readoptions_create();
	st->ropts_scan = leveldb_readoptions_create();
	leveldb_readoptions_set_fill_cache(st->ropts_scan, 0);
	st->wopts = leveldb_writeoptions_create();
	st->wopts_sync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(st->wopts_sync, 1);
	db_options_init(st);
	space_init(st);
	r = heal_open_db(st, err, errlen);
	if (r < 0)
		goto fail;
	st->segdirfd = open_subdir(datadir, "segments");
	st->blobdirfd = open_subdir(datadir, "blobs");
	if (st->segdirfd < 0 || st->blobdirfd < 0) {
		r = st->segdirfd < 0 ? st->segdirfd : st->blobdirfd;
		snprintf(err, errlen, "cannot open folders in %s: %s",
			 datadir, strerror(-r));
		goto fail;
	}
	r = load_next_ino(st);
	if (r == 0)
		r = make_root(st);
	if (r == 0)
		r = store_recover(st, err, errlen);
	else
		snprintf(err, errlen, "cannot read the store in %s", datadir);
	if (r < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	store_close(st);
	return r;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->db && store_sync(st) < 0)
		fprintf(stderr, "streamfs: error: the last sync failed; the "
			"next mount's recovery indexes what the index lacks\n");
	seg_close_all(st);
	index_batch_free(st);
	if (st->db)
		leveldb_close(st->db);
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
	if (st->segdirfd >= 0)
		close(st->segdirfd);
	if (st->blobdirfd >= 0)
		close(st->blobdirfd);
	space_close(st);
	free(st->wtab);
	free(st->rtab);
	free(st->datadir);
	free(st);
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

int store_get_inode(struct store *st, uint64_t ino, struct sf_inode *out)
{
	char k[KEY_MAX], *v;
	size_t len;
	int r = db_get(st, k, key_u64(k, KEY_INODE, ino), &v, &len);
	if (r < 0)
		return r;
	r = inode_decode(v, len, ino, out);
	leveldb_free(v);
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
	leveldb_iterator_t *it;         /* NULL until used or after a heal */
	char prefix[9];
	char name[256];                 /* the last name returned */
	size_t nlen;
	bool started;
	struct store_dirit *prev, *next;        /* st->dirits */
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
	d->next = st->dirits;
	if (st->dirits)
		st->dirits->prev = d;
	st->dirits = d;
	return d;
}

void store_dirits_drop_iterators(struct store *st)
{
	for (struct store_dirit *d = st->dirits; d; d = d->next) {
		if (d->it)
			leveldb_iter_destroy(d->it);
		d->it = NULL;
	}
}

/* Position a fresh iterator: at the first entry, or just past the last
 * name returned. */
static int dirit_seek(struct store_dirit *d)
{
	char k[KEY_MAX];
	int r = db_ready(d->st);
	if (r < 0)
		return r;
	d->it = leveldb_create_iterator(d->st->db, d->st->ropts_scan);
	if (!d->started) {
		leveldb_iter_seek(d->it, d->prefix, 9);
		d->started = true;
		return 0;
	}
	memcpy(k, d->prefix, 9);
	memcpy(k + 9, d->name, d->nlen);
	leveldb_iter_seek(d->it, k, 9 + d->nlen);
	size_t klen;
	if (leveldb_iter_valid(d->it) &&
	    (leveldb_iter_key(d->it, &klen), klen == 9 + d->nlen) &&
	    memcmp(leveldb_iter_key(d->it, &klen), k, klen) == 0)
		leveldb_iter_next(d->it);
	return 0;
}

int store_dirit_next(struct store_dirit *d, const char **name, size_t *nlen,
		     uint64_t *ino, uint32_t *dtype)
{
	if (!d->it) {
		int r = dirit_seek(d);
		if (r < 0)
			return r;
	} else {
		leveldb_iter_next(d->it);
	}
	if (!has_prefix(d->it, d->prefix, 9))
		return iter_error(d->it);
	size_t klen, vlen;
	const char *k = leveldb_iter_key(d->it, &klen);
	const char *v = leveldb_iter_value(d->it, &vlen);
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
	if (d->it)
		leveldb_iter_destroy(d->it);
	if (d->prev)
		d->prev->next = d->next;
	else
		d->st->dirits = d->next;
	if (d->next)
		d->next->prev = d->prev;
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
static int delete_prefix(struct store *st, const char *p, size_t plen)
{
	int r = 0;
	while (r == 0) {
		r = db_ready(st);
		if (r < 0)
			break;
		leveldb_iterator_t *it = leveldb_create_iterator(st->db,
								 st->ropts_scan);
		leveldb_writebatch_t *b = leveldb_writebatch_create();
		int n = 0;
		for (leveldb_iter_seek(it, p, plen);
		     n < 8192 && has_prefix(it, p, plen);
		     leveldb_iter_next(it)) {
			size_t klen;
			const char *k = leveldb_iter_key(it, &klen);
			leveldb_writebatch_delete(b, k, klen);
			n++;
		}
		r = iter_error(it);
		leveldb_iter_destroy(it);
		if (r == 0 && n > 0)
			r = db_write(st, b, false);
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
		r = delete_prefix(st, k, key_u64(k, KEY_XATTR, ino));
	if (r == 0)
		r = delete_prefix(st, k, key_u64(k, KEY_INDEX, ino));
	if (r < 0)
		return r;
	store_blob_unlink(st, ino);
	struct store_batch *b = store_batch_new();
	leveldb_writebatch_delete((leveldb_writebatch_t *)b, k,
				  key_u64(k, KEY_SYMLINK, ino));
	store_del_orphan(b, ino);
	store_del_inode(b, ino);
	r = store_commit(st, b, false);
	store_batch_free(b);
	return r;
}

/* ---- batches: a struct store_batch is a leveldb_writebatch_t ---- */

struct store_batch *store_batch_new(void)
{
	return (struct store_batch *)leveldb_writebatch_create();
}

void store_batch_free(struct store_batch *b)
{
	leveldb_writebatch_destroy((leveldb_writebatch_t *)b);
}

#define WB(b) ((leveldb_writebatch_t *)(b))

void store_put_inode(struct store_batch *b, const struct sf_inode *in)
{
	char k[KEY_MAX], v[INODE_REC_SIZE];
	inode_encode(v, in);
	leveldb_writebatch_put(WB(b), k, key_u64(k, KEY_INODE, in->ino), v,
			       sizeof(v));
}

void store_del_inode(struct store_batch *b, uint64_t ino)
{
	char k[KEY_MAX];
	leveldb_writebatch_delete(WB(b), k, key_u64(k, KEY_INODE, ino));
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
	return db_write(st, WB(b), sync);
}
