/* group_commit.c - the sync thread.  durability=batch: appends return at
 * once and the thread makes them durable within GROUP_COMMIT_MS, in one
 * sync for everything written meanwhile.  fsync() of a topic: the request
 * waits here, unanswered, while the daemon serves others; the thread's
 * next sync covers every fsync() that waited for it, and answers them all
 * (concurrent fsyncs share one disk flush).  A sync that fails is tried again every
 * GROUP_COMMIT_RETRY_MS until one succeeds (the store rewrites what the
 * failed one covered first), so acknowledged appends do reach the disk
 * once the fault has passed.  gc.lock guards the fields of gc; an append
 * marks work holding fs.lock, and the thread takes fs.lock to sync only
 * after dropping gc.lock (the lock order is in fs.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "metrics.h"

#define GROUP_COMMIT_MS 5
#define GROUP_COMMIT_RETRY_MS 50

#define FSYNC_WAITERS 1024

static struct {
	pthread_mutex_t lock;           /* guards pending, waiters, stop */
	pthread_cond_t cond;
	bool pending;                   /* appends wait for a sync */
	unsigned writes;                /* ... this many (for the metrics) */
	fuse_req_t waiters[FSYNC_WAITERS];  /* fsync()s waiting for a sync */
	int64_t started[FSYNC_WAITERS];     /* when each began (metrics) */
	unsigned nwaiters;
	bool failing;                   /* the last sync failed (thread only) */
	bool stop, running;
	pthread_t thread;
} gc = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .cond = PTHREAD_COND_INITIALIZER };

void group_commit_mark(void)
{
	pthread_mutex_lock(&gc.lock);
	gc.writes++;
	if (!gc.pending) {
		gc.pending = true;
		pthread_cond_signal(&gc.cond);
	}
	pthread_mutex_unlock(&gc.lock);
}

int group_commit_fsync(fuse_req_t req)
{
	pthread_mutex_lock(&gc.lock);
	bool room = gc.running && !gc.stop && gc.nwaiters < FSYNC_WAITERS;
	if (room) {
		gc.started[gc.nwaiters] = metrics_op_defer();
		gc.waiters[gc.nwaiters++] = req;
		pthread_cond_signal(&gc.cond);
	}
	pthread_mutex_unlock(&gc.lock);
	return room ? 0 : -EAGAIN;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One sync for everything written so far; then the fsync()s that waited
 * for it are answered with its result. */
static void *group_commit_main(void *arg)
{
	fuse_req_t reqs[FSYNC_WAITERS];
	int64_t started[FSYNC_WAITERS];
	(void)arg;
	pthread_mutex_lock(&gc.lock);
	for (;;) {
		while (!gc.pending && !gc.nwaiters && !gc.stop)
			pthread_cond_wait(&gc.cond, &gc.lock);
		if (!gc.pending && !gc.nwaiters)
			break;
		if (!gc.nwaiters) {
			/* Appends only: let the batch gather, then sync it all
			 * at once.  A waiting fsync() is served at once. */
			pthread_mutex_unlock(&gc.lock);
			sleep_ms(GROUP_COMMIT_MS);
			pthread_mutex_lock(&gc.lock);
		}
		unsigned n = gc.nwaiters, writes = gc.writes;
		memcpy(reqs, gc.waiters, n * sizeof(reqs[0]));
		memcpy(started, gc.started, n * sizeof(started[0]));
		gc.nwaiters = 0;
		gc.writes = 0;
		gc.pending = false;
		pthread_mutex_unlock(&gc.lock);
		int64_t t0 = metrics_on ? metrics_now() : 0;
		/* The flush itself runs without fs.lock: the daemon goes on
		 * serving (and queueing the next fsync()s) meanwhile. */
		struct store_flush *f;
		pthread_mutex_lock(&fs.lock);
		int r = store_sync_begin(fs.store, &f);
		pthread_mutex_unlock(&fs.lock);
		if (r == 0)
			store_sync_flush(f);
		pthread_mutex_lock(&fs.lock);
		if (f) {
			int e = store_sync_end(fs.store, f);
			r = r < 0 ? r : e;
		}
		/* Counted before the replies, as every request is. */
		if (metrics_on) {
			metrics_group_commit(writes, n, metrics_now() - t0, r);
			for (unsigned i = 0; i < n; i++)
				metrics_op_done(MOP_FSYNC, started[i], -r);
		}
		pthread_mutex_unlock(&fs.lock);
		for (unsigned i = 0; i < n; i++)
			fuse_reply_err(reqs[i], -r);
		if (r < 0 && !gc.failing)
			log_msg(SF_LOG_ERROR, "group commit: %s; "
				"trying again every %d ms", strerror(-r),
				GROUP_COMMIT_RETRY_MS);
		else if (r == 0 && gc.failing)
			log_msg(SF_LOG_INFO, "group commit: synced "
				"again");
		gc.failing = r < 0;
		if (r < 0)
			sleep_ms(GROUP_COMMIT_RETRY_MS);
		pthread_mutex_lock(&gc.lock);
		if (r < 0 && !gc.stop)
			gc.pending = true;      /* unmount syncs one last time */
	}
	pthread_mutex_unlock(&gc.lock);
	return NULL;
}

int group_commit_start(void)
{
	int r = pthread_create(&gc.thread, NULL, group_commit_main, NULL);
	gc.running = r == 0;
	return -r;
}

void group_commit_stop(void)
{
	if (!gc.running)
		return;
	pthread_mutex_lock(&gc.lock);
	gc.stop = true;
	pthread_cond_signal(&gc.cond);
	pthread_mutex_unlock(&gc.lock);
	pthread_join(gc.thread, NULL);
	gc.running = false;
}
