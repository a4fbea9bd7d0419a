/*
 * follow.c - reading and following the topics that the PATH arguments of
 * streamctl tail and consume name (see follow.h).  A topic PATH is read as
 * it is; a stream PATH stands for each of its topics, in name order, and
 * with -f for the topics made in it later too: an inotify watch on the
 * stream's directory (IN_CREATE, IN_MOVED_TO; the file system's events
 * come from the VFS, so names made through this mount are seen) finds
 * them at once, and a listing every RESCAN_MS catches what inotify
 * cannot (a full event queue).  A file that has no kind yet is looked at
 * again at its next write, attribute change or close.
 *
 * Following waits in poll() on every topic's descriptor (the daemon
 * answers poll on topics, and wakes it at the next append) and the
 * inotify descriptor; each round reads what is new, writes the output,
 * and then tells the caller (consume commits there).
 */
#include "follow.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often a followed stream is listed again, in case inotify missed a
 * new topic; the environment's STREAMCTL_RESCAN (seconds, 0: never)
 * changes it. */
#define RESCAN_MS 5000
/* Bytes one topic may read in one round of following before the others
 * get their turn. */
#define TURN_BYTES (8u << 20)

#define WATCH_BASE (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
/* While a stream holds files without a kind: what may make one a topic. */
#define WATCH_PENDING (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)

enum seen_state { SEEN_TOPIC, SEEN_PENDING, SEEN_OTHER };

struct seen {
	char *name;
	ino_t ino;
	enum seen_state state;
};

static int64_t rescan_ms = RESCAN_MS;

struct follow_stream {
	char *path;
	int write_framing;
	int wd;			/* inotify watch, or -1 */
	uint32_t mask;
	struct seen *seen;	/* sorted by name */
	size_t nseen, cap;
	size_t npending;
};

/* ------------------------------------------------------------ topics */

static void topic_free(struct follow_topic *t)
{
	if (!t)
		return;
	msgread_close(&t->rd);
	free(t->path);
	free(t);
}

static int push_topic(struct follow *f, struct follow_topic *t)
{
	struct follow_topic **v = realloc(f->topics, (f->ntopics + 1) *
					  sizeof(*v));
	if (!v)
		return -ENOMEM;
	f->topics = v;
	v[f->ntopics++] = t;
	return 0;
}

/* Open topic PATH (taken over) and place its reader where f->start says.
 * 0, or TOOL_FAIL after an error line. */
static int add_topic(struct follow *f, char *path, int write_framing,
		     int created, ino_t ino)
{
	struct follow_topic *t = calloc(1, sizeof(*t));
	uint64_t pos;
	int rc;

	if (!t) {
		free(path);
		tool_error(NULL, "out of memory");
		return TOOL_FAIL;
	}
	t->path = path;
	t->created = created;
	t->ino = ino;
	rc = msgread_open(&t->rd, &f->buf, path, write_framing);
	if (rc == 0)
		rc = msgread_info(&t->rd, &t->info);
	if (rc) {
		tool_error(path, "cannot read the topic: %s", sfs_strerror(rc));
		topic_free(t);
		return TOOL_FAIL;
	}
	if (f->start(f, t, &pos)) {
		topic_free(t);
		return TOOL_FAIL;
	}
	msgread_start(&t->rd, pos);
	t->flushed = pos;
	t->limit = f->follow ? UINT64_MAX : t->info.size;
	if (push_topic(f, t)) {
		tool_error(NULL, "out of memory");
		topic_free(t);
		return TOOL_FAIL;
	}
	return 0;
}

/* framing=write in directory DIR: 1, 0 for line, or -errno. */
static int write_framing_of(const char *dir)
{
	char *v;
	int rc = sfs_get_word(dir, "framing", &v);

	if (rc)
		return rc;
	rc = strcmp(v, "write") == 0;
	free(v);
	return rc;
}

/* ------------------------------------------------------------ streams */

static int seen_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct seen *)elem)->name);
}

