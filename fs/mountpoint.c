/* mountpoint.c - the mount point before the mount: a live streamfs mount
 * there is refused, and one left behind by a daemon that died (every
 * access fails with ENOTCONN) is detached, found through
 * /proc/self/mountinfo so that only a streamfs mount is ever cleared. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"

/* The absolute path of mnt without touching mnt itself (a dead mount
 * answers nothing): its parent resolved, its own name appended. */
static int abs_path(const char *mnt, char *out, size_t cap)
{
	char copy[PATH_MAX], parent[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", mnt);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = 0;
	if (realpath(copy, out))
		return 0;
	char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	if (slash)
		*slash = 0;
	if (!realpath(slash ? (copy[0] ? copy : "/") : ".", parent))
		return -1;
	int w = snprintf(out, cap, "%s/%s", strcmp(parent, "/") ? parent : "",
			 name);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* Undo the octal escapes (\040 for a space) of /proc/self/mountinfo. */
static void unescape(char *s)
{
	char *w = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

/* The type and source of the topmost mount at path; false if none. */
static bool mount_at(const char *path, char *type, char *source, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t len = 0;
	bool found = false;
	if (!f)
		return false;
	while (getline(&line, &len, f) > 0) {
		/* id parent dev root MOUNTPOINT opts [tags] - TYPE SOURCE ... */
		char *save, *field = strtok_r(line, " \n", &save);
		for (int i = 0; field && i < 4; i++)
			field = strtok_r(NULL, " \n", &save);
		if (!field)
			continue;
		unescape(field);
		if (strcmp(field, path) != 0)
			continue;
		while ((field = strtok_r(NULL, " \n", &save)) &&
		       strcmp(field, "-") != 0)
			;
		char *t = field ? strtok_r(NULL, " \n", &save) : NULL;
		char *s = t ? strtok_r(NULL, " \n", &save) : NULL;
		if (!s)
			continue;
		unescape(s);
		snprintf(type, cap, "%s", t);
		snprintf(source, cap, "%s", s);
		found = true;
	}
	free(line);
	fclose(f);
	return found;
}

/* Detach the mount at path: umount2 for root, fusermount3 for others. */
static int detach_mount(const char *path)
{
	if (umount2(path, MNT_DETACH) == 0)
		return 0;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("fusermount3", "fusermount3", "-u", "-z", path,
		       (char *)NULL);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Refuse a mount point that already serves a live streamfs, and clear
 * one left behind by a streamfs daemon that died (every access to it
 * fails with ENOTCONN).  Anything else is left to fuse_session_mount.
 * statvfs, not stat: the kernel may answer stat from its cache, while
 * statfs always asks the daemon. */
int check_mountpoint(const char *mnt)
{
	char path[PATH_MAX], type[PATH_MAX], source[PATH_MAX];
	struct statvfs sv;
	int alive = statvfs(mnt, &sv) == 0, e = errno;
	if (!alive && e == ECONNABORTED)
		/* Asked while the daemon was dying: ask again. */
		e = (alive = statvfs(mnt, &sv) == 0) ? 0 : errno;
	if (!alive && e != ENOTCONN)
		return 0;       /* missing: libfuse says so */
	bool known = abs_path(mnt, path, sizeof(path)) == 0 &&
		     mount_at(path, type, source, sizeof(type));
	bool ours = known && strcmp(type, "fuse.streamfs") == 0;
	if (alive) {
		if (!ours)
			return 0;
		log_msg(SF_LOG_ERROR, "%s is already a streamfs mount (of "
			"%s); unmount it first: fusermount3 -u %s", path,
			source, path);
		return -1;
	}
	if (ours && detach_mount(path) == 0 && statvfs(mnt, &sv) == 0) {
		log_msg(SF_LOG_INFO, "%s was left mounted by a streamfs "
			"daemon that died; detached it", path);
		return 0;
	}
	log_msg(SF_LOG_ERROR, "%s is a dead mount (%s); clear it with: "
		"fusermount3 -u -z %s", mnt, strerror(ENOTCONN),
		known ? path : mnt);
	return -1;
}
