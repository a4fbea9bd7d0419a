/* access.c - the decision for one permission (see access.h). */
#include <errno.h>

#include "access.h"

static int groups_for_ace(void *ctx, const gid_t **groups, size_t *n)
{
	struct caller *c = ctx;
	int r = perm_load_groups(c);
	if (r < 0)
		return r;
	*groups = c->groups;
	*n = (size_t)c->ngroups;
	return 0;
}

int access_check(struct caller *c, const ace_t *ace,
		 const struct access_fallback *fb)
{
	if (c->uid == 0)
		return 0;
	if (ace) {
		ace_caller_t who = {
			.uid = c->uid, .gid = c->gid,
			.load_groups = groups_for_ace, .ctx = c,
		};
		return ace_eval(ace, &who) == 1 ? 0 : -EACCES;
	}
	if (fb->want == 0)
		return c->uid == fb->uid ? 0 : -EACCES;
	return perm_check(c, fb->mode, fb->uid, fb->gid, fb->want);
}
