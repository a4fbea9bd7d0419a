/* retention.c - retention while the mount runs: a thread of its own that
 * takes fs.lock for one bounded step at a time to expire topics beyond
 * their stream's retention_bytes (noted at each append, and every topic of
 * a stream whose policy changed), and to run the store's own steps
 * (store_reclaim: ttl, deleting and compacting segments).  Whatever moved
 * a topic's head, the cached topic states of the nodes are kept in step
 * (expired_cb).
 *
 * Every field of rt is guarded by fs.lock; the thread waits on rt.cond
 * with fs.lock, so this file adds no lock of its own. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "fs.h"

#define TICK_MS 100             /* the longest wait between steps */
#define CAP_SET 131072          /* topics noted over their cap, a power of 2 */
#define CAP_STEP 512            /* topics expired per step */
#define WALK_STEP 1024          /* entries of a stream walked per step */
#define WALK_MAX 64             /* streams waiting for a walk */

static struct {
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	uint64_t *cap_set;      /* open addressing; 0 is a free slot */
	size_t ncap;
	uint64_t walk[WALK_MAX];        /* streams to walk, walk[0] first */
	unsigned nwalk;
	struct store_dirit *it; /* the walk of walk[0] under way */
	bool warned;
} rt = { .cond = PTHREAD_COND_INITIALIZER };

/* ---- keeping cached topic states in step ---- */

static void expired_cb(void *arg, uint64_t ino, uint64_t start,
		       uint64_t first_msg, int64_t first_ns)
{
	(void)arg;
	struct node *n = node_find(ino);
	if (!n || !n->topic)
		return;
	n->topic->start = start;
	n->topic->first_msg = first_msg;
	n->topic->first_ns = first_ns;
}

/* ---- topics over their cap ---- */

void retention_note(uint64_t ino)
{
	if (!rt.cap_set && !(rt.cap_set = calloc(CAP_SET, sizeof(uint64_t))))
		return;         /* the next append notes it again */
	size_t i = (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 20) &
		   (CAP_SET - 1);
	while (rt.cap_set[i] && rt.cap_set[i] != ino)
		i = (i + 1) & (CAP_SET - 1);
	if (rt.cap_set[i] || rt.ncap >= CAP_SET / 2)
		return;
	rt.cap_set[i] = ino;
	rt.ncap++;
}

/* Expire ino beyond its stream's cap (policy p) in x. */
static void cap_one(struct store_expiry *x, uint64_t ino,
		    const struct sf_policy *p)
{
	struct node *n = node_find(ino);
	struct sf_topic tmp, *t = n && n->topic ? n->topic : &tmp;
	if (t == &tmp && store_topic_load(fs.store, ino, &tmp) < 0)
		return;
	if (p->retention_bytes && t->size - t->start > p->retention_bytes)
		store_expiry_cap(x, ino, t->size, p->retention_bytes, 0);
}

/* The policies of topic ino's stream. */
static int parent_policy(uint64_t ino, struct sf_policy *p)
{
	struct node *n = node_find(ino);
	struct sf_inode in;
	if (n && n->known)
		return ns_policy(n->parent, p);
	if (store_get_inode(fs.store, ino, &in) < 0 || !is_topic(&in))
		return -1;
	return ns_policy(in.parent, p);
}

/* One step of the noted topics; true if some are left. */
static bool cap_step(void)
{
	if (rt.ncap == 0)
		return false;
	struct store_expiry *x = store_expiry_begin(fs.store);
	if (!x)
		return false;
	unsigned done = 0;
	for (size_t i = 0; i < CAP_SET && done < CAP_STEP; i++) {
		uint64_t ino = rt.cap_set[i];
		struct sf_policy p;
		if (!ino)
			continue;
		/* Emptied as it is drained: a later note of a topic still
		 * further along may then add it twice, which only expires
		 * it twice. */
		rt.cap_set[i] = 0;
		rt.ncap--;
		done++;
		if (parent_policy(ino, &p) == 0)
			cap_one(x, ino, &p);
	}
	int r = store_expiry_end(x, expired_cb, NULL);
	if (r < 0 && !rt.warned) {
		log_msg(SF_LOG_ERROR, "retention: %s; trying "
			"again", strerror(-r));
		rt.warned = true;
	}
	return rt.ncap > 0;
}

