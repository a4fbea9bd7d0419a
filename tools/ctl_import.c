/*
 * ctl_import.c - "streamctl import FILE DEST": restore an export file
 * (expfile.h, docs/format.md) into the new stream DEST.  The whole file is
 * checked first (checksums, lengths, paths, records continuing their
 * topics), so a damaged file is refused with the byte offset of the damage
 * and nothing is made.  Then everything is built under a hidden name beside
 * DEST (".DEST.import-PID"), records appended with the SF_IOC_RESTORE ioctl
 * (their own offsets, message counts and arrival times), ACEs set last,
 * everything synced, and the stream renamed to DEST, which must not exist;
 * on any failure the hidden tree is removed again.
 */
#include "ctl.h"
#include "expfile.h"
#include "fs/sf_ioctl.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: streamctl import FILE DEST\n"
	"\n"
	"Restore the export file FILE (from 'streamctl export') as the new\n"
	"stream DEST: the same topics with the same messages, boundaries,\n"
	"message and byte offsets and arrival times, the same policies and\n"
	"access control expressions.  DEST must not exist.  The whole file is\n"
	"checked before anything is made; a damaged one is refused with the\n"
	"byte offset of the damage.  DEST appears only once it is complete.\n"
	"Appending records with their own times needs the admin permission of\n"
	"each stream made (its owner has it).\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

#define NAME_LIMIT 255
#define PATH_LIMIT 4095
#define ATTR_MAX 16             /* policies and ACEs of one stream */
#define VALUE_MAX 16384

/* ------------------------------------------------------------ items */

struct attr {
	char name[64];
	char *value;            /* NUL-terminated copy */
};

/* One decoded item; strings are copies, record bytes point into the
 * reader's buffer. */
struct item {
	int type;
	uint64_t pos;
	char path[PATH_LIMIT + 1];
	struct attr attr[ATTR_MAX];
	int nattr;
	struct sf_restore rec;
	const unsigned char *data;
};

static void item_free(struct item *it)
{
	for (int i = 0; i < it->nattr; i++)
		free(it->attr[i].value);
	it->nattr = 0;
}

/* Copy a length-prefixed string (2-byte length when wide) into buf. */
static int get_str(struct exp_cur *c, int wide, char *buf, size_t cap,
		   const unsigned char **raw, size_t *len)
{
	unsigned n;
	const unsigned char *p;

	if ((wide ? exp_get_u16(c, &n) : exp_get_u8(c, &n)) ||
	    exp_get_bytes(c, n, &p) || memchr(p, 0, n))
		return -1;
	if (raw) {
		*raw = p;
		*len = n;
	}
	if (buf) {
		if (n >= cap)
			return -1;
		memcpy(buf, p, n);
		buf[n] = '\0';
	}
	return 0;
}

static int known_attr(const char *name)
{
	for (int i = 0; i < CTL_POLICY_COUNT; i++)
		if (!strcmp(name, ctl_policy_names[i]))
			return 1;
	return !strncmp(name, "ace.", 4) && name[4] &&
	       strspn(name + 4, "abcdefghijklmnopqrstuvwxyz") ==
	       strlen(name + 4);
}

static int decode_attrs(struct exp_cur *c, struct item *it)
{
	while (c->at < c->len) {
		const unsigned char *v;
		size_t vlen;
		struct attr *a = &it->attr[it->nattr];
		if (it->nattr == ATTR_MAX ||
		    get_str(c, 0, a->name, sizeof(a->name), NULL, NULL) ||
		    !known_attr(a->name) ||
		    get_str(c, 1, NULL, 0, &v, &vlen) || vlen > VALUE_MAX)
			return -1;
		if (!(a->value = strndup((const char *)v, vlen)))
			return -1;
		it->nattr++;
	}
	return 0;
}

/* Decode the body of it->type into it: 0, or -1 when malformed. */
static int decode(const struct exp_item *raw, struct item *it)
{
	struct exp_cur c = { raw->body, raw->len, 0 };
	uint64_t ns;

	it->type = raw->type;
	it->pos = raw->pos;
	it->nattr = 0;
	if (raw->type == EXP_STREAM)
		return get_str(&c, 1, it->path, sizeof(it->path), NULL, NULL) ||
		       decode_attrs(&c, it) ? -1 : 0;
	if (raw->type == EXP_TOPIC)
		return get_str(&c, 1, it->path, sizeof(it->path), NULL, NULL) ||
		       c.at != c.len ? -1 : 0;
	if (exp_get_u64(&c, &it->rec.off) || exp_get_u64(&c, &it->rec.msg) ||
	    exp_get_u64(&c, &ns) || exp_get_u32(&c, &it->rec.nmsgs))
		return -1;
	it->rec.ns = (int64_t)ns;
	it->rec.len = (uint32_t)(c.len - c.at);
	it->data = c.p + c.at;
	return 0;
}

