/* segtab.c - the segment table: every segment of every stream with its
 * size (once sealed) and an estimate of its dead bytes, and each stream's
 * ttl.
 *
 * A record is dead when no index entry points at it any more: its
 * messages expired, its topic was deleted, or compaction copied it
 * forward.  Each operation that makes records dead counts them in a
 * dead_list, puts the new totals (G keys) into its LevelDB batch, and
 * hands them to the table once the batch is written, so the table never
 * runs ahead of LevelDB.  The counts are estimates (a crash can leave
 * records dead that nobody counted): they only choose which segments
 * compaction reads, and compaction checks every record itself.
 *
 * The table is built at open from the segment folders, the S keys (which
 * segment of a stream is active; segtab_each_stream walks them for every
 * file of the store that needs to) and the G keys. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SEG_BUCKETS 1024        /* a power of two */

struct seg_info {
	uint64_t stream, seq;
	uint64_t size;          /* bytes, once sealed; 0 while active */
	uint64_t dead;          /* estimate of bytes no entry points at */
	bool sealed;
	struct seg_info *next;
};

struct ttl_info {
	uint64_t stream, ttl_s;
	struct ttl_info *next;
};

#define SEEN_MAX 64

struct segtab {
	struct seg_info *seg[SEG_BUCKETS];
	struct ttl_info *ttl[SEG_BUCKETS];
	uint64_t seen[SEEN_MAX];        /* streams whose ttl to look up */
	unsigned nseen;
};

static size_t hash2(uint64_t a, uint64_t b)
{
	uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
	return (size_t)(h >> 40) & (SEG_BUCKETS - 1);
}

static struct segtab *tab(struct store *st)
{
	if (!st->segtab)
		st->segtab = calloc(1, sizeof(*st->segtab));
	return st->segtab;
}

static struct seg_info *seg_find(struct store *st, uint64_t stream,
				 uint64_t seq, bool add)
{
	struct segtab *t = tab(st);
	if (!t)
		return NULL;
	struct seg_info **pp = &t->seg[hash2(stream, seq)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->stream == stream && (*pp)->seq == seq)
			return *pp;
	if (!add)
		return NULL;
	struct seg_info *s = calloc(1, sizeof(*s));
	if (s) {
		s->stream = stream;
		s->seq = seq;
		*pp = s;
	}
	return s;
}

/* ---- dead bytes ---- */

void dead_add(struct dead_list *dl, uint64_t stream, uint64_t seq,
	      uint64_t bytes)
{
	for (unsigned i = 0; i < dl->n; i++) {
		if (dl->d[i].stream == stream && dl->d[i].seq == seq) {
			dl->d[i].bytes += bytes;
			return;
		}
	}
	if (dl->n == DEAD_MAX) {
		dl->overflow = true;    /* an estimate: compaction checks */
		return;
	}
	dl->d[dl->n].stream = stream;
	dl->d[dl->n].seq = seq;
	dl->d[dl->n].bytes = bytes;
	dl->n++;
}

void dead_put(struct store *st, const struct dead_list *dl,
	      leveldb_writebatch_t *b)
{
	for (unsigned i = 0; i < dl->n; i++) {
		char k[KEY_MAX], v[8];
		uint64_t stream = dl->d[i].stream, seq = dl->d[i].seq;
		put_le64(v, segtab_dead(st, stream, seq) + dl->d[i].bytes);
		leveldb_writebatch_put(b, k, key_u64_u64(k, KEY_SEGDEAD,
							 stream, seq),
				       v, sizeof(v));
	}
}

void dead_commit(struct store *st, const struct dead_list *dl)
{
	for (unsigned i = 0; i < dl->n; i++) {
		struct seg_info *s = seg_find(st, dl->d[i].stream,
					      dl->d[i].seq, true);
		if (s)
			s->dead += dl->d[i].bytes;
	}
}

uint64_t segtab_dead(struct store *st, uint64_t stream, uint64_t seq)
{
	struct seg_info *s = seg_find(st, stream, seq, false);
	return s ? s->dead : 0;
}

/* ---- segments ---- */

void segtab_sealed(struct store *st, uint64_t stream, uint64_t seq,
		   uint64_t size)
{
	struct seg_info *s = seg_find(st, stream, seq, true);
	if (s) {
		s->size = size;
		s->sealed = true;
	}
}

void segtab_removed(struct store *st, uint64_t stream, uint64_t seq)
{
	struct segtab *t = tab(st);
	if (!t)
		return;
	struct seg_info **pp = &t->seg[hash2(stream, seq)];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->stream == stream && (*pp)->seq == seq) {
			struct seg_info *s = *pp;
			*pp = s->next;
			free(s);
			return;
		}
	}
}

int segtab_worst(struct store *st,
		 bool (*skip)(struct store *, uint64_t stream, uint64_t seq),
		 uint64_t *stream, uint64_t *seq)
{
	struct segtab *t = tab(st);
	double best = 2.0 / 3.0;
	int found = 0;
	for (size_t i = 0; t && i < SEG_BUCKETS; i++) {
		for (struct seg_info *s = t->seg[i]; s; s = s->next) {
			if (!s->sealed)
				continue;
			uint64_t dead = s->dead < s->size ? s->dead : s->size;
			double live = s->size ? (double)(s->size - dead) /
						(double)s->size : 0.0;
			if (live < best &&
			    !(skip && skip(st, s->stream, s->seq))) {
				best = live;
				*stream = s->stream;
				*seq = s->seq;
				found = 1;
			}
		}
	}
	return found;
}

