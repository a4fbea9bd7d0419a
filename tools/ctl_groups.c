/*
 * ctl_groups.c - the consumer group commands of streamctl: "groups
 * PATH..." lists the committed cursors of topics (attribute
 * user.streamfs.groups) with their lag behind each topic's end (from
 * user.streamfs.info), and "group delete GROUP PATH..." removes a group's
 * cursor (attribute user.streamfs.cursor.GROUP).  A PATH is a topic, or a
 * stream standing for each of its topics (not its substreams).
 */
#include "ctl.h"
#include "timefmt.h"
#include "tool.h"
#include "topic_walk.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GROUP_MAX TOOL_GROUP_MAX

/* ------------------------------------------------------------ groups */

static const char groups_usage[] =
	"Usage: streamctl groups PATH...\n"
	"\n"
	"List the consumer groups of each topic PATH, or of every topic of\n"
	"each stream PATH (a directory; not its substreams): one line per\n"
	"topic and group with the committed byte offset and message offset,\n"
	"the lag behind the topic's end in messages and in bytes, and the\n"
	"commit time (ISO-8601 UTC).  A PATH without groups gets a line\n"
	"saying so.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

enum { C_TOPIC, C_GROUP, C_OFFSET, C_MESSAGE, C_LAG_MSGS, C_LAG_BYTES,
       C_COMMITTED, NCOLS };

static const char *const headings[NCOLS] = {
	"TOPIC", "GROUP", "OFFSET", "MESSAGE", "LAG_MESSAGES", "LAG_BYTES",
	"COMMITTED",
};

/* The output, kept until the end so the columns line up: rows of cells,
 * and notes (a line of their own) between them. */
struct line {
	char *cell[NCOLS];
	char *note;
};

struct table {
	struct line *v;
	size_t n, cap;
	size_t found;           /* groups listed for the current PATH */
	int oom;
};

static struct line *new_line(struct table *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct line *v = realloc(t->v, cap * sizeof(*v));
		if (!v) {
			t->oom = 1;
			return NULL;
		}
		t->v = v;
		t->cap = cap;
	}
	memset(&t->v[t->n], 0, sizeof(t->v[0]));
	return &t->v[t->n++];
}

static void add_note(struct table *t, const char *path, const char *what)
{
	struct line *l = new_line(t);

	if (l && asprintf(&l->note, "%s: %s", path, what) < 0) {
		l->note = NULL;
		t->oom = 1;
	}
}

static char *number(uint64_t v)
{
	char *s;

	return asprintf(&s, "%" PRIu64, v) < 0 ? NULL : s;
}

/* The topic's end from user.streamfs.info: its size and the offset the
 * next message gets (first_message + messages).  0 or -EBADMSG. */
static int topic_end(const char *text, uint64_t *size, uint64_t *next)
{
	static const char *const keys[3] = {
		"size=", "first_message=", "messages=" };
	uint64_t v[3];

	for (int i = 0; i < 3; i++) {
		const char *p = strstr(text, keys[i]);
		size_t n = strlen(keys[i]);
		char num[24];
		size_t len;

		while (p && p != text && p[-1] != '\n')
			p = strstr(p + 1, keys[i]);
		if (!p)
			return -EBADMSG;
		len = strcspn(p + n, "\n");
		if (len == 0 || len >= sizeof(num))
			return -EBADMSG;
		memcpy(num, p + n, len);
		num[len] = '\0';
		if (tool_parse_u64(num, &v[i]))
			return -EBADMSG;
	}
	*size = v[0];
	*next = v[1] + v[2];
	return 0;
}

/* One line of user.streamfs.groups as a row of the table. */
static int add_row(struct table *t, const char *path, char *line,
		   uint64_t size, uint64_t next)
{
	char when[TIMEFMT_ISO_SIZE];
	uint64_t off, msg, ns;
	char *save = NULL, *f[4];
	struct line *l;

	for (int i = 0; i < 4; i++)
		f[i] = strtok_r(i ? NULL : line, " ", &save);
	if (!f[3] || strtok_r(NULL, " ", &save) || strlen(f[0]) > GROUP_MAX ||
	    tool_parse_u64(f[1], &off) || tool_parse_u64(f[2], &msg) ||
	    tool_parse_u64(f[3], &ns))
		return -EBADMSG;
	timefmt_iso(ns, when);
	if (!(l = new_line(t)))
		return -ENOMEM;
	l->cell[C_TOPIC] = strdup(path);
	l->cell[C_GROUP] = strdup(f[0]);
	l->cell[C_OFFSET] = number(off);
	l->cell[C_MESSAGE] = number(msg);
	l->cell[C_LAG_MSGS] = number(next > msg ? next - msg : 0);
	l->cell[C_LAG_BYTES] = number(size > off ? size - off : 0);
	l->cell[C_COMMITTED] = strdup(when);
	for (int i = 0; i < NCOLS; i++)
		t->oom |= !l->cell[i];
	t->found++;
	return 0;
}

