/* events.c - the errors stream: one JSON line per exceptional event,
 * appended to /.streamfs/errors.
 *
 * Events come from any thread, most with fs.lock held (the store reports
 * through its event hook inside store calls; a denied operation is
 * reported after its request).  So raising one never waits for the
 * stream: the line is formatted into a bounded ring, and a thread of
 * this file's own appends what the ring holds through sysstream_append,
 * without fs.lock.  A full ring drops the line and counts it; the next
 * line written says how many were dropped.  Events raised while the
 * thread appends (a failed append of its own) are logged by the store,
 * but not queued again.  Events raised before the thread starts (what
 * recovery did at mount) wait in the ring until it does.
 *
 * Rate limits: at most EV_BURST lines per second of each kind of event
 * (a denied operation: per uid and operation; a store event: per type
 * and what met it); the rest are counted, and one line of type
 * "suppressed" says how many once the second is over.  Recovery's lines
 * are not limited (one per stream at most, at mount).
 *
 * Lock: ev.lock is taken after fs.lock or alone (fs.h), and guards
 * everything in struct ev; no other lock is taken while holding it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs.h"

#define EV_SLOTS 256            /* lines the ring holds */
#define EV_LINE 1024            /* bytes of one line, at most */
#define EV_BURST 5              /* lines per key and window */
#define EV_WINDOW_NS 1000000000LL
#define EV_KEYS 64              /* keys the rate limits remember */
#define EV_BATCH 16             /* lines taken out of the ring at once */
#define EV_VALUE_MAX 200        /* bytes of a string value kept */
#define NO_UID ((uid_t)-1)

/* One rate-limited key and its current window. */
struct limit {
	bool used;
	const char *type;       /* a string constant */
	uid_t uid;              /* NO_UID for store events */
	char op[32];            /* the operation, or what met the event */
	int64_t start_ns;       /* the window's start */
	unsigned passed;        /* lines written in the window */
	uint64_t suppressed;    /* events not written in it */
	int64_t last_ns;        /* the key's last event (for reuse) */
};

static struct {
	pthread_mutex_t lock;   /* ev.lock: see the top of this file */
	pthread_cond_t wake;
	char line[EV_SLOTS][EV_LINE];
	uint16_t len[EV_SLOTS];
	unsigned head, count;   /* the ring: oldest line, lines held */
	uint64_t dropped;       /* lines a full ring could not take */
	struct limit lim[EV_KEYS];
	bool started, stop;
	pthread_t thread;
} ev = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .wake = PTHREAD_COND_INITIALIZER };

/* The drain thread: events it raises are not queued again. */
static __thread bool draining;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- one JSON line ---- */

/* A line under construction.  Each field is added whole or not at all,
 * and room is kept for the closing brace, so a line is always valid
 * JSON; a field that does not fit marks the line "truncated". */
struct jline {
	char buf[EV_LINE];
	size_t len;
	bool truncated;
};
#define J_CLOSE 24              /* ,"truncated":true}\n */

static void j_field(struct jline *j, const char *text, size_t n)
{
	if (j->len + n + J_CLOSE > sizeof(j->buf)) {
		j->truncated = true;
		return;
	}
	memcpy(j->buf + j->len, text, n);
	j->len += n;
}

