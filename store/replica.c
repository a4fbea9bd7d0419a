/* replica.c - the store side of replication: this data folder's replica
 * id (Mreplica_id), each topic's home (R topic) and birth (B topic),
 * the hand-over of a home asked here and not yet done (V topic),
 * reading a topic's records whole for a link to send, and storing
 * records another replica sent with the offsets, arrival time and
 * trailer they were given at the topic's home.
 *
 * Offsets are the same in every replica and a topic has one writer (its
 * home), so a replicated record is stored exactly when it starts at the
 * topic's end: the end is the high-water mark of what this replica holds
 * of the topic, moved by the append itself and rebuilt by recovery from
 * the segments, with no key of its own that a crash could lose apart
 * from the record (docs/design.md, "Replication"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

static const char meta_replica_id[] = "Mreplica_id";

/* ---- the replica id ---- */

static int make_id(uint64_t *id)
{
	do {
		if (getrandom(id, sizeof(*id), 0) != sizeof(*id))
			return -errno;
	} while (*id == 0);
	return 0;
}

int replica_id_load(struct store *st)
{
	char *err = NULL, v[8];
	size_t len;
	int r = db_ready(st);
	if (r < 0)
		return r;
	char *old = leveldb_get(st->db, st->ropts, meta_replica_id,
				sizeof(meta_replica_id) - 1, &len, &err);
	if (err)
		return store_db_error("get", err);
	uint64_t id = old && len == 8 ? get_le64(old) : 0;
	leveldb_free(old);
	if (id == 0) {
		r = make_id(&id);
		if (r == 0)
			r = store_writable(st);
		if (r < 0)
			return r;
		put_le64(v, id);
		leveldb_writebatch_t *b = leveldb_writebatch_create();
		leveldb_writebatch_put(b, meta_replica_id,
				       sizeof(meta_replica_id) - 1, v, 8);
		r = db_write(st, b, true);
		leveldb_writebatch_destroy(b);
		if (r < 0)
			return r;
	}
	st->replica_id = id;
	return 0;
}

int store_replica_id(struct store *st, uint64_t *id)
{
	int r = st->replica_id ? 0 : replica_id_load(st);
	if (r == 0)
		*id = st->replica_id;
	return r;
}

/* ---- homes ---- */

int store_topic_home(struct store *st, uint64_t ino, uint64_t *home)
{
	char k[KEY_MAX];
	int r = db_get_u64(st, k, key_u64(k, KEY_HOME, ino), home);
	return r == -ENOENT ? store_replica_id(st, home) : r;
}

int store_topic_set_home(struct store *st, uint64_t ino, uint64_t home)
{
	char k[KEY_MAX], v[8];
	if (home == 0)
		return -EINVAL;
	put_le64(v, home);
	return db_put_one(st, k, key_u64(k, KEY_HOME, ino), v, 8, true);
}

/* ---- hand-overs of homes asked here ---- */

#define HANDOVER_VERSION 1
#define HANDOVER_HEAD 36        /* version(1) handed(1) stream(8) home(8)
				 * end(8) next(8) name length(2) */

static size_t handover_encode(char *v, const struct sf_handover *h)
{
	size_t n = strlen(h->name);
	v[0] = HANDOVER_VERSION;
	v[1] = h->handed ? 1 : 0;
	put_le64(v + 2, h->stream);
	put_le64(v + 10, h->home);
	put_le64(v + 18, h->handed ? h->end : 0);
	put_le64(v + 26, h->handed ? h->next : 0);
	v[34] = (char)(n & 0xff);
	v[35] = (char)(n >> 8);
	memcpy(v + HANDOVER_HEAD, h->name, n);
	return HANDOVER_HEAD + n;
}

