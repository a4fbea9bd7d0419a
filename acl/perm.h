/* perm.h - who may do what, by POSIX mode bits: the fallback that the access rules
 * keeps for every permission without an access control expression.  No
 * FUSE here: the caller is described by struct caller. */
#ifndef STREAMFS_PERM_H
#define STREAMFS_PERM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Linux allows a process 65536 supplementary groups (NGROUPS_MAX); all
 * of them count, or a negated group term could be escaped. */
#define CALLER_MAX_GROUPS 65536

/* The process an operation comes from.  Supplementary groups are costly to
 * find (FUSE reads /proc), so they are loaded only when a check needs them,
 * through load_groups. */
struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool groups_loaded;
	int groups_err;         /* why loading failed, 0 if it did not */
	int ngroups;
	gid_t *groups;          /* loader-owned, valid for the request */
	int (*load_groups)(struct caller *c);
	void *ctx;
};

enum { PERM_R = 4, PERM_W = 2, PERM_X = 1 };

/* Load the supplementary groups once: 0, or the loader's error (then the
 * caller counts as having none, which mode bits may use but ACEs may not). */
int perm_load_groups(struct caller *c);
/* true if the caller's primary or supplementary groups include gid. */
bool perm_in_group(struct caller *c, gid_t gid);
/* 0 if mode bits of a file (mode, uid, gid) grant want (PERM_* ored) to
 * the caller, -EACCES if not.  root passes, except that it needs one x bit
 * somewhere to execute a non-directory. */
int perm_check(struct caller *c, uint32_t mode, uid_t uid, gid_t gid,
	       int want);
/* 0 if the caller owns the file or is root, else -EPERM. */
int perm_owner(const struct caller *c, uid_t uid);
/* Sticky directories: 0 if the caller may remove or rename an entry owned
 * by `owner` from a directory (dmode, duid), else -EPERM. */
int perm_sticky(const struct caller *c, uint32_t dmode, uid_t duid,
		uid_t owner);

#endif