/* A string value, escaped; at most EV_VALUE_MAX bytes of it. */
static size_t j_escape(char *out, const char *s)
{
	size_t n = 0;
	for (size_t i = 0; s[i] && i < EV_VALUE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)sprintf(out + n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	return n;
}

static void j_str(struct jline *j, const char *key, const char *val)
{
	char f[EV_VALUE_MAX * 6 + 64];
	if (!val)
		return;
	size_t n = (size_t)snprintf(f, 48, ",\"%.32s\":\"", key);
	n += j_escape(f + n, val);
	f[n++] = '"';
	j_field(j, f, n);
}

static void j_u64(struct jline *j, const char *key, uint64_t v)
{
	char f[80];
	int n = snprintf(f, sizeof(f), ",\"%.32s\":%llu", key,
			 (unsigned long long)v);
	j_field(j, f, (size_t)n);
}

/* {"ts":"...","type":"..." */
static void j_begin(struct jline *j, int64_t ns, const char *type)
{
	char ts[48];
	log_stamp(ns, ts, sizeof(ts));
	j->len = (size_t)snprintf(j->buf, sizeof(j->buf),
				  "{\"ts\":\"%s\",\"type\":\"%s\"", ts, type);
	j->truncated = false;
}

static void j_end(struct jline *j)
{
	if (j->truncated) {
		memcpy(j->buf + j->len, ",\"truncated\":true", 17);
		j->len += 17;
	}
	j->buf[j->len++] = '}';
	j->buf[j->len++] = '\n';
}

static const char *errno_name(int err)
{
	const char *name = err > 0 ? strerrorname_np(err) : NULL;
	return name ? name : "?";
}

/* ---- the ring (ev.lock held) ---- */

static void ring_push(const struct jline *j)
{
	if (ev.count == EV_SLOTS) {
		ev.dropped++;
		return;
	}
	unsigned i = (ev.head + ev.count) % EV_SLOTS;
	memcpy(ev.line[i], j->buf, j->len);
	ev.len[i] = (uint16_t)j->len;
	ev.count++;
	pthread_cond_signal(&ev.wake);
}

/* ---- rate limits (ev.lock held) ---- */

/* The "suppressed" line of a key whose window held more than EV_BURST. */
static void limit_flush(struct limit *l)
{
	struct jline j;
	if (!l->suppressed)
		return;
	j_begin(&j, now_ns(), "suppressed");
	j_str(&j, "of", l->type);
	if (l->uid != NO_UID)
		j_u64(&j, "uid", l->uid);
	j_str(&j, l->uid != NO_UID ? "op" : "what", l->op);
	j_u64(&j, "count", l->suppressed);
	char since[48];
	log_stamp(l->start_ns, since, sizeof(since));
	j_str(&j, "since", since);
	j_end(&j);
	ring_push(&j);
	l->suppressed = 0;
}

static struct limit *limit_find(const char *type, uid_t uid, const char *op)
{
	struct limit *free_slot = NULL, *oldest = NULL;
	for (int i = 0; i < EV_KEYS; i++) {
		struct limit *l = &ev.lim[i];
		if (!l->used) {
			free_slot = free_slot ? free_slot : l;
			continue;
		}
		if (strcmp(l->type, type) == 0 && l->uid == uid &&
		    strncmp(l->op, op, sizeof(l->op) - 1) == 0)
			return l;
		if (!oldest || l->last_ns < oldest->last_ns)
			oldest = l;
	}
	struct limit *l = free_slot ? free_slot : oldest;
	limit_flush(l);
	*l = (struct limit){ .used = true, .type = type, .uid = uid };
	snprintf(l->op, sizeof(l->op), "%s", op);
	return l;
}

/* May an event of this key be written now?  If not, it is counted. */
static bool limit_pass(const char *type, uid_t uid, const char *op,
		       int64_t now)
{
	struct limit *l = limit_find(type, uid, op ? op : "");
	if (now - l->start_ns >= EV_WINDOW_NS) {
		limit_flush(l);
		l->start_ns = now;
		l->passed = 0;
	}
	l->last_ns = now;
	if (l->passed < EV_BURST) {
		l->passed++;
		return true;
	}
	l->suppressed++;
	return false;
}

/* Windows that are over: their suppressed counts are written.  true if
 * some count still waits for its window to end. */
static bool limits_tick(int64_t now)
{
	bool waiting = false;
	for (int i = 0; i < EV_KEYS; i++) {
		struct limit *l = &ev.lim[i];
		if (!l->used || !l->suppressed)
			continue;
		if (now - l->start_ns >= EV_WINDOW_NS)
			limit_flush(l);
		else
			waiting = true;
	}
	return waiting;
}

/* ---- raising events ---- */

static const char *type_of(enum store_event_kind kind)
{
	switch (kind) {
	case STORE_EV_CHECKSUM: return "checksum";
	case STORE_EV_IO: return "io_error";
	case STORE_EV_NOSPACE: return "enospc";
	case STORE_EV_LEVELDB: return "leveldb";
	case STORE_EV_READ_ONLY: return "read_only";
	case STORE_EV_HEALED: return "healed";
	case STORE_EV_RECOVERY: return "recovery";
	}
	return "store";
}

/* Where in the segments: stream, segment, its file and the offset. */
static void j_where(struct jline *j, const struct store_event *e)
{
	char file[64];
	if (e->stream) {
		j_u64(j, "stream", e->stream);
		j_u64(j, "segment", e->seg);
		snprintf(file, sizeof(file), "segments/%016llx/%016llx",
			 (unsigned long long)e->stream,
			 (unsigned long long)e->seg);
		j_str(j, "file", file);
		j_u64(j, "offset", e->off);
	}
	if (e->topic) {
		j_u64(j, "topic", e->topic);
		j_u64(j, "topic_offset", e->topic_off);
	}
}

static void store_line(struct jline *j, int64_t now,
		       const struct store_event *e)
{
	j_begin(j, now, type_of(e->kind));
	j_str(j, "what", e->what);
	if (e->err)
		j_str(j, "errno", errno_name(e->err));
	j_where(j, e);
	if (e->kind == STORE_EV_RECOVERY) {
		j_u64(j, "good", e->good);
		j_u64(j, "cut", e->cut);
		j_u64(j, "reindexed", e->reindexed);
		j_u64(j, "dropped", e->dropped);
		j_u64(j, "unindexed", e->unindexed);
	}
	j_str(j, "detail", e->detail);
	j_str(j, "action", e->action);
	j_end(j);
}

void events_store_hook(void *arg, const struct store_event *e)
{
	struct jline j;
	int64_t now = now_ns();
	if (draining)
		return;
	pthread_mutex_lock(&ev.lock);
	if (e->kind == STORE_EV_RECOVERY ||
	    limit_pass(type_of(e->kind), NO_UID, e->what, now)) {
		store_line(&j, now, e);
		ring_push(&j);
	}
	pthread_mutex_unlock(&ev.lock);
}

void events_denied(uid_t uid, pid_t pid, const char *op, uint64_t ino,
		   const char *perm, int err)
{
	struct jline j;
	int64_t now = now_ns();
	if (draining)
		return;
	pthread_mutex_lock(&ev.lock);
	if (limit_pass("denied", uid, op, now)) {
		j_begin(&j, now, "denied");
		j_u64(&j, "uid", uid);
		j_u64(&j, "pid", (uint64_t)pid);
		j_str(&j, "op", op);
		j_u64(&j, "ino", ino);
		j_str(&j, "perm", perm);
		j_str(&j, "errno", errno_name(err));
		j_end(&j);
		ring_push(&j);
	}
	pthread_mutex_unlock(&ev.lock);
}

/* ---- the drain thread ---- */

/* The "dropped" line, if the ring dropped any (ev.lock held). */
static bool take_dropped(struct jline *j)
{
	if (!ev.dropped)
		return false;
	j_begin(j, now_ns(), "dropped");
	j_u64(j, "count", ev.dropped);
	j_end(j);
	ev.dropped = 0;
	return true;
}

/* Up to EV_BATCH lines out of the ring into out (ev.lock held). */
static int take(struct jline *out)
{
	int n = take_dropped(&out[0]) ? 1 : 0;
	while (n < EV_BATCH && ev.count > 0) {
		memcpy(out[n].buf, ev.line[ev.head], ev.len[ev.head]);
		out[n].len = ev.len[ev.head];
		ev.head = (ev.head + 1) % EV_SLOTS;
		ev.count--;
		n++;
	}
	return n;
}

/* Append lines to /.streamfs/errors (without any lock).  A failure is
 * logged once, and again with the count of lost lines when appends work
 * again. */
static void append_lines(const struct jline *lines, int n)
{
	static uint64_t lost;
	for (int i = 0; i < n; i++) {
		int r = sysstream_append("errors", lines[i].buf, lines[i].len);
		if (r < 0 && lost++ == 0)
			log_msg(SF_LOG_WARNING, "cannot append to "
				"/.streamfs/errors: %s; its events are in "
				"the log only", strerror(-r));
		if (r == 0 && lost) {
			log_msg(SF_LOG_INFO, "/.streamfs/errors takes events "
				"again; %llu could not be written",
				(unsigned long long)lost);
			lost = 0;
		}
	}
}

static void wait_for_work(bool timed)
{
	if (!timed) {
		pthread_cond_wait(&ev.wake, &ev.lock);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_cond_timedwait(&ev.wake, &ev.lock, &ts);
}

static void *drain(void *arg)
{
	static struct jline batch[EV_BATCH];
	draining = true;
	pthread_mutex_lock(&ev.lock);
	for (;;) {
		bool waiting = limits_tick(now_ns());
		int n = take(batch);
		if (n > 0) {
			pthread_mutex_unlock(&ev.lock);
			append_lines(batch, n);
			pthread_mutex_lock(&ev.lock);
			continue;
		}
		if (ev.stop)
			break;
		wait_for_work(waiting);
	}
	pthread_mutex_unlock(&ev.lock);
	return NULL;
}

int events_start(void)
{
	int r = pthread_create(&ev.thread, NULL, drain, NULL);
	if (r != 0) {
		log_msg(SF_LOG_ERROR, "cannot start the events thread: %s",
			strerror(r));
		return -1;
	}
	ev.started = true;
	return 0;
}

void events_stop(void)
{
	if (!ev.started)
		return;
	pthread_mutex_lock(&ev.lock);
	/* Counts still inside their window are written now. */
	for (int i = 0; i < EV_KEYS; i++)
		if (ev.lim[i].used)
			limit_flush(&ev.lim[i]);
	ev.stop = true;
	pthread_cond_signal(&ev.wake);
	pthread_mutex_unlock(&ev.lock);
	pthread_join(ev.thread, NULL);
	ev.started = false;
}