static struct seen *seen_find(struct follow_stream *s, const char *name)
{
	return s->nseen ? bsearch(name, s->seen, s->nseen, sizeof(*s->seen),
				  seen_cmp) : NULL;
}

static struct seen *seen_add(struct follow_stream *s, const char *name)
{
	size_t i = 0;

	while (i < s->nseen && strcmp(s->seen[i].name, name) < 0)
		i++;
	if (s->nseen == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct seen *v = realloc(s->seen, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->seen = v;
		s->cap = cap;
	}
	char *copy = strdup(name);
	if (!copy)
		return NULL;
	memmove(s->seen + i + 1, s->seen + i, (s->nseen - i) * sizeof(*s->seen));
	s->nseen++;
	s->seen[i] = (struct seen){ .name = copy, .state = SEEN_OTHER };
	return &s->seen[i];
}

/* Watch for what may make a kindless file a topic only while there is
 * one, so that appends to the stream's topics wake nobody. */
static void watch_update(struct follow *f, struct follow_stream *s)
{
	uint32_t mask = WATCH_BASE | (s->npending ? WATCH_PENDING : 0);

	if (s->wd < 0 || mask == s->mask)
		return;
	if (inotify_add_watch(f->inotify, s->path, mask) >= 0)
		s->mask = mask;
}

static void seen_set(struct follow_stream *s, struct seen *e,
		     enum seen_state state, ino_t ino)
{
	s->npending += (state == SEEN_PENDING) - (e->state == SEEN_PENDING);
	e->state = state;
	e->ino = ino;
}

/* Look at entry NAME of stream S: a new topic is added (CREATED: made
 * after the start). */
static void look_at(struct follow *f, struct follow_stream *s,
		    const char *name, int created)
{
	struct seen *e = seen_find(s, name);
	struct stat st;
	char *path = tool_join(s->path, name), *kind = NULL;
	int rc;

	if (!path || (!e && !(e = seen_add(s, name)))) {
		free(path);
		tool_error(s->path, "out of memory");
		f->status = TOOL_FAIL;
		return;
	}
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		seen_set(s, e, SEEN_OTHER, 0);
		free(path);
		return;
	}
	if (e->ino == st.st_ino && e->state != SEEN_PENDING) {
		free(path);
		return;
	}
	rc = sfs_get_word(path, "kind", &kind);
	if (rc == 0 && strcmp(kind, "topic") == 0) {
		seen_set(s, e, SEEN_TOPIC, st.st_ino);
		if (add_topic(f, path, s->write_framing, created, st.st_ino))
			f->status = TOOL_FAIL;
		path = NULL;
	} else {
		seen_set(s, e, rc == -ENODATA ? SEEN_PENDING : SEEN_OTHER,
			 st.st_ino);
	}
	free(kind);
	free(path);
}

/* List stream S and look at every entry. */
static int scan_stream(struct follow *f, struct follow_stream *s,
		       int created)
{
	char **names;
	size_t n;
	int rc = tool_list_dir(s->path, NULL, &names, &n);

	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && !f->stop)
			look_at(f, s, names[i], created);
		free(names[i]);
	}
	free(names);
	if (rc) {
		tool_error(s->path, "cannot list the stream: %s", strerror(-rc));
		return TOOL_FAIL;
	}
	watch_update(f, s);
	return 0;
}

static int watch_stream(struct follow *f, struct follow_stream *s)
{
	if (f->inotify < 0)
		f->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (f->inotify >= 0)
		s->wd = inotify_add_watch(f->inotify, s->path, WATCH_BASE);
	if (f->inotify < 0 || s->wd < 0) {
		tool_error(s->path, "cannot watch the stream for new topics: "
			   "%s", strerror(errno));
		return TOOL_FAIL;
	}
	s->mask = WATCH_BASE;
	return 0;
}

