/* replica.c - the replication front end's own state: the table of link
 * threads (one per stored link) and each link's status, the wake-ups
 * appends give the link threads, the generations of streams' names and
 * cursors that tell a link when to look at them again, and the start
 * and stop of everything under fs/replica/ (the listener is
 * listener.c's).
 *
 * rp.lock guards every field marked so in struct rp_link (rp.h) and in
 * rp below; it is taken after fs.lock (replica_topic_appended) or alone,
 * and nothing else is taken while it is held. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include "rp.h"
#include "tls.h"

#define LINKS_MAX 4096
/* Streams share this many generation slots, by inode: two streams in one
 * slot only make each other's links look once more than needed. */
#define GEN_SLOTS 256

static struct {
	pthread_mutex_t lock;           /* rp.lock */
	/* Guarded by rp.lock: */
	struct rp_link *links;
	uint64_t names[GEN_SLOTS];      /* changes of streams' names */
	uint64_t cursors[GEN_SLOTS];    /* commits and removals of cursors */
	bool stopping;
	bool started;
	/* Link threads running, read without the lock by appends: */
	atomic_uint nlinks;
	/* Set from the command line before any link starts: */
	int64_t rescan_ms;
} rp = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rescan_ms = RP_RESCAN_DEFAULT * 1000,
};

int replica_set_rescan(const char *secs)
{
	char *end;
	errno = 0;
	long v = strtol(secs, &end, 10);
	if (errno || end == secs || *end || v < 0 || v > RP_RESCAN_MAX) {
		log_msg(SF_LOG_ERROR, "invalid replica_rescan=%s (seconds, "
			"0 to %d; 0: only when a change wakes a link)", secs,
			RP_RESCAN_MAX);
		return -1;
	}
	rp.rescan_ms = (int64_t)v * 1000;
	return 0;
}

int64_t rp_rescan_ms(void)
{
	return rp.rescan_ms;
}

/* Wake l's thread if it waits (rp.lock held). */
static void wake(struct rp_link *l)
{
	if (!l->sleeping)
		return;
	l->sleeping = false;
	uint64_t one = 1;
	if (write(l->efd, &one, sizeof one) < 0) {
		/* the counter is full: the thread is woken anyway */
	}
}

/* Note that l's thread has ino to look at (rp.lock held). */
static void note_appended(struct rp_link *l, uint64_t ino)
{
	for (unsigned i = 0; i < l->nappended; i++)
		if (l->appended[i] == ino)
			return;
	if (l->nappended < RP_APPENDED_MAX)
		l->appended[l->nappended++] = ino;
	else
		l->appended_all = true;
}

