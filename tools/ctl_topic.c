/*
 * ctl_topic.c - the topic commands of streamctl: "create-topic PATH..."
 * (an empty file made a topic by setting user.streamfs.kind) and
 * "seek PATH --message N | --time TIME" (a byte offset from the attributes
 * user.streamfs.seek.message.N and user.streamfs.seek.time.NS; a seek into
 * the expired head of a topic says so, naming the first live message).
 */
#include "ctl.h"
#include "timefmt.h"
#include "topic_info.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* streamfs refuses longer names (docs/design.md, "Names"). */
#define NAME_LIMIT 255

/* ------------------------------------------------------------ shared */

/* The kind of PATH ("topic", "blob"), NULL in *KIND when it has none yet.
 * 0 or -errno. */
static int get_kind(const char *path, char **kind)
{
	int rc = sfs_get_word(path, "kind", kind);

	if (rc == -ENODATA) {
		*kind = NULL;
		return 0;
	}
	return rc;
}

/* ------------------------------------------------------------ create-topic */

static const char create_usage[] =
	"Usage: streamctl create-topic PATH...\n"
	"\n"
	"Create each PATH as an empty topic (a file of a stream whose kind is\n"
	"topic), as the first append would.  A PATH that is already a topic is\n"
	"left as it is; one that exists as anything else is refused.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

/* The last component of PATH, checked: non-empty, not "." or "..", at
 * most NAME_LIMIT bytes.  NULL after printing why not. */
static const char *topic_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;

	if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		tool_error(path, "not a file name");
		return NULL;
	}
	if (strlen(name) > NAME_LIMIT) {
		tool_error(path, "name longer than %d bytes", NAME_LIMIT);
		return NULL;
	}
	return name;
}

/* Set the kind of a kindless file to topic.  If that is refused because
 * someone wrote the file meanwhile, *KIND says what it became.  0 or
 * -errno. */
static int set_topic_kind(const char *path, char **kind)
{
	int rc = sfs_set(path, "kind", "topic");

	if (rc == -EPERM && get_kind(path, kind) == 0 && *kind)
		return 0;
	return rc;
}

