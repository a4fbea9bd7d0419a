/*
 * msgread.c - a topic's messages with their offsets and arrival times (see
 * msgread.h).  The reader lists records from its position with one
 * fgetxattr() of user.streamfs.index.POS (as many records as the answer
 * holds), keeps the topic's bytes in one buffer filled by large pread()s,
 * and finds lines with memchr().  Bytes are only interpreted through the
 * records listed, never past them.
 */
#include "msgread.h"
#include "xattr_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The largest attribute value Linux passes. */
#define INDEX_VALUE_MAX 65536
/* The shortest record line, "0 1 1 0 0\n", bounds the records per answer. */
#define INDEX_RECORDS_MAX (INDEX_VALUE_MAX / 10 + 1)
/* Reads ask for this much at least while more is listed. */
#define READ_CHUNK (1u << 20)
/* Asked for beyond the last listed record, so that a read that finds the
 * topic's end comes back short and says so. */
#define READ_SLACK 4096

/* Take a decimal number and the one space or newline after it. */
static int take_u64(char **p, uint64_t *v)
{
	char *s = *p;
	uint64_t n = 0;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s++ - '0');
	}
	if (*s != ' ' && *s != '\n')
		return -1;
	*p = s + 1;
	*v = n;
	return 0;
}

int msgbuf_init(struct msgbuf *b)
{
	memset(b, 0, sizeof(*b));
	b->rec = malloc(INDEX_RECORDS_MAX * sizeof(*b->rec));
	b->list = malloc(INDEX_VALUE_MAX + 1);
	b->cap = 2 * READ_CHUNK;
	b->buf = malloc(b->cap);
	if (!b->rec || !b->list || !b->buf) {
		msgbuf_free(b);
		return -ENOMEM;
	}
	return 0;
}

void msgbuf_free(struct msgbuf *b)
{
	free(b->rec);
	free(b->list);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

int msgread_open(struct msgread *r, struct msgbuf *b, const char *path,
		 int write_framing)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->b = b;
	r->write_framing = write_framing;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	return r->fd < 0 ? -errno : 0;
}

void msgread_close(struct msgread *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->b && r->b->owner == r)
		r->b->owner = NULL;
}

void msgread_start(struct msgread *r, uint64_t start)
{
	r->pos = r->skip_to = start;
	r->msg_known = 0;
	if (r->b->owner == r)
		r->b->owner = NULL;
}

int msgread_get_u64(struct msgread *r, const char *name, uint64_t *v)
{
	char full[300], val[32];
	ssize_t n;

	snprintf(full, sizeof(full), SFS_XATTR_PREFIX "%s", name);
	n = fgetxattr(r->fd, full, val, sizeof(val) - 2);	/* room for " " */
	if (n < 0)
		return errno == ERANGE ? -EBADMSG : -errno;
	val[n] = '\0';
	while (n > 0 && (val[n - 1] == '\n' || val[n - 1] == ' '))
		val[--n] = '\0';
	char *p = val;
	strcat(val, " ");
	return take_u64(&p, v) || *p ? -EBADMSG : 0;
}

int msgread_info(struct msgread *r, struct topicinfo *ti)
{
	char text[1024];
	ssize_t n = fgetxattr(r->fd, SFS_XATTR_PREFIX "info", text,
			      sizeof(text) - 1);
	uint64_t messages = UINT64_MAX;
	unsigned have = 0;

	if (n < 0)
		return -errno;
	text[n] = '\0';
	memset(ti, 0, sizeof(*ti));
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
		if (!nl || !eq || eq > nl)
			return -EBADMSG;
		*eq = '\0';
		char *key = line, *p = eq + 1;
		uint64_t v;
		line = nl + 1;
		if (*p == '-')
			continue;	/* last_message=-1 */
		if (take_u64(&p, &v))
			return -EBADMSG;
		if (!strcmp(key, "messages"))
			messages = v, have |= 1;
		else if (!strcmp(key, "first_message"))
			ti->first_message = v, have |= 2;
		else if (!strcmp(key, "first_offset"))
			ti->first_offset = v, have |= 4;
		else if (!strcmp(key, "size"))
			ti->size = v, have |= 8;
	}
	if (have != 15)
		return -EBADMSG;
	ti->next_message = ti->first_message + messages;
	return 0;
}

