/* metrics.c - the daemon's figures: the counts the operations make (per
 * FUSE operation, per stream, per consumer group cursor, of the sync
 * thread), and the thread that once a second copies them with the store's
 * and the process's figures into a snapshot, appends it as one JSON line
 * to /.streamfs/metrics and keeps its Prometheus text for
 * /.streamfs/metrics.prom (metrics_render.c renders both).
 *
 * Bounds: the table of streams holds STREAM_SLOTS; a snapshot shows the
 * `top` most active of them (decayed count of appends and reads) and how
 * many it left out; streams that find the table full are counted in the
 * totals only.  The lag is followed for at most LAG_SLOTS cursors, those
 * committed or read most recently since the mount, and the `top` largest
 * are shown.  The replication links shown are the first `top` by id, and
 * the snapshot says how many there are.  Paths are looked up for the
 * streams and topics shown, with a bounded walk of their directories.
 *
 * Locks: every count below is guarded by fs.lock (the operations hold it
 * when they count; the thread takes it to copy).  mx.lock guards which
 * snapshot is the newest (metrics.prom is rendered from it when opened)
 * and the thread's stop flag; it is taken after fs.lock (metrics.prom is
 * generated under it) or alone.  The links' figures are read from
 * fs/replica/ (rp.lock) after fs.lock is dropped. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "metrics.h"
#include "replica/replica.h"

#define STREAM_SLOTS 4096       /* a power of two */
#define STREAM_FILL (STREAM_SLOTS / 8 * 7)     /* no new stream beyond */
#define STREAM_EVICT (STREAM_SLOTS / 4 * 3)    /* thin out beyond ... */
#define STREAM_KEEP (STREAM_SLOTS / 2)         /* ... down to this */
#define LAG_SLOTS 256
#define NAME_SCAN 4096          /* entries of one directory looked through */
#define NAME_BUDGET 65536       /* ... and of all, per snapshot */
#define PATH_DEPTH 64
#define INTERVAL_NS 1000000000LL

bool metrics_on;
__thread struct metrics_timer *metrics_cur;

/* A path looked up for the metrics, valid while gen is mx.names_gen. */
struct name {
	char *path;             /* NULL: not found (or not looked up) */
	uint64_t gen;
	bool tried;
};

struct stream_slot {
	uint64_t ino;           /* 0: a free slot */
	bool own;               /* /.streamfs: counted, never shown */
	struct metrics_traffic t;
	uint64_t act;           /* appends and reads this interval */
	uint64_t score;         /* act, plus half the score before */
	struct name name;
};

struct lag_slot {
	uint64_t ino;           /* the topic */
	struct sf_cursor c;     /* the cursor last committed or read */
	uint64_t used;          /* when (mx.lag_clock), for eviction */
	struct name name;
	char group[SF_GROUP_MAX + 1];
};

/* The path of a link's stream, kept while the link shown in its place
 * has the same stream. */
struct link_name {
	uint64_t ino;
	struct name name;
};

static struct {
	/* Guarded by fs.lock: */
	struct metrics_op_stat ops[MOP_COUNT];
	struct metrics_traffic totals;
	struct metrics_gc gc;
	struct stream_slot *streams;    /* STREAM_SLOTS, open addressing */
	size_t nstreams;
	size_t nown;                    /* ... of them /.streamfs (0 or 1) */
	uint64_t untracked;
	struct lag_slot *lags;          /* LAG_SLOTS, the first nlags used */
	unsigned nlags;
	uint64_t lag_clock;
	uint64_t names_gen;             /* bumped by every rename */
	struct link_name *link_names;   /* top: the stream paths of the links
					 * shown, by place in the snapshot */
	/* Set before serving, then read-only: */
	unsigned top;
	int64_t start_ns;
	/* The thread's own: */
	pthread_t thread;
	struct sf_link *links;          /* top: store_link_list's answer */
	bool running;
	/* Guarded by lock: */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	/* The newest snapshot and the one before.  The thread fills snap[1]
	 * (nobody else reads it) and makes it the newest under lock; snap[0]
	 * is only read, by the thread and, under lock, by prom_gen. */
	struct metrics_snap *snap[2];
} mx = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- counting (fs.lock held) ---- */

