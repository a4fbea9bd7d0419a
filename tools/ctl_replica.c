/*
 * ctl_replica.c - "streamctl replica add|list|pause|resume|remove": the
 * replication links of a stream, through the attributes
 * user.streamfs.replica.* of its directory (docs/design.md, "Replication
 * links"); "streamctl replica home TOPIC": a topic's home moved to this
 * replica through the topic's user.streamfs.replica.home, waited for.
 * The daemon checks every value and permission; this file names the
 * error in words.
 */
#include "ctl.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOME_WAIT_S 30          /* how long "home" waits */
#define HOME_POLL_MS 100

static const char replica_usage[] =
	"Usage: streamctl replica add STREAM HOST:PORT/PATH\n"
	"       streamctl replica list STREAM\n"
	"       streamctl replica pause|resume|remove STREAM LINK\n"
	"       streamctl replica home TOPIC\n"
	"\n"
	"Manage the replication links of STREAM (a directory of a streamfs\n"
	"mount).  add makes STREAM push every topic to stream PATH of the\n"
	"replica listening at HOST:PORT (its -o replica_listen) and prints the\n"
	"new link's id; list prints one line per link:\n"
	"  ID HOST:PORT/PATH STATE msgs_behind=N secs_behind=S last_error=\"...\"\n"
	"pause stops a link, resume starts it again where it stopped, remove\n"
	"deletes it.  LINK is a link's id or its HOST:PORT/PATH.  Each needs\n"
	"the admin permission of STREAM.\n"
	"home moves TOPIC's home (the one replica that appends to it) to the\n"
	"replica TOPIC's mount is: the topic's home hands it over once it\n"
	"refuses appends, and this replica takes it once its copy has caught\n"
	"up.  It waits up to 30 s for that and prints the outcome; it needs\n"
	"the admin permission of the topic's stream, and a link of that\n"
	"stream to the topic's home.\n"
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

/* The hand-over's state: "here" (done), "refused: ..." or other lines
 * that mean it goes on.  0 done, 1 not yet, -1 failed (said). */
static int home_state(const char *topic, char *last, size_t cap)
{
	char *st;
	int rc = sfs_get_word(topic, "replica.home", &st);
	if (rc) {
		tool_error(topic, "cannot read its hand-over: %s",
			   sfs_strerror(rc));
		return -1;
	}
	snprintf(last, cap, "%s", st);
	int r = !strcmp(st, "here") ? 0 : 1;
	if (!strncmp(st, "refused: ", 9)) {
		tool_error(topic, "its home refused to hand it over: %s",
			   st + 9);
		r = -1;
	}
	free(st);
	return r;
}

static int home(const char *topic)
{
	int rc = sfs_set(topic, "replica.home", "1");
	if (rc == -EACCES)
		tool_error(topic, "cannot move its home: permission denied "
			   "(the stream's admin permission is needed)");
	else if (rc == -EINVAL)
		tool_error(topic, "not a topic");
	else if (rc == -ENOTCONN)
		tool_error(topic, "no replication link of its stream reaches "
			   "the topic's home");
	else if (rc)
		tool_error(topic, "cannot move its home: %s",
			   sfs_strerror(rc));
	if (rc)
		return TOOL_FAIL;
	char last[1200] = "";
	struct timespec nap = { 0, HOME_POLL_MS * 1000000L };
	for (int i = 0; i <= HOME_WAIT_S * 1000 / HOME_POLL_MS; i++) {
		int r = home_state(topic, last, sizeof last);
		if (r == 0) {
			printf("%s: homed here\n", topic);
			return 0;
		}
		if (r < 0)
			return TOOL_FAIL;
		nanosleep(&nap, NULL);
	}
	tool_error(topic, "not homed here after %d s (%s); the hand-over "
		   "goes on", HOME_WAIT_S, last);
	return TOOL_FAIL;
}

static int known_action(const char *a)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(a, actions[i]))
			return 1;
	return !strcmp(a, "list") || !strcmp(a, "home");
}

int ctl_replica(int argc, char **argv)
{
	int status = tool_only_help("replica", replica_usage, argc, argv);
	if (status >= 0)
		return status;
	if (optind == argc)
		return tool_usage_error("replica", "no action given (add, list, "
					"pause, resume, remove, home)");
	const char *action = argv[optind];
	if (!known_action(action))
		return tool_usage_error("replica", "unknown action '%s'",
					action);
	bool one = !strcmp(action, "list") || !strcmp(action, "home");
	int want = one ? 1 : 2;
	if (argc - optind - 1 < 1)
		return tool_usage_error("replica", "no %s given",
					!strcmp(action, "home") ? "TOPIC"
								: "STREAM");
	if (argc - optind - 1 < want)
		return tool_usage_error("replica", "no %s given",
					!strcmp(action, "add") ? "HOST:PORT/PATH"
							       : "LINK");
	if (argc - optind - 1 > want)
		return tool_usage_error("replica", "too many arguments");
	const char *stream = argv[optind + 1];
	if (!strcmp(action, "home")) {
		int e = sfs_check_path(stream, 0);
		if (e) {
			tool_error(stream, "%s", sfs_strerror(e));
			return TOOL_FAIL;
		}
		return home(stream);
	}
	int rc = sfs_check_stream(stream);
	if (rc) {
		tool_error(stream, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return want == 1 ? list(stream)
			 : change(action, stream, argv[optind + 2]);
}
