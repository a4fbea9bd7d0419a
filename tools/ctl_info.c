/*
 * ctl_info.c - "streamctl info PATH...": for a topic its message count,
 * first (live) and last message offsets, first live byte, what has expired
 * before them, size and arrival times (attribute user.streamfs.info); for a
 * stream its policies; for a blob its kind and size.  Output is "key: value" lines, one record per PATH.
 */
#include "ctl.h"
#include "timefmt.h"
#include "topic_info.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Width of the key column: the longest key, "retention_bytes:". */
#define KEY_WIDTH 16

static const char usage_text[] =
	"Usage: streamctl info PATH...\n"
	"\n"
	"Show what each PATH holds:\n"
	"  topic   messages        how many messages are live\n"
	"          first_message   the offset of the first live message\n"
	"          last_message    the offset of the last message\n"
	"          first_offset    the first live byte: where first_message\n"
	"                          starts\n"
	"          expired         the messages and bytes before those, or\n"
	"                          none\n"
	"          size            the end offset in bytes\n"
	"          first_time, last_time   arrival times, ISO-8601 UTC\n"
	"  stream  its policies (see 'streamctl policy')\n"
	"  blob    its size\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static void print_field(const char *key, const char *value)
{
	char label[KEY_WIDTH + 2];

	snprintf(label, sizeof(label), "%s:", key);
	printf("%-*s %s\n", KEY_WIDTH, label, value);
}

/* Start the record of PATH: a blank line after the previous record. */
static void begin_record(const char *path)
{
	static int records;

	if (records++)
		putchar('\n');
	print_field("path", path);
}

static void print_number(const char *key, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	print_field(key, buf);
}

/* One info value: "-" when the daemon did not say or the topic is empty,
 * times as ISO-8601. */
static void print_info_value(const struct topic_info *ti, int i)
{
	char buf[TIMEFMT_ISO_SIZE];
	int empty = (ti->have & 1u << I_MESSAGES) && ti->v[I_MESSAGES] == 0;
	int is_time = i == I_FIRST_TIME || i == I_LAST_TIME;
	int per_message = is_time || i == I_FIRST_MESSAGE ||
			  i == I_LAST_MESSAGE;

	if (!(ti->have & 1u << i) || (empty && per_message) ||
	    (is_time && ti->v[i] < 0)) {
		print_field(topic_info_keys[i], "-");
	} else if (is_time) {
		timefmt_iso((uint64_t)ti->v[i], buf);
		print_field(topic_info_keys[i], buf);
	} else {
		print_number(topic_info_keys[i], ti->v[i]);
	}
}

static int info_topic(const char *path)
{
	char expired[96];
	struct topic_info ti;
	int rc = topic_info_read(path, &ti);

	if (rc == -EBADMSG) {
		tool_error(path, "malformed topic info from the daemon");
		return TOOL_FAIL;
	}
	if (rc) {
		tool_error(path, "cannot read topic info: %s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	begin_record(path);
	print_field("kind", "topic");
	for (int i = 0; i < I_COUNT; i++) {
		print_info_value(&ti, i);
		if (i != I_FIRST_OFFSET)
			continue;
		topic_info_expired_text(&ti, expired, sizeof(expired));
		print_field("expired", expired);
	}
	return 0;
}

static int info_stream(const char *path)
{
	char *values[CTL_POLICY_COUNT];

	if (ctl_read_policies(path, values))
		return TOOL_FAIL;
	begin_record(path);
	print_field("kind", "stream");
	for (size_t i = 0; i < CTL_POLICY_COUNT; i++)
		print_field(ctl_policy_names[i], values[i]);
	ctl_free_policies(values);
	return 0;
}

/* A regular file: a topic, a blob, or a file that has no kind yet. */
static int info_file(const char *path, const struct stat *st)
{
	char *kind;
	int rc = sfs_get_word(path, "kind", &kind);

	if (rc == -ENODATA) {
		begin_record(path);
		print_field("kind", "none (never written)");
		print_number("size", (int64_t)st->st_size);
		return 0;
	}
	if (rc) {
		tool_error(path, "cannot read kind: %s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	if (strcmp(kind, "topic") == 0) {
		rc = info_topic(path);
	} else {
		begin_record(path);
		print_field("kind", kind);
		print_number("size", (int64_t)st->st_size);
	}
	free(kind);
	return rc;
}

static int info_one(const char *path)
{
	struct stat st;
	int rc;

	if (tool_stat(path, &st))
		return TOOL_FAIL;
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		tool_error(path, "not a stream, topic or blob");
		return TOOL_FAIL;
	}
	rc = sfs_check_path(path, S_ISDIR(st.st_mode));
	if (rc) {
		tool_error(path, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return S_ISDIR(st.st_mode) ? info_stream(path) : info_file(path, &st);
}

int ctl_info(int argc, char **argv)
{
	int status = 0;

	int help = tool_only_help("info", usage_text, argc, argv);
	if (help >= 0)
		return help;
	if (optind == argc)
		return tool_usage_error("info", "no PATH given");
	for (int i = optind; i < argc; i++)
		if (info_one(argv[i]))
			status = TOOL_FAIL;
	return status;
}
