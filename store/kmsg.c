/* kmsg.c - Kafka messages: a batch produced by a Kafka client is stored
 * as one record whose payload is the values (what file readers see) and
 * whose trailer, after the payload and inside the record's checksum,
 * holds each message's CreateTime, key and raw headers.  The index entry
 * counts only the payload (the topic's bytes) and notes the trailer's
 * length, so compaction, expiry, rm and recovery carry or drop the
 * metadata with its record (docs/format.md, "Kafka trailer").
 *
 * Trailer: per message ts(8, -1 none) key_len(4, -1 null) key
 * nheaders(4) headers_len(4) headers; then its length(4) and "SFK1".  Or,
 * ending an idempotent producer's batch, the messages, the producer's tag
 * (pid 8, epoch 2, first and last sequence 4 each), its length and
 * "SFK2". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KMSG_MAX 65536          /* messages per record */
#define PER_MSG 20              /* fixed bytes per message in a trailer */

static bool has_meta(const struct sf_kmsg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].ts >= 0 || m[i].key_len >= 0 || m[i].nheaders > 0 ||
		    m[i].headers_len > 0)
			return true;
	return false;
}

/* Payload and trailer sizes, or -EINVAL when the messages do not fit
 * (line framing: no newline before a value's end). */
static int measure(const struct sf_kmsg *m, size_t n, bool lines,
		   uint64_t *plen, uint64_t *tlen)
{
	*plen = *tlen = 0;
	for (size_t i = 0; i < n; i++) {
		const char *v = m[i].value;
		uint32_t vl = m[i].value_len;
		if (lines) {
			const char *nl = vl ? memchr(v, '\n', vl) : NULL;
			if (nl && nl != v + vl - 1)
				return -EINVAL;
			*plen += vl + (nl ? 0 : 1);
		} else {
			*plen += vl;
		}
		if (m[i].key_len < -1 || m[i].nheaders < 0)
			return -EINVAL;
		*tlen += PER_MSG + (m[i].key_len > 0 ? m[i].key_len : 0) +
			 m[i].headers_len;
	}
	*tlen += REC_TRAILER_TAIL;
	return *plen + *tlen > UINT32_MAX - REC_HDR ? -EINVAL : 0;
}

static char *put_bytes(char *p, const void *b, size_t n)
{
	if (n)
		memcpy(p, b, n);
	return p + n;
}

static void build(char *buf, const struct sf_kmsg *m, size_t n, bool lines,
		  bool meta, const struct sf_ptag *tag, uint64_t plen,
		  uint64_t tlen)
{
	char *p = buf;
	for (size_t i = 0; i < n; i++) {
		p = put_bytes(p, m[i].value, m[i].value_len);
		if (lines && (m[i].value_len == 0 ||
			      ((const char *)m[i].value)[m[i].value_len - 1]
			      != '\n'))
			*p++ = '\n';
	}
	if (!meta)
		return;
	p = buf + plen;
	for (size_t i = 0; i < n; i++) {
		put_le64(p, (uint64_t)m[i].ts);
		put_le32(p + 8, (uint32_t)m[i].key_len);
		p = put_bytes(p + 12, m[i].key,
			      m[i].key_len > 0 ? m[i].key_len : 0);
		put_le32(p, (uint32_t)m[i].nheaders);
		put_le32(p + 4, m[i].headers_len);
		p = put_bytes(p + 8, m[i].headers, m[i].headers_len);
	}
	if (tag) {
		put_le64(p, (uint64_t)tag->pid);
		p[8] = (char)(tag->epoch & 0xff);
		p[9] = (char)((uint16_t)tag->epoch >> 8);
		put_le32(p + 10, (uint32_t)tag->first_seq);
		put_le32(p + 14, (uint32_t)tag->last_seq);
		p += REC_PRODUCER_TAG;
	}
	put_le32(p, (uint32_t)tlen);
	put_le32(p + 4, tag ? REC_TRAILER_MAGIC_PRODUCER : REC_TRAILER_MAGIC);
}

int store_kafka_append(struct store *st, uint64_t ino, uint64_t stream,
		       struct sf_topic *t, const struct sf_kmsg *m, size_t n,
		       bool lines, bool sync, uint64_t *base)
{
	return store_kafka_append_tagged(st, ino, stream, t, m, n, lines, sync,
					 NULL, base);
}

int store_kafka_append_tagged(struct store *st, uint64_t ino,
			      uint64_t stream, struct sf_topic *t,
			      const struct sf_kmsg *m, size_t n, bool lines,
			      bool sync, const struct sf_ptag *tag,
			      uint64_t *base)
{
	uint64_t plen, tlen;
	if (n == 0 || n > KMSG_MAX || (!lines && n != 1))
		return -EINVAL;
	int r = measure(m, n, lines, &plen, &tlen);
	if (r < 0)
		return r;
	bool meta = has_meta(m, n) || tag;
	if (!meta)
		tlen = 0;
	else if (tag)
		tlen += REC_PRODUCER_TAG;
	if (plen == 0)
		return -EINVAL;         /* a record holds at least one byte */
	char *buf = malloc(plen + tlen);
	if (!buf)
		return -ENOMEM;
	build(buf, m, n, lines, meta, tag, plen, tlen);
	struct iovec iov = { buf, plen + tlen };
	int64_t ns;
	uint64_t first = t->next_msg;
	r = topic_append_meta(st, ino, stream, t, &iov, 1, plen, (uint32_t)n,
			      (uint32_t)tlen, &ns, sync);
	free(buf);
	if (r == 0 && base)
		*base = first;
	return r;
}

