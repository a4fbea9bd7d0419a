/*
 * ctl_stats.c - "streamctl stats [-f] [PATH]": a table of the topics under
 * a stream (its own and its substreams', or the whole mount's from its
 * root), in the manner of kafka-topics --describe and redis-cli info:
 * messages, first and last offsets, size, the append rate in messages and
 * bytes per second over the last interval, and the consumer groups with
 * the largest lag.  Rates come from two readings of every topic's
 * user.streamfs.info an interval apart; -f goes on reading and printing
 * every interval.
 */
#include "ctl.h"
#include "timefmt.h"
#include "topic_info.h"
#include "topic_walk.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: streamctl stats [-f] [-i SECONDS] [-n COUNT] [PATH]\n"
	"\n"
	"Show the topics of stream PATH and of its substreams (PATH a topic:\n"
	"that topic; the mount's root: the whole mount; default: the current\n"
	"directory): a summary line, then one row per topic with its live\n"
	"messages, first and last message offsets, size in bytes, and the\n"
	"messages and bytes appended per second over the interval, busiest\n"
	"first; then the consumer groups of those topics, largest lag first.\n"
	"The figures are two readings of each topic an interval apart, so\n"
	"the command takes one interval before it prints.\n"
	"\n"
	"Options:\n"
	"  -f, --follow          print the table again every interval, until\n"
	"                        interrupted\n"
	"  -i, --interval=SECS   seconds between readings (default 1; 0.1 to\n"
	"                        3600)\n"
	"  -n, --top=COUNT       rows of topics and of groups shown (default\n"
	"                        20; 0: all); a line says how many more there\n"
	"                        are\n"
	"  -h, --help            show this help\n";

struct group_row {
	char *name;
	uint64_t lag_msgs, lag_bytes;
};

struct topic_row {
	char *path;                     /* relative to PATH (or PATH itself) */
	struct topic_info ti;
	struct group_row *g;
	size_t ng;
	double msg_rate, byte_rate;     /* per second; < 0: not measured */
};

struct sample {
	const char *base;               /* PATH, as given */
	struct topic_row *v;
	size_t n, cap;
	struct timespec at;             /* CLOCK_MONOTONIC, after reading */
	unsigned long skipped;          /* substreams not readable */
	int oom;
};

static uint64_t next_message(const struct topic_info *ti)
{
	return (uint64_t)(ti->v[I_FIRST_MESSAGE] + ti->v[I_MESSAGES]);
}

/* The groups of a topic (user.streamfs.groups: "GROUP OFF MSG NS" lines)
 * with their lag behind its end. */
static int read_groups(const char *path, struct topic_row *r)
{
	char *text, *save = NULL;
	uint64_t size = (uint64_t)r->ti.v[I_SIZE], next = next_message(&r->ti);
	int rc = sfs_get(path, "groups", &text);

	if (rc)
		return rc;
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char name[TOOL_GROUP_MAX + 1];
		uint64_t off, msg, ns;
		struct group_row *g;
		if (sscanf(l, "%200s %" SCNu64 " %" SCNu64 " %" SCNu64, name,
			   &off, &msg, &ns) != 4) {
			rc = -EBADMSG;
			break;
		}
		if (!(g = realloc(r->g, (r->ng + 1) * sizeof(*g))) ||
		    !(g[r->ng].name = strdup(name))) {
			if (g)
				r->g = g;
			rc = -ENOMEM;
			break;
		}
		r->g = g;
		g[r->ng].lag_msgs = next > msg ? next - msg : 0;
		g[r->ng].lag_bytes = size > off ? size - off : 0;
		r->ng++;
	}
	free(text);
	return rc;
}

static const char *relative(const struct sample *s, const char *path)
{
	size_t n = strlen(s->base);

	if (strncmp(path, s->base, n) != 0 || path[n] == '\0')
		return path;
	path += n;
	while (*path == '/')
		path++;
	return path;
}

