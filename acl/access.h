/* access.h - may the caller do it: a permission's expression when the
 * object has one, mode bits (or ownership) when it has none, and root
 * always (docs/design.md, "Access control").  No FUSE and no store here: the caller passes the
 * parsed expression and the object whose mode bits are the fallback. */
#ifndef STREAMFS_ACCESS_H
#define STREAMFS_ACCESS_H

#include "ace.h"
#include "perm.h"

/* Whose mode bits decide when there is no expression. */
struct access_fallback {
	uint32_t mode;
	uid_t uid;
	gid_t gid;
	int want;       /* PERM_* bits; 0 means "the owner" (admin) */
};

/* 0 if the caller holds the permission, -EACCES if not.  With an
 * expression, a caller whose groups cannot be found is refused. */
int access_check(struct caller *c, const ace_t *ace,
		 const struct access_fallback *fb);

#endif
