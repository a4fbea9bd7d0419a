/* group_commit.c - durability=batch: appends return at once and a thread
 * of our own makes them durable within GROUP_COMMIT_MS, in one sync for
 * everything written meanwhile.  A sync that fails is tried again every
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

#define GROUP_COMMIT_MS 5
#define GROUP_COMMIT_RETRY_MS 50

static struct {
	pthread_mutex_t lock;           /* guards pending and stop */
	pthread_cond_t cond;
	bool pending;                   /* appends wait for a sync */
	bool failing;                   /* the last sync failed (thread only) */
	bool stop, running;
	pthread_t thread;
} gc = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .cond = PTHREAD_COND_INITIALIZER };

void group_commit_mark(void)
{
	pthread_mutex_lock(&gc.lock);
	if (!gc.pending) {
		gc.pending = true;
		pthread_cond_signal(&gc.cond);
	}
	pthread_mutex_unlock(&gc.lock);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *group_commit_main(void *arg)
{
	pthread_mutex_lock(&gc.lock);
	for (;;) {
		while (!gc.pending && !gc.stop)
			pthread_cond_wait(&gc.cond, &gc.lock);
		if (!gc.pending)
			break;
		pthread_mutex_unlock(&gc.lock);
		/* Let the batch gather, then sync it all at once. */
		sleep_ms(GROUP_COMMIT_MS);
		pthread_mutex_lock(&gc.lock);
		gc.pending = false;
		pthread_mutex_unlock(&gc.lock);
		pthread_mutex_lock(&fs.lock);
		int r = store_sync(fs.store);
		pthread_mutex_unlock(&fs.lock);
		if (r < 0 && !gc.failing)
			fprintf(stderr, "streamfs: error: group commit: %s; "
				"trying again every %d ms\n", strerror(-r),
				GROUP_COMMIT_RETRY_MS);
		else if (r == 0 && gc.failing)
			fprintf(stderr, "streamfs: group commit: synced "
				"again\n");
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