void replica_topic_appended(uint64_t ino, uint64_t stream)
{
	if (atomic_load_explicit(&rp.nlinks, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&rp.lock);
	for (struct rp_link *l = rp.links; l; l = l->next) {
		if (stream && l->stream != stream)
			continue;
		l->seq++;
		if (!l->appended_all)
			note_appended(l, ino);
		if (l->wake_appends)
			wake(l);
	}
	pthread_mutex_unlock(&rp.lock);
}

int rp_link_appended(struct rp_link *l, uint64_t *out, unsigned cap)
{
	pthread_mutex_lock(&rp.lock);
	int n = l->appended_all || l->nappended > cap ? -1
		: (int)l->nappended;
	for (int i = 0; i < n; i++)
		out[i] = l->appended[i];
	l->nappended = 0;
	l->appended_all = false;
	pthread_mutex_unlock(&rp.lock);
	return n;
}

static unsigned slot(uint64_t stream)
{
	return (unsigned)((stream * 0x9e3779b97f4a7c15ull) >> 56) % GEN_SLOTS;
}

/* One more change in gen's slot of stream, and the link threads woken
 * as an append wakes them. */
static void changed(uint64_t *gen, uint64_t stream)
{
	if (atomic_load_explicit(&rp.nlinks, memory_order_relaxed) == 0)
		return;         /* a link that starts looks at everything */
	pthread_mutex_lock(&rp.lock);
	gen[slot(stream)]++;
	for (struct rp_link *l = rp.links; l; l = l->next) {
		if (l->stream != stream)
			continue;
		l->seq++;
		if (l->wake_appends)
			wake(l);
	}
	pthread_mutex_unlock(&rp.lock);
}

void replica_names_changed(uint64_t stream)
{
	changed(rp.names, stream);
}

void replica_cursors_changed(uint64_t stream)
{
	changed(rp.cursors, stream);
}

void rp_link_gens(uint64_t stream, uint64_t *names, uint64_t *cursors)
{
	pthread_mutex_lock(&rp.lock);
	*names = rp.names[slot(stream)];
	*cursors = rp.cursors[slot(stream)];
	pthread_mutex_unlock(&rp.lock);
}

uint64_t rp_link_seq(struct rp_link *l)
{
	pthread_mutex_lock(&rp.lock);
	uint64_t s = l->seq;
	pthread_mutex_unlock(&rp.lock);
	return s;
}

int rp_link_poll(struct rp_link *l, uint64_t *seq, int fd, int sync_fd,
		 int ms, bool appends)
{
	pthread_mutex_lock(&rp.lock);
	bool now = (appends && l->seq != *seq) || l->changed || rp.stopping;
	l->sleeping = !now;
	l->wake_appends = appends;
	pthread_mutex_unlock(&rp.lock);
	int got = 0;
	if (!now) {
		struct pollfd p[3] = {
			{ .fd = l->efd, .events = POLLIN },
			{ .fd = fd, .events = POLLIN },
			{ .fd = sync_fd, .events = POLLIN },
		};
		int n = poll(p, 3, ms);         /* a -1 fd is skipped */
		if (n > 0 && p[1].revents)
			got |= RP_READABLE;
		if (n > 0 && p[2].revents)
			got |= RP_SYNCED;
		uint64_t v;
		if (n > 0 && p[0].revents && read(l->efd, &v, sizeof v) < 0) {
			/* nothing to drain */
		}
	}
	pthread_mutex_lock(&rp.lock);
	l->sleeping = false;
	if ((appends && l->seq != *seq) || l->changed || rp.stopping)
		got |= RP_WOKEN;
	*seq = l->seq;
	pthread_mutex_unlock(&rp.lock);
	return got;
}

bool rp_link_quit(struct rp_link *l)
{
	(void)l;
	pthread_mutex_lock(&rp.lock);
	bool q = rp.stopping;
	pthread_mutex_unlock(&rp.lock);
	return q;
}

void rp_link_set_fd(struct rp_link *l, int fd)
{
	pthread_mutex_lock(&rp.lock);
	l->fd = fd;
	bool stop = rp.stopping;
	pthread_mutex_unlock(&rp.lock);
	if (stop && fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

int rp_link_reload(struct rp_link *l, struct sf_link *out)
{
	pthread_mutex_lock(&rp.lock);
	bool changed = l->changed;
	l->changed = false;
	pthread_mutex_unlock(&rp.lock);
	if (!changed)
		return 1;
	struct sf_link *all = malloc(LINKS_MAX * sizeof *all);
	if (!all)
		return 1;
	pthread_mutex_lock(&fs.lock);
	int n = store_link_list(fs.store, all, LINKS_MAX);
	pthread_mutex_unlock(&fs.lock);
	int r = n < 0 ? 1 : -ENOENT;
	for (int i = 0; n > 0 && i < n && i < LINKS_MAX; i++)
		if (all[i].id == l->id) {
			*out = all[i];
			r = 0;
		}
	free(all);
	return r;
}

/* ---- status ---- */

void rp_status_set_state(struct rp_link *l, const char *state)
{
	pthread_mutex_lock(&rp.lock);
	/* A change not yet read decided the state (replica_link_changed). */
	if (!l->changed)
		snprintf(l->st.state, sizeof l->st.state, "%s", state);
	pthread_mutex_unlock(&rp.lock);
}

static void status_note(struct rp_link *l, int level, const char *fmt,
			va_list ap)
{
	char buf[sizeof l->st.last_error];
	vsnprintf(buf, sizeof buf, fmt, ap);
	pthread_mutex_lock(&rp.lock);
	bool same = strcmp(buf, l->st.last_error) == 0;
	memcpy(l->st.last_error, buf, sizeof buf);
	l->st.last_error_ns = rp_real_ns();
	pthread_mutex_unlock(&rp.lock);
	/* A link that fails the same way again and again says so once. */
	if (!same)
		log_msg(level, "replica: link %llu: %s",
			(unsigned long long)l->id, buf);
}

void rp_status_error(struct rp_link *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	status_note(l, SF_LOG_WARNING, fmt, ap);
	va_end(ap);
}

void rp_status_down(struct rp_link *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	status_note(l, SF_LOG_INFO, fmt, ap);
	va_end(ap);
}

void rp_status_progress(struct rp_link *l, uint64_t msgs_behind,
			double secs_behind, uint64_t sent_msgs,
			uint64_t sent_bytes)
{
	pthread_mutex_lock(&rp.lock);
	l->st.msgs_behind = msgs_behind;
	l->st.secs_behind = secs_behind;
	l->st.sent_msgs = sent_msgs;
	l->st.sent_bytes = sent_bytes;
	pthread_mutex_unlock(&rp.lock);
}

void rp_status_looks(struct rp_link *l, uint64_t scans,
		     uint64_t cursor_looks)
{
	pthread_mutex_lock(&rp.lock);
	l->st.scans = scans;
	l->st.cursor_looks = cursor_looks;
	pthread_mutex_unlock(&rp.lock);
}

void rp_status_peer(struct rp_link *l, uint64_t peer_id)
{
	pthread_mutex_lock(&rp.lock);
	l->st.peer_id = peer_id;
	pthread_mutex_unlock(&rp.lock);
}

int replica_link_status(uint64_t id, struct replica_status *out)
{
	int r = -ENOENT;
	pthread_mutex_lock(&rp.lock);
	for (struct rp_link *l = rp.links; l; l = l->next)
		if (l->id == id && !l->done) {
			*out = l->st;
			r = 0;
		}
	pthread_mutex_unlock(&rp.lock);
	return r;
}

/* ---- the table ---- */

/* Start a thread for link c (rp.lock held): 0, or -errno. */
static int start_link(const struct sf_link *c)
{
	for (struct rp_link *l = rp.links; l; l = l->next)
		if (l->id == c->id && !l->done)
			return -EEXIST;
	struct rp_link *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	l->id = c->id;
	l->stream = c->stream;
	l->conf = *c;
	l->fd = -1;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		int e = errno;
		free(l);
		return -e;
	}
	l->st.id = c->id;
	snprintf(l->st.state, sizeof l->st.state, "%s",
		 c->flags & SF_LINK_PAUSED ? "paused" : "connecting");
	atomic_fetch_add(&rp.nlinks, 1);
	int r = pthread_create(&l->th, NULL, rp_link_main, l);
	if (r != 0) {
		atomic_fetch_sub(&rp.nlinks, 1);
		close(l->efd);
		free(l);
		return -r;
	}
	l->next = rp.links;
	rp.links = l;
	return 0;
}

int replica_link_started(const struct sf_link *c)
{
	pthread_mutex_lock(&rp.lock);
	int r = rp.started && !rp.stopping ? start_link(c) : 0;
	pthread_mutex_unlock(&rp.lock);
	return r;
}

/* The stored flags of link id: 0, or -ENOENT (removed) or -errno.
 * Takes fs.lock. */
static int stored_flags(uint64_t id, uint32_t *flags)
{
	struct sf_link *all = malloc(LINKS_MAX * sizeof *all);
	if (!all)
		return -ENOMEM;
	pthread_mutex_lock(&fs.lock);
	int n = store_link_list(fs.store, all, LINKS_MAX);
	pthread_mutex_unlock(&fs.lock);
	int r = n < 0 ? n : -ENOENT;
	for (int i = 0; i < n && i < LINKS_MAX; i++)
		if (all[i].id == id) {
			*flags = all[i].flags;
			r = 0;
		}
	free(all);
	return r;
}

void replica_link_changed(uint64_t id)
{
	/* The state a listing shows follows the change at once; the
	 * thread acts on it as soon as it wakes. */
	uint32_t flags = 0;
	int known = stored_flags(id, &flags);
	pthread_mutex_lock(&rp.lock);
	for (struct rp_link *l = rp.links; l; l = l->next)
		if (l->id == id && !l->done) {
			l->changed = true;
			if (known == 0 && (flags & SF_LINK_PAUSED))
				snprintf(l->st.state, sizeof l->st.state,
					 "paused");
			else if (known == 0 &&
				 strcmp(l->st.state, "paused") == 0)
				snprintf(l->st.state, sizeof l->st.state,
					 "connecting");
			if (known == -ENOENT)
				l->done = true;         /* its thread ends */
			if (l->fd >= 0)
				shutdown(l->fd, SHUT_RDWR);
			wake(l);
		}
	pthread_mutex_unlock(&rp.lock);
}

void rp_link_ended(struct rp_link *l)
{
	pthread_mutex_lock(&rp.lock);
	l->done = true;
	pthread_mutex_unlock(&rp.lock);
	atomic_fetch_sub(&rp.nlinks, 1);
}

int replica_start(void)
{
	struct sf_link *all = malloc(LINKS_MAX * sizeof *all);
	if (!all)
		return -1;
	pthread_mutex_lock(&fs.lock);
	int h = replica_home_resume();
	int n = store_link_list(fs.store, all, LINKS_MAX);
	pthread_mutex_unlock(&fs.lock);
	if (h < 0)
		log_msg(SF_LOG_WARNING, "replica: cannot read the hand-overs "
			"of homes asked: %s (ask them again)", strerror(-h));
	if (n < 0 && n != -ENOSYS) {
		log_msg(SF_LOG_ERROR, "replica: cannot read the links: %s",
			strerror(-n));
		free(all);
		return -1;
	}
	pthread_mutex_lock(&rp.lock);
	rp.started = true;
	for (int i = 0; i < n && i < LINKS_MAX; i++)
		if (start_link(&all[i]) < 0)
			log_msg(SF_LOG_ERROR, "replica: link %llu: cannot "
				"start its thread",
				(unsigned long long)all[i].id);
	pthread_mutex_unlock(&rp.lock);
	free(all);
	return rp_listen_start();
}

void replica_stop(void)
{
	pthread_mutex_lock(&rp.lock);
	rp.stopping = true;
	for (struct rp_link *l = rp.links; l; l = l->next) {
		if (l->fd >= 0)
			shutdown(l->fd, SHUT_RDWR);
		wake(l);
	}
	struct rp_link *links = rp.links;
	rp.links = NULL;
	pthread_mutex_unlock(&rp.lock);
	while (links) {
		struct rp_link *next = links->next;
		pthread_join(links->th, NULL);
		close(links->efd);
		free(links);
		links = next;
	}
	rp_listen_stop();
}

bool rp_stopping(void)
{
	pthread_mutex_lock(&rp.lock);
	bool s = rp.stopping;
	pthread_mutex_unlock(&rp.lock);
	return s;
}
