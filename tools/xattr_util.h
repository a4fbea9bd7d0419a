/*
 * xattr_util.h - the streamfs control surface as the tools see it: the
 * extended attributes "user.streamfs.NAME" on files and directories of a
 * mount (docs/design.md, "Attributes").  The tools use no other channel.
 */
#ifndef STREAMFS_XATTR_UTIL_H
#define STREAMFS_XATTR_UTIL_H

#define SFS_XATTR_PREFIX "user.streamfs."

/* Read attribute SFS_XATTR_PREFIX NAME of PATH (symlinks followed) into a
 * malloc'd, NUL-terminated *VALUE.  Returns 0 or -errno: -ENODATA when the
 * attribute is absent, -ENOTSUP when the file system has no such
 * attributes, -ENAMETOOLONG when the full name is too long. */
int sfs_get(const char *path, const char *name, char **value);

/* Like sfs_get() with trailing white space removed: for attributes holding
 * one word or number. */
int sfs_get_word(const char *path, const char *name, char **value);

/* Set attribute SFS_XATTR_PREFIX NAME of PATH to the string VALUE (without
 * its NUL).  Returns 0 or -errno (streamfs: -EINVAL for a malformed value,
 * -EPERM for a change it does not allow). */
int sfs_set(const char *path, const char *name, const char *value);

/* Remove attribute SFS_XATTR_PREFIX NAME of PATH.  Returns 0 or -errno
 * (-ENODATA when it was not set). */
int sfs_remove(const char *path, const char *name);

/* Check that directory DIR is a stream of a streamfs mount: a FUSE file
 * system whose directories answer the policy attributes.  Returns 0,
 * -ENOTSUP when it is not, or the -errno of reaching DIR. */
int sfs_check_stream(const char *dir);

/* Check that PATH lies on a streamfs mount: PATH itself when IS_DIR, else
 * the directory that holds it (PATH itself need not exist).  Returns as
 * sfs_check_stream(). */
int sfs_check_path(const char *path, int is_dir);

/* A short text for a negative errno from the functions above: -ENOTSUP is
 * "not on a streamfs mount", others are strerror()'s. */
const char *sfs_strerror(int err);

#endif
