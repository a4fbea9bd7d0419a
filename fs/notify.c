/* notify.c - the notify thread: wakes readers waiting in poll() after an
 * append.  Notifications are never sent from inside an operation (the
 * kernel may be waiting on that operation); the operation queues the poll
 * handle and this thread sends it.  nq.lock guards the fields of nq; an
 * operation queues holding fs.lock (the lock order is in fs.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs.h"

static struct {
	pthread_mutex_t lock;           /* guards the fields below */
	pthread_cond_t cond;
	struct fuse_pollhandle **q;     /* waiting to be sent */
	size_t n, cap;
	bool stop;
	bool running;                   /* set and read by the main thread */
	pthread_t thread;
} nq = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

void notify_queue(struct fuse_pollhandle *ph)
{
	pthread_mutex_lock(&nq.lock);
	if (nq.n == nq.cap) {
		size_t cap = nq.cap ? nq.cap * 2 : 64;
		struct fuse_pollhandle **q = realloc(nq.q, cap * sizeof(*q));
		if (!q) {
			pthread_mutex_unlock(&nq.lock);
			/* The poller will see the data at its next poll. */
			fuse_pollhandle_destroy(ph);
			return;
		}
		nq.q = q;
		nq.cap = cap;
	}
	nq.q[nq.n++] = ph;
	pthread_cond_signal(&nq.cond);
	pthread_mutex_unlock(&nq.lock);
}

static void send_all(struct fuse_pollhandle **q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = fuse_lowlevel_notify_poll(q[i]);
		if (r < 0 && r != -ENOENT && r != -ENODEV && r != -EBADF)
			fprintf(stderr, "streamfs: warning: poll notification "
				"failed: %d\n", r);
		fuse_pollhandle_destroy(q[i]);
	}
}

static void *notify_main(void *arg)
{
	pthread_mutex_lock(&nq.lock);
	for (;;) {
		while (nq.n == 0 && !nq.stop)
			pthread_cond_wait(&nq.cond, &nq.lock);
		if (nq.n == 0)
			break;
		/* Take the whole queue; send without the lock. */
		struct fuse_pollhandle **q = nq.q;
		size_t n = nq.n;
		nq.q = NULL;
		nq.n = nq.cap = 0;
		pthread_mutex_unlock(&nq.lock);
		send_all(q, n);
		free(q);
		pthread_mutex_lock(&nq.lock);
	}
	pthread_mutex_unlock(&nq.lock);
	return NULL;
}

int notify_start(struct fuse_session *se)
{
	int r = pthread_create(&nq.thread, NULL, notify_main, NULL);
	nq.running = r == 0;
	return -r;
}

void notify_stop(void)
{
	if (!nq.running)
		return;
	pthread_mutex_lock(&nq.lock);
	nq.stop = true;
	pthread_cond_signal(&nq.cond);
	pthread_mutex_unlock(&nq.lock);
	pthread_join(nq.thread, NULL);
	nq.running = false;
	free(nq.q);
	nq.q = NULL;
}
