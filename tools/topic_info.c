/*
 * topic_info.c - reading a topic's user.streamfs.info for the tools, and
 * saying what of its head has expired: the first live message is
 * first_message, and it starts at first_offset, the first live byte.
 */
#include "topic_info.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const topic_info_keys[I_COUNT] = {
	"messages", "first_message", "last_message", "first_offset", "size",
	"first_time", "last_time",
};

static int parse_info(char *text, struct topic_info *ti)
{
	char *save = NULL;

	memset(ti, 0, sizeof(*ti));
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		int64_t v;
		if (!eq || tool_parse_i64(eq + 1, &v))
			return -EBADMSG;
		*eq = '\0';
		for (int i = 0; i < I_COUNT; i++) {
			if (strcmp(line, topic_info_keys[i]) == 0) {
				ti->v[i] = v;
				ti->have |= 1u << i;
			}
		}
	}
	return 0;
}

int topic_info_read(const char *path, struct topic_info *ti)
{
	char *text;
	int rc = sfs_get(path, "info", &text);

	if (rc)
		return rc;
	rc = parse_info(text, ti);
	free(text);
	return rc;
}

int topic_info_expired(const struct topic_info *ti)
{
	return ti->v[I_FIRST_MESSAGE] > 0 || ti->v[I_FIRST_OFFSET] > 0;
}

void topic_info_expired_text(const struct topic_info *ti, char *buf,
			     size_t cap)
{
	int64_t msg = ti->v[I_FIRST_MESSAGE], off = ti->v[I_FIRST_OFFSET];
	int n = 0;

	if (!topic_info_expired(ti)) {
		snprintf(buf, cap, "none");
		return;
	}
	buf[0] = '\0';
	if (msg > 0)
		n = snprintf(buf, cap, "%s %" PRId64, msg > 1 ?
			     "messages 0 to" : "message", msg - 1);
	if (msg > 0 && off > 0 && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, ", ");
	if (off > 0 && n >= 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, "%s %" PRId64, off > 1 ?
			 "bytes 0 to" : "byte", off - 1);
}
