/*
 * msgfmt.c - printing messages as a --format string or as JSON, into a
 * large output buffer written with write() (see msgfmt.h).  A format is
 * parsed once into a list of steps; a run of whole lines is copied as it
 * is when the format is the lines themselves.
 */
#include "msgfmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_CAP (1u << 20)
/* Longer pieces bypass the buffer. */
#define OUT_DIRECT (OUT_CAP / 2)
#define NS_PER_MS 1000000

/* ------------------------------------------------------------ output */

int out_init(struct outbuf *o, int fd)
{
	o->fd = fd;
	o->len = 0;
	o->err = 0;
	o->cap = OUT_CAP;
	o->p = malloc(o->cap);
	return o->p ? 0 : -ENOMEM;
}

void out_free(struct outbuf *o)
{
	free(o->p);
	o->p = NULL;
}

static void write_all(struct outbuf *o, const char *p, size_t n)
{
	while (n > 0 && !o->err) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->err = w < 0 ? errno : EIO;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
}

int out_flush(struct outbuf *o)
{
	write_all(o, o->p, o->len);
	o->len = 0;
	return o->err ? -o->err : 0;
}

void out_put(struct outbuf *o, const void *data, size_t len)
{
	if (o->cap - o->len < len)
		out_flush(o);
	if (len >= OUT_DIRECT) {
		write_all(o, data, len);
		return;
	}
	memcpy(o->p + o->len, data, len);
	o->len += len;
}

static void out_char(struct outbuf *o, char c)
{
	if (o->len == o->cap)
		out_flush(o);
	o->p[o->len++] = c;
}

static void out_u64(struct outbuf *o, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do
		tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	out_put(o, tmp + sizeof(tmp) - n, (size_t)n);
}

/* ------------------------------------------------------------ formats */

enum step_kind { S_TEXT, S_MSG, S_BYTE, S_TIME, S_TOPIC, S_PAYLOAD, S_SIZE };

struct step {
	enum step_kind kind;
	char *text;		/* S_TEXT */
	size_t len;
};

struct msgfmt {
	int json;
	struct step *steps;
	size_t n;
};

static int add_step(struct msgfmt *f, enum step_kind kind)
{
	struct step *s = realloc(f->steps, (f->n + 1) * sizeof(*s));

	if (!s)
		return -ENOMEM;
	f->steps = s;
	s[f->n++] = (struct step){ .kind = kind };
	return 0;
}

/* Append character C to the text step at the end (made if need be). */
static int add_char(struct msgfmt *f, char c)
{
	struct step *s = f->n ? &f->steps[f->n - 1] : NULL;

	if (!s || s->kind != S_TEXT) {
		if (add_step(f, S_TEXT))
			return -ENOMEM;
		s = &f->steps[f->n - 1];
	}
	char *t = realloc(s->text, s->len + 1);
	if (!t)
		return -ENOMEM;
	t[s->len++] = c;
	s->text = t;
	return 0;
}

/* The character an escape \C stands for, or 0. */
static char escape_of(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case '\\':
		return '\\';
	}
	return 0;
}

/* The field %C, or -1. */
static int field_of(char c)
{
	static const char names[] = "obTtsS";
	static const enum step_kind kinds[] = { S_MSG, S_BYTE, S_TIME,
						S_TOPIC, S_PAYLOAD, S_SIZE };
	const char *k = c ? strchr(names, c) : NULL;

	return k ? (int)kinds[k - names] : -1;
}

static int parse_spec(struct msgfmt *f, const char *spec, char *why,
		      size_t whylen)
{
	for (const char *p = spec; *p; p++) {
		int rc, kind;
		if (*p == '\\') {
			char e = escape_of(p[1]);
			if (!e) {
				snprintf(why, whylen, "unknown escape '\\%.1s' "
					 "(known: \\n \\t \\\\)", p + 1);
				return -EINVAL;
			}
			rc = add_char(f, e);
			p++;
		} else if (*p == '%') {
			kind = field_of(p[1]);
			if (p[1] == '%') {
				rc = add_char(f, '%');
			} else if (kind < 0) {
				snprintf(why, whylen, "unknown field '%%%.1s' "
					 "(known: %%o %%b %%T %%t %%s %%S %%%%)",
					 p + 1);
				return -EINVAL;
			} else {
				rc = add_step(f, (enum step_kind)kind);
			}
			p++;
		} else {
			rc = add_char(f, *p);
		}
		if (rc) {
			snprintf(why, whylen, "out of memory");
			return rc;
		}
	}
	return 0;
}