static int handover_decode(const char *k, size_t klen, const char *v,
			   size_t vlen, struct sf_handover *h)
{
	memset(h, 0, sizeof(*h));
	if (klen != 9 || vlen < HANDOVER_HEAD || v[0] != HANDOVER_VERSION ||
	    (v[1] != 0 && v[1] != 1))
		return -EIO;
	size_t n = (unsigned char)v[34] | ((size_t)(unsigned char)v[35] << 8);
	if (n == 0 || n > SF_HANDOVER_NAME_MAX || HANDOVER_HEAD + n != vlen)
		return -EIO;
	h->ino = get_be64(k + 1);
	h->handed = v[1] == 1;
	h->stream = get_le64(v + 2);
	h->home = get_le64(v + 10);
	h->end = get_le64(v + 18);
	h->next = get_le64(v + 26);
	memcpy(h->name, v + HANDOVER_HEAD, n);
	return 0;
}

int store_handover_put(struct store *st, const struct sf_handover *h)
{
	char k[KEY_MAX], v[HANDOVER_HEAD + SF_HANDOVER_NAME_MAX];
	size_t n = strnlen(h->name, sizeof(h->name));
	if (n == 0 || n == sizeof(h->name) || h->home == 0 || h->stream == 0)
		return -EINVAL;
	int r = store_writable(st);
	if (r < 0)
		return r;
	size_t vl = handover_encode(v, h);
	return db_put_one(st, k, key_u64(k, KEY_HANDOVER, h->ino), v, vl,
			  true);
}

int store_handover_del(struct store *st, uint64_t ino)
{
	char k[KEY_MAX];
	int r = store_writable(st);
	return r < 0 ? r : db_put_one(st, k, key_u64(k, KEY_HANDOVER, ino),
				      NULL, 0, true);
}

struct handover_walk {
	int (*fn)(const struct sf_handover *h, void *arg);
	void *arg;
};

static int handover_one(const char *k, size_t klen, const char *v,
			size_t vlen, void *arg)
{
	struct handover_walk *w = arg;
	struct sf_handover h;
	int r = handover_decode(k, klen, v, vlen, &h);
	return r ? r : w->fn(&h, w->arg);
}

int store_handover_list(struct store *st,
			int (*fn)(const struct sf_handover *h, void *arg),
			void *arg)
{
	struct handover_walk w = { fn, arg };
	return db_each_kind(st, KEY_HANDOVER, handover_one, &w,
			    "hand-over scan");
}

/* ---- births ---- */

#define BIRTH_SIZE 16

int sf_birth_cmp(const struct sf_birth *a, const struct sf_birth *b)
{
	if (a->ns != b->ns)
		return a->ns < b->ns ? -1 : 1;
	if (a->replica != b->replica)
		return a->replica < b->replica ? -1 : 1;
	return 0;
}

static void birth_encode(char *v, const struct sf_birth *b)
{
	put_le64(v, b->replica);
	put_le64(v + 8, (uint64_t)b->ns);
}

/* The kept birth of ino: 0, 1 none kept, -errno. */
static int birth_get(struct store *st, uint64_t ino, struct sf_birth *b)
{
	char k[KEY_MAX], v[BIRTH_SIZE];
	int r = db_get_fixed(st, k, key_u64(k, KEY_BIRTH, ino), v, sizeof v);
	if (r == 0)
		*b = (struct sf_birth){ get_le64(v), (int64_t)get_le64(v + 8) };
	return r == -ENOENT ? 1 : r;
}

int store_topic_birth(struct store *st, uint64_t ino, struct sf_birth *b)
{
	struct sf_inode in;
	int r = birth_get(st, ino, b);
	if (r != 1)
		return r;
	/* A topic from before births: its home and its ctime now. */
	int e = store_topic_home(st, ino, &b->replica);
	if (e == 0)
		e = store_get_inode(st, ino, &in);
	if (e < 0)
		return e;
	b->ns = (int64_t)in.ctime.tv_sec * 1000000000LL + in.ctime.tv_nsec;
	return 1;
}

