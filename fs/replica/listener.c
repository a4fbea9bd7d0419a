/* listener.c - -o replica_listen: the listening sockets, one thread
 * that accepts on them, and a thread per accepted connection (at most
 * CONN_MAX) that makes the TLS handshake (within RP_HANDSHAKE_MS) and
 * then serves the peer's frames (receive.c).
 *
 * ls.lock guards the count of connection threads and their sockets; it
 * is a leaf taken alone (never with fs.lock or rp.lock). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rp.h"
#include "tls.h"

#define LISTEN_MAX 16
#define CONN_MAX 64

struct conn {
	struct rconn c;
	struct conn *next;              /* ls.lock */
};

static struct {
	/* Set before replica_start, read-only afterwards: */
	char *addr[LISTEN_MAX];
	int naddr;
	int fd[LISTEN_MAX];
	int stop[2];                    /* a pipe: written to stop */
	pthread_t th;
	bool running;
	pthread_mutex_t lock;           /* ls.lock */
	pthread_cond_t gone;            /* a connection thread ended */
	/* Guarded by ls.lock: */
	unsigned nconn;
	struct conn *conns;
	int64_t busy_logged;            /* ms of the last "too many" line */
} ls = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.gone = PTHREAD_COND_INITIALIZER,
	.stop = { -1, -1 },
};

int replica_add_listener(const char *addr)
{
	char host[256], port[16];
	if (rp_split_addr(addr, host, sizeof host, port, sizeof port) < 0) {
		log_msg(SF_LOG_ERROR, "invalid replica_listen=%s (ADDR:PORT, "
			"[IPV6]:PORT for IPv6)", addr);
		return -1;
	}
	if (ls.naddr == LISTEN_MAX) {
		log_msg(SF_LOG_ERROR, "replica_listen: at most %d addresses",
			LISTEN_MAX);
		return -1;
	}
	ls.addr[ls.naddr++] = strdup(addr);
	return 0;
}

bool replica_configured(void)
{
	return ls.naddr > 0;
}

/* Bind and listen on addr: the socket, or -1 after an error line. */
static int listen_on(const char *addr)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	rp_split_addr(addr, host, sizeof host, port, sizeof port);
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		log_msg(SF_LOG_ERROR, "replica_listen=%s: %s", addr,
			gai_strerror(r));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, 64) < 0) {
		log_msg(SF_LOG_ERROR, "replica_listen=%s: %s", addr,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Take k off the list (so that no shutdown reaches its socket once it
 * is closed), close it, then count it gone. */
static void conn_end(struct conn *k)
{
	pthread_mutex_lock(&ls.lock);
	for (struct conn **p = &ls.conns; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			break;
		}
	pthread_mutex_unlock(&ls.lock);
	rc_close(&k->c);
	free(k);
	pthread_mutex_lock(&ls.lock);
	ls.nconn--;
	pthread_cond_broadcast(&ls.gone);
	pthread_mutex_unlock(&ls.lock);
}

/* The handshake, then the peer's frames. */
static void *conn_main(void *arg)
{
	struct conn *k = arg;
	struct rconn *c = &k->c;
	char why[512];
	uid_t uid;
	gid_t gid;
	rc_timeouts(c->fd, 200);
	c->ssl = SSL_new(tls_server_ctx());
	bool ok = c->ssl && SSL_set_fd(c->ssl, c->fd) == 1;
	int64_t deadline = rp_now_ms() + RP_HANDSHAKE_MS;
	int r = 0;
	while (ok && (r = SSL_accept(c->ssl)) != 1) {
		int e = SSL_get_error(c->ssl, r);
		bool again = e == SSL_ERROR_WANT_READ ||
			     e == SSL_ERROR_WANT_WRITE ||
			     (e == SSL_ERROR_SYSCALL && errno == EAGAIN);
		if (!again || rp_now_ms() > deadline || rp_stopping()) {
			if (rp_stopping())
				;
			else if (!again && tls_peer_closed(c->ssl, e))
				/* A peer killed or giving up mid-way. */
				log_msg(SF_LOG_INFO, "replica: %s closed its "
					"connection during the TLS handshake",
					c->peer);
			else
				log_msg(SF_LOG_WARNING, "replica: refused "
					"a TLS connection from %s: %s", c->peer,
					again ? "no handshake within 10 s"
					: tls_error(c->ssl, why, sizeof why));
			ok = false;
		}
	}
	if (ok && tls_peer_user(c->ssl, &uid, &gid, why, sizeof why) < 0) {
		log_msg(SF_LOG_WARNING, "replica: refused a TLS connection "
			"from %s: %s", c->peer, why);
		ok = false;
	}
	if (ok)
		rp_receive(c, uid, gid);
	conn_end(k);
	return NULL;
}

static void accept_one(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	struct conn *k = calloc(1, sizeof *k);
	pthread_mutex_lock(&ls.lock);
	if (!k || ls.nconn >= CONN_MAX) {
		int64_t now = rp_now_ms();
		bool say = now - ls.busy_logged > 60000;
		if (say)
			ls.busy_logged = now;
		pthread_mutex_unlock(&ls.lock);
		if (say)
			log_msg(SF_LOG_WARNING, "replica: more than %d "
				"connections: closing new ones", CONN_MAX);
		close(fd);
		free(k);
		return;
	}
	k->c.fd = fd;
	rp_addr_str((struct sockaddr *)&ss, k->c.peer, sizeof k->c.peer);
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, conn_main, k) != 0) {
		pthread_mutex_unlock(&ls.lock);
		close(fd);
		free(k);
	} else {
		ls.nconn++;
		k->next = ls.conns;
		ls.conns = k;
		pthread_mutex_unlock(&ls.lock);
	}
	pthread_attr_destroy(&at);
}

