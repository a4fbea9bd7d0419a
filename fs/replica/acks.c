/* acks.c - the receiver's answers, in the order of the frames they
 * answer, and the syncs that make its ACKs true.  An ACK of a batch that
 * stored records leaves only after a sync begun after that batch has
 * ended; the sync's disk flush runs on a thread of the connection's own,
 * so the connection goes on reading and storing batches meanwhile (a
 * follower at the receiver sees a record as soon as it is stored).  A
 * sync begins at most every RP_SYNC_GAP_MS, so that one covers what came
 * meanwhile: flushes back to back would keep the disk and the file
 * system's journal busy for little gain.
 * Answers that need no sync wait only for those before them.
 *
 * Everything but the fields under a.m is the connection thread's own;
 * a.m is a leaf, taken alone (the sync thread drops it before it takes
 * fs.lock). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rp.h"

struct answer {
	uint8_t *p;
	size_t len;
	uint64_t need;          /* the sync that must have ended, 0: none */
};

struct rp_acks {
	struct answer *q;
	size_t h, n, cap;
	uint64_t started;       /* syncs begun */
	uint64_t done;          /* the last of them that ended */
	bool dirty;             /* records stored since the last begin */
	bool busy;              /* a sync is under way */
	int64_t last_start;     /* when the last sync began (ms) */
	int err;                /* a sync failed: -errno */
	int efd;                /* readable when a sync ended */
	bool th_started;
	pthread_t th;
	pthread_mutex_t m;
	pthread_cond_t cv;
	/* Guarded by m: */
	struct store_flush *f;  /* for the thread to flush */
	bool finished;          /* it did, with result */
	int result;
	bool quit;
};

struct rp_acks *acks_new(void)
{
	struct rp_acks *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->m, NULL);
	pthread_cond_init(&a->cv, NULL);
	return a;
}

int acks_fd(const struct rp_acks *a)
{
	return a->efd;
}

static void *sync_main(void *arg)
{
	struct rp_acks *a = arg;
	pthread_mutex_lock(&a->m);
	for (;;) {
		while (!a->f && !a->quit)
			pthread_cond_wait(&a->cv, &a->m);
		if (!a->f)
			break;
		struct store_flush *f = a->f;
		a->f = NULL;
		pthread_mutex_unlock(&a->m);
		store_sync_flush(f);
		pthread_mutex_lock(&fs.lock);
		int r = store_sync_end(fs.store, f);
		pthread_mutex_unlock(&fs.lock);
		pthread_mutex_lock(&a->m);
		a->result = r;
		a->finished = true;
		uint64_t one = 1;
		if (write(a->efd, &one, sizeof one) < 0)
			a->result = -errno;
	}
	pthread_mutex_unlock(&a->m);
	return NULL;
}

/* Begin a sync of what was stored, if nothing is under way. */
static void maybe_start(struct rp_acks *a)
{
	if (a->busy || !a->dirty || a->err ||
	    rp_now_ms() - a->last_start < RP_SYNC_GAP_MS)
		return;
	a->last_start = rp_now_ms();
	struct store_flush *f = NULL;
	pthread_mutex_lock(&fs.lock);
	int r = store_sync_begin(fs.store, &f);
	if (r < 0 && f)
		store_sync_end(fs.store, f);
	pthread_mutex_unlock(&fs.lock);
	if (r == 0 && !a->th_started) {
		r = -pthread_create(&a->th, NULL, sync_main, a);
		a->th_started = r == 0;
		if (r < 0) {
			pthread_mutex_lock(&fs.lock);
			store_sync_end(fs.store, f);
			pthread_mutex_unlock(&fs.lock);
		}
	}
	if (r < 0) {
		a->err = r;
		return;
	}
	a->started++;
	a->dirty = false;
	a->busy = true;
	pthread_mutex_lock(&a->m);
	a->f = f;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->m);
}

int acks_push(struct rp_acks *a, struct wbuf *b, bool stored)
{
	wb_end(b);
	if (b->oom)
		return -ENOMEM;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct answer *q = malloc(cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < a->n; i++)
			q[i] = a->q[(a->h + i) % a->cap];
		free(a->q);
		a->q = q;
		a->h = 0;
		a->cap = cap;
	}
	struct answer *e = &a->q[(a->h + a->n) % a->cap];
	e->p = malloc(b->len);
	if (!e->p)
		return -ENOMEM;
	memcpy(e->p, b->p, b->len);
	e->len = b->len;
	if (stored)
		a->dirty = true;
	/* Records stored since the last begin wait for the next sync; a
	 * batch held already waits for the one that may be making it
	 * durable. */
	e->need = a->dirty ? a->started + 1 : a->busy ? a->started : 0;
	a->n++;
	maybe_start(a);
	return 0;
}

void acks_event(struct rp_acks *a)
{
	uint64_t v;
	if (read(a->efd, &v, sizeof v) < 0 && errno != EAGAIN)
		a->err = -errno;
	pthread_mutex_lock(&a->m);
	bool fin = a->finished;
	int r = a->result;
	a->finished = false;
	pthread_mutex_unlock(&a->m);
	if (!fin)
		return;
	a->busy = false;
	if (r < 0)
		a->err = r;
	else
		a->done = a->started;
	maybe_start(a);
}

int acks_due(struct rp_acks *a)
{
	maybe_start(a);
	if (a->busy || !a->dirty || a->err)
		return -1;
	int64_t left = a->last_start + RP_SYNC_GAP_MS - rp_now_ms();
	return left < 1 ? 1 : (int)left;
}

int acks_error(const struct rp_acks *a)
{
	return a->err;
}

int acks_flush(struct rp_acks *a, struct rconn *c)
{
	while (a->n && a->q[a->h].need <= a->done) {
		struct answer *e = &a->q[a->h];
		int r = rc_write(c, e->p, e->len);
		free(e->p);
		a->h = (a->h + 1) % a->cap;
		a->n--;
		if (r < 0)
			return r;
	}
	return 0;
}

void acks_free(struct rp_acks *a)
{
	if (!a)
		return;
	if (a->th_started) {
		pthread_mutex_lock(&a->m);
		a->quit = true;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->m);
		pthread_join(a->th, NULL);
	}
	for (size_t i = 0; i < a->n; i++)
		free(a->q[(a->h + i) % a->cap].p);
	free(a->q);
	close(a->efd);
	pthread_mutex_destroy(&a->m);
	pthread_cond_destroy(&a->cv);
	free(a);
}