/* ---- ttl by stream ---- */

void segtab_seen(struct store *st, uint64_t stream)
{
	struct segtab *t = tab(st);
	if (!t)
		return;
	for (unsigned i = 0; i < t->nseen; i++)
		if (t->seen[i] == stream)
			return;
	if (t->nseen < SEEN_MAX)
		t->seen[t->nseen++] = stream;
}

int segtab_take_seen(struct store *st, uint64_t *stream)
{
	struct segtab *t = st->segtab;
	if (!t || t->nseen == 0)
		return 0;
	*stream = t->seen[--t->nseen];
	return 1;
}

uint64_t segtab_ttl(struct store *st, uint64_t stream)
{
	struct segtab *t = st->segtab;
	for (struct ttl_info *i = t ? t->ttl[hash2(stream, 0)] : NULL; i;
	     i = i->next)
		if (i->stream == stream)
			return i->ttl_s;
	return 0;
}

void segtab_set_ttl(struct store *st, uint64_t stream, uint64_t ttl_s)
{
	struct segtab *t = tab(st);
	if (!t)
		return;
	struct ttl_info **pp = &t->ttl[hash2(stream, 0)];
	while (*pp && (*pp)->stream != stream)
		pp = &(*pp)->next;
	if (*pp && ttl_s == 0) {
		struct ttl_info *i = *pp;
		*pp = i->next;
		free(i);
	} else if (*pp) {
		(*pp)->ttl_s = ttl_s;
	} else if (ttl_s) {
		struct ttl_info *i = calloc(1, sizeof(*i));
		if (i) {
			i->stream = stream;
			i->ttl_s = ttl_s;
			*pp = i;
		}
	}
}

int segtab_each_ttl(struct store *st,
		    int (*fn)(struct store *, uint64_t stream, uint64_t ttl,
			      void *), void *arg)
{
	struct segtab *t = st->segtab;
	for (size_t b = 0; t && b < SEG_BUCKETS; b++)
		for (struct ttl_info *i = t->ttl[b]; i; i = i->next) {
			int r = fn(st, i->stream, i->ttl_s, arg);
			if (r)
				return r;
		}
	return 0;
}

/* ---- loading ---- */

/* The segment files of one stream's folder. */
static int load_stream(struct store *st, uint64_t stream, uint64_t active)
{
	char dir[32];
	snprintf(dir, sizeof(dir), "%016llx", (unsigned long long)stream);
	int dfd = openat(st->segdirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d)) != NULL) {
		char *end;
		struct stat sb;
		uint64_t seq = strtoull(de->d_name, &end, 16);
		if (*end || end == de->d_name || seq >= active)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) < 0)
			continue;
		struct seg_info *s = seg_find(st, stream, seq, true);
		if (!s) {
			r = -ENOMEM;
			break;
		}
		s->size = (uint64_t)sb.st_size;
		s->sealed = true;
	}
	closedir(d);
	return r;
}

struct stream_walk {
	struct store *st;
	int (*fn)(struct store *, uint64_t stream, struct seg_state *, void *);
	void *arg;
};

static int stream_one(const char *k, size_t klen, const char *v, size_t vlen,
		      void *arg)
{
	struct stream_walk *w = arg;
	struct seg_state s;
	if (klen != 9)
		return -EIO;            /* no key this store writes */
	int r = segstate_decode(v, vlen, &s);
	return r < 0 ? r : w->fn(w->st, get_be64(k + 1), &s, w->arg);
}

int segtab_each_stream(struct store *st,
		       int (*fn)(struct store *, uint64_t stream,
				 struct seg_state *, void *), void *arg)
{
	struct stream_walk w = { st, fn, arg };
	return db_each_kind(st, KEY_SEGSTATE, stream_one, &w,
			    "segment state scan");
}

int segtab_add_stream(struct store *st, uint64_t stream,
		      const struct seg_state *s)
{
	return tab(st) ? load_stream(st, stream, s->seq) : -ENOMEM;
}

int segtab_load_dead(struct store *st)
{
	char p[1] = { KEY_SEGDEAD };
	int r = db_ready(st);
	if (r < 0)
		return r;
	leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
	for (leveldb_iter_seek(it, p, 1); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t kl, vl;
		const char *k = leveldb_iter_key(it, &kl);
		const char *v = leveldb_iter_value(it, &vl);
		if (kl != 17 || k[0] != KEY_SEGDEAD)
			break;
		struct seg_info *s = vl == 8 ? seg_find(st, get_be64(k + 1),
						       get_be64(k + 9), true)
					     : NULL;
		if (s)
			s->dead = get_le64(v);
	}
	leveldb_iter_destroy(it);
	return 0;
}

void segtab_free(struct store *st)
{
	struct segtab *t = st->segtab;
	if (!t)
		return;
	for (size_t b = 0; b < SEG_BUCKETS; b++) {
		while (t->seg[b]) {
			struct seg_info *s = t->seg[b];
			t->seg[b] = s->next;
			free(s);
		}
		while (t->ttl[b]) {
			struct ttl_info *i = t->ttl[b];
			t->ttl[b] = i->next;
			free(i);
		}
	}
	free(t);
	st->segtab = NULL;
}