static void *listen_main(void *arg)
{
	(void)arg;
	struct pollfd p[LISTEN_MAX + 1];
	for (int i = 0; i < ls.naddr; i++)
		p[i] = (struct pollfd){ .fd = ls.fd[i], .events = POLLIN };
	p[ls.naddr] = (struct pollfd){ .fd = ls.stop[0], .events = POLLIN };
	for (;;) {
		if (poll(p, (nfds_t)ls.naddr + 1, -1) < 0 && errno != EINTR)
			break;
		if (p[ls.naddr].revents)
			break;
		for (int i = 0; i < ls.naddr; i++)
			if (p[i].revents & POLLIN)
				accept_one(ls.fd[i]);
	}
	return NULL;
}

int rp_listen_start(void)
{
	if (ls.naddr == 0)
		return 0;
	for (int i = 0; i < ls.naddr; i++)
		if ((ls.fd[i] = listen_on(ls.addr[i])) < 0)
			return -1;
	if (pipe(ls.stop) < 0 ||
	    pthread_create(&ls.th, NULL, listen_main, NULL) != 0) {
		log_msg(SF_LOG_ERROR, "replica: cannot start the "
			"listener: %s", strerror(errno));
		return -1;
	}
	ls.running = true;
	return 0;
}

void rp_listen_stop(void)
{
	if (ls.running) {
		if (write(ls.stop[1], "x", 1) != 1)
			log_msg(SF_LOG_WARNING, "replica: cannot stop the "
				"listener");
		pthread_join(ls.th, NULL);
		ls.running = false;
	}
	pthread_mutex_lock(&ls.lock);
	for (struct conn *k = ls.conns; k; k = k->next)
		shutdown(k->c.fd, SHUT_RDWR);
	while (ls.nconn > 0)
		pthread_cond_wait(&ls.gone, &ls.lock);
	pthread_mutex_unlock(&ls.lock);
	for (int i = 0; i < ls.naddr; i++) {
		if (ls.fd[i] > 0)
			close(ls.fd[i]);
		free(ls.addr[i]);
	}
	ls.naddr = 0;
	for (int i = 0; i < 2; i++)
		if (ls.stop[i] >= 0)
			close(ls.stop[i]);
}
