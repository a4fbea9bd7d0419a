/*
 * xattr_util.c - reading and writing streamfs attributes through the mount,
 * and telling a streamfs mount from any other file system (see
 * xattr_util.h).
 */
#include "xattr_util.h"

#include <errno.h>
#include <libgen.h>
#include <linux/limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

/* A value can change size between asking for its size and reading it
 * (a topic's info grows with every append): try again this many times. */
#define GET_RETRIES 8

/* Build the full attribute name; -ENAMETOOLONG if it does not fit. */
static int full_name(char buf[XATTR_NAME_MAX + 1], const char *name)
{
	int n = snprintf(buf, XATTR_NAME_MAX + 1, "%s%s", SFS_XATTR_PREFIX,
			 name);

	return n < 0 || n > XATTR_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* ENOTSUP and EOPNOTSUPP are one value on Linux; say so once. */
static int neg_errno(void)
{
	return errno == EOPNOTSUPP ? -ENOTSUP : -errno;
}

int sfs_get(const char *path, const char *name, char **value)
{
	char full[XATTR_NAME_MAX + 1];
	int rc = full_name(full, name);

	if (rc)
		return rc;
	for (int i = 0; i < GET_RETRIES; i++) {
		ssize_t size = getxattr(path, full, NULL, 0);
		if (size < 0)
			return neg_errno();
		char *buf = malloc((size_t)size + 1);
		if (!buf)
			return -ENOMEM;
		ssize_t got = size ? getxattr(path, full, buf, size) : 0;
		if (got >= 0) {
			buf[got] = '\0';
			*value = buf;
			return 0;
		}
		rc = neg_errno();
		free(buf);
		if (rc != -ERANGE)
			return rc;
	}
	return -ERANGE;
}

int sfs_get_word(const char *path, const char *name, char **value)
{
	int rc = sfs_get(path, name, value);
	size_t n;

	if (rc)
		return rc;
	n = strlen(*value);
	while (n && strchr(" \t\r\n", (*value)[n - 1]))
		(*value)[--n] = '\0';
	return 0;
}

int sfs_set(const char *path, const char *name, const char *value)
{
	char full[XATTR_NAME_MAX + 1];
	int rc = full_name(full, name);

	if (rc)
		return rc;
	if (setxattr(path, full, value, strlen(value), 0) < 0)
		return neg_errno();
	return 0;
}

int sfs_remove(const char *path, const char *name)
{
	char full[XATTR_NAME_MAX + 1];
	int rc = full_name(full, name);

	if (rc)
		return rc;
	if (removexattr(path, full) < 0)
		return neg_errno();
	return 0;
}

int sfs_check_stream(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) < 0)
		return -errno;
	if (sf.f_type != FUSE_SUPER_MAGIC)
		return -ENOTSUP;
	/* Every directory of a streamfs mount answers its policies. */
	if (getxattr(dir, SFS_XATTR_PREFIX "framing", NULL, 0) >= 0)
		return 0;
	if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP)
		return -ENOTSUP;
	return -errno;
}

int sfs_check_path(const char *path, int is_dir)
{
	char *copy;
	int rc;

	if (is_dir)
		return sfs_check_stream(path);
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	rc = sfs_check_stream(dirname(copy));
	free(copy);
	return rc;
}

const char *sfs_strerror(int err)
{
	if (err == -ENOTSUP)
		return "not on a streamfs mount";
	return strerror(-err);
}