/* topic_fn: one topic's reading, a row of the sample. */
static int read_topic(const char *path, int named, void *arg)
{
	struct sample *s = arg;
	struct topic_row *r;
	int rc;

	(void)named;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct topic_row *v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			s->oom = 1;
			return TOOL_FAIL;
		}
		s->v = v;
		s->cap = cap;
	}
	r = &s->v[s->n];
	memset(r, 0, sizeof(*r));
	rc = topic_info_read(path, &r->ti);
	if (!rc)
		rc = read_groups(path, r);
	if (!rc && !(r->path = strdup(relative(s, path))))
		rc = -ENOMEM;
	if (rc) {
		for (size_t i = 0; i < r->ng; i++)
			free(r->g[i].name);
		free(r->g);
		if (rc == -ENOMEM)
			s->oom = 1;
		tool_error(path, "cannot read: %s", rc == -EBADMSG ?
			   "malformed answer from the daemon" :
			   sfs_strerror(rc));
		return TOOL_FAIL;
	}
	r->msg_rate = r->byte_rate = -1;
	s->n++;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct topic_row *)a)->path,
		      ((const struct topic_row *)b)->path);
}

static void free_sample(struct sample *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t j = 0; j < s->v[i].ng; j++)
			free(s->v[i].g[j].name);
		free(s->v[i].g);
		free(s->v[i].path);
	}
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Read every topic under PATH; rows sorted by path.  0 or TOOL_FAIL. */
static int take_sample(const char *path, struct sample *s)
{
	struct topic_walk w = { .recursive = 1 };
	int status;

	memset(s, 0, sizeof(*s));
	s->base = path;
	status = topic_each(path, &w, read_topic, s);
	clock_gettime(CLOCK_MONOTONIC, &s->at);
	s->skipped = w.skipped;
	if (s->oom)
		tool_error(NULL, "out of memory");
	if (s->n)
		qsort(s->v, s->n, sizeof(s->v[0]), by_path);
	return status;
}

/* The rates of CUR's topics since PREV (a topic new in CUR has none). */
static void set_rates(const struct sample *prev, struct sample *cur)
{
	double dt = (double)(cur->at.tv_sec - prev->at.tv_sec) +
		    (double)(cur->at.tv_nsec - prev->at.tv_nsec) / 1e9;
	size_t j = 0;

	for (size_t i = 0; i < cur->n && dt > 0; i++) {
		struct topic_row *r = &cur->v[i];
		while (j < prev->n && strcmp(prev->v[j].path, r->path) < 0)
			j++;
		if (j == prev->n || strcmp(prev->v[j].path, r->path) != 0)
			continue;
		const struct topic_info *a = &prev->v[j].ti;
		uint64_t m0 = next_message(a), m1 = next_message(&r->ti);
		int64_t b0 = a->v[I_SIZE], b1 = r->ti.v[I_SIZE];
		/* A topic made again under the same name starts over. */
		r->msg_rate = m1 >= m0 ? (double)(m1 - m0) / dt : 0;
		r->byte_rate = b1 >= b0 ? (double)(b1 - b0) / dt : 0;
	}
}

/* Busiest first: messages per second, then size, then name. */
static int by_activity(const void *pa, const void *pb)
{
	const struct topic_row *a = *(const struct topic_row *const *)pa;
	const struct topic_row *b = *(const struct topic_row *const *)pb;

	if (a->msg_rate != b->msg_rate)
		return a->msg_rate < b->msg_rate ? 1 : -1;
	if (a->ti.v[I_SIZE] != b->ti.v[I_SIZE])
		return a->ti.v[I_SIZE] < b->ti.v[I_SIZE] ? 1 : -1;
	return strcmp(a->path, b->path);
}

struct group_ref {
	const struct topic_row *t;
	const struct group_row *g;
};

static int by_lag(const void *pa, const void *pb)
{
	const struct group_ref *a = pa, *b = pb;
	int c;

	if (a->g->lag_msgs != b->g->lag_msgs)
		return a->g->lag_msgs < b->g->lag_msgs ? 1 : -1;
	if ((c = strcmp(a->g->name, b->g->name)) != 0)
		return c;
	return strcmp(a->t->path, b->t->path);
}