static int add_stream(struct follow *f, const char *path)
{
	struct follow_stream *s = calloc(1, sizeof(*s));
	struct follow_stream **v = realloc(f->streams, (f->nstreams + 1) *
					   sizeof(*v));
	int rc = sfs_check_stream(path);

	if (v)
		f->streams = v;
	if (!s || !v || !(s->path = strdup(path))) {
		free(s);
		tool_error(path, "out of memory");
		return TOOL_FAIL;
	}
	s->wd = -1;
	if (rc == 0)
		rc = write_framing_of(path);
	if (rc < 0) {
		tool_error(path, "%s", sfs_strerror(rc));
		free(s->path);
		free(s);
		return TOOL_FAIL;
	}
	s->write_framing = rc;
	f->streams[f->nstreams++] = s;
	/* Watch before listing: a topic made in between is seen twice,
	 * and the second time it is known. */
	if (f->follow && watch_stream(f, s))
		return TOOL_FAIL;
	return scan_stream(f, s, 0);
}

static void streams_free(struct follow *f)
{
	for (size_t i = 0; i < f->nstreams; i++) {
		struct follow_stream *s = f->streams[i];
		for (size_t j = 0; j < s->nseen; j++)
			free(s->seen[j].name);
		free(s->seen);
		free(s->path);
		free(s);
	}
	free(f->streams);
}

/* ------------------------------------------------------------ paths */

