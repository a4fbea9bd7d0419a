/*
 * ctl_consume.c - "streamctl consume -g GROUP [-f] PATH...": print what
 * consumer group GROUP has not seen yet of each topic (a stream: each of
 * its topics), then commit how far it got, in the attribute
 * user.streamfs.cursor.GROUP of each topic (a byte offset).  Commits come
 * after the output is written (at-least-once: a run stopped before its
 * commit prints the same messages again); with -f after each round of new
 * messages.
 */
#include "ctl.h"
#include "follow.h"
#include "msgfmt.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define CURSOR "cursor."

static const char usage_text[] =
	"Usage: streamctl consume -g GROUP [-f] [-c COUNT] [--format FMT | -J]\n"
	"                         PATH...\n"
	"\n"
	"Print the messages of each topic PATH (a stream: each of its topics)\n"
	"that consumer group GROUP has not seen, from the offset it committed\n"
	"last (the first live message the first time), then commit: the\n"
	"attribute user.streamfs.cursor.GROUP of the topic is set to where the\n"
	"group got.  The commit comes after the output is written, so a run\n"
	"stopped before it prints the same messages again (at-least-once).\n"
	"\n"
	"Options:\n"
	"  -g, --group GROUP   the consumer group (required)\n"
	"  -f, --follow        go on with new messages, committing after each\n"
	"                      round of them is written\n"
	"  -c, --count COUNT   stop after COUNT messages (all PATHs together)\n"
	"      --format FMT    print each message as FMT, as for 'streamctl\n"
	"                      tail' (default '%s\\n')\n"
	"  -J, --json          one JSON object per message, as for tail\n"
	"  -h, --help          show this help\n";

struct group {
	const char *name;
	char attr[XATTR_NAME_MAX + 1];	/* "cursor.GROUP" */
};

static int consume_start(struct follow *f, struct follow_topic *t,
			 uint64_t *pos)
{
	const struct group *g = f->ctx;
	int rc = msgread_get_u64(&t->rd, g->attr, pos);

	if (rc == -ENODATA) {
		*pos = t->info.first_offset;
		return 0;
	}
	if (rc) {
		tool_error(t->path, "cannot read the offset group %s committed: "
			   "%s", g->name, sfs_strerror(rc));
		return TOOL_FAIL;
	}
	if (*pos < t->info.first_offset) {
		tool_error(t->path, "group %s committed byte %" PRIu64 ", which "
			   "has expired: going on at the first live message "
			   "%" PRIu64 " (byte %" PRIu64 ")", g->name, *pos,
			   t->info.first_message, t->info.first_offset);
		*pos = t->info.first_offset;
	}
	return 0;
}

static int commit(struct follow *f, struct follow_topic *t)
{
	const struct group *g = f->ctx;
	char full[XATTR_NAME_MAX + 32], val[24];

	snprintf(full, sizeof(full), SFS_XATTR_PREFIX "%s", g->attr);
	snprintf(val, sizeof(val), "%" PRIu64, t->rd.pos);
	if (fsetxattr(t->rd.fd, full, val, strlen(val), 0) == 0)
		return 0;
	tool_error(t->path, "cannot commit byte %s for group %s: %s", val,
		   g->name, sfs_strerror(errno == EOPNOTSUPP ? -ENOTSUP
							     : -errno));
	return TOOL_FAIL;
}

int ctl_consume(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "follow", no_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct follow f = { .cmd = "consume", .start = consume_start,
			    .flushed = commit };
	struct group g = { 0 };
	const char *format = NULL;
	int c, json = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":g:fc:Jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			g.name = optarg;
			break;
		case 'f':
			f.follow = 1;
			break;
		case 'c':
			if (tool_parse_u64(optarg, &f.count) || f.count == 0)
				return tool_usage_error("consume", "bad COUNT "
					"'%s': give a number of messages, 1 or "
					"more", optarg);
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
			return tool_bad_option("consume", c, argv);
		}
	}
	if (!g.name)
		return tool_usage_error("consume", "no GROUP given (-g GROUP)");
	if (!tool_group_ok(g.name))
		return tool_usage_error("consume", "bad GROUP '%s': give 1 to %d "
					"of A-Z a-z 0-9 . _ -, not . or ..",
					g.name, TOOL_GROUP_MAX);
	snprintf(g.attr, sizeof(g.attr), CURSOR "%s", g.name);
	f.ctx = &g;
	return follow_main(&f, format, json, argv + optind, argc - optind);
}