void metrics_op_record(unsigned op, int64_t ns, int err)
{
	struct metrics_op_stat *s = &mx.ops[op];
	s->count++;
	hist_add(&s->lat, ns > 0 ? (uint64_t)ns : 0);
	if (err > 0) {
		s->nerr++;
		s->errors[err < METRICS_ERRNO_MAX ? err : 0]++;
	}
}

static size_t slot_hash(uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 40) &
	       (STREAM_SLOTS - 1);
}

/* The slot of stream ino, made if there is room; NULL if there is not. */
static struct stream_slot *stream_slot(uint64_t ino)
{
	size_t i = slot_hash(ino);
	struct stream_slot *t = mx.streams;
	while (t[i].ino && t[i].ino != ino)
		i = (i + 1) & (STREAM_SLOTS - 1);
	if (t[i].ino)
		return &t[i];
	if (mx.nstreams >= STREAM_FILL) {
		mx.untracked++;
		return NULL;
	}
	t[i].ino = ino;
	t[i].own = sysstream_is(ino);
	mx.nstreams++;
	mx.nown += t[i].own;
	return &t[i];
}

void metrics_append_(uint64_t stream, size_t len, uint32_t nmsgs)
{
	struct stream_slot *s = stream_slot(stream);
	mx.totals.appends++;
	mx.totals.messages_in += nmsgs;
	mx.totals.bytes_in += len;
	if (!s)
		return;
	s->t.appends++;
	s->t.messages_in += nmsgs;
	s->t.bytes_in += len;
	s->act++;
}

void metrics_read_(uint64_t stream, size_t len)
{
	struct stream_slot *s = stream_slot(stream);
	mx.totals.reads++;
	mx.totals.bytes_out += len;
	if (!s)
		return;
	s->t.reads++;
	s->t.bytes_out += len;
	s->act++;
}

static struct lag_slot *lag_find(uint64_t ino, const char *group)
{
	for (unsigned i = 0; i < mx.nlags; i++)
		if (mx.lags[i].ino == ino &&
		    strcmp(mx.lags[i].group, group) == 0)
			return &mx.lags[i];
	return NULL;
}

static void name_drop(struct name *n)
{
	free(n->path);
	*n = (struct name){ 0 };
}

static void lag_remove(struct lag_slot *l)
{
	name_drop(&l->name);
	*l = mx.lags[--mx.nlags];
}

void metrics_cursor_(uint64_t ino, const char *group,
		     const struct sf_cursor *c)
{
	struct lag_slot *l = lag_find(ino, group);
	if (!c) {
		if (l)
			lag_remove(l);
		return;
	}
	if (!l && mx.nlags < LAG_SLOTS) {
		l = &mx.lags[mx.nlags++];
		*l = (struct lag_slot){ .ino = ino };
	} else if (!l) {
		/* The one used longest ago makes room. */
		l = &mx.lags[0];
		for (unsigned i = 1; i < mx.nlags; i++)
			if (mx.lags[i].used < l->used)
				l = &mx.lags[i];
		name_drop(&l->name);
		l->ino = ino;
	}
	snprintf(l->group, sizeof(l->group), "%s", group);
	l->c = *c;
	l->used = ++mx.lag_clock;
}

void metrics_group_commit(unsigned writes, unsigned fsyncs, int64_t ns,
			  int r)
{
	if (!metrics_on)
		return;
	mx.gc.syncs++;
	mx.gc.errors += r < 0;
	mx.gc.writes += writes;
	mx.gc.fsyncs += fsyncs;
	hist_add(&mx.gc.size, writes + fsyncs);
	hist_add(&mx.gc.lat, ns > 0 ? (uint64_t)ns : 0);
}

void metrics_renamed(void)
{
	if (metrics_on)
		mx.names_gen++;
}

/* ---- paths, for the streams and topics shown (fs.lock held) ---- */

enum { NAME_FOUND, NAME_NONE, NAME_LATER };

/* The name of ino in directory dir, from at most NAME_SCAN entries (and
 * *budget), in *out (malloc'd). */