int msgfmt_new(const char *spec, int json, struct msgfmt **out, char *why,
	       size_t whylen)
{
	struct msgfmt *f = calloc(1, sizeof(*f));
	int rc;

	if (!f) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	f->json = json;
	rc = json ? 0 : parse_spec(f, spec ? spec : "%s\\n", why, whylen);
	if (rc) {
		msgfmt_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void msgfmt_free(struct msgfmt *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->steps[i].text);
	free(f->steps);
	free(f);
}

int msgfmt_copies_lines(const struct msgfmt *f)
{
	return !f->json && f->n == 2 && f->steps[0].kind == S_PAYLOAD &&
	       f->steps[1].kind == S_TEXT && f->steps[1].len == 1 &&
	       f->steps[1].text[0] == '\n';
}

/* ------------------------------------------------------------ JSON */

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	uint32_t c;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

static int valid_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* S as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_string(struct outbuf *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	out_char(o, '"');
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		unsigned char c = p[i];
		if (k == 0) {
			out_put(o, "\\ufffd", 6);
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			out_char(o, '\\');
			out_char(o, (char)c);
		} else if (c == '\n') {
			out_put(o, "\\n", 2);
		} else if (c == '\t') {
			out_put(o, "\\t", 2);
		} else if (c == '\r') {
			out_put(o, "\\r", 2);
		} else if (c < 0x20) {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4],
				      hex[c & 15] };
			out_put(o, u, 6);
		} else {
			out_put(o, p + i, k);
		}
		i += k;
	}
	out_char(o, '"');
}

static void base64(struct outbuf *o, const char *s, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	const unsigned char *p = (const unsigned char *)s;

	out_char(o, '"');
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = { b64[v >> 18], b64[v >> 12 & 63],
			      i + 1 < n ? b64[v >> 6 & 63] : '=',
			      i + 2 < n ? b64[v & 63] : '=' };
		out_put(o, q, 4);
	}
	out_char(o, '"');
}

static void put_json(struct outbuf *o, const char *topic,
		     const struct msg *m)
{
	int text = valid_utf8(m->data, m->len);

	out_put(o, "{\"topic\":", 9);
	json_string(o, topic, strlen(topic));
	out_put(o, ",\"offset\":", 10);
	out_u64(o, m->msg);
	out_put(o, ",\"byte_offset\":", 15);
	out_u64(o, m->off);
	out_put(o, ",\"timestamp\":", 13);
	out_u64(o, (uint64_t)m->ns / NS_PER_MS);
	out_put(o, ",\"size\":", 8);
	out_u64(o, m->len);
	out_put(o, text ? ",\"encoding\":\"utf8\",\"payload\":"
			: ",\"encoding\":\"base64\",\"payload\":",
		text ? 29 : 31);
	if (text)
		json_string(o, m->data, m->len);
	else
		base64(o, m->data, m->len);
	out_put(o, "}\n", 2);
}

/* ------------------------------------------------------------ printing */

static void put_steps(const struct msgfmt *f, struct outbuf *o,
		      const char *topic, const struct msg *m)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct step *s = &f->steps[i];
		switch (s->kind) {
		case S_TEXT:
			out_put(o, s->text, s->len);
			break;
		case S_MSG:
			out_u64(o, m->msg);
			break;
		case S_BYTE:
			out_u64(o, m->off);
			break;
		case S_TIME:
			out_u64(o, (uint64_t)m->ns / NS_PER_MS);
			break;
		case S_TOPIC:
			out_put(o, topic, strlen(topic));
			break;
		case S_PAYLOAD:
			out_put(o, m->data, m->len);
			break;
		case S_SIZE:
			out_u64(o, m->len);
			break;
		}
	}
}

void msgfmt_put(const struct msgfmt *f, struct outbuf *o, const char *topic,
		const struct msg *m)
{
	if (m->raw) {
		/* Lines with their newlines, and the format is the lines. */
		out_put(o, m->data, m->len);
	} else if (f->json) {
		put_json(o, topic, m);
	} else {
		put_steps(f, o, topic, m);
	}
}