/* ------------------------------------------------------------ checking */

/* What the check remembers: every path, which of them are streams, and
 * the end of the topic being read. */
struct check {
	char **paths;
	char *is_stream;
	size_t n, cap;
	int in_topic, have_rec;
	struct sf_restore last;
	const char *why;        /* what is wrong with the current item */
	const char *file;
};

static int seen(const struct check *k, const char *path, int *stream)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->paths[i], path)) {
			*stream = k->is_stream[i];
			return 1;
		}
	return 0;
}

static int remember(struct check *k, const char *path, int stream)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		char **p = realloc(k->paths, cap * sizeof(*p));
		char *s = p ? realloc(k->is_stream, cap) : NULL;
		if (p)
			k->paths = p;
		if (!s)
			return -1;
		k->is_stream = s;
		k->cap = cap;
	}
	if (!(k->paths[k->n] = strdup(path)))
		return -1;
	k->is_stream[k->n++] = (char)stream;
	return 0;
}

static void check_free(struct check *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->paths[i]);
	free(k->paths);
	free(k->is_stream);
}

/* A relative path of names, whose parent is the root or a stream seen
 * before, and that was not seen itself. */
static int check_path(struct check *k, const char *path, int stream)
{
	const char *slash = strrchr(path, '/');
	int is;

	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || n > NAME_LIMIT || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			k->why = "a malformed path";
			return -1;
		}
		p += n + (p[n] == '/');
		if (p[-1] == '/' && !*p) {
			k->why = "a malformed path";
			return -1;
		}
	}
	if (seen(k, path, &is)) {
		k->why = "a path given twice";
		return -1;
	}
	if (slash) {
		char parent[PATH_LIMIT + 1];
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = '\0';
		if (!seen(k, parent, &is) || !is) {
			k->why = "an entry before the stream that holds it";
			return -1;
		}
	}
	return remember(k, path, stream);
}

/* Several messages are lines, each ending in a newline. */
static int are_lines(const unsigned char *p, size_t len, uint32_t nmsgs)
{
	uint32_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '\n';
	return nmsgs == 1 || (n == nmsgs && p[len - 1] == '\n');
}

static int check_record(struct check *k, const struct item *it)
{
	const struct sf_restore *r = &it->rec, *l = &k->last;

	if (!k->in_topic)
		k->why = "a record outside a topic";
	else if (r->len == 0 || r->nmsgs == 0 || r->ns <= 0 ||
		 r->len > SF_RESTORE_MAX)
		k->why = "a malformed record";
	else if (k->have_rec && (r->off != l->off + l->len ||
				 r->msg != l->msg + l->nmsgs))
		k->why = "a record that does not continue its topic";
	else if (k->have_rec && r->ns < l->ns)
		k->why = "a record that arrived before the one before it";
	else if (!are_lines(it->data, r->len, r->nmsgs))
		k->why = "a record of several messages that are not lines";
	else
		k->why = NULL;
	k->last = *r;
	k->have_rec = 1;
	return k->why ? -1 : 0;
}

static int check_item(struct check *k, const struct item *it)
{
	k->why = NULL;
	if (it->type == EXP_RECORD)
		return check_record(k, it);
	k->in_topic = it->type == EXP_TOPIC;
	k->have_rec = 0;
	if (it->type == EXP_STREAM && !it->path[0]) {
		if (k->n) {
			k->why = "the root stream after other entries";
			return -1;
		}
		return remember(k, "", 1);
	}
	if (!it->path[0]) {
		k->why = "a topic without a name";
		return -1;
	}
	return check_path(k, it->path, it->type == EXP_STREAM);
}

/* ------------------------------------------------------------ the file */

/* Read every item of FILE, calling fn for each; 0, or TOOL_FAIL after one
 * line naming the damage and its offset (or fn's failure). */
