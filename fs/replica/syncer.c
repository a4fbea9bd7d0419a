/* syncer.c - a thread that makes the store durable without fs.lock, on
 * behalf of one connection's thread: the receiver, whose ACKs wait for
 * the records they acknowledge to be durable (acks.c), and a link, which
 * sends only records durable here (link.c).  The owner begins a sync
 * (store_sync_begin, under fs.lock); the syncer's thread makes the disk
 * flush without the lock and ends the sync under it; the syncer's
 * eventfd then turns readable, and the owner collects the result.  At
 * most one sync is under way per syncer; every append made before the
 * owner began it is durable once it ended with 0.
 *
 * `busy` is the owner's; the fields after `m` are guarded by it.  m is
 * a leaf, taken alone: the thread drops it before it takes fs.lock. */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rp.h"

struct rp_syncer {
	int efd;                /* readable when a sync ended */
	bool busy;              /* a sync is under way (the owner's) */
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

struct rp_syncer *syncer_new(void)
{
	struct rp_syncer *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->cv, NULL);
	return s;
}

static void *syncer_main(void *arg)
{
	struct rp_syncer *s = arg;
	pthread_mutex_lock(&s->m);
	for (;;) {
		while (!s->f && !s->quit)
			pthread_cond_wait(&s->cv, &s->m);
		if (!s->f)
			break;
		struct store_flush *f = s->f;
		s->f = NULL;
		pthread_mutex_unlock(&s->m);
		store_sync_flush(f);
		pthread_mutex_lock(&fs.lock);
		int r = store_sync_end(fs.store, f);
		pthread_mutex_unlock(&fs.lock);
		pthread_mutex_lock(&s->m);
		s->result = r;
		s->finished = true;
		uint64_t one = 1;
		if (write(s->efd, &one, sizeof one) < 0)
			s->result = -errno;
	}
	pthread_mutex_unlock(&s->m);
	return NULL;
}

int syncer_begin(struct rp_syncer *s)
{
	if (s->busy)
		return -EBUSY;
	struct store_flush *f = NULL;
	pthread_mutex_lock(&fs.lock);
	int r = store_sync_begin(fs.store, &f);
	if (r < 0 && f)
		store_sync_end(fs.store, f);
	pthread_mutex_unlock(&fs.lock);
	if (r == 0 && !s->th_started) {
		r = -pthread_create(&s->th, NULL, syncer_main, s);
		s->th_started = r == 0;
		if (r < 0) {
			pthread_mutex_lock(&fs.lock);
			store_sync_end(fs.store, f);
			pthread_mutex_unlock(&fs.lock);
		}
	}
	if (r < 0)
		return r;
	s->busy = true;
	pthread_mutex_lock(&s->m);
	s->f = f;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->m);
	return 0;
}

bool syncer_busy(const struct rp_syncer *s)
{
	return s->busy;
}

int syncer_fd(const struct rp_syncer *s)
{
	return s->efd;
}

bool syncer_ended(struct rp_syncer *s, int *result)
{
	uint64_t v;
	if (read(s->efd, &v, sizeof v) < 0) {
		/* nothing to drain: `finished` says whether it ended */
	}
	pthread_mutex_lock(&s->m);
	bool fin = s->finished;
	*result = s->result;
	s->finished = false;
	pthread_mutex_unlock(&s->m);
	if (fin)
		s->busy = false;
	return fin;
}

void syncer_free(struct rp_syncer *s)
{
	if (!s)
		return;
	if (s->th_started) {
		pthread_mutex_lock(&s->m);
		s->quit = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->m);
		pthread_join(s->th, NULL);
	}
	close(s->efd);
	pthread_mutex_destroy(&s->m);
	pthread_cond_destroy(&s->cv);
	free(s);
}
