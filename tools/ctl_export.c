/*
 * ctl_export.c - "streamctl export PATH... > FILE": streams (their
 * policies and ACEs, recursively) and topics (every record with its byte
 * and message offsets, message count, arrival time and bytes) into an
 * export file (expfile.h, docs/format.md).  Records come from the
 * attribute user.streamfs.index.OFF, their bytes from read().  A failed
 * export writes no end item, so the file it leaves is refused by import.
 */
#include "ctl.h"
#include "expfile.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: streamctl export PATH... > FILE\n"
	"\n"
	"Write the streams and topics PATH... to standard output as an export\n"
	"file: every topic's messages with their boundaries, message and byte\n"
	"offsets and arrival times, and every stream's policies and access\n"
	"control expressions, recursively.  'streamctl import FILE DEST'\n"
	"restores them into a new stream DEST: one stream PATH becomes DEST\n"
	"itself; several PATHs, or a topic, become entries of DEST named by\n"
	"their last component.  Blobs and other files are not exported (each\n"
	"is named on standard error).\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

#define ACE_PREFIX SFS_XATTR_PREFIX "ace."

static struct exp_writer out;

static void put_str(struct exp_buf *b, const char *s, size_t n, int wide)
{
	if (wide)
		exp_put_u16(b, (unsigned)n);
	else
		exp_put_u8(b, (unsigned)n);
	exp_put_bytes(b, s, n);
}

static int write_item(const char *path, int type, struct exp_buf *b)
{
	int rc = b->failed ? -ENOMEM : exp_write_item(&out, type, b->p,
						      b->len);

	free(b->p);
	if (rc)
		tool_error(path, "cannot write the export: %s", strerror(-rc));
	return rc ? TOOL_FAIL : 0;
}

/* The stream's ACEs (stored names, in the daemon's order) into b. */
static int put_aces(const char *path, struct exp_buf *b)
{
	ssize_t n = listxattr(path, NULL, 0);
	char *names = n > 0 ? malloc((size_t)n) : NULL;

	if (n > 0 && (!names || (n = listxattr(path, names, (size_t)n)) < 0)) {
		tool_error(path, "cannot list attributes: %s", strerror(errno));
		free(names);
		return TOOL_FAIL;
	}
	for (char *p = names; n > 0 && p < names + n; p += strlen(p) + 1) {
		char *v;
		if (strncmp(p, ACE_PREFIX, strlen(ACE_PREFIX)) != 0)
			continue;
		int rc = sfs_get(path, p + strlen(SFS_XATTR_PREFIX), &v);
		if (rc) {
			tool_error(path, "cannot read %s: %s", p,
				   sfs_strerror(rc));
			free(names);
			return TOOL_FAIL;
		}
		const char *name = p + strlen(SFS_XATTR_PREFIX);
		put_str(b, name, strlen(name), 0);
		put_str(b, v, strlen(v), 1);
		free(v);
	}
	free(names);
	return 0;
}

static int stream_item(const char *path, const char *rel)
{
	char *values[CTL_POLICY_COUNT];
	struct exp_buf b = { 0 };

	if (ctl_read_policies(path, values))
		return TOOL_FAIL;
	put_str(&b, rel, strlen(rel), 1);
	for (int i = 0; i < CTL_POLICY_COUNT; i++) {
		put_str(&b, ctl_policy_names[i], strlen(ctl_policy_names[i]), 0);
		put_str(&b, values[i], strlen(values[i]), 1);
	}
	ctl_free_policies(values);
	if (put_aces(path, &b)) {
		free(b.p);
		return TOOL_FAIL;
	}
	return write_item(path, EXP_STREAM, &b);
}

/* ------------------------------------------------------------ topics */

