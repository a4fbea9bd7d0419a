/* caller.c - the identity of the process behind a request: uid, gid, pid
 * from the request, supplementary groups from FUSE only when a check needs
 * them. */
#include <errno.h>
#include <string.h>

#include "fs.h"

/* One list per serving thread: a request is served by one thread at a
 * time, so the list lives as long as the request needs it. */
static __thread gid_t thread_groups[CALLER_MAX_GROUPS];

static int load_groups(struct caller *c)
{
	fuse_req_t req = c->ctx;
	int n = fuse_req_getgroups(req, CALLER_MAX_GROUPS, thread_groups);
	if (n < 0)
		return n;
	if (n > CALLER_MAX_GROUPS)
		return -E2BIG;          /* cannot happen on Linux; deny ACEs */
	c->groups = thread_groups;
	c->ngroups = n;
	return 0;
}

void caller_init(struct caller *c, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->pid = ctx->pid;
	c->groups_loaded = false;
	c->groups_err = 0;
	c->ngroups = 0;
	c->groups = NULL;
	c->load_groups = load_groups;
	c->ctx = req;
}
