/* listener.c - the Kafka listener: the -o kafka=ADDR:PORT sockets, one
 * thread with an epoll loop that accepts, reads and writes every
 * connection without blocking, cuts requests out of the byte stream
 * (int32 size, then the request) and reads its header (frame.c), checks
 * the body's shape (shapes.c), calls the API's handler from the table
 * (apis.c) and queues the responses in request order;
 * and the parking of requests that wait for data (Fetch), woken by
 * kafka_topic_appended or their deadline.
 *
 * Bounds: a frame over KAFKA_FRAME_MAX closes its connection; the input
 * buffer of a connection holds at most the frame being read and one read
 * more, and grows only as bytes arrive, so a peer that stalls half-way
 * costs what it sent; no request is read while a connection's unsent
 * responses exceed KAFKA_OUT_HIGH or a request of it is parked; past
 * KAFKA_CONN_MAX connections the newest is closed; a connection whose
 * input would take the input buffers of all past KAFKA_IN_TOTAL is
 * closed.  A sent response's buffer is kept for the connection's next
 * response within spare.c's bounds.
 *
 * A -o kafka_tls listener's connections speak TLS (fs/tls.c's context):
 * the handshake runs in the same loop without blocking, within
 * KAFKA_HANDSHAKE_MS, and its caller is the user its client certificate
 * names; a failed handshake or a certificate naming no user is closed
 * after one log line.  Past KAFKA_HANDSHAKE_MAX handshakes under way the
 * oldest is closed, which bounds what stalled handshakes hold.  Bytes
 * OpenSSL has decrypted but not handed over wake no epoll: the loop
 * serves them before it waits again.
 *
 * Everything here but kl's marks is owned by the listener thread (set up
 * by kafka_start before the thread runs).  kl.lock guards kl.marked,
 * kl.nmarked and kl.overflow; kl.nparked is atomic. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fs.h"
#include "kafka.h"
#include "tls.h"

#define KAFKA_LISTEN_MAX 16
#define KAFKA_CONN_MAX 4096
#define KAFKA_OUT_HIGH (1u << 20)
#define KAFKA_READ_CHUNK (64u << 10)
#define KAFKA_IN_TOTAL ((size_t)512 << 20)     /* all input buffers */
#define KAFKA_MARKS 64
#define CLIENT_ID_MAX 255
#define KAFKA_HANDSHAKE_MS 10000
#define KAFKA_HANDSHAKE_MAX 512
#define PEER_NAME_MAX (INET6_ADDRSTRLEN + 16)