static int each_item(const char *file, int (*fn)(struct item *, void *),
		     void *arg)
{
	struct exp_reader r = { 0 };
	struct exp_item raw;
	struct item *it = calloc(1, sizeof(*it));
	int rc;

	r.f = fopen(file, "rb");
	if (!r.f || !it) {
		tool_error(file, "%s", strerror(errno));
		free(it);
		if (r.f)
			fclose(r.f);
		return TOOL_FAIL;
	}
	rc = exp_read_header(&r) ? -1 : 1;
	while (rc == 1 && (rc = exp_read_item(&r, &raw)) == 1) {
		if (decode(&raw, it)) {
			snprintf(r.err, sizeof(r.err), "damaged at byte %llu: "
				 "a malformed item", (unsigned long long)raw.pos);
			rc = -1;
		} else if (fn(it, arg)) {
			rc = -2;
		}
		item_free(it);
	}
	if (rc == -1)
		tool_error(file, "%s", r.err);
	fclose(r.f);
	exp_reader_free(&r);
	free(it);
	return rc ? TOOL_FAIL : 0;
}

static int check_one(struct item *it, void *arg)
{
	struct check *k = arg;

	if (check_item(k, it) == 0)
		return 0;
	tool_error(k->file, "damaged at byte %llu: %s",
		   (unsigned long long)it->pos, k->why ? k->why : "out of memory");
	return -1;
}

/* ------------------------------------------------------------ restoring */

struct restore {
	const char *file;
	char *top;              /* the hidden stream being built */
	int fd;                 /* the topic being restored, or -1 */
	char *fd_path;
	struct item *aces;      /* streams' ACEs, set at the end */
	char **ace_paths;
	size_t naces;
};

static char *full_path(const struct restore *x, const char *rel)
{
	return *rel ? tool_join(x->top, rel) : strdup(x->top);
}

static int end_topic(struct restore *x)
{
	int rc = 0;

	if (x->fd >= 0 && close(x->fd) < 0) {
		tool_error(x->fd_path, "%s", strerror(errno));
		rc = -1;
	}
	x->fd = -1;
	free(x->fd_path);
	x->fd_path = NULL;
	return rc;
}

static int set_attr(const char *path, const char *name, const char *value)
{
	int rc = sfs_set(path, name, value);

	if (rc)
		tool_error(path, "cannot set %s=%s: %s", name, value,
			   sfs_strerror(rc));
	return rc ? -1 : 0;
}

/* Keep a stream's ACEs for the end (an ACE set now could take away the
 * permissions the import needs). */
static int keep_aces(struct restore *x, const struct item *it,
		     const char *path)
{
	struct item *a = realloc(x->aces, (x->naces + 1) * sizeof(*a));
	char **p = a ? realloc(x->ace_paths, (x->naces + 1) * sizeof(*p)) : NULL;

	if (a)
		x->aces = a;
	if (!p)
		return -1;
	x->ace_paths = p;
	a = &x->aces[x->naces];
	a->nattr = 0;
	for (int i = 0; i < it->nattr; i++) {
		if (strncmp(it->attr[i].name, "ace.", 4) != 0)
			continue;
		a->attr[a->nattr] = it->attr[i];
		if (!(a->attr[a->nattr].value = strdup(it->attr[i].value)))
			return -1;
		a->nattr++;
	}
	if (!(p[x->naces] = strdup(path)))
		return -1;
	x->naces++;
	return 0;
}