/* ---- reading ---- */

static int push(struct sf_kread *out, const struct sf_kmsg *m)
{
	if (out->n == out->cap) {
		size_t c = out->cap ? out->cap * 2 : 64;
		struct sf_kmsg *nm = realloc(out->m, c * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		out->m = nm;
		out->cap = c;
	}
	out->m[out->n++] = *m;
	return 0;
}

/* The metadata of the next message from the trailer at *p (before end)
 * into m: 0, or -EIO if it does not fit. */
static int take_meta(const char **p, const char *end, struct sf_kmsg *m)
{
	const char *q = *p;
	if (end - q < 12)
		return -EIO;
	m->ts = (int64_t)get_le64(q);
	m->key_len = (int32_t)get_le32(q + 8);
	q += 12;
	if (m->key_len < -1 || (m->key_len > 0 && end - q < m->key_len))
		return -EIO;
	m->key = m->key_len >= 0 ? q : NULL;
	q += m->key_len > 0 ? m->key_len : 0;
	if (end - q < 8)
		return -EIO;
	m->nheaders = (int32_t)get_le32(q);
	m->headers_len = get_le32(q + 4);
	q += 8;
	if (m->nheaders < 0 || (uint64_t)(end - q) < m->headers_len)
		return -EIO;
	m->headers = q;
	*p = q + m->headers_len;
	m->create_time = m->ts >= 0;
	return 0;
}

int kmsg_trailer_check(const char *p, uint32_t len, uint32_t nmsgs)
{
	if (len < REC_TRAILER_TAIL || get_le32(p + len - 8) != len)
		return -EINVAL;
	uint32_t magic = get_le32(p + len - 4);
	uint32_t parts = len - REC_TRAILER_TAIL;
	if (magic == REC_TRAILER_MAGIC_PRODUCER) {
		if (parts < REC_PRODUCER_TAG)
			return -EINVAL;
		parts -= REC_PRODUCER_TAG;
	} else if (magic != REC_TRAILER_MAGIC) {
		return -EINVAL;
	}
	const char *q = p, *end = p + parts;
	for (uint32_t i = 0; i < nmsgs; i++) {
		struct sf_kmsg m;
		if (take_meta(&q, end, &m) < 0)
			return -EINVAL;
	}
	return q == end ? 0 : -EINVAL;
}

/* The messages of one record (its entry e, payload at body) from
 * message offset from on; *bytes counts what they take. */
static int split_record(const struct idx_entry *e, const char *body,
			uint64_t from, bool lines, struct sf_kread *out,
			size_t *bytes)
{
	const char *p = body, *end = body + e->len;
	const char *tp = body + e->len;
	const char *tend = tp + (e->meta ? e->meta - REC_TRAILER_TAIL : 0);
	for (uint32_t i = 0; i < e->nmsgs; i++) {
		const char *v = p;
		if (e->nmsgs == 1) {
			p = end;
		} else {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				return -EIO;
			p = nl + 1;
		}
		struct sf_kmsg m = {
			.msg = e->msg + i, .ts = e->ns / 1000000,
			.value = v, .value_len = (uint32_t)(p - v),
			.key_len = -1,
		};
		if (e->meta) {
			int r = take_meta(&tp, tend, &m);
			if (r < 0)
				return r;
			if (m.ts < 0)
				m.ts = e->ns / 1000000;
		}
		if (lines && m.value_len && ((const char *)v)[m.value_len - 1]
		    == '\n')
			m.value_len--;
		if (m.msg < from)
			continue;
		int r = push(out, &m);
		if (r < 0)
			return r;
		*bytes += m.value_len + (m.key_len > 0 ? m.key_len : 0) +
			  m.headers_len;
	}
	return 0;
}

int store_kafka_read(struct store *st, uint64_t ino, const struct sf_topic *t,
		     uint64_t msg, size_t max_bytes, bool lines,
		     struct sf_kread *out)
{
	out->n = 0;
	if (msg < t->first_msg || msg >= t->next_msg)
		return -ENXIO;
	uint64_t off;
	int r = store_topic_seek_message(st, ino, t, msg, &off);
	if (r < 0)
		return r;
	uint64_t end = t->size - off > max_bytes ? off + max_bytes : t->size;
	if (end <= off)
		end = off + 1;
	struct idx_entry *ents = NULL;
	size_t n = 0, pos = 0, bytes = 0;
	r = topic_read_whole(st, ino, off, end, &ents, &n, &out->rb);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (out->n && bytes >= max_bytes)
			break;
		r = split_record(&ents[i], out->rb.buf + pos + REC_HDR, msg,
				 lines, out, &bytes);
		pos += REC_HDR + idx_rec_len(&ents[i]);
	}
	free(ents);
	if (r < 0)
		out->n = 0;
	return r;
}

void store_kread_free(struct sf_kread *r)
{
	free(r->m);
	store_readbuf_free(&r->rb);
	memset(r, 0, sizeof(*r));
}
