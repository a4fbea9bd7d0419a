/* log.c - the daemon's log: every line it writes has a time (UTC, ISO
 * 8601 with milliseconds) and a level (error, warning, info).
 *
 * Where the lines go:
 *   -f           standard error, from the start;
 *   detached     DATADIR/streamfs.log, from log_open (before the store
 *                opens, so recovery's lines are in it);
 *   -o syslog    syslog (facility daemon), with or without -f.
 * Until log_open has chosen the file or syslog, lines go to the starting
 * terminal as plain "streamfs: ..." lines (a command's messages: a bad
 * option, a mount point or data folder refused) and are kept, to be
 * written to the log once it is open.  From log_open until log_serving,
 * errors and warnings still go to the terminal too, so a start that fails
 * says why where it was started.  libfuse's own messages come through
 * here as well; the request trace of -d is printed as libfuse writes it.
 *
 * Lock: log.lock, a leaf (taken with any other lock held, never held
 * while taking another), guards everything below for one line's write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"

enum log_dest { DEST_PENDING, DEST_STDERR, DEST_FILE, DEST_SYSLOG };

#define EARLY_MAX 16
#define LINE_MAX_BYTES 2048

static const char *const level_name[] = { "error", "warning", "info" };

static struct {
	pthread_mutex_t lock;
	enum log_dest dest;
	bool syslog;            /* -o syslog */
	int fd;                 /* DEST_FILE: the log file; else 2 */
	bool echo;              /* errors and warnings to the terminal too */
	/* Lines from before log_open, for the log. */
	struct { int level; int64_t ns; char text[256]; } early[EARLY_MAX];
	int nearly;
} lg = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = 2 };

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

size_t log_stamp(int64_t ns, char *buf, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;
	char day[32];
	gmtime_r(&s, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(buf, cap, "%s.%03dZ", day,
			 (int)(ns / 1000000 % 1000));
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int level_ok(int level)
{
	return level < SF_LOG_ERROR || level > SF_LOG_INFO ? SF_LOG_ERROR
							   : level;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;         /* nowhere left to say so */
		p += w;
		n -= (size_t)w;
	}
}

/* "TIME LEVEL: text\n" to fd, in one write. */
static void put_stamped(int fd, int level, int64_t ns, const char *text)
{
	char line[LINE_MAX_BYTES];
	size_t n = log_stamp(ns, line, sizeof(line));
	int w = snprintf(line + n, sizeof(line) - n, " %s: %s\n",
			 level_name[level], text);
	n += w < 0 ? 0 : (size_t)w < sizeof(line) - n ? (size_t)w
						       : sizeof(line) - n - 1;
	if (line[n - 1] != '\n')
		line[n - 1] = '\n';     /* cut short: still one line */
	write_all(fd, line, n);
}

/* "streamfs: [error: |warning: ]text\n" on the terminal. */
static void put_plain(int level, const char *text)
{
	char line[LINE_MAX_BYTES];
	int n = snprintf(line, sizeof(line), "streamfs: %s%s%s\n",
			 level == SF_LOG_INFO ? "" : level_name[level],
			 level == SF_LOG_INFO ? "" : ": ", text);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n
							  : sizeof(line) - 1;
	if (len && line[len - 1] != '\n')
		line[len - 1] = '\n';
	write_all(2, line, len);
}

static void put_dest(int level, int64_t ns, const char *text)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO };
	switch (lg.dest) {
	case DEST_SYSLOG:
		syslog(prio[level], "%s", text);
		break;
	case DEST_FILE:
	case DEST_STDERR:
		put_stamped(lg.fd, level, ns, text);
		break;
	case DEST_PENDING:
		put_plain(level, text);
		if (lg.nearly < EARLY_MAX) {
			lg.early[lg.nearly].level = level;
			lg.early[lg.nearly].ns = ns;
			snprintf(lg.early[lg.nearly].text,
				 sizeof(lg.early[0].text), "%s", text);
			lg.nearly++;
		}
		return;
	}
	if (lg.echo && level != SF_LOG_INFO)
		put_plain(level, text);
}

