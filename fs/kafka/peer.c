/* peer.c - who is at the other end of a Kafka connection: the owner of
 * the peer's socket, found in this host's socket table by the
 * connection's four-tuple (NETLINK_SOCK_DIAG, as `ss -tep` does); a peer
 * whose socket is not in the table is not on this host and is refused,
 * or acts as the user -o kafka_remote_user names.
 * The gid and supplementary groups are the user's, from the user
 * database (the socket table knows only the uid).  Also the struct
 * caller of a request, for fs/permission.c's checks. */
#include <errno.h>
#include <grp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs.h"
#include "kafka.h"
#include "users.h"

/* -o kafka_remote_user: set before the listener starts, then read-only. */
static struct {
	bool set;
	uid_t uid;
	gid_t gid;
} remote;

int kafka_set_remote_user(const char *user)
{
	if (user_uid(user, &remote.uid) < 0) {
		log_msg(SF_LOG_ERROR, "invalid kafka_remote_user=%s (no such "
			"user: a login name or a decimal uid)", user);
		return -1;
	}
	remote.gid = user_gid(remote.uid);
	remote.set = true;
	return 0;
}

bool kafka_remote_user_set(void)
{
	return remote.set;
}

/* Copy an address and port of a sockaddr into the diag id's fields. */
static void put_addr(const struct sockaddr_storage *ss, __be16 *port,
		     __be32 *addr)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		*port = s6->sin6_port;
		memcpy(addr, &s6->sin6_addr, 16);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;
		*port = s4->sin_port;
		memcpy(addr, &s4->sin_addr, 4);
	}
}

/* The uid of the socket whose source is src and destination dst. */
static int diag_uid(const struct sockaddr_storage *src,
		    const struct sockaddr_storage *dst, uid_t *uid)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req;
	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = sizeof req;
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = (uint8_t)src->ss_family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	put_addr(src, &req.r.id.idiag_sport, req.r.id.idiag_src);
	put_addr(dst, &req.r.id.idiag_dport, req.r.id.idiag_dst);
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
			NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	int r = -EIO;
	if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&nl,
		   sizeof nl) < 0) {
		r = -errno;
		goto out;
	}
	long buf[1024];
	ssize_t n = recv(fd, buf, sizeof buf, 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			/* ENOENT: no such socket on this host. */
			r = e->error == -ENOENT ? -EPERM
			    : e->error ? e->error : -EIO;
			break;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			*uid = m->idiag_uid;
			r = 0;
			break;
		}
	}
out:
	close(fd);
	return r;
}

int kafka_peer_cred(int fd, uid_t *uid, gid_t *gid)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof me, pl = sizeof peer;
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return -errno;
	/* The peer's socket: from the peer to us. */
	int r = diag_uid(&peer, &me, uid);
	if (r == -EPERM && remote.set) {
		*uid = remote.uid;      /* another host's: the named user */
		*gid = remote.gid;
		return 0;
	}
	if (r < 0)
		return r;
	*gid = user_gid(*uid);
	return 0;
}

/* ---- the caller of a request ---- */

/* One list: the listener has one thread, and a request is served whole
 * before the next. */
static gid_t groups[CALLER_MAX_GROUPS];

static int load_groups(struct caller *c)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	c->ngroups = 0;
	c->groups = groups;
	if (getpwuid_r(c->uid, &pw, buf, sizeof buf, &res) != 0 || !res)
		return 0;               /* no such user: no groups */
	int n = CALLER_MAX_GROUPS;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return -E2BIG;
	c->ngroups = n;
	return 0;
}

void kafka_caller(const struct kreq *req, struct caller *c)
{
	memset(c, 0, sizeof *c);
	c->uid = req->uid;
	c->gid = req->gid;
	c->pid = 0;
	c->load_groups = load_groups;
}