/* Write the R (unless home is 0) and B keys of ino, synced. */
static int origin_write(struct store *st, uint64_t ino, uint64_t home,
			const struct sf_birth *b)
{
	char k[KEY_MAX], v[BIRTH_SIZE];
	if (b->replica == 0)
		return -EINVAL;
	leveldb_writebatch_t *wb = leveldb_writebatch_create();
	if (home) {
		put_le64(v, home);
		leveldb_writebatch_put(wb, k, key_u64(k, KEY_HOME, ino), v, 8);
	}
	birth_encode(v, b);
	leveldb_writebatch_put(wb, k, key_u64(k, KEY_BIRTH, ino), v,
			       BIRTH_SIZE);
	int r = db_write(st, wb, true);
	leveldb_writebatch_destroy(wb);
	return r;
}

int store_topic_set_birth(struct store *st, uint64_t ino,
			  const struct sf_birth *b)
{
	return origin_write(st, ino, 0, b);
}

int store_topic_set_origin(struct store *st, uint64_t ino, uint64_t home,
			   const struct sf_birth *b)
{
	return home == 0 ? -EINVAL : origin_write(st, ino, home, b);
}

int store_put_birth_new(struct store *st, struct store_batch *bt,
			uint64_t ino)
{
	char k[KEY_MAX], v[BIRTH_SIZE];
	struct sf_birth b;
	struct timespec now;
	int r = birth_get(st, ino, &b);
	if (r <= 0)
		return r;               /* kept already, or an error */
	r = store_replica_id(st, &b.replica);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &now);
	b.ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
	birth_encode(v, &b);
	leveldb_writebatch_put(batch_leveldb(bt), k,
			       key_u64(k, KEY_BIRTH, ino), v, BIRTH_SIZE);
	return 0;
}

/* ---- reading records whole ---- */