/* Make existing PATH a topic if it may be one. */
static int make_existing_topic(const char *path)
{
	struct stat st;
	char *kind = NULL;
	int rc;

	if (tool_stat(path, &st))
		return TOOL_FAIL;
	if (S_ISDIR(st.st_mode)) {
		tool_error(path, "already exists as a stream");
		return TOOL_FAIL;
	}
	if (!S_ISREG(st.st_mode)) {
		tool_error(path, "already exists and is not a regular file");
		return TOOL_FAIL;
	}
	rc = get_kind(path, &kind);
	if (rc == 0 && !kind)
		rc = set_topic_kind(path, &kind);
	if (rc) {
		tool_error(path, "cannot make it a topic: %s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	rc = kind && strcmp(kind, "topic") != 0;
	if (rc)
		tool_error(path, "already exists as a %s", kind);
	free(kind);
	return rc ? TOOL_FAIL : 0;
}

/* Create PATH and set its kind; remove it again if that fails, so nothing
 * half-made is left. */
static int create_topic(const char *path)
{
	int fd, rc;

	if (!topic_name(path))
		return TOOL_USAGE;
	rc = sfs_check_path(path, 0);
	if (rc) {
		tool_error(path, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY,
		  0666);
	if (fd < 0 && errno == EEXIST)
		return make_existing_topic(path);
	if (fd < 0) {
		tool_error(path, "%s", strerror(errno));
		return TOOL_FAIL;
	}
	close(fd);
	rc = sfs_set(path, "kind", "topic");
	if (rc) {
		unlink(path);
		tool_error(path, "cannot make it a topic: %s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return 0;
}

int ctl_create_topic(int argc, char **argv)
{
	int status = tool_only_help("create-topic", create_usage, argc, argv);

	if (status >= 0)
		return status;
	if (optind == argc)
		return tool_usage_error("create-topic", "no PATH given");
	/* Check every name before creating anything. */
	for (int i = optind; i < argc; i++)
		if (!topic_name(argv[i]))
			return TOOL_USAGE;
	status = 0;
	for (int i = optind; i < argc; i++)
		if (create_topic(argv[i]))
			status = TOOL_FAIL;
	return status;
}

/* ------------------------------------------------------------ seek */

static const char seek_usage[] =
	"Usage: streamctl seek PATH --message N\n"
	"       streamctl seek PATH --time TIME\n"
	"\n"
	"Print the byte offset in topic PATH where message N starts, or where\n"
	"the first message that arrived at or after TIME starts (the topic's\n"
	"size if none has).  Read from there with, for example,\n"
	"  tail -c +$((OFFSET + 1)) PATH\n"
	"\n"
	"Asking for a message that has expired is an error that names the\n"
	"first live message and its byte offset.  When messages have expired,\n"
	"a TIME before the first live message's arrival gives the first live\n"
	"byte, with a note on stderr saying so.\n"
	"\n"
	"TIME is nanoseconds since the epoch, or ISO-8601 such as\n"
	"2024-05-01T12:00:00.250Z (UTC unless an offset like +02:00 is given).\n"
	"\n"
	"Options:\n"
	"  -m, --message N   a message offset (0 is the first message)\n"
	"  -t, --time TIME   an arrival time\n"
	"  -h, --help        show this help\n";

struct seek_args {
	const char *path;
	const char *arg;	/* --message or --time as given */
	char attr[64];		/* "seek.message.N" or "seek.time.NS" */
	uint64_t value;		/* N or NS */
	int by_time;
};

/* Turn the --message/--time value into the attribute name; TOOL_USAGE
 * after one line on error. */
static int seek_attr(struct seek_args *sa)
{
	uint64_t v;
	int rc;

	if (sa->by_time) {
		rc = timefmt_parse(sa->arg, &v);
		if (rc)
			return tool_usage_error("seek", "%s time '%s'",
					rc == -ERANGE ? "out of range" :
					"not a valid", sa->arg);
	} else if (tool_parse_u64(sa->arg, &v)) {
		return tool_usage_error("seek", "not a message offset: '%s'",
					sa->arg);
	}
	sa->value = v;
	snprintf(sa->attr, sizeof(sa->attr), "seek.%s.%" PRIu64,
		 sa->by_time ? "time" : "message", v);
	return 0;
}

static int seek_parse(struct seek_args *sa, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(sa, 0, sizeof(*sa));
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hm:t:", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(seek_usage, stdout);
			return 0;
		}
		if (c != 'm' && c != 't')
			return tool_bad_option("seek", c, argv);
		if (sa->arg)
			return tool_usage_error("seek", "give one --message "
						"or --time, not both");
		sa->arg = optarg;
		sa->by_time = c == 't';
	}
	if (optind == argc)
		return tool_usage_error("seek", "no PATH given");
	if (argc - optind > 1)
		return tool_usage_error("seek", "one PATH only");
	if (!sa->arg)
		return tool_usage_error("seek", "give --message N or --time TIME");
	sa->path = argv[optind];
	return seek_attr(sa);
}

/* Check PATH is a topic of a streamfs mount. */
static int check_topic(const char *path)
{
	struct stat st;
	char *kind = NULL;
	int rc;

	if (tool_stat(path, &st))
		return TOOL_FAIL;
	rc = sfs_check_path(path, S_ISDIR(st.st_mode));
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = get_kind(path, &kind);
	if (rc) {
		tool_error(path, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	rc = !kind || strcmp(kind, "topic") != 0;
	if (rc)
		tool_error(path, "not a topic%s", S_ISDIR(st.st_mode) ?
			   " (it is a stream)" : kind ? " (it is a blob)" : "");
	free(kind);
	return rc ? TOOL_FAIL : 0;
}

/* Where the live part of the topic begins, for the lines below: "the
 * first live message is 7, at byte 100", or that none is live. */
static void live_text(const struct topic_info *ti, char *buf, size_t cap)
{
	if (ti->v[I_MESSAGES] > 0)
		snprintf(buf, cap, "the first live message is %" PRId64
			 ", at byte %" PRId64, ti->v[I_FIRST_MESSAGE],
			 ti->v[I_FIRST_OFFSET]);
	else
		snprintf(buf, cap, "no message is live (the next will be "
			 "message %" PRId64 ", at byte %" PRId64 ")",
			 ti->v[I_FIRST_MESSAGE], ti->v[I_SIZE]);
}

/* The daemon said ENOMSG: message N lies in the expired head. */
static int seek_expired(const struct seek_args *sa)
{
	struct topic_info ti;
	char live[128];

	if (topic_info_read(sa->path, &ti)) {
		tool_error(sa->path, "message %s has expired", sa->arg);
		return TOOL_FAIL;
	}
	live_text(&ti, live, sizeof(live));
	tool_error(sa->path, "message %s has expired; %s", sa->arg, live);
	return TOOL_FAIL;
}

/* After a seek by time: if TIME lies before the first live message and
 * messages before it have expired, the answer is the first live message,
 * not necessarily the first that arrived at or after TIME: say so. */
static void seek_time_note(const struct seek_args *sa)
{
	struct topic_info ti;
	char live[128], when[TIMEFMT_ISO_SIZE];

	if (topic_info_read(sa->path, &ti) || !topic_info_expired(&ti))
		return;
	if (ti.v[I_MESSAGES] > 0 &&
	    sa->value >= (uint64_t)ti.v[I_FIRST_TIME])
		return;
	live_text(&ti, live, sizeof(live));
	if (ti.v[I_MESSAGES] == 0) {
		tool_error(sa->path, "note: every message has expired: %s",
			   live);
		return;
	}
	timefmt_iso((uint64_t)ti.v[I_FIRST_TIME], when);
	tool_error(sa->path, "note: the messages before message %" PRId64
		   " have expired; %s, arrived %s", ti.v[I_FIRST_MESSAGE],
		   live, when);
}

int ctl_seek(int argc, char **argv)
{
	struct seek_args sa;
	uint64_t offset;
	char *value;
	int rc = seek_parse(&sa, argc, argv);

	if (rc || !sa.path)
		return rc;
	rc = check_topic(sa.path);
	if (rc)
		return rc;
	rc = sfs_get_word(sa.path, sa.attr, &value);
	if (rc == -ENXIO) {
		tool_error(sa.path, "no message %s (past the end of the topic)",
			   sa.arg);
		return TOOL_FAIL;
	}
	if (rc == -ENOMSG && !sa.by_time)
		return seek_expired(&sa);
	if (rc) {
		tool_error(sa.path, "cannot seek: %s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	rc = tool_parse_u64(value, &offset);
	if (rc)
		tool_error(sa.path, "malformed offset from the daemon: '%s'",
			   value);
	else
		printf("%" PRIu64 "\n", offset);
	if (!rc && sa.by_time)
		seek_time_note(&sa);
	free(value);
	return rc ? TOOL_FAIL : 0;
}