/* One entry: newlines inside it become spaces, a trailing one goes. */
static void log_text(int level, char *text)
{
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = 0;
	for (char *p = text; (p = strchr(p, '\n')); )
		*p = ' ';
	level = level_ok(level);
	pthread_mutex_lock(&lg.lock);
	put_dest(level, now_ns(), text);
	pthread_mutex_unlock(&lg.lock);
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char text[LINE_MAX_BYTES];
	vsnprintf(text, sizeof(text), fmt, ap);
	log_text(level, text);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_store_hook(void *arg, int level, const char *line)
{
	char text[LINE_MAX_BYTES];
	snprintf(text, sizeof(text), "%s", line);
	log_text(level, text);
}

/* libfuse's messages: errors and warnings as such, notices and info as
 * info; debug output (-d) as it comes.  libfuse writes some messages in
 * pieces: they are gathered (per thread) up to their newline, and logged
 * at the level of their first piece. */
static void fuse_hook(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static __thread char text[LINE_MAX_BYTES];
	static __thread size_t len;
	static __thread int first;
	if (level >= FUSE_LOG_DEBUG) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	if (len == 0)
		first = level <= FUSE_LOG_ERR ? SF_LOG_ERROR
			: level == FUSE_LOG_WARNING ? SF_LOG_WARNING
						    : SF_LOG_INFO;
	int n = vsnprintf(text + len, sizeof(text) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < sizeof(text) - len ? (size_t)n
						      : sizeof(text) - len - 1;
	if (len > 0 && (text[len - 1] == '\n' || len == sizeof(text) - 1)) {
		log_text(first, text);
		len = 0;
	}
}

void log_init(void)
{
	fuse_set_log_func(fuse_hook);
}

void log_configure(bool foreground, bool use_syslog)
{
	pthread_mutex_lock(&lg.lock);
	lg.syslog = use_syslog;
	if (foreground && !use_syslog) {
		lg.dest = DEST_STDERR;  /* the early lines went there already */
		lg.nearly = 0;
	}
	pthread_mutex_unlock(&lg.lock);
}

int log_open(const char *datadir)
{
	char path[4096];
	int fd = -1;
	if (lg.dest != DEST_PENDING)
		return 0;
	if (!lg.syslog) {
		snprintf(path, sizeof(path), "%s/streamfs.log", datadir);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			log_msg(SF_LOG_ERROR, "cannot open the log %s: %s",
				path, strerror(errno));
			return -1;
		}
	}
	pthread_mutex_lock(&lg.lock);
	if (lg.syslog) {
		openlog("streamfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		lg.dest = DEST_SYSLOG;
	} else {
		lg.fd = fd;
		lg.dest = DEST_FILE;
	}
	for (int i = 0; i < lg.nearly; i++)
		put_dest(lg.early[i].level, lg.early[i].ns, lg.early[i].text);
	lg.nearly = 0;
	lg.echo = true;
	pthread_mutex_unlock(&lg.lock);
	return 0;
}

void log_serving(bool detached)
{
	pthread_mutex_lock(&lg.lock);
	lg.echo = false;
	if (detached) {
		/* What else writes to stderr (a sanitizer's report) goes to
		 * the log file; under syslog, nowhere. */
		int fd = lg.dest == DEST_FILE ? lg.fd
					      : open("/dev/null", O_WRONLY);
		if (fd >= 0 && fd != 2)
			dup2(fd, 2);
		if (fd >= 0 && fd != lg.fd)
			close(fd);
	}
	pthread_mutex_unlock(&lg.lock);
}

/* The recovery summary of the start line. */
static void recovery_text(const struct store_recovery *r, char *buf,
			  size_t cap)
{
	if (r->streams == 0 && r->orphans_purged == 0) {
		snprintf(buf, cap, "recovery: nothing to recover");
		return;
	}
	snprintf(buf, cap, "recovery: read the unsynced tails of %llu "
		 "streams, %llu segments cut (%llu bytes), %llu records "
		 "indexed again, %llu index entries dropped, %llu records left "
		 "unindexed, %llu orphans purged",
		 (unsigned long long)r->streams,
		 (unsigned long long)r->segments_cut,
		 (unsigned long long)r->bytes_cut,
		 (unsigned long long)r->records_reindexed,
		 (unsigned long long)r->entries_dropped,
		 (unsigned long long)r->records_unindexed,
		 (unsigned long long)r->orphans_purged);
}

void log_start_line(const char *datadir, const char *mnt,
		    const char *options, const struct store_recovery *rec)
{
	char summary[512];
	recovery_text(rec, summary, sizeof(summary));
	log_msg(SF_LOG_INFO, "streamfs %s started: pid %d, data folder %s, "
		"mount point %s, options %s; %s", PACKAGE_VERSION,
		(int)getpid(), datadir, mnt, options[0] ? options : "(none)",
		summary);
}
