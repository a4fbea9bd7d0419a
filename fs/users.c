/* users.c - users of the user database, for the front ends that act for
 * callers who are no process of the mount (the Kafka listener, TLS
 * certificates): a user named by login name or decimal uid, and a uid's
 * primary group.  Callable from any thread, with any lock held. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>

#include "users.h"

int user_uid(const char *user, uid_t *uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(user, &pw, buf, sizeof buf, &res) == 0 && res) {
		*uid = pw.pw_uid;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(user, &end, 10);
	if (errno || end == user || *end || *user == '-' ||
	    v >= (unsigned long)(uid_t)-1)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

gid_t user_gid(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
		return pw.pw_gid;
	return (gid_t)-1;       /* no such user: in no group */
}