int msgread_parse_index(char *text, struct msgrec *out, size_t max)
{
	size_t n = 0;
	char *p = text;

	while (*p) {
		uint64_t f[5];
		for (int i = 0; i < 5; i++)
			if (take_u64(&p, &f[i]) || (i < 4) != (p[-1] == ' '))
				return -EBADMSG;
		if (n == max || f[1] > UINT32_MAX || f[2] > UINT32_MAX ||
		    f[4] > INT64_MAX || (n && f[0] != out[n - 1].off +
					 out[n - 1].len))
			return -EBADMSG;
		out[n++] = (struct msgrec){ .off = f[0], .len = (uint32_t)f[1],
					    .nmsgs = (uint32_t)f[2],
					    .msg = f[3], .ns = (int64_t)f[4] };
	}
	return (int)n;
}

/* List the records from the one that holds pos. */
static int list_records(struct msgread *r)
{
	struct msgbuf *b = r->b;
	char name[64];
	ssize_t n;
	int got;

	snprintf(name, sizeof(name), SFS_XATTR_PREFIX "index.%" PRIu64, r->pos);
	n = fgetxattr(r->fd, name, b->list, INDEX_VALUE_MAX);
	if (n < 0)
		return -errno;
	b->list[n] = '\0';
	got = msgread_parse_index(b->list, b->rec, INDEX_RECORDS_MAX);
	if (got < 0)
		return got;
	b->nrec = (size_t)got;
	b->irec = 0;
	b->list_end = got ? b->rec[got - 1].off + b->rec[got - 1].len : r->pos;
	return 0;
}

/* Forget the buffered bytes; the next read starts at pos. */
static void drop_buffer(struct msgread *r)
{
	r->b->boff = r->pos;
	r->b->blen = 0;
}

/* One pread() after the buffered bytes, of COUNT bytes (room is there):
 * 1 if it read something, 0 at the end, or -errno. */
static int read_more(struct msgread *r, size_t count)
{
	struct msgbuf *b = r->b;
	ssize_t n;

	do
		n = pread(r->fd, b->buf + b->blen, count,
			  (off_t)(b->boff + b->blen));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	b->blen += (size_t)n;
	r->read_end = b->boff + b->blen;
	r->at_end = (size_t)n < count;
	return n > 0;
}

/* Room for COUNT more bytes after the buffered ones, dropping those before
 * pos first. */
static int make_room(struct msgread *r, size_t count)
{
	struct msgbuf *b = r->b;
	size_t keep;

	if (b->cap - b->blen >= count)
		return 0;
	keep = (size_t)(b->boff + b->blen - r->pos);
	memmove(b->buf, b->buf + (r->pos - b->boff), keep);
	b->boff = r->pos;
	b->blen = keep;
	if (b->cap - b->blen < count) {
		size_t cap = b->cap * 2 > keep + count ? b->cap * 2
						       : keep + count;
		char *p = realloc(b->buf, cap);
		if (!p)
			return -ENOMEM;
		b->buf = p;
		b->cap = cap;
	}
	return 0;
}

/* Did the bytes read from HAVE on expire between the listing and the
 * read?  Expired bytes read as zeros and are always a head, so a read that
 * met some starts with a zero byte; then lseek(SEEK_DATA) says whether HAVE
 * is still live.  1 if expired, 0 if not, or -errno. */
static int read_expired(struct msgread *r, uint64_t have)
{
	struct msgbuf *b = r->b;
	off_t data;

	if (b->buf[have - b->boff] != '\0')
		return 0;
	data = lseek(r->fd, (off_t)have, SEEK_DATA);
	if (data < 0)
		return errno == ENXIO ? 1 : -errno;
	return (uint64_t)data != have;
}

/* Have the bytes [pos, need) in the buffer.  Reads ask for a large chunk
 * while more is listed, and a little past the last listed record, so that
 * a read that reaches the topic's end comes back short (at_end).  -ESTALE
 * when the listed records expired before they were read. */
static int fill(struct msgread *r, uint64_t need)
{
	struct msgbuf *b = r->b;

	if (r->pos < b->boff || r->pos > b->boff + b->blen)
		drop_buffer(r);
	while (b->boff + b->blen < need) {
		uint64_t have = b->boff + b->blen;
		uint64_t to = have + READ_CHUNK < b->list_end ?
			      have + READ_CHUNK : b->list_end;
		if (to < need)
			to = need;
		size_t count = (size_t)(to - have) + READ_SLACK;
		int rc = make_room(r, count);
		have = b->boff + b->blen;
		if (rc == 0)
			rc = read_more(r, count);
		if (rc == 1) {
			int gone = read_expired(r, have);
			rc = gone < 0 ? gone : gone ? -ESTALE : 1;
		}
		if (rc < 0)
			return rc;
		if (rc == 0)
			return -EIO;	/* a listed record's bytes are missing */
	}
	return 0;
}

