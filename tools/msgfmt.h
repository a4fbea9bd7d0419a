/*
 * msgfmt.h - how streamctl tail and consume print messages: a --format
 * string (%o message offset, %b byte offset, %T arrival in milliseconds
 * since the epoch, %t topic, %s payload, %S payload size, %%, and the
 * escapes \n, \t, \\), one JSON object per message (-J), and the buffered
 * standard output they go to (large write()s).
 */
#ifndef STREAMFS_MSGFMT_H
#define STREAMFS_MSGFMT_H

#include <stddef.h>
#include <stdint.h>

#include "msgread.h"

/* Output collected in one large buffer and written with write(). */
struct outbuf {
	int fd;
	char *p;
	size_t len, cap;
	int err;		/* the first write error (errno), then 0 */
};

int out_init(struct outbuf *o, int fd);
void out_free(struct outbuf *o);
void out_put(struct outbuf *o, const void *data, size_t len);
/* Write what is buffered: 0, or -errno of the first failed write. */
int out_flush(struct outbuf *o);

struct msgfmt;

/* The default format is "%s\n".  Parse a --format SPEC (NULL: the
 * default) or, with JSON, the -J format: 0, or -EINVAL with what is wrong
 * in WHY. */
int msgfmt_new(const char *spec, int json, struct msgfmt **out,
	       char *why, size_t whylen);
void msgfmt_free(struct msgfmt *f);

/* Whether the format prints a line message as the line itself with its
 * newline, so that runs of whole lines (msgread_next()'s RUN) can be
 * copied as they are. */
int msgfmt_copies_lines(const struct msgfmt *f);

/* Print M (a message, or a run of lines when M->raw) of topic TOPIC. */
void msgfmt_put(const struct msgfmt *f, struct outbuf *o, const char *topic,
		const struct msg *m);

#endif
