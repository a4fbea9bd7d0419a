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
 * The syncs are a syncer's (syncer.c); everything here is the
 * connection thread's own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	int64_t last_start;     /* when the last sync began (ms) */
	int err;                /* a sync failed: -errno */
	struct rp_syncer *sy;
};

struct rp_acks *acks_new(void)
{
	struct rp_acks *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->sy = syncer_new();
	if (!a->sy) {
		free(a);
		return NULL;
	}
	return a;
}

int acks_fd(const struct rp_acks *a)
{
	return syncer_fd(a->sy);
}

/* Begin a sync of what was stored, if nothing is under way. */
static void maybe_start(struct rp_acks *a)
{
	if (syncer_busy(a->sy) || !a->dirty || a->err ||
	    rp_now_ms() - a->last_start < RP_SYNC_GAP_MS)
		return;
	a->last_start = rp_now_ms();
	int r = syncer_begin(a->sy);
	if (r < 0) {
		a->err = r;
		return;
	}
	a->started++;
	a->dirty = false;
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
	e->need = a->dirty ? a->started + 1
		  : syncer_busy(a->sy) ? a->started : 0;
	a->n++;
	maybe_start(a);
	return 0;
}

void acks_event(struct rp_acks *a)
{
	int r;
	if (!syncer_ended(a->sy, &r))
		return;
	if (r < 0)
		a->err = r;
	else
		a->done = a->started;
	maybe_start(a);
}

int acks_due(struct rp_acks *a)
{
	maybe_start(a);
	if (syncer_busy(a->sy) || !a->dirty || a->err)
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
	syncer_free(a->sy);
	for (size_t i = 0; i < a->n; i++)
		free(a->q[(a->h + i) % a->cap].p);
	free(a->q);
	free(a);
}