/* New records from pos on: 1 when there are some, 0 at the end (the last
 * read ended at pos), or -errno.  Records that expired before they were
 * read are counted as lost. */
static int next_records(struct msgread *r)
{
	struct msgbuf *b = r->b;
	int rc;

	if (r->at_end && r->read_end == r->pos)
		return 0;
	rc = list_records(r);
	if (rc == 0 && b->nrec == 0) {
		/* At the end: read there, so that poll() knows where the
		 * reader stands (and catch an append since the listing). */
		drop_buffer(r);
		rc = make_room(r, READ_SLACK);
		if (rc == 0)
			rc = read_more(r, READ_SLACK);
		if (rc == 1)
			rc = list_records(r);
		if (rc < 0 || b->nrec == 0)
			return rc < 0 ? rc : 0;
	}
	if (rc < 0)
		return rc;
	struct msgrec *first = &b->rec[0];
	if (first->off > r->pos) {
		if (r->msg_known && first->msg > r->msg)
			r->lost += first->msg - r->msg;
		else if (!r->msg_known)
			r->lost_unknown = 1;
		r->pos = first->off;
		drop_buffer(r);
	} else if (first->off < r->pos) {
		/* pos is inside this record: walk it from its start. */
		if (r->skip_to < r->pos)
			r->skip_to = r->pos;
		r->pos = first->off;
	}
	return 1;
}

/* The record c (which holds pos, and is buffered) as one message. */
static void whole_record(struct msgread *r, const struct msgrec *c,
			 uint64_t run, struct msg *m)
{
	uint64_t end = c->off + c->len;

	m->data = r->b->buf + (r->pos - r->b->boff);
	m->len = (size_t)(end - r->pos);
	if (!r->write_framing && m->len && m->data[m->len - 1] == '\n') {
		m->raw = run > 0;
		if (!m->raw)
			m->len--;
	}
	m->next = end;
}

/* The message at pos in record c (buffered): one line, or with RUN the
 * rest of the record's lines when there are at most RUN of them. */
static void line(struct msgread *r, const struct msgrec *c, uint64_t run,
		 struct msg *m)
{
	uint64_t end = c->off + c->len;
	const char *p = r->b->buf + (r->pos - r->b->boff);
	uint64_t left = c->msg + c->nmsgs - r->msg;

	if (run && left <= run && p[end - r->pos - 1] == '\n') {
		m->data = p;
		m->len = (size_t)(end - r->pos);
		m->count = left;
		m->raw = 1;
		m->next = end;
		return;
	}
	const char *nl = memchr(p, '\n', (size_t)(end - r->pos));
	m->data = p;
	m->len = nl ? (size_t)(nl - p) : (size_t)(end - r->pos);
	m->next = r->pos + m->len + (nl != NULL);
}

/* Make the shared buffer this reader's. */
static void take_buffer(struct msgread *r)
{
	struct msgbuf *b = r->b;

	if (b->owner == r)
		return;
	b->owner = r;
	b->nrec = b->irec = 0;
	drop_buffer(r);
}

int msgread_next(struct msgread *r, uint64_t limit, uint64_t run,
		 struct msg *m)
{
	struct msgbuf *b = r->b;

	take_buffer(r);
	for (;;) {
		if (r->pos >= limit)
			return 0;
		if (b->irec == b->nrec) {
			int rc = next_records(r);
			if (rc <= 0)
				return rc;
		}
		const struct msgrec *c = &b->rec[b->irec];
		uint64_t end = c->off + c->len;
		if (r->pos >= end) {
			b->irec++;
			continue;
		}
		if (r->pos == c->off) {
			r->msg = c->msg;
			r->msg_known = 1;
		}
		int rc = fill(r, end);
		if (rc == -ESTALE) {
			/* List again from pos: the gap is counted there. */
			b->nrec = b->irec = 0;
			drop_buffer(r);
			continue;
		}
		if (rc < 0)
			return rc;
		memset(m, 0, sizeof(*m));
		m->off = r->pos;
		m->msg = r->msg;
		m->ns = c->ns;
		m->count = 1;
		if (c->nmsgs <= 1)
			whole_record(r, c, r->pos >= r->skip_to ? run : 0, m);
		else
			line(r, c, r->pos >= r->skip_to ? run : 0, m);
		r->pos = m->next;
		r->msg += m->count;
		if (m->off >= r->skip_to)
			return 1;
	}
}

void msgread_wake(struct msgread *r)
{
	r->at_end = 0;
}
