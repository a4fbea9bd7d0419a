/*
 * ctl_tail.c - "streamctl tail [-f] [-o START] [-c COUNT] [-e] [--format
 * FMT | -J] PATH...": print the messages of topics (a stream: each of its
 * topics) from a start given as a message offset, a count back from the
 * end, a time or an age, to the end or, with -f, following them as kcat -C
 * does.  Offsets come from the attributes user.streamfs.info and
 * user.streamfs.seek.*; reading and following are follow.c's.
 */
#include "ctl.h"
#include "follow.h"
#include "msgfmt.h"
#include "timefmt.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC 1000000000ull

static const char usage_text[] =
	"Usage: streamctl tail [-f] [-o START] [-c COUNT] [-e]\n"
	"                      [--format FMT | -J] PATH...\n"
	"\n"
	"Print the messages of each topic PATH (a stream: each of its topics,\n"
	"in name order) from START to the end, one after the other; with -f\n"
	"go on printing new messages as they arrive, in every topic, and in\n"
	"topics made in a followed stream later (those from their first\n"
	"message).\n"
	"\n"
	"START (default beginning):\n"
	"  beginning     the first live message\n"
	"  end           only messages that arrive from now on\n"
	"  N             message offset N (an error if it has expired)\n"
	"  -N            the last N messages\n"
	"  @TIME         the first message that arrived at or after TIME:\n"
	"                seconds since the epoch, or ISO-8601 as for\n"
	"                'streamctl seek --time' (UTC unless it has an offset)\n"
	"  -DURATION     as @TIME, DURATION ago: a number and s, m, h, d or w\n"
	"\n"
	"Options:\n"
	"  -f, --follow        wait for new messages (poll on each topic)\n"
	"  -o, --offset START  where to start, as above\n"
	"  -c, --count COUNT   stop after COUNT messages (all PATHs together)\n"
	"  -e, --exit          stop at the end (what happens without -f)\n"
	"      --format FMT    print each message as FMT (default '%s\\n'):\n"
	"                      %o message offset, %b byte offset, %T arrival\n"
	"                      (milliseconds since the epoch), %t topic (the\n"
	"                      PATH, or STREAM/NAME), %s payload, %S its size\n"
	"                      in bytes, %% a %; \\n newline, \\t tab, \\\\ \\\n"
	"  -J, --json          one JSON object per message: topic, offset,\n"
	"                      byte_offset, timestamp (ms), size, encoding\n"
	"                      (utf8 or base64) and payload\n"
	"  -h, --help          show this help\n"
	"\n"
	"A line's payload is the line without its newline; with framing=write\n"
	"it is exactly what one write() appended.  Without -f the end is each\n"
	"topic's size when tail opens it.\n";

enum start_kind { ST_BEGINNING, ST_END, ST_MESSAGE, ST_BACK, ST_TIME };

struct start {
	enum start_kind kind;
	uint64_t n;		/* ST_MESSAGE, ST_BACK: messages */
	uint64_t ns;		/* ST_TIME */
};

/* ------------------------------------------------------------ START */