static int add_path(struct follow *f, const char *path)
{
	struct stat st;
	char *kind, *copy, *dir;
	int rc;

	if (tool_stat(path, &st))
		return TOOL_FAIL;
	if (S_ISDIR(st.st_mode))
		return add_stream(f, path);
	if (!S_ISREG(st.st_mode)) {
		tool_error(path, "not a topic or stream");
		return TOOL_FAIL;
	}
	rc = sfs_check_path(path, 0);
	if (rc == 0)
		rc = sfs_get_word(path, "kind", &kind);
	if (rc) {
		tool_error(path, "%s", rc == -ENODATA ?
			   "not a topic (never written)" : sfs_strerror(rc));
		return TOOL_FAIL;
	}
	rc = strcmp(kind, "topic");
	free(kind);
	if (rc) {
		tool_error(path, "not a topic");
		return TOOL_FAIL;
	}
	copy = strdup(path);
	dir = copy ? strdup(path) : NULL;
	if (!dir) {
		free(copy);
		tool_error(path, "out of memory");
		return TOOL_FAIL;
	}
	rc = write_framing_of(dirname(dir));
	free(dir);
	if (rc < 0) {
		free(copy);
		tool_error(path, "cannot read its stream's framing: %s",
			   sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return add_topic(f, copy, rc, 0, st.st_ino);
}

/* ------------------------------------------------------------ reading */

static void report_lost(struct follow_topic *t)
{
	if (t->rd.lost)
		tool_error(t->path, "%" PRIu64 " message%s expired before %s "
			   "read", t->rd.lost, t->rd.lost == 1 ? "" : "s",
			   t->rd.lost == 1 ? "it was" : "they were");
	else if (t->rd.lost_unknown)
		tool_error(t->path, "messages expired before they were read; "
			   "going on at byte %" PRIu64, t->rd.pos);
	t->rd.lost = 0;
	t->rd.lost_unknown = 0;
}

/* Print what topic T has now, up to BUDGET bytes of it. */
static void drain(struct follow *f, struct follow_topic *t, uint64_t budget)
{
	int copies = msgfmt_copies_lines(f->fmt);
	uint64_t from = t->rd.pos;
	struct msg m;

	t->more = 0;
	while (!f->stop && !t->failed) {
		uint64_t run = !copies ? 0 : f->count ? f->count - f->printed
						      : UINT64_MAX;
		int rc = msgread_next(&t->rd, t->limit, run, &m);
		report_lost(t);
		if (rc < 0) {
			tool_error(t->path, "cannot read the topic: %s",
				   strerror(-rc));
			t->failed = 1;
			f->status = TOOL_FAIL;
		}
		if (rc <= 0)
			break;
		msgfmt_put(f->fmt, &f->out, t->path, &m);
		f->printed += m.count;
		if (f->count && f->printed >= f->count)
			f->stop = 1;
		if (f->out.err)
			f->stop = 1;
		if (t->rd.pos - from >= budget) {
			t->more = 1;
			break;
		}
	}
}

/* Write the output, then tell the caller how far each topic got. */
static void flush_all(struct follow *f)
{
	if (f->out_failed)
		return;
	int rc = out_flush(&f->out);
	if (rc) {
		tool_error("standard output", "%s", strerror(-rc));
		f->out_failed = 1;
		f->status = TOOL_FAIL;
		f->stop = 1;
		return;
	}
	for (size_t i = 0; i < f->ntopics; i++) {
		struct follow_topic *t = f->topics[i];
		if (t->failed || t->rd.pos == t->flushed)
			continue;
		if (f->flushed && f->flushed(f, t)) {
			t->failed = 1;
			f->status = TOOL_FAIL;
		}
		t->flushed = t->rd.pos;
	}
}

/* ------------------------------------------------------------ following */

static struct follow_stream *stream_of_wd(struct follow *f, int wd)
{
	for (size_t i = 0; i < f->nstreams; i++)
		if (f->streams[i]->wd == wd)
			return f->streams[i];
	return NULL;
}

static void rescan_all(struct follow *f)
{
	for (size_t i = 0; i < f->nstreams && !f->stop; i++)
		if (f->streams[i]->wd >= 0 &&
		    scan_stream(f, f->streams[i], 1))
			f->status = TOOL_FAIL;
}

/* Read the inotify events that are there and look at what they name. */
static void read_events(struct follow *f)
{
	char buf[64 * 1024] __attribute__((aligned(8)));
	ssize_t n;

	while ((n = read(f->inotify, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (void *)p;
			struct follow_stream *s = stream_of_wd(f, ev->wd);
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				rescan_all(f);
			} else if (s && (ev->mask & (IN_DELETE_SELF |
						      IN_MOVE_SELF |
						      IN_IGNORED))) {
				s->wd = -1;	/* gone: nothing more comes */
			} else if (s && ev->len) {
				struct seen *e = seen_find(s, ev->name);
				if (!(ev->mask & WATCH_PENDING) ||
				    (e && e->state == SEEN_PENDING))
					look_at(f, s, ev->name, 1);
			}
		}
	}
	for (size_t i = 0; i < f->nstreams; i++)
		watch_update(f, f->streams[i]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int watching(struct follow *f)
{
	for (size_t i = 0; i < f->nstreams; i++)
		if (f->streams[i]->wd >= 0)
			return 1;
	return 0;
}

/* One round: wait until a topic has more (or a stream a new topic, or a
 * rescan is due), read what is there, write it out. */
static int follow_round(struct follow *f, struct pollfd **pfd, size_t *cap,
			int64_t *next_scan)
{
	size_t n = 0;
	int more = 0;

	if (*cap < f->ntopics + 1) {
		struct pollfd *v = realloc(*pfd, (f->ntopics + 1) * sizeof(*v));
		if (!v) {
			tool_error(NULL, "out of memory");
			return TOOL_FAIL;
		}
		*pfd = v;
		*cap = f->ntopics + 1;
	}
	for (size_t i = 0; i < f->ntopics; i++) {
		struct follow_topic *t = f->topics[i];
		(*pfd)[i] = (struct pollfd){ .fd = t->failed ? -1 : t->rd.fd,
					     .events = POLLIN };
		more |= t->more && !t->failed;
	}
	(*pfd)[f->ntopics] = (struct pollfd){ .fd = watching(f) ? f->inotify
								: -1,
					      .events = POLLIN };
	n = f->ntopics;
	int64_t wait = *next_scan - now_ms();
	if (!watching(f) || !rescan_ms)
		wait = -1;
	else if (wait < 0)
		wait = 0;
	int r = poll(*pfd, n + 1, more ? 0 : (int)wait);
	if (r < 0 && errno != EINTR) {
		tool_error(NULL, "poll: %s", strerror(errno));
		return TOOL_FAIL;
	}
	for (size_t i = 0; r >= 0 && i < n && !f->stop; i++) {
		struct follow_topic *t = f->topics[i];
		if ((*pfd)[i].revents & POLLNVAL) {
			t->failed = 1;
			continue;
		}
		if ((*pfd)[i].revents)
			msgread_wake(&t->rd);
		if ((*pfd)[i].revents || t->more)
			drain(f, t, TURN_BYTES);
	}
	if (r > 0 && ((*pfd)[n].revents & POLLIN) && !f->stop)
		read_events(f);
	if (watching(f) && rescan_ms && now_ms() >= *next_scan) {
		rescan_all(f);
		*next_scan = now_ms() + rescan_ms;
	}
	return 0;
}

/* Anything left to follow: a topic that is still read, or a stream. */
static int alive(struct follow *f)
{
	if (watching(f))
		return 1;
	for (size_t i = 0; i < f->ntopics; i++)
		if (!f->topics[i]->failed)
			return 1;
	return 0;
}

/* Let a stream of many topics be followed: one descriptor each. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* STREAMCTL_RESCAN: 0, or a usage error. */
static int rescan_setting(const char *cmd)
{
	const char *v = getenv("STREAMCTL_RESCAN");
	uint64_t secs;

	if (!v || !*v)
		return 0;
	if (tool_parse_u64(v, &secs) || secs > 86400 * 365)
		return tool_usage_error(cmd, "bad STREAMCTL_RESCAN '%s': give "
					"seconds, 0 for never", v);
	rescan_ms = (int64_t)secs * 1000;
	return 0;
}

int follow_run(struct follow *f, char **paths, int npaths)
{
	struct pollfd *pfd = NULL;
	size_t cap = 0;
	int64_t next_scan;

	if (rescan_setting(f->cmd))
		return TOOL_USAGE;
	next_scan = now_ms() + rescan_ms;
	f->inotify = -1;
	raise_fd_limit();
	if (msgbuf_init(&f->buf) || out_init(&f->out, STDOUT_FILENO)) {
		tool_error(NULL, "out of memory");
		return TOOL_FAIL;
	}
	for (int i = 0; i < npaths; i++)
		if (add_path(f, paths[i]))
			f->status = TOOL_FAIL;
	/* Catch up with each topic in turn; then follow them all. */
	for (size_t i = 0; i < f->ntopics && !f->stop; i++) {
		drain(f, f->topics[i], UINT64_MAX);
		flush_all(f);
	}
	while (f->follow && !f->stop && alive(f)) {
		if (follow_round(f, &pfd, &cap, &next_scan)) {
			f->status = TOOL_FAIL;
			break;
		}
		flush_all(f);
	}
	flush_all(f);
	free(pfd);
	for (size_t i = 0; i < f->ntopics; i++)
		topic_free(f->topics[i]);
	free(f->topics);
	streams_free(f);
	if (f->inotify >= 0)
		close(f->inotify);
	msgbuf_free(&f->buf);
	out_free(&f->out);
	return f->status;
}

int follow_main(struct follow *f, const char *format, int json, char **paths,
		int npaths)
{
	struct msgfmt *fmt;
	char why[160];
	int rc;

	if (format && json)
		return tool_usage_error(f->cmd, "--format and -J exclude "
					"each other");
	if (npaths == 0)
		return tool_usage_error(f->cmd, "no PATH given");
	if (msgfmt_new(format, json, &fmt, why, sizeof(why)))
		return tool_usage_error(f->cmd, "bad --format: %s", why);
	f->fmt = fmt;
	rc = follow_run(f, paths, npaths);
	msgfmt_free(fmt);
	return rc;
}
