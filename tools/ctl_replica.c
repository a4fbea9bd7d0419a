/*
 * ctl_replica.c - "streamctl replica add|list|pause|resume|remove": the
 * replication links of a stream, through the attributes
 * user.streamfs.replica.* of its directory (docs/design.md, "Replication
 * links").  The daemon checks every value and permission; this file
 * names the error in words.
 */
#include "ctl.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char replica_usage[] =
	"Usage: streamctl replica add STREAM HOST:PORT/PATH\n"
	"       streamctl replica list STREAM\n"
	"       streamctl replica pause|resume|remove STREAM LINK\n"
	"\n"
	"Manage the replication links of STREAM (a directory of a streamfs\n"
	"mount).  add makes STREAM push every topic to stream PATH of the\n"
	"replica listening at HOST:PORT (its -o replica_listen) and prints the\n"
	"new link's id; list prints one line per link:\n"
	"  ID HOST:PORT/PATH STATE msgs_behind=N secs_behind=S last_error=\"...\"\n"
	"pause stops a link, resume starts it again where it stopped, remove\n"
	"deletes it.  LINK is a link's id or its HOST:PORT/PATH.  Each needs\n"
	"the admin permission of STREAM.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static const char *const actions[] = { "add", "remove", "pause", "resume" };

/* Why the daemon refused ACTION of ARG on STREAM, in one line. */
static int refused(const char *stream, const char *action, const char *arg,
		   int rc)
{
	if (rc == -EACCES)
		tool_error(stream, "cannot %s a link: permission denied (the "
			   "stream's admin permission is needed)", action);
	else if (rc == -EINVAL && !strcmp(action, "add"))
		tool_error(stream, "not a link target: '%s' (HOST:PORT/PATH)",
			   arg);
	else if (rc == -EINVAL)
		tool_error(stream, "not a link: '%s' (an id or HOST:PORT/PATH)",
			   arg);
	else if (rc == -EEXIST)
		tool_error(stream, "a link to %s exists already", arg);
	else if (rc == -ENOENT)
		tool_error(stream, "no link '%s' on this stream", arg);
	else
		tool_error(stream, "cannot %s link '%s': %s", action, arg,
			   sfs_strerror(rc));
	return TOOL_FAIL;
}

/* The id of the link to TARGET in listing LIST, or NULL. */
static char *id_in(const char *list, const char *target, char *id,
		   size_t cap)
{
	size_t tlen = strlen(target);
	for (const char *l = list; *l; ) {
		const char *sp = strchr(l, ' ');
		const char *nl = strchr(l, '\n');
		if (!sp || !nl)
			break;
		if ((size_t)(sp - l) < cap && !strncmp(sp + 1, target, tlen) &&
		    sp[1 + tlen] == ' ') {
			memcpy(id, l, (size_t)(sp - l));
			id[sp - l] = '\0';
			return id;
		}
		l = nl + 1;
	}
	return NULL;
}

/* Print the id of the link just added (a listing needs admin, which the
 * add had). */
static int print_added(const char *stream, const char *target)
{
	char *list, id[24];
	int rc = sfs_get(stream, "replica.list", &list);
	if (rc)
		return refused(stream, "list", target, rc);
	if (id_in(list, target, id, sizeof(id)))
		printf("%s\n", id);
	free(list);
	return 0;
}

static int list(const char *stream)
{
	char *val;
	int rc = sfs_get(stream, "replica.list", &val);
	if (rc == -EACCES) {
		tool_error(stream, "cannot list its links: permission denied "
			   "(the stream's admin permission is needed)");
		return TOOL_FAIL;
	}
	if (rc) {
		tool_error(stream, "cannot list its links: %s",
			   sfs_strerror(rc));
		return TOOL_FAIL;
	}
	fputs(val, stdout);
	free(val);
	return 0;
}

static int change(const char *action, const char *stream, const char *arg)
{
	char name[32];
	snprintf(name, sizeof(name), "replica.%s", action);
	int rc = sfs_set(stream, name, arg);
	if (rc)
		return refused(stream, action, arg, rc);
	return !strcmp(action, "add") ? print_added(stream, arg) : 0;
}

static int known_action(const char *a)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(a, actions[i]))
			return 1;
	return !strcmp(a, "list");
}

int ctl_replica(int argc, char **argv)
{
	int status = tool_only_help("replica", replica_usage, argc, argv);
	if (status >= 0)
		return status;
	if (optind == argc)
		return tool_usage_error("replica", "no action given (add, list, "
					"pause, resume, remove)");
	const char *action = argv[optind];
	if (!known_action(action))
		return tool_usage_error("replica", "unknown action '%s'",
					action);
	int want = strcmp(action, "list") ? 2 : 1;
	if (argc - optind - 1 < 1)
		return tool_usage_error("replica", "no STREAM given");
	if (argc - optind - 1 < want)
		return tool_usage_error("replica", "no %s given",
					!strcmp(action, "add") ? "HOST:PORT/PATH"
							       : "LINK");
	if (argc - optind - 1 > want)
		return tool_usage_error("replica", "too many arguments");
	const char *stream = argv[optind + 1];
	int rc = sfs_check_stream(stream);
	if (rc) {
		tool_error(stream, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return want == 1 ? list(stream)
			 : change(action, stream, argv[optind + 2]);
}
