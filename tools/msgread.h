/*
 * msgread.h - reading a topic's messages with their offsets, through the
 * mount only: record boundaries, message offsets and arrival times from
 * the attribute user.streamfs.index.OFF (one call lists many records),
 * bytes from pread() in large chunks.
 *
 * A record with several messages holds lines, each ending in a newline.
 * A record of one message is, under line framing, one line (its newline,
 * if it has one, is not part of the payload: a partial line appended at
 * close has none), and under write framing exactly the bytes of one
 * write(), binary included.
 */
#ifndef STREAMFS_MSGREAD_H
#define STREAMFS_MSGREAD_H

#include <stddef.h>
#include <stdint.h>

/* One message, or a run of whole lines (msgread_next() with RUN). */
struct msg {
	const char *data;	/* payload; valid until the next call */
	size_t len;
	uint64_t msg;		/* message offset (of the first, for a run) */
	uint64_t off;		/* byte offset of its first byte */
	uint64_t next;		/* byte offset where the next message starts */
	int64_t ns;		/* arrival time, ns since the epoch */
	uint64_t count;		/* messages: 1, or a run's number of lines */
	int raw;		/* a run: DATA is lines with their newlines */
};

/* One record as the index lists it. */
struct msgrec {
	uint64_t off, msg;
	int64_t ns;
	uint32_t len, nmsgs;
};

/* What a reader works in: the listed records and the topic's bytes.  One
 * is shared by all the readers of a program (only one reads at a time),
 * so following many topics costs one buffer; a reader that finds it
 * holding another reader's records and bytes starts it afresh. */
struct msgbuf {
	const struct msgread *owner;
	struct msgrec *rec;	/* listed records, from the one holding pos */
	size_t nrec, irec;
	uint64_t list_end;	/* where the last listed record ends */
	char *buf;		/* topic bytes [boff, boff + blen) */
	size_t cap, blen;
	uint64_t boff;
	char *list;		/* the index answer being parsed */
};

int msgbuf_init(struct msgbuf *b);
void msgbuf_free(struct msgbuf *b);

struct msgread {
	const char *path;	/* for messages; not owned */
	struct msgbuf *b;
	int fd;
	int write_framing;	/* single-message records are writes */
	uint64_t pos;		/* byte offset of the next message */
	uint64_t skip_to;	/* messages that start before it are skipped */
	uint64_t msg;		/* message offset at pos, once in a record */
	int msg_known;
	uint64_t lost;		/* messages that expired before they were read */
	int lost_unknown;	/* bytes expired, message count unknown */
	uint64_t read_end;	/* where the last read on fd ended */
	int at_end;		/* ... and it came back short: the end then */
};

/* Open topic PATH for reading, working in B.  WRITE_FRAMING says how
 * single-message records are taken.  0 or -errno. */
int msgread_open(struct msgread *r, struct msgbuf *b, const char *path,
		 int write_framing);
void msgread_close(struct msgread *r);

/* Read from byte START on: a message boundary, or the start of the record
 * that holds it (messages that start before START are skipped). */
void msgread_start(struct msgread *r, uint64_t start);

/* The decimal value of attribute user.streamfs.NAME of the topic: 0, or
 * -errno (-EBADMSG when it is not a number). */
int msgread_get_u64(struct msgread *r, const char *name, uint64_t *v);

/* What user.streamfs.info says of the topic. */
struct topicinfo {
	uint64_t first_message, next_message, first_offset, size;
};
int msgread_info(struct msgread *r, struct topicinfo *ti);

/* The next message that starts before byte LIMIT: 1 and *M; 0 when there
 * is none now (then the last read on the descriptor ended at the reader's
 * position, so poll() waits for the next append); or -errno.  With RUN
 * nonzero, the rest of a record of lines that all end in a newline may
 * come as one run of at most RUN lines (M->data holds them with their
 * newlines), so output that is the lines themselves can be copied. */
int msgread_next(struct msgread *r, uint64_t limit, uint64_t run,
		 struct msg *m);

/* poll() said the topic has more than the reader last found: the next
 * msgread_next() asks the daemon again. */
void msgread_wake(struct msgread *r);

/* Parse one index answer (NUL-terminated) into at most MAX records; the
 * count or -EBADMSG. */
int msgread_parse_index(char *text, struct msgrec *out, size_t max);

#endif
