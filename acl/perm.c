/* perm.c - mode-bit permission checks for a caller (see perm.h). */
#include <errno.h>
#include <sys/stat.h>

#include "perm.h"

int perm_load_groups(struct caller *c)
{
	if (!c->groups_loaded && c->load_groups) {
		c->groups_err = c->load_groups(c);
		if (c->groups_err < 0)
			c->ngroups = 0;
		c->groups_loaded = true;
	}
	return c->groups_err;
}

bool perm_in_group(struct caller *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	perm_load_groups(c);
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

int perm_check(struct caller *c, uint32_t mode, uid_t uid, gid_t gid,
	       int want)
{
	if (c->uid == 0) {
		if ((want & PERM_X) && !S_ISDIR(mode) && !(mode & 0111))
			return -EACCES;
		return 0;
	}
	unsigned bits;
	if (c->uid == uid)
		bits = (mode >> 6) & 7;
	else if (((mode >> 3) & 7) == (mode & 7))
		bits = mode & 7;        /* membership would change nothing */
	else if (perm_in_group(c, gid))
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	return (bits & (unsigned)want) == (unsigned)want ? 0 : -EACCES;
}

int perm_owner(const struct caller *c, uid_t uid)
{
	return c->uid == 0 || c->uid == uid ? 0 : -EPERM;
}

int perm_sticky(const struct caller *c, uint32_t dmode, uid_t duid,
		uid_t owner)
{
	if (!(dmode & S_ISVTX) || c->uid == 0 || c->uid == duid ||
	    c->uid == owner)
		return 0;
	return -EPERM;
}
