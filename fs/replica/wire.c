/* wire.c - the replication protocol's frames (docs/replication.md):
 * building and parsing payloads with their bounds, reading and writing
 * whole frames over a TLS connection with blocking sockets and
 * timeouts, and the addresses of peers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "buf.h"
#include "rp.h"

/* ---- building ---- */

static uint8_t *wb_room(struct wbuf *b, size_t n)
{
	if (b->oom)
		return NULL;
	uint8_t *p = buf_grow(b->p, &b->cap, b->len + n, 4096);
	if (!p) {
		b->oom = true;
		return NULL;
	}
	b->p = p;
	b->len += n;
	return p + b->len - n;
}

static void put_be(struct wbuf *b, uint64_t v, int n)
{
	uint8_t *p = wb_room(b, (size_t)n);
	for (int i = n - 1; p && i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

void wb_begin(struct wbuf *b, uint8_t type)
{
	b->len = 0;
	b->oom = false;
	put_be(b, 0, 4);
	put_be(b, type, 1);
}

void wb_u8(struct wbuf *b, uint8_t v) { put_be(b, v, 1); }
void wb_u16(struct wbuf *b, uint16_t v) { put_be(b, v, 2); }
void wb_u32(struct wbuf *b, uint32_t v) { put_be(b, v, 4); }
void wb_u64(struct wbuf *b, uint64_t v) { put_be(b, v, 8); }

void wb_raw(struct wbuf *b, const void *p, size_t n)
{
	uint8_t *d = wb_room(b, n);
	if (d && n)
		memcpy(d, p, n);
}

void wb_str(struct wbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (n > RP_STR_MAX)
		n = RP_STR_MAX;
	wb_u16(b, (uint16_t)n);
	wb_raw(b, s, n);
}

void wb_free(struct wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- parsing ---- */

static uint64_t get_be(struct rbuf *r, int n)
{
	if (r->bad || r->end - r->p < n) {
		r->bad = true;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | *r->p++;
	return v;
}

uint8_t rb_u8(struct rbuf *r) { return (uint8_t)get_be(r, 1); }
uint16_t rb_u16(struct rbuf *r) { return (uint16_t)get_be(r, 2); }
uint32_t rb_u32(struct rbuf *r) { return (uint32_t)get_be(r, 4); }
uint64_t rb_u64(struct rbuf *r) { return get_be(r, 8); }

const uint8_t *rb_raw(struct rbuf *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

bool rb_str(struct rbuf *r, char *buf, size_t cap)
{
	size_t n = rb_u16(r);
	const uint8_t *p = rb_raw(r, n);
	if (!p || n >= cap || n > RP_STR_MAX || memchr(p, 0, n)) {
		r->bad = true;
		buf[0] = 0;
		return false;
	}
	memcpy(buf, p, n);
	buf[n] = 0;
	return true;
}

bool rb_done(const struct rbuf *r)
{
	return !r->bad && r->p == r->end;
}

/* ---- frames over TLS ---- */

void rc_timeouts(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct timeval sv = { RP_ANSWER_MS / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sv, sizeof sv);
}

void wb_end(struct wbuf *b)
{
	if (b->oom || b->len < 5)
		return;
	uint32_t n = (uint32_t)(b->len - 4);
	for (int i = 0; i < 4; i++)
		b->p[i] = (uint8_t)(n >> (24 - 8 * i));
}

int rc_write(struct rconn *c, const void *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		size_t w = 0;
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, (const uint8_t *)p + done, len - done,
				 &w) != 1)
			return -EIO;
		done += w;
	}
	return 0;
}

int rc_send(struct rconn *c, struct wbuf *b)
{
	if (b->oom)
		return -ENOMEM;
	wb_end(b);
	return rc_write(c, b->p, b->len);
}

/* Read n bytes by the deadline (CLOCK_MONOTONIC ms): n, 0 when the time
 * passed (or the peer closed) before the first byte with idle set, else
 * -errno. */
static int read_full(struct rconn *c, uint8_t *p, size_t n, int64_t deadline,
		     bool idle)
{
	size_t got = 0;
	while (got < n) {
		size_t r = 0;
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, p + got, n - got, &r) == 1) {
			got += r;
			continue;
		}
		int e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN)
			return -ECONNRESET;
		bool again = e == SSL_ERROR_WANT_READ ||
			     (e == SSL_ERROR_SYSCALL &&
			      (errno == EAGAIN || errno == EINTR));
		if (!again)
			return -EIO;
		if (rp_stopping())
			return -ECANCELED;
		if (rp_now_ms() >= deadline)
			return got == 0 && idle ? 0 : -ETIMEDOUT;
	}
	return (int)n;
}

int rc_read(struct rconn *c, int ms)
{
	int64_t deadline = rp_now_ms() + ms;
	uint8_t h[4];
	int r = read_full(c, h, 4, deadline, true);
	if (r <= 0)
		return r;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		     (uint32_t)h[2] << 8 | h[3];
	if (n < 1 || n > RP_FRAME_MAX) {
		log_msg(SF_LOG_WARNING, "replica: %s sent a frame of %u "
			"bytes (1 to %u): closing the connection", c->peer, n,
			RP_FRAME_MAX);
		return -EPROTO;
	}
	if (n > c->incap) {
		uint8_t *p = realloc(c->in, n);
		if (!p)
			return -ENOMEM;
		c->in = p;
		c->incap = n;
	}
	/* A frame that has begun must come whole, in the answer time. */
	r = read_full(c, c->in, n, rp_now_ms() + RP_ANSWER_MS, false);
	if (r < 0)
		return r;
	c->type = c->in[0];
	c->body.p = c->in + 1;
	c->body.end = c->in + n;
	c->body.bad = false;
	return 1;
}

bool rc_readable(struct rconn *c)
{
	if (SSL_pending(c->ssl) > 0)
		return true;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

void rc_error(struct rconn *c, uint16_t code, const char *msg)
{
	struct wbuf b = { 0 };
	wb_begin(&b, RP_ERROR);
	wb_u16(&b, code);
	wb_str(&b, msg);
	rc_send(c, &b);
	wb_free(&b);
}

void rc_close(struct rconn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->in);
	c->in = NULL;
	c->incap = 0;
}

/* ---- addresses and clocks ---- */

int rp_split_addr(const char *addr, char *host, size_t hcap, char *port,
		  size_t pcap)
{
	const char *h = addr, *colon;
	size_t hl;
	if (*addr == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL;
		hl = (size_t)(colon - addr);
	}
	const char *p = colon + 1;
	char *end;
	unsigned long v = strtoul(p, &end, 10);
	if (hl == 0 || hl >= hcap || !*p || *end || v == 0 || v > 65535 ||
	    strlen(p) >= pcap || strspn(p, "0123456789") != strlen(p))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	strcpy(port, p);
	return 0;
}

void rp_addr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
		snprintf(buf, cap, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
		snprintf(buf, cap, "%s:%u", a, ntohs(s->sin_port));
	}
}

int64_t rp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rp_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