/* "SECONDS[.FRACTION]" since the epoch: 0 or -EINVAL/-ERANGE. */
static int parse_epoch(const char *s, uint64_t *ns)
{
	char whole[32];
	const char *dot = strchr(s, '.');
	size_t wl = dot ? (size_t)(dot - s) : strlen(s);
	uint64_t sec, frac = 0, scale = NS_PER_SEC;
	int rc;

	if (wl == 0 || wl >= sizeof(whole))
		return -EINVAL;
	memcpy(whole, s, wl);
	whole[wl] = '\0';
	rc = tool_parse_u64(whole, &sec);
	if (rc)
		return rc;
	if (dot) {
		const char *p = dot + 1;
		if (!*p || strlen(p) > 9)
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (sec > (uint64_t)INT64_MAX / NS_PER_SEC - 1)
		return -ERANGE;
	*ns = sec * NS_PER_SEC + frac;
	return 0;
}

/* "Ns", "Nm", "Nh", "Nd", "Nw" in nanoseconds: 0 or -EINVAL/-ERANGE. */
static int parse_duration(const char *s, uint64_t *ns)
{
	static const char units[] = "smhdw";
	static const uint64_t secs[] = { 1, 60, 3600, 86400, 7 * 86400 };
	size_t len = strlen(s);
	const char *u = len > 1 ? strchr(units, s[len - 1]) : NULL;
	char num[32];
	uint64_t v;
	int rc;

	if (!u || !s[len - 1] || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len - 1);
	num[len - 1] = '\0';
	rc = tool_parse_u64(num, &v);
	if (rc)
		return rc;
	uint64_t mul = secs[u - units] * NS_PER_SEC;
	if (v > (uint64_t)INT64_MAX / mul)
		return -ERANGE;
	*ns = v * mul;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int parse_start(const char *s, struct start *st)
{
	int rc;

	memset(st, 0, sizeof(*st));
	if (!strcmp(s, "beginning")) {
		st->kind = ST_BEGINNING;
		return 0;
	}
	if (!strcmp(s, "end")) {
		st->kind = ST_END;
		return 0;
	}
	if (s[0] == '@') {
		st->kind = ST_TIME;
		rc = strchr(s + 1, '-') ? timefmt_parse(s + 1, &st->ns)
					: parse_epoch(s + 1, &st->ns);
		return rc;
	}
	if (s[0] == '-') {
		st->kind = ST_BACK;
		if (tool_parse_u64(s + 1, &st->n) == 0)
			return 0;
		uint64_t d;
		rc = parse_duration(s + 1, &d);
		if (rc)
			return rc;
		uint64_t now = now_ns();
		st->kind = ST_TIME;
		st->ns = d < now ? now - d : 0;
		return 0;
	}
	st->kind = ST_MESSAGE;
	return tool_parse_u64(s, &st->n);
}

/* ------------------------------------------------------------ seeking */

static int expired(struct follow_topic *t, uint64_t n)
{
	struct topicinfo ti;

	if (msgread_info(&t->rd, &ti))
		ti = t->info;
	if (ti.next_message > ti.first_message)
		tool_error(t->path, "message %" PRIu64 " has expired; the first "
			   "live message is %" PRIu64 ", at byte %" PRIu64, n,
			   ti.first_message, ti.first_offset);
	else
		tool_error(t->path, "message %" PRIu64 " has expired; no message "
			   "is live (the next will be message %" PRIu64 ", at "
			   "byte %" PRIu64 ")", n, ti.first_message, ti.size);
	return TOOL_FAIL;
}

/* The byte where message N starts: 0, or TOOL_FAIL after an error line. */
static int seek_message(struct follow_topic *t, uint64_t n, uint64_t *pos)
{
	char name[48];
	int rc;

	if (n < t->info.first_message)
		return expired(t, n);
	if (n == t->info.next_message) {
		*pos = t->info.size;
		return 0;
	}
	if (n > t->info.next_message) {
		tool_error(t->path, "message %" PRIu64 " does not exist yet: "
			   "the next message will be %" PRIu64, n,
			   t->info.next_message);
		return TOOL_FAIL;
	}
	snprintf(name, sizeof(name), "seek.message.%" PRIu64, n);
	rc = msgread_get_u64(&t->rd, name, pos);
	if (rc == -ENOMSG)
		return expired(t, n);
	if (rc) {
		tool_error(t->path, "cannot seek to message %" PRIu64 ": %s", n,
			   sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return 0;
}

static int seek_time(struct follow_topic *t, uint64_t ns, uint64_t *pos)
{
	char name[48];
	int rc;

	snprintf(name, sizeof(name), "seek.time.%" PRIu64, ns);
	rc = msgread_get_u64(&t->rd, name, pos);
	if (rc) {
		tool_error(t->path, "cannot seek to a time: %s",
			   sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return 0;
}

static int tail_start(struct follow *f, struct follow_topic *t,
		      uint64_t *pos)
{
	const struct start *st = f->ctx;
	const struct topicinfo *ti = &t->info;
	uint64_t live = ti->next_message - ti->first_message;

	if (t->created || st->kind == ST_BEGINNING) {
		*pos = ti->first_offset;
		return 0;
	}
	switch (st->kind) {
	case ST_END:
		*pos = ti->size;
		return 0;
	case ST_MESSAGE:
		return seek_message(t, st->n, pos);
	case ST_BACK:
		if (st->n == 0 || live == 0) {
			*pos = ti->size;
			return 0;
		}
		return seek_message(t, st->n >= live ? ti->first_message
				    : ti->next_message - st->n, pos);
	case ST_TIME:
		return seek_time(t, st->ns, pos);
	default:
		*pos = ti->first_offset;
		return 0;
	}
}

/* ------------------------------------------------------------ the command */

int ctl_tail(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "offset", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'c' },
		{ "exit", no_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct follow f = { .cmd = "tail", .start = tail_start };
	struct start st = { .kind = ST_BEGINNING };
	const char *format = NULL;
	int c, json = 0, stop_at_end = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fo:c:eJh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			f.follow = 1;
			break;
		case 'o':
			if (parse_start(optarg, &st))
				return tool_usage_error("tail", "bad START '%s': "
					"give beginning, end, N, -N, @TIME or "
					"-DURATION", optarg);
			break;
		case 'c':
			if (tool_parse_u64(optarg, &f.count) || f.count == 0)
				return tool_usage_error("tail", "bad COUNT '%s': "
					"give a number of messages, 1 or more",
					optarg);
			break;
		case 'e':
			stop_at_end = 1;
			break;
		case 'F':
			format = optarg;
			break;
		case 'J':
			json = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return tool_bad_option("tail", c, argv);
		}
	}
	if (f.follow && stop_at_end)
		return tool_usage_error("tail", "-e (stop at the end) and -f "
					"(follow) exclude each other");
	f.ctx = &st;
	return follow_main(&f, format, json, argv + optind, argc - optind);
}