static int restore_stream(struct restore *x, const struct item *it,
			  const char *path)
{
	if (*it->path && mkdir(path, 0777) < 0) {
		tool_error(path, "%s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < it->nattr; i++)
		if (strncmp(it->attr[i].name, "ace.", 4) != 0 &&
		    set_attr(path, it->attr[i].name, it->attr[i].value))
			return -1;
	return keep_aces(x, it, path);
}

/* Create the topic at PATH (malloc'd; x keeps it) and open it. */
static int restore_topic(struct restore *x, char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);

	if (fd < 0) {
		tool_error(path, "%s", strerror(errno));
		free(path);
		return -1;
	}
	close(fd);
	if (set_attr(path, "kind", "topic")) {
		free(path);
		return -1;
	}
	x->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (x->fd < 0) {
		tool_error(path, "%s", strerror(errno));
		free(path);
		return -1;
	}
	x->fd_path = path;
	return 0;
}

static int restore_record(struct restore *x, const struct item *it)
{
	/* One write: the daemon takes the record whole or not at all, and a
	 * short write would leave the rest to be framed as new messages. */
	if (ioctl(x->fd, SF_IOC_RESTORE, &it->rec) < 0 ||
	    write(x->fd, it->data, it->rec.len) != (ssize_t)it->rec.len) {
		tool_error(x->fd_path, "cannot restore the record at byte %"
			   PRIu64 ": %s", it->rec.off,
			   errno == EACCES ? "Permission denied (it needs the "
			   "stream's admin permission)" : strerror(errno));
		return -1;
	}
	return 0;
}

static int restore_one(struct item *it, void *arg)
{
	struct restore *x = arg;
	char *path;

	if (it->type == EXP_RECORD)
		return restore_record(x, it);
	if (end_topic(x))
		return -1;
	path = full_path(x, it->path);
	if (!path) {
		tool_error(x->file, "out of memory");
		return -1;
	}
	if (it->type == EXP_TOPIC)
		return restore_topic(x, path);  /* keeps path */
	int rc = restore_stream(x, it, path);
	free(path);
	return rc;
}

/* Make the ACEs of stream PATH those of A: others removed, admin last. */
static int set_aces(const char *path, const struct item *a)
{
	ssize_t n = listxattr(path, NULL, 0);
	char *names = n > 0 ? malloc((size_t)n) : NULL;
	const char *pfx = SFS_XATTR_PREFIX "ace.";
	int rc = 0;

	if (n > 0 && (!names || (n = listxattr(path, names, (size_t)n)) < 0))
		n = 0;
	for (char *p = names; n > 0 && rc == 0 && p < names + n;
	     p += strlen(p) + 1) {
		int keep = 0;
		if (strncmp(p, pfx, strlen(pfx)) != 0)
			continue;
		for (int i = 0; i < a->nattr; i++)
			keep |= !strcmp(a->attr[i].name,
					p + strlen(SFS_XATTR_PREFIX));
		if (!keep && sfs_remove(path, p + strlen(SFS_XATTR_PREFIX)))
			rc = -1;
	}
	free(names);
	for (int pass = 0; rc == 0 && pass < 2; pass++)
		for (int i = 0; rc == 0 && i < a->nattr; i++)
			if ((strcmp(a->attr[i].name, "ace.admin") == 0) == pass)
				rc = set_attr(path, a->attr[i].name,
					      a->attr[i].value);
	return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

/* Sync the stream, then give it its name; DEST must still be free. */
static int finish(struct restore *x, const char *dest)
{
	int fd = open(x->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		tool_error(x->top, "cannot sync: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (renameat2(AT_FDCWD, x->top, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		tool_error(dest, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

static int restore_all(const char *file, const char *dest)
{
	struct restore x = { .file = file, .fd = -1 };
	char *copy = strdup(dest), *copy2 = strdup(dest);
	int rc = copy && copy2 ? 0 : -1;

	if (rc == 0) {
		const char *dir = dirname(copy), *name = basename(copy2);
		x.top = malloc(strlen(dir) + strlen(name) + 32);
		if (x.top)
			sprintf(x.top, "%s/.%s.import-%ld", dir, name,
				(long)getpid());
		rc = x.top ? 0 : -1;
	}
	if (rc == 0 && mkdir(x.top, 0777) < 0) {
		tool_error(x.top, "%s", strerror(errno));
		free(x.top);
		x.top = NULL;
		rc = -1;
	}
	if (rc == 0)
		rc = each_item(file, restore_one, &x) ? -1 : 0;
	if (end_topic(&x))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < x.naces; i++)
		rc = set_aces(x.ace_paths[i], &x.aces[i]);
	if (rc == 0)
		rc = finish(&x, dest);
	if (rc && x.top && nftw(x.top, remove_one, 16, FTW_DEPTH | FTW_PHYS))
		tool_error(x.top, "left behind: cannot remove it: %s",
			   strerror(errno));
	for (size_t i = 0; i < x.naces; i++) {
		item_free(&x.aces[i]);
		free(x.ace_paths[i]);
	}
	free(x.aces);
	free(x.ace_paths);
	free(x.top);
	free(copy);
	free(copy2);
	return rc ? TOOL_FAIL : 0;
}

int ctl_import(int argc, char **argv)
{
	struct check k = { .file = NULL };
	struct stat st;
	int rc;

	int help = tool_only_help("import", usage_text, argc, argv);
	if (help >= 0)
		return help;
	if (argc - optind != 2)
		return tool_usage_error("import", "give FILE and DEST");
	const char *file = argv[optind], *dest = argv[optind + 1];
	if (lstat(dest, &st) == 0) {
		tool_error(dest, "already exists (import makes a new stream; "
			   "move topics into another with mv)");
		return TOOL_FAIL;
	}
	rc = sfs_check_path(dest, 0);
	if (rc) {
		tool_error(dest, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	k.file = file;
	rc = each_item(file, check_one, &k);
	check_free(&k);
	return rc ? rc : restore_all(file, dest);
}