struct klisten {
	int fd;
	char host[INET6_ADDRSTRLEN];    /* as given, for Metadata */
	int port;
	bool wildcard;                  /* advertise the socket's address */
	bool tls;                       /* -o kafka_tls */
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct kpark {
	struct kreq req;                /* body: its start, reset each call */
	struct kreader body0;
	int64_t deadline;
	krecheck *recheck;
	void *arg;
	void (*free_arg)(void *arg);
	uint64_t watch[KAFKA_WATCH_MAX];
	int nwatch;
	bool any;                       /* more topics than watch holds */
	size_t frame;                   /* bytes of the frame in the input */
};

struct kconn {
	int fd;
	uint32_t events;                /* asked of epoll */
	char host[INET6_ADDRSTRLEN];
	int port;
	uid_t uid;
	gid_t gid;
	uint8_t *in;                    /* unparsed bytes at in[inoff..inlen) */
	size_t inoff, inlen, incap;
	struct kbuf out;                /* unsent at out.p[outoff..out.len) */
	size_t outoff;
	struct kbuf spare;              /* for the next response (spare.c) */
	struct kpark *park;
	char client_id[CLIENT_ID_MAX + 1];
	SSL *ssl;                       /* a TLS connection's */
	bool handshake;                 /* TLS: not yet through */
	bool tls_out;                   /* TLS: a read waits to write */
	int64_t hs_deadline;            /* TLS: of the handshake */
	char *peer;                     /* TLS: "ADDR port P", for the log */
	struct kconn *prev, *next;      /* kl.conns, or kl.dead once closed */
};

static struct {
	struct klisten l[KAFKA_LISTEN_MAX];
	int nl;
	int ep, wake;                   /* epoll, eventfd */
	bool running, stop;
	pthread_t thread;
	struct kconn *conns;
	struct kconn *dead;             /* closed in this turn: freed after */
	int nconns;
	int ntls;                       /* of them TLS */
	int nhandshake;                 /* of them in their handshake */
	size_t in_total;                /* bytes of every input buffer */
	int nparked;                    /* atomic */
	pthread_mutex_t lock;           /* kl.lock: the marks below */
	uint64_t marked[KAFKA_MARKS];
	int nmarked;
	bool overflow;
	time_t cap_logged, accept_logged;       /* rate of those lines */
	time_t hs_logged;
} kl = { .ep = -1, .wake = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/* epoll data: the eventfd is 1, listener i is i << 2 | 2, a connection
 * its (aligned) pointer. */
#define TAG_WAKE ((uint64_t)1)
#define TAG_LISTEN(i) (((uint64_t)(i) << 2) | 2)

int64_t kafka_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *kafka_conn_host(const struct kconn *c)
{
	return c->host;
}

int kafka_conn_port(const struct kconn *c)
{
	return c->port;
}

/* ---- configuration ---- */

bool kafka_configured(void)
{
	return kl.nl > 0;
}

/* Split "a.b.c.d:P", "[v6]:P" or "name:P". */
static int split_spec(const char *spec, char *host, size_t cap, int *port)
{
	const char *colon, *h = spec;
	size_t hl;
	if (*spec == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return -1;
		h = spec + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
			return -1;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= cap)
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static int add_listener(const char *opt, const char *spec, bool tls)
{
	if (kl.nl == KAFKA_LISTEN_MAX) {
		log_msg(SF_LOG_ERROR, "%s=%s: at most %d listeners", opt, spec,
			KAFKA_LISTEN_MAX);
		return -1;
	}
	struct klisten *l = &kl.l[kl.nl];
	char host[256], port[8];
	if (split_spec(spec, host, sizeof host, &l->port) < 0) {
		log_msg(SF_LOG_ERROR, "invalid %s=%s (ADDR:PORT, [IPV6]:PORT)",
			opt, spec);
		return -1;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	snprintf(port, sizeof port, "%d", l->port);
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		log_msg(SF_LOG_ERROR, "%s=%s: %s", opt, spec, gai_strerror(r));
		return -1;
	}
	memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
	l->alen = ai->ai_addrlen;
	freeaddrinfo(ai);
	void *a = l->addr.ss_family == AF_INET6
		? (void *)&((struct sockaddr_in6 *)&l->addr)->sin6_addr
		: (void *)&((struct sockaddr_in *)&l->addr)->sin_addr;
	inet_ntop(l->addr.ss_family, a, l->host, sizeof l->host);
	l->wildcard = !strcmp(l->host, "0.0.0.0") || !strcmp(l->host, "::");
	l->fd = -1;
	l->tls = tls;
	kl.nl++;
	return 0;
}

int kafka_add_listener(const char *spec)
{
	return add_listener("kafka", spec, false);
}

int kafka_add_tls_listener(const char *spec)
{
	return add_listener("kafka_tls", spec, true);
}

bool kafka_plain_configured(void)
{
	for (int i = 0; i < kl.nl; i++)
		if (!kl.l[i].tls)
			return true;
	return false;
}

bool kafka_tls_configured(void)
{
	for (int i = 0; i < kl.nl; i++)
		if (kl.l[i].tls)
			return true;
	return false;
}

/* ---- connections ---- */

static void set_events(struct kconn *c, uint32_t ev)
{
	if (ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(kl.ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void park_free(struct kconn *c)
{
	struct kpark *p = c->park;
	if (!p)
		return;
	if (p->free_arg)
		p->free_arg(p->arg);
	free(p);
	c->park = NULL;
	__atomic_sub_fetch(&kl.nparked, 1, __ATOMIC_RELAXED);
}

static void conn_close(struct kconn *c)
{
	epoll_ctl(kl.ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		free(c->peer);
		kl.ntls--;
		kl.nhandshake -= c->handshake;
	}
	close(c->fd);
	park_free(c);
	kl.in_total -= c->incap;
	free(c->in);
	kb_free(&c->out);
	kspare_drop(&c->spare);
	if (c->prev)
		c->prev->next = c->next;
	else
		kl.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	kl.nconns--;
	c->fd = -1;
	c->next = kl.dead;
	kl.dead = c;
}

/* Free the connections closed since the last call: an event of this turn
 * may still name one. */
static void conns_reap(void)
{
	while (kl.dead) {
		struct kconn *c = kl.dead;
		kl.dead = c->next;
		free(c);
	}
}

/* The address to advertise: the listener's, or where the client reached
 * a wildcard listener. */
static void conn_address(struct kconn *c, const struct klisten *l)
{
	snprintf(c->host, sizeof c->host, "%s", l->host);
	c->port = l->port;
	if (!l->wildcard)
		return;
	struct sockaddr_storage ss;
	socklen_t n = sizeof ss;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &n) < 0)
		return;
	void *a = ss.ss_family == AF_INET6
		? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
		: (void *)&((struct sockaddr_in *)&ss)->sin_addr;
	inet_ntop(ss.ss_family, a, c->host, sizeof c->host);
}

static void peer_name(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t n = sizeof ss;
	char h[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &n) == 0) {
		bool v6 = ss.ss_family == AF_INET6;
		void *a = v6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
			     : (void *)&((struct sockaddr_in *)&ss)->sin_addr;
		inet_ntop(ss.ss_family, a, h, sizeof h);
		port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
				: ((struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(buf, cap, "%s port %d", h, port);
}

/* ---- TLS ---- */

/* Start the server side of a TLS connection: 0, or -1. */
static int tls_begin(struct kconn *c)
{
	char who[PEER_NAME_MAX];
	peer_name(c->fd, who, sizeof who);
	c->peer = strdup(who);
	c->ssl = SSL_new(tls_server_ctx());
	if (!c->peer || !c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		return -1;
	}
	SSL_set_accept_state(c->ssl);
	c->handshake = true;
	c->hs_deadline = kafka_now_ms() + KAFKA_HANDSHAKE_MS;
	return 0;
}

static void hs_done(struct kconn *c)
{
	c->handshake = false;
	kl.nhandshake--;
}

/* Room for one more handshake: past KAFKA_HANDSHAKE_MAX the oldest one
 * goes (the likeliest to be stalled; one log line a minute says so). */
static void hs_make_room(void)
{
	if (kl.nhandshake < KAFKA_HANDSHAKE_MAX)
		return;
	struct kconn *old = NULL;
	for (struct kconn *c = kl.conns; c; c = c->next)
		if (c->handshake &&
		    (!old || c->hs_deadline <= old->hs_deadline))
			old = c;        /* the list is newest first */
	time_t now = time(NULL);
	if (now - kl.hs_logged >= 60) {
		kl.hs_logged = now;
		log_msg(SF_LOG_WARNING, "kafka: %d TLS handshakes under way: "
			"closing the oldest", KAFKA_HANDSHAKE_MAX);
	}
	if (old)
		conn_close(old);
}

/* One log line, and the connection goes: after a close_notify when the
 * handshake went through (the log line first: the client may look). */
static void tls_refuse(struct kconn *c, const char *why)
{
	log_msg(SF_LOG_WARNING, "kafka: refused a TLS connection from %s: %s",
		c->peer, why);
	if (!c->handshake) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	/* Bytes left unread make the close a reset, which may reach the
	 * client before the alert that says why: read what is there. */
	char sink[4096];
	for (int i = 0; i < 16 && recv(c->fd, sink, sizeof sink,
				       MSG_DONTWAIT) > 0; i++)
		;
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

/* The client went away in the handshake (librdkafka drops a bootstrap
 * connection it no longer needs): news, not a refusal. */
static void hs_gone(struct kconn *c)
{
	log_msg(SF_LOG_INFO, "kafka: %s closed its connection during the "
		"TLS handshake", c->peer);
	ERR_clear_error();
	conn_close(c);
}

/* Go on with the handshake: false when the connection closed. */
static bool tls_handshake(struct kconn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		char why[1400];
		if (tls_peer_user(c->ssl, &c->uid, &c->gid, why,
				  sizeof why) < 0) {
			hs_done(c);
			tls_refuse(c, why);
			return false;
		}
		hs_done(c);
		set_events(c, EPOLLIN);
		return true;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		set_events(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
		return true;
	}
	if (tls_peer_closed(c->ssl, e)) {
		hs_gone(c);
		return false;
	}
	char why[256];
	tls_refuse(c, tls_error(c->ssl, why, sizeof why));
	return false;
}

/* Read into p: bytes read, 0 at the end, -1 broken, -2 nothing now. */
static ssize_t tls_read(struct kconn *c, void *p, size_t n)
{
	ERR_clear_error();
	int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	c->tls_out = false;
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->tls_out = e == SSL_ERROR_WANT_WRITE;
		return -2;
	}
	ERR_clear_error();
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

/* Send from p: bytes sent, -1 broken, -2 nothing now. */
static ssize_t tls_write(struct kconn *c, const void *p, size_t n)
{
	ERR_clear_error();
	int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	ERR_clear_error();
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -2
								     : -1;
}

static void conn_accept(struct klisten *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			time_t now = time(NULL);
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED && now - kl.accept_logged >= 60) {
				kl.accept_logged = now;
				log_msg(SF_LOG_WARNING, "kafka: accept: %s",
					strerror(errno));
			}
			return;
		}
		if (kl.nconns >= KAFKA_CONN_MAX) {
			time_t now = time(NULL);
			if (now - kl.cap_logged >= 60) {
				kl.cap_logged = now;
				log_msg(SF_LOG_WARNING, "kafka: %d connections: "
					"closing new ones", KAFKA_CONN_MAX);
			}
			close(fd);
			continue;
		}
		uid_t uid = (uid_t)-1;
		gid_t gid = (gid_t)-1;
		int r = l->tls ? 0 : kafka_peer_cred(fd, &uid, &gid);
		if (r < 0) {
			char who[INET6_ADDRSTRLEN + 16];
			peer_name(fd, who, sizeof who);
			log_msg(SF_LOG_WARNING, "kafka: refused a connection "
				"from %s: %s", who, r == -EPERM
				? "not a process of this host"
				: strerror(-r));
			close(fd);
			continue;
		}
		struct kconn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		c->uid = uid;
		c->gid = gid;
		c->events = EPOLLIN;
		conn_address(c, l);
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
		if ((l->tls && tls_begin(c) < 0) ||
		    epoll_ctl(kl.ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			SSL_free(c->ssl);       /* NULL: nothing */
			free(c->peer);
			close(fd);
			free(c);
			continue;
		}
		if (c->ssl) {
			hs_make_room();
			kl.ntls++;
			kl.nhandshake++;
		}
		c->next = kl.conns;
		if (kl.conns)
			kl.conns->prev = c;
		kl.conns = c;
		kl.nconns++;
	}
}

/* ---- requests ---- */

static size_t out_pending(const struct kconn *c)
{
	return c->out.len - c->outoff;
}

/* Start a response to req in b (the connection's spare buffer when it
 * has one): size (patched later), correlation id, and the tagged fields
 * of header v1 (flexible requests but ApiVersions, whose response header
 * is always v0). */
static void response_begin(struct kconn *c, struct kbuf *b,
			   const struct kreq *req)
{
	kspare_take(&c->spare, b);
	kb_i32(b, 0);
	kb_i32(b, req->correlation_id);
	if (req->flexible && req->api_key != KAPI_API_VERSIONS)
		kb_tags(b);
}

/* Queue a finished response: 0, or -1 (out of memory: close). */
static int response_queue(struct kconn *c, struct kbuf *b)
{
	if (b->oom || b->len - 4 > INT32_MAX) {
		kb_free(b);
		return -1;
	}
	kb_patch_i32(b, 0, (int32_t)(b->len - 4));
	if (out_pending(c) == 0) {
		kspare_give(&c->spare, &c->out);
		c->out = *b;
		c->outoff = 0;
		return 0;
	}
	kb_raw(&c->out, b->p, b->len);
	kspare_give(&c->spare, b);
	return c->out.oom ? -1 : 0;
}

/* Read the request header of a frame into req: 0, or -1 (close). */
static int header_parse(struct kconn *c, const uint8_t *p, size_t n,
			struct kreq *req, const struct kapi **api)
{
	struct khead h;
	if (khead_parse(p, n, &h) < 0)
		return -1;
	memset(req, 0, sizeof *req);
	req->api_key = h.api_key;
	req->api_version = h.api_version;
	req->correlation_id = h.correlation_id;
	req->flexible = h.flexible;
	*api = h.api;
	size_t idl = h.client_id.len > 0 ? (size_t)h.client_id.len : 0;
	if (idl > CLIENT_ID_MAX)
		idl = CLIENT_ID_MAX;
	if (idl)
		memcpy(c->client_id, h.client_id.p, idl);
	c->client_id[idl] = 0;
	req->client_id = c->client_id;
	req->body = h.body;
	req->conn = c;
	req->uid = c->uid;
	req->gid = c->gid;
	return 0;
}

/* An ApiVersions request of a version not served: UNSUPPORTED_VERSION and
 * the table, in v0's form (what clients expect to read). */
static int unsupported_api_versions(struct kconn *c, struct kreq *req)
{
	struct kbuf b;
	req->flexible = false;
	response_begin(c, &b, req);
	kb_i16(&b, KERR_UNSUPPORTED_VERSION);
	int n = 0;
	for (int k = 0; k < KAPI_MAX; k++)
		n += kafka_apis[k].handler != NULL;
	kb_array(&b, n);
	for (int k = 0; k < KAPI_MAX; k++) {
		if (!kafka_apis[k].handler)
			continue;
		kb_i16(&b, (int16_t)k);
		kb_i16(&b, kafka_apis[k].min_version);
		kb_i16(&b, kafka_apis[k].max_version);
	}
	return response_queue(c, &b);
}

/* Serve the frame at p (n bytes, size field excluded): 0 done, 1 parked,
 * -1 close. */
static int serve(struct kconn *c, const uint8_t *p, size_t n, size_t frame)
{
	struct kreq req;
	const struct kapi *api;
	if (header_parse(c, p, n, &req, &api) < 0)
		return -1;
	if (req.api_version < api->min_version ||
	    req.api_version > api->max_version)
		return req.api_key == KAPI_API_VERSIONS
			? unsupported_api_versions(c, &req) : -1;
	if (krequest_check(req.api_key, req.api_version, req.body) < 0)
		return -1;
	struct kbuf b;
	response_begin(c, &b, &req);
	struct kreader body0 = req.body;
	int r = api->handler(&req, &b);
	/* The answer never overtakes the invalidations of names the
	 * request made or removed (CreateTopics, DeleteTopics, a Metadata
	 * or Produce that made a topic). */
	notify_wait_names();
	if (r == KAFKA_PARKED && c->park) {
		kspare_give(&c->spare, &b);
		c->park->body0 = body0;
		c->park->frame = frame;
		return 1;
	}
	if (r == KAFKA_NO_RESPONSE && !c->park) {
		kspare_give(&c->spare, &b);     /* Produce with acks 0 */
		return 0;
	}
	if (r != 0 || c->park) {
		park_free(c);
		kb_free(&b);
		return -1;
	}
	return response_queue(c, &b);
}

int kafka_park(struct kreq *req, int64_t deadline_ms, krecheck *recheck,
	       void *arg, void (*free_arg)(void *arg))
{
	struct kconn *c = req->conn;
	if (c->park)
		return -EBUSY;
	struct kpark *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->req = *req;
	p->deadline = deadline_ms;
	p->recheck = recheck;
	p->arg = arg;
	p->free_arg = free_arg;
	c->park = p;
	__atomic_add_fetch(&kl.nparked, 1, __ATOMIC_RELAXED);
	return 0;
}

void kafka_watch(struct kreq *req, uint64_t ino)
{
	struct kpark *p = req->conn->park;
	if (!p)
		return;
	if (p->nwatch == KAFKA_WATCH_MAX)
		p->any = true;
	else
		p->watch[p->nwatch++] = ino;
}

void kafka_topic_appended(uint64_t ino)
{
	if (__atomic_load_n(&kl.nparked, __ATOMIC_RELAXED) == 0)
		return;
	pthread_mutex_lock(&kl.lock);
	bool first = kl.nmarked == 0 && !kl.overflow;
	int i;
	for (i = 0; i < kl.nmarked && kl.marked[i] != ino; i++)
		;
	if (i == kl.nmarked) {
		if (kl.nmarked == KAFKA_MARKS)
			kl.overflow = true;
		else
			kl.marked[kl.nmarked++] = ino;
	}
	pthread_mutex_unlock(&kl.lock);
	if (first) {
		uint64_t one = 1;
		if (write(kl.wake, &one, sizeof one) < 0) {
			/* the counter is full: the thread is woken anyway */
		}
	}
}

/* Bytes of the frame at the input's head, once its size is in: 0 while
 * not, (size_t)-1 for a size out of bounds. */
static size_t frame_size(const struct kconn *c)
{
	return kframe_size(c->in + c->inoff, c->inlen - c->inoff);
}

/* Serve the whole frames in the input while nothing holds them back: 0,
 * or -1 to close. */
static int serve_input(struct kconn *c)
{
	while (!c->park && out_pending(c) < KAFKA_OUT_HIGH) {
		size_t f = frame_size(c);
		if (f == (size_t)-1)
			return -1;
		if (f == 0 || c->inlen - c->inoff < f)
			break;
		int r = serve(c, c->in + c->inoff + 4, f - 4, f);
		if (r < 0)
			return -1;
		if (r == 0)
			c->inoff += f;
	}
	if (c->inoff == c->inlen) {
		c->inoff = c->inlen = 0;
		if (c->incap > KAFKA_READ_CHUNK) {      /* a big frame's */
			kl.in_total -= c->incap;
			free(c->in);
			c->in = NULL;
			c->incap = 0;
		}
	}
	return 0;
}

/* Read what the peer sent, within bounds: 0, or -1 to close. */
static int conn_read(struct kconn *c)
{
	size_t f = frame_size(c);
	if (f == (size_t)-1)
		return -1;
	size_t want = (f ? f : 4) + KAFKA_READ_CHUNK;
	if (c->inoff > 0) {             /* what is left: part of a frame */
		memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inoff = 0;
	}
	if (c->inlen >= want)
		return 0;
	if (c->incap < want && c->incap - c->inlen < KAFKA_READ_CHUNK) {
		size_t cap = c->incap ? c->incap : KAFKA_READ_CHUNK;
		while (cap < c->inlen + KAFKA_READ_CHUNK && cap < want)
			cap *= 2;
		if (cap > want)
			cap = want;
		/* Past the budget of all connections: this one goes. */
		if (kl.in_total - c->incap + cap > KAFKA_IN_TOTAL)
			return -1;
		uint8_t *p = realloc(c->in, cap);
		if (!p)
			return -1;
		kl.in_total += cap - c->incap;
		c->in = p;
		c->incap = cap;
	}
	ssize_t n;
	if (c->ssl) {
		n = tls_read(c, c->in + c->inlen, c->incap - c->inlen);
		if (n == -2)
			return 0;
	} else {
		n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	return 0;
}

static int conn_write(struct kconn *c)
{
	while (out_pending(c) > 0) {
		ssize_t n;
		if (c->ssl) {
			n = tls_write(c, c->out.p + c->outoff, out_pending(c));
			if (n == -2)
				return 0;
			if (n < 0)
				return -1;
		} else {
			n = send(c->fd, c->out.p + c->outoff, out_pending(c),
				 MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0
									 : -1;
		}
		c->outoff += (size_t)n;
	}
	kspare_give(&c->spare, &c->out);       /* sent: for the next */
	c->outoff = 0;
	return 0;
}

/* What to wait for: more input unless something holds it back, output
 * while any is unsent. */
static void conn_interest(struct kconn *c)
{
	size_t f = frame_size(c);
	bool whole = f && f != (size_t)-1 && c->inlen - c->inoff >= f;
	bool in = !c->park && out_pending(c) < KAFKA_OUT_HIGH && !whole;
	set_events(c, (in ? EPOLLIN : 0) |
		      (out_pending(c) || c->tls_out ? EPOLLOUT : 0));
}

/* Serve what can be served, send what is queued: false when closed. */
static bool conn_step(struct kconn *c)
{
	if (serve_input(c) < 0 || conn_write(c) < 0) {
		conn_close(c);
		return false;
	}
	/* Sending made room: serve what waited, and send it. */
	if (!c->park && out_pending(c) == 0 && serve_input(c) < 0) {
		conn_close(c);
		return false;
	}
	if (conn_write(c) < 0) {
		conn_close(c);
		return false;
	}
	conn_interest(c);
	return true;
}

static void conn_event(struct kconn *c, uint32_t ev)
{
	if (ev & (EPOLLERR | EPOLLHUP) && !(ev & EPOLLIN)) {
		if (c->handshake)
			hs_gone(c);
		else
			conn_close(c);
		return;
	}
	if (c->handshake) {
		if (!tls_handshake(c) || c->handshake)
			return;
		ev |= EPOLLIN;          /* a request may have come with it */
	}
	/* TLS: a read that had to wait for the socket to take a write. */
	if (c->tls_out && (ev & EPOLLOUT))
		ev |= EPOLLIN;
	if ((ev & EPOLLIN) && conn_read(c) < 0) {
		conn_close(c);
		return;
	}
	conn_step(c);
}

/* ---- parked requests ---- */

/* Call a parked request's recheck; false when the connection closed. */
static bool recheck(struct kconn *c, bool expired)
{
	struct kpark *p = c->park;
	struct kbuf b;
	p->req.body = p->body0;
	response_begin(c, &b, &p->req);
	int r = p->recheck(&p->req, &b, expired, p->arg);
	if (r == KAFKA_PARKED && !expired) {
		kspare_give(&c->spare, &b);
		return true;
	}
	size_t frame = p->frame;
	park_free(c);
	if (r != 0 || response_queue(c, &b) < 0) {
		if (r != 0)
			kb_free(&b);
		conn_close(c);
		return false;
	}
	c->inoff += frame;
	return conn_step(c);
}

static bool watches(const struct kpark *p, const uint64_t *m, int n,
		    bool all)
{
	if (all || p->any)
		return true;
	for (int i = 0; i < p->nwatch; i++)
		for (int j = 0; j < n; j++)
			if (p->watch[i] == m[j])
				return true;
	return false;
}

static void wake_appended(void)
{
	uint64_t v, m[KAFKA_MARKS];
	if (read(kl.wake, &v, sizeof v) < 0) {
		/* nothing to read: a spurious wake */
	}
	pthread_mutex_lock(&kl.lock);
	int n = kl.nmarked;
	bool all = kl.overflow;
	memcpy(m, kl.marked, (size_t)n * sizeof *m);
	kl.nmarked = 0;
	kl.overflow = false;
	pthread_mutex_unlock(&kl.lock);
	struct kconn *next;
	for (struct kconn *c = kl.conns; c; c = next) {
		next = c->next;
		if (c->park && watches(c->park, m, n, all))
			recheck(c, false);
	}
}

/* Answer the parked requests whose deadline passed; the time to the
 * next deadline, ms (-1: none). */
static int expire_parked(void)
{
	int64_t now = kafka_now_ms(), soonest = -1;
	struct kconn *next;
	for (struct kconn *c = kl.conns; c; c = next) {
		next = c->next;
		if (!c->park)
			continue;
		if (c->park->deadline <= now) {
			if (!recheck(c, true) || !c->park)
				continue;
		}
		int64_t left = c->park->deadline - now;
		if (soonest < 0 || left < soonest)
			soonest = left;
	}
	return soonest < 0 ? -1 : soonest > 60000 ? 60000 : (int)soonest;
}

/* Close the TLS connections whose handshake took too long; the time to
 * the next such deadline, ms (-1: none). */
static int expire_handshakes(void)
{
	if (kl.ntls == 0)
		return -1;
	int64_t now = kafka_now_ms(), soonest = -1;
	struct kconn *next;
	for (struct kconn *c = kl.conns; c; c = next) {
		next = c->next;
		if (!c->handshake)
			continue;
		if (c->hs_deadline <= now) {
			tls_refuse(c, "no TLS handshake within 10 s");
			continue;
		}
		if (soonest < 0 || c->hs_deadline - now < soonest)
			soonest = c->hs_deadline - now;
	}
	return (int)soonest;
}

/* Serve the bytes OpenSSL decrypted but not handed over (no epoll event
 * tells of them), of connections that read: true when some are left. */
static bool tls_pending(void)
{
	if (kl.ntls == 0)
		return false;
	bool left = false;
	struct kconn *next;
	for (struct kconn *c = kl.conns; c; c = next) {
		next = c->next;
		if (!c->ssl || c->handshake || !(c->events & EPOLLIN) ||
		    SSL_pending(c->ssl) == 0)
			continue;
		conn_event(c, EPOLLIN);
		left |= c->fd >= 0 && (c->events & EPOLLIN) &&
			SSL_pending(c->ssl) > 0;
	}
	return left;
}

static int min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* ---- the thread ---- */

static void *listener_main(void *arg)
{
	struct epoll_event ev[64];
	int timeout = -1;
	while (!__atomic_load_n(&kl.stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(kl.ep, ev, 64, timeout);
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			if (tag == TAG_WAKE)
				wake_appended();
			else if (tag & 2)
				conn_accept(&kl.l[tag >> 2]);
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			if (tag == TAG_WAKE || (tag & 2))
				continue;
			struct kconn *c = ev[i].data.ptr;
			if (c->fd >= 0)         /* not closed in this turn */
				conn_event(c, ev[i].events);
		}
		timeout = expire_parked();
		timeout = min_timeout(timeout, expire_handshakes());
		if (tls_pending())
			timeout = 0;
		conns_reap();
	}
	return NULL;
}

static int listen_one(struct klisten *l)
{
	l->fd = socket(l->addr.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	int one = 1;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l->addr.ss_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(l->fd, (struct sockaddr *)&l->addr, l->alen) < 0 ||
	    listen(l->fd, 128) < 0)
		return -errno;
	return 0;
}

/* Room for KAFKA_CONN_MAX connections besides the daemon's own files:
 * the soft limit on open files up to the hard one. */
static void raise_file_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int kafka_start(void)
{
	if (kl.nl == 0)
		return 0;
	raise_file_limit();
	kl.ep = epoll_create1(EPOLL_CLOEXEC);
	kl.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (kl.ep < 0 || kl.wake < 0) {
		log_msg(SF_LOG_ERROR, "kafka: %s", strerror(errno));
		kafka_stop();
		return -1;
	}
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = TAG_WAKE };
	epoll_ctl(kl.ep, EPOLL_CTL_ADD, kl.wake, &e);
	for (int i = 0; i < kl.nl; i++) {
		struct klisten *l = &kl.l[i];
		int r = listen_one(l);
		if (r < 0) {
			log_msg(SF_LOG_ERROR, "kafka: cannot listen on %s "
				"port %d: %s", l->host, l->port, strerror(-r));
			kafka_stop();
			return -1;
		}
		e.data.u64 = TAG_LISTEN(i);
		epoll_ctl(kl.ep, EPOLL_CTL_ADD, l->fd, &e);
	}
	kl.stop = false;
	/* Signals (an unmount's SIGTERM) are the FUSE loop's to take. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&kl.thread, NULL, listener_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		log_msg(SF_LOG_ERROR, "kafka: cannot start its thread");
		kafka_stop();
		return -1;
	}
	kl.running = true;
	for (int i = 0; i < kl.nl; i++)
		log_msg(SF_LOG_INFO, "kafka: listening on %s port %d",
			kl.l[i].host, kl.l[i].port);
	return 0;
}

void kafka_stop(void)
{
	if (kl.running) {
		__atomic_store_n(&kl.stop, true, __ATOMIC_RELEASE);
		uint64_t one = 1;
		if (write(kl.wake, &one, sizeof one) < 0) {
			/* the counter is full: the thread is awake */
		}
		pthread_join(kl.thread, NULL);
		kl.running = false;
	}
	while (kl.conns)
		conn_close(kl.conns);
	conns_reap();
	kafka_produce_fini();
	for (int i = 0; i < kl.nl; i++) {
		if (kl.l[i].fd >= 0)
			close(kl.l[i].fd);
		kl.l[i].fd = -1;
	}
	if (kl.wake >= 0)
		close(kl.wake);
	if (kl.ep >= 0)
		close(kl.ep);
	kl.wake = kl.ep = -1;
}