static void rate_cell(double v, char *buf, size_t cap)
{
	if (v < 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.1f", v);
}

/* Width of each column of the topic rows shown. */
enum { T_TOPIC, T_MESSAGES, T_FIRST, T_LAST, T_SIZE, T_MSG_RATE,
       T_BYTE_RATE, T_GROUPS, T_NCOLS };

static const char *const t_heads[T_NCOLS] = {
	"TOPIC", "MESSAGES", "FIRST", "LAST", "SIZE", "MSG/S", "BYTES/S",
	"GROUPS",
};

static void topic_cells(const struct topic_row *r, char cell[][32],
			const char **name)
{
	*name = r->path[0] ? r->path : ".";
	snprintf(cell[T_MESSAGES], 32, "%" PRId64, r->ti.v[I_MESSAGES]);
	if (r->ti.v[I_MESSAGES] > 0) {
		snprintf(cell[T_FIRST], 32, "%" PRId64, r->ti.v[I_FIRST_MESSAGE]);
		snprintf(cell[T_LAST], 32, "%" PRId64, r->ti.v[I_LAST_MESSAGE]);
	} else {
		snprintf(cell[T_FIRST], 32, "-");
		snprintf(cell[T_LAST], 32, "-");
	}
	snprintf(cell[T_SIZE], 32, "%" PRId64, r->ti.v[I_SIZE]);
	rate_cell(r->msg_rate, cell[T_MSG_RATE], 32);
	rate_cell(r->byte_rate, cell[T_BYTE_RATE], 32);
	snprintf(cell[T_GROUPS], 32, "%zu", r->ng);
}

static void print_topics(const struct topic_row *const *rows, size_t shown)
{
	size_t w[T_NCOLS];
	char cell[T_NCOLS][32];
	const char *name;

	for (int c = 0; c < T_NCOLS; c++)
		w[c] = strlen(t_heads[c]);
	for (size_t i = 0; i < shown; i++) {
		topic_cells(rows[i], cell, &name);
		if (strlen(name) > w[T_TOPIC])
			w[T_TOPIC] = strlen(name);
		for (int c = 1; c < T_NCOLS; c++)
			if (strlen(cell[c]) > w[c])
				w[c] = strlen(cell[c]);
	}
	printf("%-*s", (int)w[0], t_heads[0]);
	for (int c = 1; c < T_NCOLS; c++)
		printf("  %*s", (int)w[c], t_heads[c]);
	putchar('\n');
	for (size_t i = 0; i < shown; i++) {
		topic_cells(rows[i], cell, &name);
		printf("%-*s", (int)w[0], name);
		for (int c = 1; c < T_NCOLS; c++)
			printf("  %*s", (int)w[c], cell[c]);
		putchar('\n');
	}
}

static void print_groups(const struct group_ref *refs, size_t n, size_t top)
{
	size_t shown = top && n > top ? top : n, wg = 5, wt = 5;

	for (size_t i = 0; i < shown; i++) {
		const char *t = refs[i].t->path[0] ? refs[i].t->path : ".";
		if (strlen(refs[i].g->name) > wg)
			wg = strlen(refs[i].g->name);
		if (strlen(t) > wt)
			wt = strlen(t);
	}
	printf("\n%-*s  %-*s  %12s  %12s\n", (int)wg, "GROUP", (int)wt,
	       "TOPIC", "LAG_MESSAGES", "LAG_BYTES");
	for (size_t i = 0; i < shown; i++)
		printf("%-*s  %-*s  %12" PRIu64 "  %12" PRIu64 "\n", (int)wg,
		       refs[i].g->name, (int)wt,
		       refs[i].t->path[0] ? refs[i].t->path : ".",
		       refs[i].g->lag_msgs, refs[i].g->lag_bytes);
	if (shown < n)
		printf("(%zu more groups)\n", n - shown);
}

static int print_stats(const struct sample *s, const char *path,
		       double interval, size_t top)
{
	const struct topic_row **rows = calloc(s->n ? s->n : 1, sizeof(*rows));
	struct group_ref *refs;
	size_t ng = 0, k = 0, shown;
	double in_msgs = 0, in_bytes = 0;
	uint64_t msgs = 0, bytes = 0;
	char now[TIMEFMT_ISO_SIZE];
	struct timespec ts;

	for (size_t i = 0; i < s->n; i++)
		ng += s->v[i].ng;
	refs = calloc(ng ? ng : 1, sizeof(*refs));
	if (!rows || !refs) {
		free(rows);
		free(refs);
		tool_error(NULL, "out of memory");
		return TOOL_FAIL;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct topic_row *r = &s->v[i];
		rows[i] = r;
		msgs += (uint64_t)r->ti.v[I_MESSAGES];
		bytes += (uint64_t)r->ti.v[I_SIZE];
		if (r->msg_rate > 0)
			in_msgs += r->msg_rate;
		if (r->byte_rate > 0)
			in_bytes += r->byte_rate;
		for (size_t j = 0; j < r->ng; j++)
			refs[k++] = (struct group_ref){ r, &r->g[j] };
	}
	qsort(rows, s->n, sizeof(*rows), by_activity);
	qsort(refs, ng, sizeof(*refs), by_lag);
	clock_gettime(CLOCK_REALTIME, &ts);
	timefmt_iso((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
		    now);
	printf("%s  %s  interval %.2f s\n", path, now, interval);
	printf("topics %zu  messages %" PRIu64 "  bytes %" PRIu64
	       "  in %.1f messages/s %.1f bytes/s  groups %zu\n", s->n, msgs,
	       bytes, in_msgs, in_bytes, ng);
	if (s->skipped)
		printf("(%lu substreams not readable, left out)\n", s->skipped);
	shown = top && s->n > top ? top : s->n;
	if (s->n) {
		putchar('\n');
		print_topics(rows, shown);
	}
	if (shown < s->n)
		printf("(%zu more topics)\n", s->n - shown);
	if (ng)
		print_groups(refs, ng, top);
	free(rows);
	free(refs);
	return fflush(stdout) == 0 ? 0 : TOOL_FAIL;
}

static void sleep_secs(double secs)
{
	struct timespec ts = { (time_t)secs,
			       (long)((secs - (double)(time_t)secs) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.1 && v <= 3600))
		return -1;
	*out = v;
	return 0;
}

int ctl_stats(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "interval", required_argument, NULL, 'i' },
		{ "top", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double interval = 1;
	uint64_t top = 20;
	int follow = 0, printed = 0, c, status;
	const char *path = ".";
	struct sample prev, cur;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+fi:n:h", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = 1;
			break;
		case 'i':
			if (parse_interval(optarg, &interval))
				return tool_usage_error("stats", "invalid "
					"interval '%s' (seconds, 0.1 to "
					"3600)", optarg);
			break;
		case 'n':
			if (tool_parse_u64(optarg, &top) || top > 1000000)
				return tool_usage_error("stats", "invalid "
					"count '%s' (0 to 1000000)", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return tool_bad_option("stats", c, argv);
		}
	}
	if (argc - optind > 1)
		return tool_usage_error("stats", "more than one PATH given");
	if (optind < argc)
		path = argv[optind];
	if (take_sample(path, &prev) && prev.n == 0) {
		free_sample(&prev);
		return TOOL_FAIL;
	}
	for (;;) {
		sleep_secs(interval);
		status = take_sample(path, &cur);
		set_rates(&prev, &cur);
		if (follow && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		else if (printed++)
			putchar('\n');
		status |= print_stats(&cur, path, interval, (size_t)top);
		free_sample(&prev);
		prev = cur;
		if (!follow)
			break;
	}
	free_sample(&prev);
	return status;
}
