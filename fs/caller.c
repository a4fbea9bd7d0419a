/* caller.c - the identity of the process behind a request: uid, gid, pid
 * from the request, supplementary groups from FUSE only when a check needs
 * them. */
#include <string.h>

#include "fs.h"

static int load_groups(struct caller *c)
{
	fuse_req_t req = c->ctx;
	int n = fuse_req_getgroups(req, CALLER_MAX_GROUPS, c->groups);
	if (n < 0)
		return n;
	c->ngroups = n > CALLER_MAX_GROUPS ? CALLER_MAX_GROUPS : n;
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
	c->load_groups = load_groups;
	c->ctx = req;
}
