/*
 * topic_info.h - a topic's counters as the tools read them: the attribute
 * user.streamfs.info ("key=value" lines, docs/design.md), parsed, and the
 * words for what of its head has expired.
 */
#ifndef STREAMFS_TOPIC_INFO_H
#define STREAMFS_TOPIC_INFO_H

#include <stddef.h>
#include <stdint.h>

/* The keys of user.streamfs.info, in the order streamctl info prints them. */
enum {
	I_MESSAGES, I_FIRST_MESSAGE, I_LAST_MESSAGE, I_FIRST_OFFSET, I_SIZE,
	I_FIRST_TIME, I_LAST_TIME, I_COUNT
};

extern const char *const topic_info_keys[I_COUNT];

struct topic_info {
	int64_t v[I_COUNT];
	unsigned have;		/* bit i set: key i was present */
};

/* Read and parse user.streamfs.info of PATH.  Unknown keys are skipped (a
 * newer daemon may say more); absent ones read as 0.  0, -errno from the
 * attribute, or -EBADMSG for a line that is not key=number. */
int topic_info_read(const char *path, struct topic_info *ti);

/* Has anything before the first live message gone (expired, or a restored
 * topic that starts past 0)? */
int topic_info_expired(const struct topic_info *ti);

/* "none", or what has gone: "messages 0 to 6, bytes 0 to 99". */
void topic_info_expired_text(const struct topic_info *ti, char *buf,
			     size_t cap);

#endif