static int name_in(uint64_t dir, uint64_t ino, unsigned *budget, char **out)
{
	struct store_dirit *it = store_dirit_open(fs.store, dir);
	int res = NAME_NONE;
	if (!it)
		return NAME_NONE;
	for (unsigned n = 0; n < NAME_SCAN; n++) {
		const char *name;
		size_t nlen;
		uint64_t e;
		uint32_t dtype;
		if (*budget == 0) {
			res = NAME_LATER;
			break;
		}
		(*budget)--;
		if (store_dirit_next(it, &name, &nlen, &e, &dtype) <= 0)
			break;
		if (e == ino) {
			*out = strndup(name, nlen);
			res = *out ? NAME_FOUND : NAME_NONE;
			break;
		}
	}
	store_dirit_close(it);
	return res;
}

/* The path of ino from the root, in *out (malloc'd). */
static int path_of(uint64_t ino, unsigned *budget, char **out)
{
	char *part[PATH_DEPTH];
	int depth = 0, res = NAME_FOUND;
	uint64_t cur = ino;
	while (cur != FUSE_ROOT_ID && res == NAME_FOUND) {
		struct sf_inode in;
		if (depth == PATH_DEPTH ||
		    store_get_inode(fs.store, cur, &in) < 0) {
			res = NAME_NONE;
			break;
		}
		res = name_in(in.parent, cur, budget, &part[depth]);
		if (res == NAME_FOUND)
			depth++;
		cur = in.parent;
	}
	struct mbuf b = { 0 };
	for (int i = depth; i-- > 0;) {
		if (res == NAME_FOUND) {
			mbuf_add(&b, "/", 1);
			mbuf_add(&b, part[i], strlen(part[i]));
		}
		free(part[i]);
	}
	if (res == NAME_FOUND && depth == 0)
		mbuf_add(&b, "/", 1);
	if (res != NAME_FOUND || b.failed) {
		free(b.p);
		return res == NAME_FOUND ? NAME_NONE : res;
	}
	*out = b.p;
	return NAME_FOUND;
}

/* n's path, looked up if need be: a copy for a snapshot, or NULL. */
static char *name_get(struct name *n, uint64_t ino, unsigned *budget)
{
	if (n->gen != mx.names_gen) {
		name_drop(n);
		n->gen = mx.names_gen;
	}
	if (!n->tried) {
		char *p = NULL;
		int r = path_of(ino, budget, &p);
		n->tried = r != NAME_LATER;
		n->path = r == NAME_FOUND ? p : NULL;
	}
	return n->path ? strdup(n->path) : NULL;
}

/* ---- the snapshot's streams and lags (fs.lock held) ---- */

/* Is a more active than b? */
static bool busier(const struct stream_slot *a, const struct stream_slot *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	uint64_t x = a->t.appends + a->t.reads, y = b->t.appends + b->t.reads;
	if (x != y)
		return x > y;
	return a->ino < b->ino;
}

static int cmp_busier(const void *a, const void *b)
{
	const struct stream_slot *x = *(struct stream_slot *const *)a;
	const struct stream_slot *y = *(struct stream_slot *const *)b;
	return busier(x, y) ? -1 : busier(y, x) ? 1 : 0;
}

/* Too many streams: keep the STREAM_KEEP most active, in a new table. */
static void streams_thin(void)
{
	struct stream_slot **live = malloc(mx.nstreams * sizeof(*live));
	struct stream_slot *t = calloc(STREAM_SLOTS, sizeof(*t));
	if (!live || !t) {
		free(live);
		free(t);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < STREAM_SLOTS; i++)
		if (mx.streams[i].ino && !mx.streams[i].own)
			live[n++] = &mx.streams[i];
		else if (mx.streams[i].ino)
			mx.nown--;      /* made again at its next use */
	qsort(live, n, sizeof(*live), cmp_busier);
	for (size_t i = 0; i < n; i++) {
		if (i >= STREAM_KEEP) {
			name_drop(&live[i]->name);
			continue;
		}
		size_t j = slot_hash(live[i]->ino);
		while (t[j].ino)
			j = (j + 1) & (STREAM_SLOTS - 1);
		t[j] = *live[i];
	}
	free(live);
	free(mx.streams);
	mx.streams = t;
	mx.nstreams = n < STREAM_KEEP ? n : STREAM_KEEP;
}

/* Put s into the heap h of the k most active so far (h[0] the least of
 * them; *n in use). */