/* The topic's size from its info: 0 or TOOL_FAIL. */
static int topic_size(const char *path, uint64_t *size)
{
	char *text, *at;
	int rc = sfs_get(path, "info", &text);

	if (rc) {
		tool_error(path, "cannot read topic info: %s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	at = strstr(text, "\nsize=");
	rc = !at || sscanf(at + 6, "%" SCNu64, size) != 1;
	free(text);
	if (rc)
		tool_error(path, "malformed topic info from the daemon");
	return rc ? TOOL_FAIL : 0;
}

struct rec {
	uint64_t off, msg;
	int64_t ns;
	uint32_t len, nmsgs;
};

static int read_all(int fd, unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t got = pread(fd, p, n, (off_t)off);
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

static int record_item(const char *path, int fd, const struct rec *r)
{
	struct exp_buf b = { 0 };
	unsigned char *data = malloc(r->len ? r->len : 1);
	int rc = data ? read_all(fd, data, r->len, r->off) : -ENOMEM;

	if (rc) {
		tool_error(path, "cannot read byte %" PRIu64 ": %s", r->off,
			   strerror(-rc));
		free(data);
		return TOOL_FAIL;
	}
	exp_put_u64(&b, r->off);
	exp_put_u64(&b, r->msg);
	exp_put_u64(&b, (uint64_t)r->ns);
	exp_put_u32(&b, r->nmsgs);
	exp_put_bytes(&b, data, r->len);
	free(data);
	return write_item(path, EXP_RECORD, &b);
}

/* The records listed from byte *off on, written; *off moves past them.
 * 1 while there may be more before `size`, 0 at the end, or TOOL_FAIL
 * (as a negative number). */
static int record_batch(const char *path, int fd, uint64_t *off,
			uint64_t size)
{
	char name[40], *list, *line, *save = NULL;
	struct rec r;
	int rc, more = 0;

	snprintf(name, sizeof(name), "index.%" PRIu64, *off);
	rc = sfs_get(path, name, &list);
	if (rc) {
		tool_error(path, "cannot list records: %s", sfs_strerror(rc));
		return -TOOL_FAIL;
	}
	for (line = strtok_r(list, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%" SCNu64 " %" SCNu32 " %" SCNu32 " %" SCNu64
			   " %" SCNd64, &r.off, &r.len, &r.nmsgs, &r.msg,
			   &r.ns) != 5 || r.off < *off) {
			tool_error(path, "malformed record list from the daemon");
			rc = TOOL_FAIL;
			break;
		}
		if (r.off >= size)
			break;
		rc = record_item(path, fd, &r);
		*off = r.off + r.len;
		more = *off < size;
	}
	free(list);
	return rc ? -rc : more;
}

static int export_topic(const char *path, const char *rel)
{
	struct exp_buf b = { 0 };
	uint64_t size, off = 0;
	int fd, rc;

	if (topic_size(path, &size))
		return TOOL_FAIL;
	put_str(&b, rel, strlen(rel), 1);
	if (write_item(path, EXP_TOPIC, &b))
		return TOOL_FAIL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		tool_error(path, "%s", strerror(errno));
		return TOOL_FAIL;
	}
	while ((rc = record_batch(path, fd, &off, size)) > 0)
		;
	close(fd);
	return rc < 0 ? TOOL_FAIL : 0;
}

/* ------------------------------------------------------------ the walk */

static int export_entry(const char *path, const char *rel, int named);

static int export_stream(const char *path, const char *rel)
{
	char **names;
	size_t n;
	int rc = stream_item(path, rel);

	if (rc)
		return rc;
	rc = tool_list_dir(path, NULL, &names, &n);
	if (rc) {
		tool_error(path, "cannot list: %s", strerror(-rc));
		rc = TOOL_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		char *child = tool_join(path, names[i]);
		char *crel = *rel ? tool_join(rel, names[i]) : strdup(names[i]);
		if (!child || !crel) {
			tool_error(path, "out of memory");
			rc = TOOL_FAIL;
		}
		if (rc == 0)
			rc = export_entry(child, crel, 0);
		free(child);
		free(crel);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Export PATH as REL.  Blobs and other files found in a stream are named
 * and skipped; NAMED (given on the command line) makes them an error. */
static int export_entry(const char *path, const char *rel, int named)
{
	struct stat st;
	char *kind = NULL;

	if (lstat(path, &st) < 0) {
		tool_error(path, "%s", strerror(errno));
		return TOOL_FAIL;
	}
	if (S_ISDIR(st.st_mode))
		return export_stream(path, rel);
	if (S_ISREG(st.st_mode) && sfs_get_word(path, "kind", &kind) == 0 &&
	    strcmp(kind, "topic") == 0) {
		free(kind);
		return export_topic(path, rel);
	}
	tool_error(path, "not exported (%s)", !S_ISREG(st.st_mode) ?
		   "not a stream or topic" : kind ? "a blob" : "never written");
	free(kind);
	return named ? TOOL_FAIL : 0;
}

/* The last component of PATH (trailing slashes ignored), malloc'd. */
static char *last_name(const char *path)
{
	char *copy = strdup(path), *name;

	if (!copy)
		return NULL;
	name = strdup(basename(copy));
	free(copy);
	return name;
}

/* Check every PATH and name; TOOL_USAGE or TOOL_FAIL after one line. */
static int check_paths(int n, char **paths, char **names)
{
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (tool_stat(paths[i], &st))
			return TOOL_FAIL;
		int rc = sfs_check_path(paths[i], S_ISDIR(st.st_mode));
		if (rc) {
			tool_error(paths[i], "%s", sfs_strerror(rc));
			return TOOL_FAIL;
		}
		if (!strcmp(names[i], "/") || !strcmp(names[i], ".") ||
		    !strcmp(names[i], ".."))
			return tool_usage_error("export", "'%s' has no name "
						"to export it under", paths[i]);
		for (int j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return tool_usage_error("export", "two PATHs "
							"named '%s'", names[i]);
	}
	return 0;
}

/* One stream PATH is exported as the root; anything else by name. */
static int export_all(int n, char **paths)
{
	char **names = calloc((size_t)n, sizeof(*names));
	struct stat st;
	int rc = names ? 0 : TOOL_FAIL;

	for (int i = 0; rc == 0 && i < n; i++)
		if (!(names[i] = last_name(paths[i])))
			rc = TOOL_FAIL;
	int root = n == 1 && stat(paths[0], &st) == 0 && S_ISDIR(st.st_mode);
	if (rc == 0 && root) {
		int e = sfs_check_stream(paths[0]);
		if (e)
			tool_error(paths[0], "%s", sfs_strerror(e));
		rc = e ? TOOL_FAIL : 0;
	} else if (rc == 0) {
		rc = check_paths(n, paths, names);
	}
	if (rc == 0 && exp_write_header(&out))
		rc = TOOL_FAIL;
	if (rc == 0 && root)
		rc = export_stream(paths[0], "");
	for (int i = 0; rc == 0 && !root && i < n; i++)
		rc = export_entry(paths[i], names[i], 1);
	if (rc == 0 && exp_write_end(&out))
		rc = TOOL_FAIL;
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int ctl_export(int argc, char **argv)
{
	int help = tool_only_help("export", usage_text, argc, argv);
	if (help >= 0)
		return help;
	if (optind == argc)
		return tool_usage_error("export", "no PATH given");
	if (isatty(STDOUT_FILENO))
		return tool_usage_error("export", "standard output is a "
					"terminal; redirect it to a file");
	out.f = stdout;
	return export_all(argc - optind, argv + optind);
}