/* ---- walking a stream whose policy changed ---- */

static void walk_queue(uint64_t dir)
{
	for (unsigned i = 0; i < rt.nwalk; i++)
		if (rt.walk[i] == dir)
			return;
	if (rt.nwalk < WALK_MAX)
		rt.walk[rt.nwalk++] = dir;
}

static bool walk_step(void)
{
	if (rt.nwalk == 0)
		return false;
	uint64_t dir = rt.walk[0];
	struct sf_policy p;
	if (!rt.it)
		rt.it = store_dirit_open(fs.store, dir);
	struct store_expiry *x = rt.it && ns_policy(dir, &p) == 0
				 ? store_expiry_begin(fs.store) : NULL;
	int r = x ? 1 : 0;
	for (unsigned n = 0; x && n < WALK_STEP; n++) {
		const char *name;
		size_t nlen;
		uint64_t ino;
		uint32_t dtype;
		r = store_dirit_next(rt.it, &name, &nlen, &ino, &dtype);
		if (r <= 0)
			break;
		if (dtype == DT_REG)
			cap_one(x, ino, &p);
	}
	if (x)
		store_expiry_end(x, expired_cb, NULL);
	if (r <= 0) {
		if (rt.it)
			store_dirit_close(rt.it);
		rt.it = NULL;
		memmove(rt.walk, rt.walk + 1, --rt.nwalk * sizeof(rt.walk[0]));
	}
	return rt.nwalk > 0;
}

void retention_policy_set(uint64_t dir)
{
	struct sf_policy p;
	if (ns_policy(dir, &p) < 0)
		return;
	store_policy_changed(fs.store, dir, &p);
	if (p.retention_bytes)
		walk_queue(dir);
	pthread_cond_signal(&rt.cond);
}

/* ---- the thread ---- */

static void wait_tick(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += TICK_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&rt.cond, &fs.lock, &ts);
}

static void *retention_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&fs.lock);
	while (!rt.stop) {
		bool more = cap_step();
		more |= walk_step();
		int r = store_reclaim(fs.store, expired_cb, NULL);
		if (r < 0 && !rt.warned) {
			log_msg(SF_LOG_ERROR, "retention: %s; "
				"trying again", strerror(-r));
			rt.warned = true;
		} else if (r >= 0) {
			rt.warned = false;
		}
		if (r > 0)
			more = true;
		if (more) {
			/* Let the operations waiting for the lock in. */
			pthread_mutex_unlock(&fs.lock);
			sched_yield();
			pthread_mutex_lock(&fs.lock);
		} else {
			wait_tick();
		}
	}
	if (rt.it)
		store_dirit_close(rt.it);
	rt.it = NULL;
	pthread_mutex_unlock(&fs.lock);
	return NULL;
}

/* At mount: a topic may have passed its cap just before the daemon
 * stopped, before its step ran; walk every stream with a cap once. */
static void walk_capped(void)
{
	uint64_t streams[WALK_MAX];
	int n = store_streams(fs.store, streams, WALK_MAX);
	for (int i = 0; i < n && i < WALK_MAX; i++) {
		struct sf_policy p;
		if (ns_policy(streams[i], &p) == 0 && p.retention_bytes)
			walk_queue(streams[i]);
	}
}

int retention_start(void)
{
	pthread_mutex_lock(&fs.lock);
	walk_capped();
	pthread_mutex_unlock(&fs.lock);
	int r = pthread_create(&rt.thread, NULL, retention_main, NULL);
	rt.running = r == 0;
	return -r;
}

void retention_stop(void)
{
	if (!rt.running)
		return;
	pthread_mutex_lock(&fs.lock);
	rt.stop = true;
	pthread_cond_signal(&rt.cond);
	pthread_mutex_unlock(&fs.lock);
	pthread_join(rt.thread, NULL);
	rt.running = false;
	free(rt.cap_set);
	rt.cap_set = NULL;
}