static int rr_reserve(struct sf_rread *out, size_t n)
{
	if (n <= out->cap)
		return 0;
	struct sf_rrecord *nr = realloc(out->r, n * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	out->r = nr;
	out->cap = n;
	return 0;
}

int store_topic_raw_read(struct store *st, uint64_t ino,
			 const struct sf_topic *t, uint64_t off,
			 size_t max_bytes, struct sf_rread *out)
{
	out->n = 0;
	if (off < t->start || off > t->size)
		return -EINVAL;
	if (off == t->size)
		return 0;
	uint64_t end = t->size - off > max_bytes ? off + max_bytes : t->size;
	if (end <= off)
		end = off + 1;
	free(out->ents);
	out->ents = NULL;
	size_t n = 0, pos = 0;
	int r = topic_read_whole(st, ino, off, end, &out->ents, &n, &out->rb);
	if (r == 0 && (n == 0 || out->ents[0].off != off))
		r = n == 0 ? -EIO : -EINVAL;    /* no record starts at off */
	if (r == 0)
		r = rr_reserve(out, n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct idx_entry *e = &out->ents[i];
		out->r[i] = (struct sf_rrecord){
			.off = e->off, .msg = e->msg, .ns = e->ns,
			.nmsgs = e->nmsgs, .len = e->len,
			.trailer_len = e->meta,
			.bytes = out->rb.buf + pos + REC_HDR,
		};
		pos += REC_HDR + idx_rec_len(e);
	}
	out->n = r == 0 ? n : 0;
	return r;
}

void store_rread_free(struct sf_rread *r)
{
	free(r->r);
	free(r->ents);
	store_readbuf_free(&r->rb);
	memset(r, 0, sizeof(*r));
}

/* ---- storing replicated records ---- */

/* A record of several messages is lines: nmsgs newlines, the last byte
 * one of them.  0 or -EINVAL. */
static int check_lines(const struct sf_rrecord *r)
{
	const char *p = r->bytes, *end = p + r->len;
	uint32_t lines = 0;
	if (r->nmsgs <= 1)
		return 0;
	if (end[-1] != '\n')
		return -EINVAL;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	return lines == r->nmsgs ? 0 : -EINVAL;
}

static int check_record(const struct sf_topic *t, const struct sf_rrecord *r)
{
	if (!r->bytes || r->len == 0 || r->nmsgs == 0 ||
	    r->nmsgs > REC_NMSGS_MAX || r->ns <= 0 ||
	    (uint64_t)r->len + r->trailer_len > UINT32_MAX - REC_HDR ||
	    r->off > UINT64_MAX - r->len || r->msg > UINT64_MAX - r->nmsgs)
		return -EINVAL;
	if (r->trailer_len &&
	    kmsg_trailer_check((const char *)r->bytes + r->len,
			       r->trailer_len, r->nmsgs) < 0)
		return -EINVAL;
	(void)t;
	return check_lines(r);
}

/* Where r goes, if anywhere: 1 nothing to do (held already, or expired
 * here), 0 at the end, 2 the first record of a topic that never held
 * one (it starts there), -ERANGE a gap, -EINVAL a record that does not
 * fit the topic (it straddles the end, or its message offset or time
 * does not follow). */
static int place_of(const struct sf_topic *t, const struct sf_rrecord *r)
{
	bool never = t->size == 0 && t->next_msg == 0;
	if (!never && r->off + r->len <= t->size)
		return 1;
	if (r->off < t->size)
		return -EINVAL;
	if (r->ns < t->last_ns)
		return -EINVAL;
	if (never)
		return 2;
	if (r->off > t->size)
		return -ERANGE;
	return r->msg == t->next_msg ? 0 : -EINVAL;
}

/* Expire whatever topic ino holds live and put its head at off/msg, in
 * one synced write: the topic then ends there, also for recovery, which
 * indexes a record again only where it continues its topic. */
static int move_head(struct store *st, uint64_t ino, struct sf_topic *t,
		     uint64_t off, uint64_t msg)
{
	char k[KEY_MAX], v[HEAD_SIZE];
	struct topic_head h = { .off = off, .msg = msg, .ns = t->last_ns };
	struct store_expiry *x = store_expiry_begin(st);
	if (!x)
		return -ENOMEM;
	int r = t->start < t->size
		? expiry_through(x, ino, t->size, INT64_MAX) : expiry_ready(x);
	if (r < 0) {
		expiry_abort(x);
		return r;
	}
	head_encode(v, &h);
	leveldb_writebatch_put(expiry_batch(x), k, key_u64(k, KEY_HEAD, ino),
			       v, HEAD_SIZE);
	r = store_expiry_end(x, NULL, NULL);
	if (r == 0) {
		t->start = t->size = off;
		t->first_msg = t->next_msg = msg;
		t->first_ns = 0;
	}
	return r;
}

int store_topic_skip(struct store *st, uint64_t ino, struct sf_topic *t,
		     uint64_t off, uint64_t msg)
{
	if (off < t->size || msg < t->next_msg ||
	    (off == t->size) != (msg == t->next_msg))
		return -EINVAL;
	if (off == t->size)
		return 0;
	int r = store_writable(st);
	return r < 0 ? r : move_head(st, ino, t, off, msg);
}

int store_topic_replicate(struct store *st, uint64_t ino, uint64_t stream,
			  struct sf_topic *t, const struct sf_rrecord *r,
			  bool sync)
{
	int r2 = check_record(t, r);
	int place = r2 < 0 ? r2 : place_of(t, r);
	if (place < 0 || place == 1)
		return place;
	struct sf_topic old = *t;
	if (place == 2 && (r->off != t->size || r->msg != t->next_msg)) {
		r2 = move_head(st, ino, t, r->off, r->msg);
		if (r2 < 0)
			return r2;
	}
	struct iovec iov = { (void *)r->bytes,
			     (size_t)r->len + r->trailer_len };
	r2 = topic_append_at(st, ino, stream, t, &iov, 1, r->len, r->nmsgs,
			     r->trailer_len, r->ns, sync);
	if (r2 < 0 && place != 2)
		*t = old;
	return r2;
}
