/* users.h - users of the user database (users.c). */
#ifndef STREAMFS_USERS_H
#define STREAMFS_USERS_H

#include <sys/types.h>

/* The uid of a login name, or of a decimal uid (which need not have an
 * entry): 0, or -1. */
int user_uid(const char *user, uid_t *uid);
/* The primary group of uid, or (gid_t)-1 when it has no entry. */
gid_t user_gid(uid_t uid);

#endif