static void heap_offer(struct stream_slot **h, unsigned k, unsigned *n,
		       struct stream_slot *s)
{
	unsigned i;
	if (*n < k) {
		i = (*n)++;
		while (i && busier(h[(i - 1) / 2], s)) {
			h[i] = h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h[i] = s;
		return;
	}
	if (!busier(s, h[0]))
		return;
	i = 0;
	for (;;) {
		unsigned c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && busier(h[c], h[c + 1]))
			c++;
		if (!busier(s, h[c]))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = s;
}

static void snap_streams(struct metrics_snap *sn, unsigned *budget)
{
	struct stream_slot *h[METRICS_TOP_MAX];
	unsigned n = 0;
	for (size_t i = 0; i < STREAM_SLOTS; i++) {
		struct stream_slot *s = &mx.streams[i];
		if (!s->ino)
			continue;
		s->score = s->score / 2 + s->act;
		s->act = 0;
	}
	if (mx.nstreams > STREAM_EVICT)
		streams_thin();
	for (size_t i = 0; i < STREAM_SLOTS; i++)
		if (mx.streams[i].ino && !mx.streams[i].own)
			heap_offer(h, mx.top, &n, &mx.streams[i]);
	qsort(h, n, sizeof(h[0]), cmp_busier);
	for (unsigned i = 0; i < n; i++) {
		sn->streams[i].ino = h[i]->ino;
		sn->streams[i].t = h[i]->t;
		sn->streams[i].path = name_get(&h[i]->name, h[i]->ino, budget);
	}
	sn->nstreams = n;
	sn->streams_tracked = mx.nstreams - mx.nown;
	sn->untracked_ops = mx.untracked;
}

/* The state of topic ino now; -ENOENT once it is gone. */
static int topic_now(uint64_t ino, struct sf_topic *t)
{
	struct node *n = node_find(ino);
	struct sf_inode in;
	if (n && n->topic) {
		*t = *n->topic;
		return 0;
	}
	int r = store_get_inode(fs.store, ino, &in);
	return r < 0 ? r : store_topic_load(fs.store, ino, t);
}

/* A lag, and the slot it is of (for its name). */
struct lag_seen {
	struct metrics_lag lag;
	unsigned slot;
};

static bool lag_more(const struct metrics_lag *a, const struct metrics_lag *b)
{
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes;
	if (a->messages != b->messages)
		return a->messages > b->messages;
	if (a->ino != b->ino)
		return a->ino < b->ino;
	return strcmp(a->group, b->group) < 0;
}

static int cmp_lag(const void *a, const void *b)
{
	const struct metrics_lag *x = &((const struct lag_seen *)a)->lag;
	const struct metrics_lag *y = &((const struct lag_seen *)b)->lag;
	return lag_more(x, y) ? -1 : lag_more(y, x) ? 1 : 0;
}

static void snap_lags(struct metrics_snap *sn, unsigned *budget)
{
	static struct lag_seen all[LAG_SLOTS];  /* the thread's own */
	unsigned n = 0;
	for (unsigned i = 0; i < mx.nlags;) {
		struct lag_slot *l = &mx.lags[i];
		struct sf_topic t;
		int r = topic_now(l->ino, &t);
		if (r == -ENOENT) {
			lag_remove(l);  /* the last one moves here */
			continue;
		}
		i++;
		if (r < 0)
			continue;
		struct sf_cursor c = l->c;
		store_cursor_clamp(&t, &c);
		all[n].lag = (struct metrics_lag){ .ino = l->ino,
			.messages = t.next_msg - c.msg, .bytes = t.size - c.off };
		memcpy(all[n].lag.group, l->group, sizeof(l->group));
		all[n++].slot = i - 1;
	}
	qsort(all, n, sizeof(all[0]), cmp_lag);
	sn->nlags = n < mx.top ? n : mx.top;
	for (unsigned i = 0; i < sn->nlags; i++) {
		struct lag_slot *l = &mx.lags[all[i].slot];
		sn->lags[i] = all[i].lag;
		sn->lags[i].path = name_get(&l->name, l->ino, budget);
	}
	sn->lags_tracked = mx.nlags;
}

/* ---- the snapshot's replication links ---- */

/* The first links by id, with their streams' paths (fs.lock held). */
static void snap_links(struct metrics_snap *sn, unsigned *budget)
{
	int r = store_link_list(fs.store, mx.links, mx.top);
	sn->replicas_total = r > 0 ? (uint64_t)r : 0;
	sn->nreplicas = r <= 0 ? 0 : (unsigned)r < mx.top ? (unsigned)r
							   : mx.top;
	for (unsigned i = 0; i < sn->nreplicas; i++) {
		const struct sf_link *l = &mx.links[i];
		struct metrics_replica *m = &sn->replicas[i];
		struct link_name *ln = &mx.link_names[i];
		if (ln->ino != l->stream) {
			name_drop(&ln->name);
			ln->ino = l->stream;
		}
		*m = (struct metrics_replica){ .id = l->id, .ino = l->stream };
		m->path = name_get(&ln->name, l->stream, budget);
		snprintf(m->peer, sizeof(m->peer), "%s/%s", l->peer,
			 l->peer_stream);
	}
}

/* What each link shown is doing (fs.lock NOT held: takes rp.lock). */
static void snap_link_states(struct metrics_snap *sn)
{
	for (unsigned i = 0; i < sn->nreplicas; i++) {
		struct metrics_replica *m = &sn->replicas[i];
		struct replica_status st;
		replica_xattr_status(&mx.links[i], &st);
		snprintf(m->state, sizeof(m->state), "%s", st.state);
		m->msgs_behind = st.msgs_behind;
		m->secs_behind = st.secs_behind;
		m->sent_msgs = st.sent_msgs;
		m->sent_bytes = st.sent_bytes;
		m->scans = st.scans;
		m->cursor_looks = st.cursor_looks;
		snprintf(m->last_error, sizeof(m->last_error), "%s",
			 st.last_error);
		m->last_error_ns = st.last_error[0] ? st.last_error_ns : 0;
	}
}

/* ---- the snapshot ---- */

static void snap_clear(struct metrics_snap *sn)
{
	for (unsigned i = 0; i < sn->nstreams; i++)
		free(sn->streams[i].path);
	for (unsigned i = 0; i < sn->nlags; i++)
		free(sn->lags[i].path);
	for (unsigned i = 0; i < sn->nreplicas; i++)
		free(sn->replicas[i].path);
	sn->nstreams = sn->nlags = sn->nreplicas = 0;
}

static struct metrics_snap *snap_new(void)
{
	struct metrics_snap *sn = calloc(1, sizeof(*sn));
	if (!sn)
		return NULL;
	sn->streams = calloc(mx.top, sizeof(*sn->streams));
	sn->lags = calloc(mx.top, sizeof(*sn->lags));
	sn->replicas = calloc(mx.top, sizeof(*sn->replicas));
	if (!sn->streams || !sn->lags || !sn->replicas) {
		free(sn->streams);
		free(sn->lags);
		free(sn->replicas);
		free(sn);
		return NULL;
	}
	return sn;
}

static void snap_free(struct metrics_snap *sn)
{
	if (!sn)
		return;
	snap_clear(sn);
	free(sn->streams);
	free(sn->lags);
	free(sn->replicas);
	free(sn);
}

static uint64_t rss_bytes(void)
{
	unsigned long long size, resident;
	FILE *f = fopen("/proc/self/statm", "re");
	int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
	if (f)
		fclose(f);
	return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void snap_take(struct metrics_snap *sn)
{
	unsigned budget = NAME_BUDGET;
	snap_clear(sn);
	pthread_mutex_lock(&fs.lock);
	sn->ts_ns = realtime_ns();
	sn->mono_ns = metrics_now();
	sn->start_ns = mx.start_ns;
	memcpy(sn->ops, mx.ops, sizeof(sn->ops));
	sn->totals = mx.totals;
	sn->gc = mx.gc;
	store_get_stats(fs.store, &sn->store);
	sn->db_ok = store_db_stats(fs.store, &sn->db) == 0;
	sn->open_files = fs.nhandles;
	sn->inodes = fs.nnodes;
	snap_streams(sn, &budget);
	snap_lags(sn, &budget);
	snap_links(sn, &budget);
	pthread_mutex_unlock(&fs.lock);
	snap_link_states(sn);
	sn->rss_bytes = rss_bytes();
}

/* metrics.prom: the newest snapshot's figures, rendered when it is
 * opened (a scrape every few seconds costs less than rendering every
 * second). */
static int prom_gen(char **buf, size_t *len)
{
	struct mbuf b = { 0 };
	pthread_mutex_lock(&mx.lock);
	int r = metrics_render_prom(&b, mx.snap[0]);
	pthread_mutex_unlock(&mx.lock);
	if (r < 0) {
		free(b.p);
		return r;
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

/* ---- the thread ---- */

static bool wait_until(int64_t deadline)
{
	struct timespec ts = { deadline / 1000000000LL,
			       deadline % 1000000000LL };
	pthread_mutex_lock(&mx.lock);
	while (!mx.stop &&
	       pthread_cond_timedwait(&mx.cond, &mx.lock, &ts) != ETIMEDOUT)
		;
	bool stop = mx.stop;
	pthread_mutex_unlock(&mx.lock);
	return !stop;
}

static void *metrics_main(void *arg)
{
	(void)arg;
	int64_t next = mx.snap[0]->mono_ns + INTERVAL_NS;
	bool warned = false;
	while (wait_until(next)) {
		struct metrics_snap *prev = mx.snap[0], *cur = mx.snap[1];
		struct mbuf line = { 0 };
		snap_take(cur);
		if (metrics_render_json(&line, cur, prev) < 0) {
			free(line.p);
			line.p = NULL;
		}
		pthread_mutex_lock(&mx.lock);
		mx.snap[0] = cur;
		mx.snap[1] = prev;
		pthread_mutex_unlock(&mx.lock);
		int r = line.p ? sysstream_append("metrics", line.p, line.len)
			       : -ENOMEM;
		free(line.p);
		if (r < 0 && !warned)
			log_msg(SF_LOG_WARNING, "metrics: cannot append to "
				"/.streamfs/metrics: %s (said once)",
				strerror(-r));
		warned |= r < 0;
		/* A late round does not make up for the rounds it missed. */
		next += INTERVAL_NS;
		if (next < metrics_now())
			next = metrics_now() + INTERVAL_NS;
	}
	return NULL;
}

int metrics_init(bool on, unsigned top)
{
	metrics_on = on;
	mx.top = top;
	mx.start_ns = realtime_ns();
	if (!on)
		return 0;
	mx.streams = calloc(STREAM_SLOTS, sizeof(*mx.streams));
	mx.lags = calloc(LAG_SLOTS, sizeof(*mx.lags));
	mx.links = calloc(top, sizeof(*mx.links));
	mx.link_names = calloc(top, sizeof(*mx.link_names));
	mx.snap[0] = snap_new();
	mx.snap[1] = snap_new();
	if (!mx.streams || !mx.lags || !mx.links || !mx.link_names ||
	    !mx.snap[0] || !mx.snap[1]) {
		metrics_on = false;
		return -ENOMEM;
	}
	/* The first figures, so that metrics.prom has them at once. */
	snap_take(mx.snap[0]);
	sysstream_virtual("metrics.prom", prom_gen);
	return 0;
}

int metrics_start(void)
{
	pthread_condattr_t ca;
	if (!metrics_on)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mx.cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&mx.thread, NULL, metrics_main, NULL);
	mx.running = r == 0;
	if (r == 0)
		pthread_setname_np(mx.thread, "sf-metrics");
	return -r;
}

void metrics_stop(void)
{
	if (mx.running) {
		pthread_mutex_lock(&mx.lock);
		mx.stop = true;
		pthread_cond_signal(&mx.cond);
		pthread_mutex_unlock(&mx.lock);
		pthread_join(mx.thread, NULL);
		mx.running = false;
	}
	for (size_t i = 0; mx.streams && i < STREAM_SLOTS; i++)
		name_drop(&mx.streams[i].name);
	for (unsigned i = 0; i < mx.nlags; i++)
		name_drop(&mx.lags[i].name);
	for (unsigned i = 0; mx.link_names && i < mx.top; i++)
		name_drop(&mx.link_names[i].name);
	free(mx.streams);
	free(mx.lags);
	free(mx.links);
	free(mx.link_names);
	mx.links = NULL;
	mx.link_names = NULL;
	snap_free(mx.snap[0]);
	snap_free(mx.snap[1]);
	mx.streams = NULL;
	mx.lags = NULL;
	mx.snap[0] = mx.snap[1] = NULL;
	mx.nlags = 0;
}
