/* notify.c - waking readers that wait in poll() after an append, and the
 * notify thread, which invalidates names the kernel cached for longer
 * than a directory's permissions now allow (docs/design.md, "Caching and
 * the kernel").  Notifications are never sent from inside an operation
 * (the kernel may be waiting on that operation, holding the directory's
 * lock that an invalidation takes): the operation queues the work.  Poll
 * wake-ups are then sent by the thread that served the operation, right
 * after its reply and without fs.lock (ops.c), since a wake-up takes no
 * lock of the kernel's and a hand-over to another thread would add a
 * thread switch to every follower's latency; invalidations are sent by
 * the notify thread.  nq.lock guards the fields of nq; an operation queues
 * holding fs.lock (the lock order is in fs.h).  The notify thread takes
 * fs.lock, never with nq.lock held, to read a step of a directory walk. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

/* Entries of a directory read per hold of fs.lock: a stream may have a
 * million topics, and appends wait for the lock meanwhile. */
#define WALK_STEP 1024

/* Queued invalidation: one name, or a walk of a whole directory. */
struct inval {
	struct inval *next;
	uint64_t dir;
	bool walk;                      /* every referenced name in dir */
	struct store_dirit *it;         /* walk: position, under fs.lock */
	char name[NAME_MAX_BYTES + 1];  /* !walk: the name */
};

static struct {
	pthread_mutex_t lock;           /* guards the fields below */
	pthread_cond_t cond;
	struct fuse_pollhandle **q;     /* waiting to be sent */
	size_t n, cap;                  /* n is written atomically, so that
					 * notify_send_polls may look at it
					 * without the lock */
	struct inval *head, **tail;     /* invalidations, in order */
	/* Name invalidations queued and sent so far: names are sent in
	 * the order they were queued (a walk that goes back in line is
	 * no name), so every name queued before a count was taken has been
	 * sent once `names_sent` reaches it.  Waiters on `sent`. */
	uint64_t names_queued, names_sent;
	pthread_cond_t sent;
	bool stop;
	bool running;                   /* set by the main thread before the
					 * listeners start, after they stop */
	struct fuse_session *se;        /* set before the thread starts */
	pthread_t thread;
} nq = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	 .tail = &nq.head, .sent = PTHREAD_COND_INITIALIZER };

/* Poll wake-ups sent per hold of nq.lock by notify_send_polls(). */
#define SEND_STEP 64

/* Names found by one walk step; only the notify thread uses it. */
static struct {
	char name[WALK_STEP][NAME_MAX_BYTES + 1];
	size_t n;
} found;

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
	nq.q[nq.n] = ph;
	__atomic_store_n(&nq.n, nq.n + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&nq.lock);
}

static void send_all(struct fuse_pollhandle **q, size_t n);

void notify_send_polls(void)
{
	struct fuse_pollhandle *q[SEND_STEP];
	size_t n;
	/* Most operations queued nothing: no lock then.  (What this thread
	 * queued, it sees; what others queue, they send.) */
	if (__atomic_load_n(&nq.n, __ATOMIC_ACQUIRE) == 0)
		return;
	do {
		pthread_mutex_lock(&nq.lock);
		n = nq.n < SEND_STEP ? nq.n : SEND_STEP;
		__atomic_store_n(&nq.n, nq.n - n, __ATOMIC_RELEASE);
		if (n)
			memcpy(q, nq.q + nq.n, n * sizeof(*q));
		pthread_mutex_unlock(&nq.lock);
		send_all(q, n);
	} while (n == SEND_STEP);
}

/* ---- invalidations ---- */

static void inval_push(struct inval *iv)
{
	iv->next = NULL;
	*nq.tail = iv;
	nq.tail = &iv->next;
}

static struct inval *inval_pop(void)
{
	struct inval *iv = nq.head;
	if (iv) {
		nq.head = iv->next;
		if (!nq.head)
			nq.tail = &nq.head;
	}
	return iv;
}

/* A walk of dir that has not started yet covers everything a new one
 * would (it will read the directory as it is when it starts). */
static bool walk_waiting(uint64_t dir)
{
	for (struct inval *iv = nq.head; iv; iv = iv->next)
		if (iv->walk && iv->dir == dir && !iv->it)
			return true;
	return false;
}

static void inval_add(uint64_t dir, const char *name)
{
	struct inval *iv = calloc(1, sizeof(*iv));
	if (!iv) {
		log_msg(SF_LOG_ERROR, "out of memory: the kernel "
			"may keep names of directory %llu cached",
			(unsigned long long)dir);
		return;
	}
	iv->dir = dir;
	iv->walk = !name;
	if (name)
		snprintf(iv->name, sizeof(iv->name), "%s", name);
	pthread_mutex_lock(&nq.lock);
	if (iv->walk && walk_waiting(dir)) {
		free(iv);
	} else {
		if (!iv->walk)
			__atomic_store_n(&nq.names_queued, nq.names_queued + 1,
					 __ATOMIC_RELEASE);
		inval_push(iv);
		pthread_cond_signal(&nq.cond);
	}
	pthread_mutex_unlock(&nq.lock);
}