/* The groups first, then the end: appends meanwhile only add lag. */
static int list_topic(const char *path, int named, void *arg)
{
	struct table *t = arg;
	char *groups, *info, *save = NULL;
	uint64_t size, next;
	size_t before = t->found;
	int rc = sfs_get(path, "groups", &groups);

	if (rc) {
		tool_error(path, "cannot read consumer groups: %s",
			   rc == -E2BIG ? "more than one attribute holds "
			   "(64 KiB)" : sfs_strerror(rc));
		return TOOL_FAIL;
	}
	rc = sfs_get(path, "info", &info);
	if (rc) {
		tool_error(path, "cannot read topic info: %s", sfs_strerror(rc));
		free(groups);
		return TOOL_FAIL;
	}
	rc = topic_end(info, &size, &next);
	for (char *l = strtok_r(groups, "\n", &save); !rc && l;
	     l = strtok_r(NULL, "\n", &save))
		rc = add_row(t, path, l, size, next);
	free(groups);
	free(info);
	if (rc == -EBADMSG) {
		tool_error(path, "malformed answer from the daemon");
		return TOOL_FAIL;
	}
	if (named && t->found == before)
		add_note(t, path, "no consumer groups");
	return rc ? TOOL_FAIL : 0;
}

static void print_cells(const char *const *cell, const size_t *w)
{
	for (int c = 0; c < NCOLS - 1; c++)
		printf("%-*s  ", (int)w[c], cell[c]);
	printf("%s\n", cell[NCOLS - 1]);
}

/* The heading (when there is a row), then rows and notes in order. */
static void print_table(const struct table *t)
{
	size_t w[NCOLS];
	int rows = 0;

	for (int c = 0; c < NCOLS; c++)
		w[c] = strlen(headings[c]);
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].note)
			continue;
		rows = 1;
		for (int c = 0; c < NCOLS; c++)
			if (strlen(t->v[i].cell[c]) > w[c])
				w[c] = strlen(t->v[i].cell[c]);
	}
	if (rows)
		print_cells(headings, w);
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].note)
			printf("%s\n", t->v[i].note);
		else
			print_cells((const char *const *)t->v[i].cell, w);
	}
}

static void free_table(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].note);
		for (int c = 0; c < NCOLS; c++)
			free(t->v[i].cell[c]);
	}
	free(t->v);
}

int ctl_groups(int argc, char **argv)
{
	struct table t = { 0 };
	int status = tool_only_help("groups", groups_usage, argc, argv);

	if (status >= 0)
		return status;
	if (optind == argc)
		return tool_usage_error("groups", "no PATH given");
	status = 0;
	for (int i = optind; i < argc; i++) {
		struct topic_walk w = { 0 };
		int rc;
		t.found = 0;
		rc = topic_each(argv[i], &w, list_topic, &t);
		if (rc)
			status = TOOL_FAIL;
		else if (w.stream && t.found == 0)
			add_note(&t, argv[i], "no consumer groups");
	}
	if (t.oom) {
		tool_error(NULL, "out of memory");
		status = TOOL_FAIL;
	} else {
		print_table(&t);
	}
	free_table(&t);
	return status;
}

/* ------------------------------------------------------------ group */

static const char group_usage[] =
	"Usage: streamctl group delete GROUP PATH...\n"
	"\n"
	"Delete the committed cursor of consumer group GROUP from each topic\n"
	"PATH, or from every topic of each stream PATH (a directory; not its\n"
	"substreams) that has one.  A topic PATH without the group, or a\n"
	"stream none of whose topics has it, is an error.  GROUP is 1 to 200\n"
	"bytes of A-Z a-z 0-9 . _ -, not . or ..\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

struct deletion {
	char attr[sizeof("cursor.") + GROUP_MAX];
	const char *group;
	size_t deleted;         /* cursors removed for the current PATH */
};

static int delete_topic(const char *path, int named, void *arg)
{
	struct deletion *d = arg;
	int rc = sfs_remove(path, d->attr);

	if (rc == -ENODATA && !named)
		return 0;
	if (rc == -ENODATA) {
		tool_error(path, "no consumer group '%s'", d->group);
		return TOOL_FAIL;
	}
	if (rc) {
		tool_error(path, "cannot delete consumer group '%s': %s",
			   d->group, sfs_strerror(rc));
		return TOOL_FAIL;
	}
	d->deleted++;
	return 0;
}

int ctl_group(int argc, char **argv)
{
	struct deletion d;
	int status = tool_only_help("group", group_usage, argc, argv);

	if (status >= 0)
		return status;
	if (optind == argc)
		return tool_usage_error("group", "no action given (delete)");
	if (strcmp(argv[optind], "delete") != 0)
		return tool_usage_error("group", "unknown action '%s'",
					argv[optind]);
	if (argc - optind < 2)
		return tool_usage_error("group", "no GROUP given");
	d.group = argv[optind + 1];
	if (!tool_group_ok(d.group))
		return tool_usage_error("group", "not a group name: '%s' (1 to "
					"%d bytes of A-Z a-z 0-9 . _ -, not . "
					"or ..)", d.group, GROUP_MAX);
	if (argc - optind < 3)
		return tool_usage_error("group", "no PATH given");
	snprintf(d.attr, sizeof(d.attr), "cursor.%s", d.group);
	status = 0;
	for (int i = optind + 2; i < argc; i++) {
		struct topic_walk w = { 0 };
		d.deleted = 0;
		if (topic_each(argv[i], &w, delete_topic, &d)) {
			status = TOOL_FAIL;
		} else if (w.stream && d.deleted == 0) {
			tool_error(argv[i], "no topic of this stream has "
				   "consumer group '%s'", d.group);
			status = TOOL_FAIL;
		}
	}
	return status;
}