void notify_wait_names(void)
{
	if (__atomic_load_n(&nq.names_queued, __ATOMIC_ACQUIRE) ==
	    __atomic_load_n(&nq.names_sent, __ATOMIC_ACQUIRE))
		return;                 /* the usual case: nothing waits */
	pthread_mutex_lock(&nq.lock);
	uint64_t want = nq.names_queued;
	while (nq.running && !nq.stop && nq.names_sent < want)
		pthread_cond_wait(&nq.sent, &nq.lock);
	pthread_mutex_unlock(&nq.lock);
}

void notify_inval_name(uint64_t dir, const char *name)
{
	inval_add(dir, name);
}

void notify_inval_dir(uint64_t dir)
{
	inval_add(dir, NULL);
}

static void send_inval(uint64_t dir, const char *name)
{
	int r = fuse_lowlevel_notify_inval_entry(nq.se, dir, name,
						 strlen(name));
	if (r < 0 && r != -ENOENT && r != -ENODEV && r != -EBADF)
		log_msg(SF_LOG_WARNING, "invalidating a name of "
			"directory %llu failed: %d",
			(unsigned long long)dir, r);
}

/* One step of a walk, under fs.lock: collect into `found` the names whose
 * inode the kernel holds.  1 if the walk has more to read, else 0. */
static int walk_step(struct inval *iv)
{
	const char *name;
	size_t nlen;
	uint64_t ino;
	uint32_t dtype;
	int r = 1;
	found.n = 0;
	pthread_mutex_lock(&fs.lock);
	if (!iv->it && !(iv->it = store_dirit_open(fs.store, iv->dir)))
		r = -ENOMEM;
	for (int i = 0; r == 1 && i < WALK_STEP; i++) {
		r = store_dirit_next(iv->it, &name, &nlen, &ino, &dtype);
		struct node *n = r == 1 ? node_find(ino) : NULL;
		if (n && n->nlookup > 0)
			memcpy(found.name[found.n++], name, nlen + 1);
	}
	if (r != 1) {
		store_dirit_close(iv->it);
		iv->it = NULL;
	}
	pthread_mutex_unlock(&fs.lock);
	if (r < 0)
		log_msg(SF_LOG_ERROR, "cannot read directory %llu "
			"to invalidate its names: %s (the kernel may keep "
			"them)", (unsigned long long)iv->dir, strerror(-r));
	return r == 1;
}

/* Run an invalidation, or the next step of a walk: true if it is a walk
 * with more to do. */
static bool inval_run(struct inval *iv)
{
	if (!iv->walk) {
		send_inval(iv->dir, iv->name);
		return false;
	}
	int more = walk_step(iv);
	for (size_t i = 0; i < found.n; i++)
		send_inval(iv->dir, found.name[i]);
	return more;
}

/* Drop what is still queued at stop (the session is over). */
static void inval_drop(struct inval *iv)
{
	while (iv) {
		struct inval *next = iv->next;
		if (iv->it) {
			pthread_mutex_lock(&fs.lock);
			store_dirit_close(iv->it);
			pthread_mutex_unlock(&fs.lock);
		}
		free(iv);
		iv = next;
	}
}

/* ---- the thread ---- */

static void send_all(struct fuse_pollhandle **q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = fuse_lowlevel_notify_poll(q[i]);
		if (r < 0 && r != -ENOENT && r != -ENODEV && r != -EBADF)
			log_msg(SF_LOG_WARNING, "poll notification "
				"failed: %d", r);
		fuse_pollhandle_destroy(q[i]);
	}
}

/* Each round sends every waiting wake-up and runs one invalidation (one
 * step of a walk, which then goes back in line), so a long walk delays
 * neither pollers nor other invalidations by more than a step. */
static void *notify_main(void *arg)
{
	pthread_mutex_lock(&nq.lock);
	for (;;) {
		while (nq.n == 0 && !nq.head && !nq.stop)
			pthread_cond_wait(&nq.cond, &nq.lock);
		if (nq.n == 0 && nq.stop)
			break;
		/* Take the whole queue; send without the lock. */
		struct fuse_pollhandle **q = nq.q;
		size_t n = nq.n;
		nq.q = NULL;
		__atomic_store_n(&nq.n, 0, __ATOMIC_RELEASE);
		nq.cap = 0;
		struct inval *iv = nq.stop ? NULL : inval_pop();
		pthread_mutex_unlock(&nq.lock);
		send_all(q, n);
		free(q);
		bool name = iv && !iv->walk;
		bool more = iv && inval_run(iv);
		if (iv && !more)
			free(iv);
		pthread_mutex_lock(&nq.lock);
		if (more)
			inval_push(iv);
		if (name) {
			__atomic_store_n(&nq.names_sent, nq.names_sent + 1,
					 __ATOMIC_RELEASE);
			pthread_cond_broadcast(&nq.sent);
		}
	}
	struct inval *rest = nq.head;
	nq.head = NULL;
	nq.tail = &nq.head;
	pthread_cond_broadcast(&nq.sent);       /* stop: nobody waits on */
	pthread_mutex_unlock(&nq.lock);
	inval_drop(rest);
	return NULL;
}

int notify_start(struct fuse_session *se)
{
	nq.se = se;
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
