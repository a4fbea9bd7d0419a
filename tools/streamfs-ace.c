/*
 * streamfs-ace.c - the streamfs-ace command: sets, lists and removes the
 * access control expressions of streams and blobs, the way chmod sets mode
 * bits (docs/ace.md, docs/streamfs-ace.1.rst).
 *
 *     streamfs-ace [-R] PERM=EXPR[,PERM=EXPR...] PATH...   set
 *     streamfs-ace [-R] [-n] PATH...                       list
 *     streamfs-ace [-R] --remove PERM[,PERM...] PATH...    remove
 *
 * It works only through the mount: each expression is the extended
 * attribute user.streamfs.ace.PERM of a stream (directory) or blob, and the
 * daemon checks who may change it.  The tool parses every expression itself
 * before touching anything, so a malformed one is shown with a caret under
 * the error and no path changes; names are resolved here, and the daemon is
 * sent the canonical numeric text it stores.
 *
 * Caveat: changes to several paths (or several permissions of one path) are
 * separate attribute writes, not one transaction.  A refusal by the daemon
 * (say EACCES on the third path) stops the rest of that path's list, but
 * the other paths are still changed, as chmod goes on after a failure; the
 * error line names the path that was refused.
 */
#include "ace.h"
#include "tool.h"
#include "xattr_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How much of a malformed argument is shown around the error: enough for
 * a whole ordinary list on one terminal line, and a window of a long one
 * (an expression may be 4 KiB). */
#define SHOW_WIDTH 72
/* A malformed argument named in the first line of the error is cut to this
 * many bytes, so that line stays readable. */
#define NAME_WIDTH 48

/* Bit masks of enum ace_perm values. */
#define PERM_BIT(p) (1u << (p))
#define STREAM_PERMS                                                       \
	(PERM_BIT(ACE_PERM_ADMIN) | PERM_BIT(ACE_PERM_PRODUCE) |           \
	 PERM_BIT(ACE_PERM_CONSUME) | PERM_BIT(ACE_PERM_TOPIC) |           \
	 PERM_BIT(ACE_PERM_COPY))
#define BLOB_PERMS (PERM_BIT(ACE_PERM_READ) | PERM_BIT(ACE_PERM_WRITE))

/* ------------------------------------------------------------ objects */

/* What a path is, as far as expressions go. */
enum object {
	OBJ_STREAM,	/* a directory: stream permissions */
	OBJ_BLOB,	/* a blob, or a file that has no kind yet */
	OBJ_TOPIC,	/* a topic: its stream's expressions govern it */
	OBJ_OTHER,	/* symlink, device, fifo, socket: none */
};

/* The permissions an object can hold. */
static unsigned perms_of(enum object obj)
{
	return obj == OBJ_STREAM ? STREAM_PERMS :
	       obj == OBJ_BLOB ? BLOB_PERMS : 0;
}

/* Classify PATH, whose stat (not following a last symlink when walking)
 * is ST.  0, or -errno when a file's kind cannot be read. */
static int classify(const char *path, const struct stat *st,
		    enum object *obj)
{
	char *kind;
	int rc;

	if (S_ISDIR(st->st_mode)) {
		*obj = OBJ_STREAM;
		return 0;
	}
	if (!S_ISREG(st->st_mode)) {
		*obj = OBJ_OTHER;
		return 0;
	}
	rc = sfs_get_word(path, "kind", &kind);
	if (rc == -ENODATA) {
		*obj = OBJ_BLOB;	/* never written: the daemon takes it */
		return 0;
	}
	if (rc)
		return rc;
	*obj = strcmp(kind, "topic") == 0 ? OBJ_TOPIC : OBJ_BLOB;
	free(kind);
	return 0;
}

/* "not a stream for produce (...)": why PERM does not fit OBJ. */
static void report_misfit(const char *path, enum object obj, int perm)
{
	const char *want = ace_perm_object(perm) == ACE_OBJ_STREAM ?
			   "stream" : "blob";
	const char *why =
		obj == OBJ_STREAM ?
			"a stream has admin, produce, consume, topic, copy" :
		obj == OBJ_BLOB ? "a blob has read, write" :
		obj == OBJ_TOPIC ? "a topic has none: its stream's "
				   "expressions govern it" :
				   "only streams and blobs have expressions";

	tool_error(path, "not a %s for %s (%s)", want, ace_perm_name(perm),
		   why);
}

/* ------------------------------------------------------------ the job */

enum mode { MODE_LIST, MODE_SET, MODE_REMOVE };

struct job {
	enum mode mode;
	unsigned perms;			/* set or remove: PERM_BIT()s */
	char *text[ACE_PERM_COUNT];	/* set: canonical numeric text */
	int order[ACE_PERM_COUNT];	/* set/remove: perms in order */
	int norder;
	int recursive;
	int numeric;			/* list ids, not names */
	int headers;			/* list: "PATH:" before each object */
	int records;			/* list: objects printed so far */
};

/* Put admin last: once a path's admin expression is set, the caller may
 * no longer hold admin, and the other permissions of that path must not
 * be refused because of it.  Keeps the given order otherwise. */
static void admin_last(struct job *job)
{
	int n = 0, admin = 0;

	for (int i = 0; i < job->norder; i++) {
		if (job->order[i] == ACE_PERM_ADMIN)
			admin = 1;
		else
			job->order[n++] = job->order[i];
	}
	if (admin)
		job->order[n++] = ACE_PERM_ADMIN;
	job->norder = n;
}

/* ------------------------------------------------------------ attributes */

/* The attribute name of PERM without the "user.streamfs." prefix. */
static void attr_name(int perm, char buf[32])
{
	snprintf(buf, 32, "ace.%s", ace_perm_name(perm));
}

static int get_ace(const char *path, int perm, char **value)
{
	char name[32];

	attr_name(perm, name);
	return sfs_get_word(path, name, value);
}

static int set_ace(const char *path, int perm, const char *text)
{
	char name[32];

	attr_name(perm, name);
	return sfs_set(path, name, text);
}

static int remove_ace(const char *path, int perm)
{
	char name[32];

	attr_name(perm, name);
	return sfs_remove(path, name);
}

/* ------------------------------------------------------------ listing */

/* Read the expressions of OBJECT PATH and print them as "perm: expr"
 * lines, after a header when the job has them.  Everything is read before
 * anything is printed. */
static int list_object(struct job *job, const char *path, enum object obj)
{
	char *shown[ACE_PERM_COUNT] = { NULL };
	int found = 0, status = 0;
	unsigned perms = perms_of(obj);

	for (int p = 0; p < ACE_PERM_COUNT && !status; p++) {
		char *value;
		ace_t *ace;
		int rc;

		if (!(perms & PERM_BIT(p)))
			continue;
		rc = get_ace(path, p, &value);
		if (rc == -ENODATA)
			continue;
		if (rc) {
			tool_error(path, "cannot read %s: %s", ace_perm_name(p),
				   rc == -EACCES ? "permission denied" :
						   sfs_strerror(rc));
			status = TOOL_FAIL;
			break;
		}
		/* Print names for people; a stored text this tool cannot
		 * parse (it always should) is shown as the daemon has it. */
		if (ace_parse(value, strlen(value), &ace, NULL) == 0) {
			char *text;
			if (ace_to_text(ace, job->numeric ? ACE_TEXT_NUMERIC :
							     ACE_TEXT_NAMES,
					&text) == 0) {
				free(value);
				value = text;
			}
			ace_free(ace);
		}
		shown[p] = value;
		found++;
	}
	if (!status && found) {
		if (job->headers)
			printf("%s%s:\n", job->records++ ? "\n" : "", path);
		for (int p = 0; p < ACE_PERM_COUNT; p++)
			if (shown[p])
				printf("%s: %s\n", ace_perm_name(p), shown[p]);
	}
	for (int p = 0; p < ACE_PERM_COUNT; p++)
		free(shown[p]);
	return status;
}

/* ------------------------------------------------------------ changing */

/* One line about a failed change (set or remove) of PERM on OBJ PATH. */
static void report_change(const char *path, enum object obj, int perm,
			  enum mode mode, int rc)
{
	if (rc == -EACCES || rc == -EPERM)
		tool_error(path, "permission denied (%s)",
			   obj == OBJ_STREAM ? "needs admin"
					     : "needs to own the blob");
	else if (rc == -EINVAL)
		tool_error(path, "not a %s for %s",
			   ace_perm_object(perm) == ACE_OBJ_STREAM ? "stream"
								    : "blob",
			   ace_perm_name(perm));
	else if (rc == -ENOTSUP)
		tool_error(path, "%s", sfs_strerror(rc));
	else
		tool_error(path, "cannot %s %s: %s",
			   mode == MODE_SET ? "set" : "remove",
			   ace_perm_name(perm), sfs_strerror(rc));
}

/* Set or remove the job's permissions that OBJ can hold, admin last; stop
 * at the first failure (the rest would fail the same way). */
static int change_object(struct job *job, const char *path, enum object obj)
{
	unsigned fits = perms_of(obj);

	for (int i = 0; i < job->norder; i++) {
		int p = job->order[i], rc;

		if (!(fits & PERM_BIT(p)))
			continue;
		if (job->mode == MODE_SET) {
			rc = set_ace(path, p, job->text[p]);
		} else {
			rc = remove_ace(path, p);
			if (rc == -ENODATA)	/* was not set: done */
				rc = 0;
		}
		if (rc) {
			report_change(path, obj, p, job->mode, rc);
			return TOOL_FAIL;
		}
	}
	return 0;
}

static int do_object(struct job *job, const char *path, enum object obj)
{
	if (job->mode == MODE_LIST)
		return list_object(job, path, obj);
	return change_object(job, path, obj);
}

/* ------------------------------------------------------------ recursion */

/* Stream DIR (stat ST) and everything below it: streams and blobs get the
 * permissions that fit them; topics, symlinks and other files are passed
 * over, and so are directories of another file system mounted below.  Goes
 * on after failures, as chmod -R does; TOOL_FAIL if there was any. */
static int walk(struct job *job, const char *dir, const struct stat *st)
{
	char **names;
	size_t n;
	int status = do_object(job, dir, OBJ_STREAM);
	int rc = tool_list_dir(dir, NULL, &names, &n);

	if (rc) {
		tool_error(dir, "cannot list: %s", sfs_strerror(rc));
		status = TOOL_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		char *sub = tool_join(dir, names[i]);
		struct stat sst;
		enum object obj;

		free(names[i]);
		if (!sub) {
			tool_error(dir, "%s", strerror(ENOMEM));
			status = TOOL_FAIL;
			continue;
		}
		if (lstat(sub, &sst) < 0) {
			/* Gone since it was listed: nothing to do. */
			if (errno != ENOENT) {
				tool_error(sub, "%s", strerror(errno));
				status = TOOL_FAIL;
			}
		} else if (S_ISDIR(sst.st_mode)) {
			if (sst.st_dev == st->st_dev && walk(job, sub, &sst))
				status = TOOL_FAIL;
		} else if (S_ISREG(sst.st_mode)) {
			rc = classify(sub, &sst, &obj);
			if (rc) {
				tool_error(sub, "cannot read its kind: %s",
					   sfs_strerror(rc));
				status = TOOL_FAIL;
			} else if (obj == OBJ_BLOB && do_object(job, sub, obj)) {
				status = TOOL_FAIL;
			}
		}
		free(sub);
	}
	free(names);
	return status;
}

/* ------------------------------------------------------------ paths */

/* A path named on the command line: what it is, checked before anything
 * is changed. */
struct target {
	const char *path;
	struct stat st;
	enum object obj;
};

/* Stat PATH (following symlinks, as chmod does for its arguments), check
 * it is on a streamfs mount and classify it.  0, or TOOL_FAIL after one
 * error line. */
static int examine(const char *path, struct target *t)
{
	int rc;

	t->path = path;
	if (tool_stat(path, &t->st))
		return TOOL_FAIL;
	rc = sfs_check_path(path, S_ISDIR(t->st.st_mode));
	if (!rc)
		rc = classify(path, &t->st, &t->obj);
	if (rc) {
		tool_error(path, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	return 0;
}

/* Without -R every permission of a change must fit each path; with -R a
 * stream takes whatever fits each object below it.  0 or TOOL_FAIL after
 * one error line. */
static int check_fit(const struct job *job, const struct target *t)
{
	unsigned misfit = job->perms & ~perms_of(t->obj);

	if (job->recursive && t->obj == OBJ_STREAM)
		return 0;
	for (int i = 0; i < job->norder; i++)
		if (misfit & PERM_BIT(job->order[i])) {
			report_misfit(t->path, t->obj, job->order[i]);
			return TOOL_FAIL;
		}
	return 0;
}

static int run_target(struct job *job, const struct target *t)
{
	if (job->recursive && t->obj == OBJ_STREAM)
		return walk(job, t->path, &t->st);
	if (job->mode == MODE_LIST && t->obj != OBJ_STREAM &&
	    t->obj != OBJ_BLOB)
		return 0;	/* holds no expressions: nothing to list */
	return do_object(job, t->path, t->obj);
}

/* Change every path.  All of them are examined first, so a missing path,
 * one off the mount or of the wrong kind changes nothing anywhere. */
static int change_all(struct job *job, char **paths, int npaths)
{
	struct target *t = calloc((size_t)npaths, sizeof(*t));
	int status = 0;

	if (!t) {
		tool_error(NULL, "%s", strerror(ENOMEM));
		return TOOL_FAIL;
	}
	for (int i = 0; i < npaths; i++)
		if (examine(paths[i], &t[i]) || check_fit(job, &t[i]))
			status = TOOL_FAIL;
	if (!status)
		for (int i = 0; i < npaths; i++)
			if (run_target(job, &t[i]))
				status = TOOL_FAIL;
	free(t);
	return status;
}

/* List every path; a path that cannot be read does not stop the others. */
static int list_all(struct job *job, char **paths, int npaths)
{
	int status = 0;

	job->headers = npaths > 1 || job->recursive;
	for (int i = 0; i < npaths; i++) {
		struct target t;
		if (examine(paths[i], &t) || run_target(job, &t))
			status = TOOL_FAIL;
	}
	return status;
}

/* ------------------------------------------------------------ arguments */

/* Show ARG (one byte per column, other than printable ASCII as '?') from
 * byte FROM to TO, with "..." where it is cut. */
static void show_span(const char *arg, size_t len, size_t from, size_t to)
{
	fputs("    ", stderr);
	if (from > 0)
		fputs("...", stderr);
	for (size_t i = from; i < to; i++) {
		unsigned char c = (unsigned char)arg[i];
		fputc(c >= 0x20 && c < 0x7f ? c : '?', stderr);
	}
	if (to < len)
		fputs("...", stderr);
	fputc('\n', stderr);
}

/* Report a malformed permission list: the argument, the reason and the
 * position, then the argument again (or the part of it around the error)
 * with a caret under the byte at ERR->pos. */
static int list_error(const char *arg, const ace_error_t *err)
{
	size_t len = strlen(arg), from = 0, to = len;
	size_t at = err->pos ? err->pos - 1 : 0;	/* 0-based, may be len */

	if (len > NAME_WIDTH) {
		char name[NAME_WIDTH + 1];
		snprintf(name, sizeof(name), "%.*s...", NAME_WIDTH - 3, arg);
		tool_error(name, "%s (at position %zu)", err->msg, err->pos);
	} else {
		tool_error(arg, "%s (at position %zu)", err->msg, err->pos);
	}
	if (len > SHOW_WIDTH) {
		from = at > SHOW_WIDTH / 2 ? at - SHOW_WIDTH / 2 : 0;
		to = from + SHOW_WIDTH < len ? from + SHOW_WIDTH : len;
	}
	show_span(arg, len, from, to);
	fprintf(stderr, "    %*s^\n", (int)((from ? 3 : 0) + at - from), "");
	return TOOL_USAGE;
}

/* Is the first operand a permission list rather than a path?  It is when
 * it has an '=' with no '/' before it ("produce=...", "prodce =...");
 * a file whose name has an '=' is named "./a=b". */
static int is_list(const char *arg)
{
	size_t eq = strcspn(arg, "=");

	return arg[eq] == '=' && !memchr(arg, '/', eq);
}

/* "streamfs-ace produce DIR" most likely meant an expression: say so
 * rather than "produce: No such file or directory". */
static int forgot_expression(const char *arg)
{
	struct stat st;

	if (ace_perm_lookup(arg, strlen(arg)) < 0 || lstat(arg, &st) == 0)
		return 0;
	return tool_usage_error(NULL, "'%s' is a permission, not a path: "
				"write %s=EXPRESSION (or --remove %s)", arg,
				arg, arg);
}

/* Parse LIST into the job: every expression, and its canonical numeric
 * text (what the daemon stores). */
static int parse_set(struct job *job, const char *arg)
{
	ace_list_t list;
	ace_error_t err;
	int status = 0;

	if (ace_list_parse(arg, strlen(arg), ACE_OBJ_ANY, &list, &err) < 0)
		return list_error(arg, &err);
	for (size_t i = 0; i < list.n && !status; i++) {
		int p = list.item[i].perm;
		char *text;

		if (ace_to_text(list.item[i].ace, ACE_TEXT_NUMERIC, &text)) {
			tool_error(NULL, "%s", strerror(ENOMEM));
			status = TOOL_FAIL;
			break;
		}
		/* The stored form can be longer than what was typed (ids
		 * for names, a space each side of every operator), and the
		 * daemon parses it again: it must fit ACE_MAX_LEN too. */
		if (strlen(text) > ACE_MAX_LEN) {
			tool_error(NULL, "the expression for %s is %zu bytes "
				   "in its stored form (ids, spaces around "
				   "operators), over the limit of %d",
				   ace_perm_name(p), strlen(text),
				   ACE_MAX_LEN);
			free(text);
			status = TOOL_USAGE;
			break;
		}
		job->text[p] = text;
		job->perms |= PERM_BIT(p);
		job->order[job->norder++] = p;
	}
	ace_list_clear(&list);
	return status;
}

/* Parse --remove's "PERM[,PERM...]" (spaces around names allowed); it may
 * be given more than once. */
static int parse_remove(struct job *job, const char *arg)
{
	const char *s = arg;

	for (;;) {
		size_t n;
		int p;

		s += strspn(s, " \t");
		n = strcspn(s, ", \t");
		p = ace_perm_lookup(s, n);
		if (n == 0)
			return tool_usage_error(NULL, "--remove '%s': expected "
				"a permission name at position %zu", arg,
				(size_t)(s - arg) + 1);
		if (p < 0)
			return tool_usage_error(NULL, "--remove '%s': unknown "
				"permission '%.*s' (a stream has admin, "
				"produce, consume, topic, copy; a blob has "
				"read, write)", arg, (int)n, s);
		if (!(job->perms & PERM_BIT(p))) {
			job->perms |= PERM_BIT(p);
			job->order[job->norder++] = p;
		}
		s += n;
		s += strspn(s, " \t");
		if (!*s)
			return 0;
		if (*s != ',')
			return tool_usage_error(NULL, "--remove '%s': expected "
				"',' at position %zu", arg,
				(size_t)(s - arg) + 1);
		s++;
	}
}

/* ------------------------------------------------------------ command */

static const char usage_text[] =
	"Usage: streamfs-ace [-R] PERM=EXPR[,PERM=EXPR...] PATH...\n"
	"       streamfs-ace [-R] [-n] PATH...\n"
	"       streamfs-ace [-R] --remove PERM[,PERM...] PATH...\n"
	"\n"
	"Set, list or remove the access control expressions of streams\n"
	"(directories) and blobs of a streamfs mount.  With no PERM=EXPR\n"
	"list, print one 'perm: expression' line per expression set.\n"
	"\n"
	"Permissions:\n"
	"  stream  admin    change policies and expressions\n"
	"          produce  append to topics\n"
	"          consume  read topics, commit cursors\n"
	"          topic    create, delete, rename topics\n"
	"          copy     replicate the stream\n"
	"  blob    read, write\n"
	"Expressions: u:USER, g:GROUP (names or numbers), p (everyone),\n"
	"  ! (not), & (and), | (or), parentheses; quote them for the shell:\n"
	"  streamfs-ace produce='u:ingest|g:sensors',consume='g:analysts & "
	"!u:guest' DIR\n"
	"Without an expression, mode bits decide (admin: the owner).\n"
	"\n"
	"Options:\n"
	"  -R, --recursive       also everything below each stream (stream\n"
	"                        permissions on streams, blob ones on blobs)\n"
	"      --remove PERMS    remove these expressions\n"
	"  -n, --numeric         list user and group ids, not names\n"
	"  -h, --help            show this help\n"
	"      --version         show the version\n"
	"\n"
	"Exit status: 0 success, 1 an operation failed, 2 bad usage (a\n"
	"malformed expression included); nothing is changed on bad usage.\n";

enum { OPT_REMOVE = 256, OPT_VERSION };

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'R' },
		{ "remove", required_argument, NULL, OPT_REMOVE },
		{ "numeric", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct job job = { .mode = MODE_LIST };
	int c, status;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":Rnh", longopts, NULL)) != -1) {
		switch (c) {
		case 'R':
			job.recursive = 1;
			break;
		case 'n':
			job.numeric = 1;
			break;
		case OPT_REMOVE:
			job.mode = MODE_REMOVE;
			if ((status = parse_remove(&job, optarg)))
				return status;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case OPT_VERSION:
			printf("streamfs-ace %s\n", tool_version);
			return 0;
		default:
			return tool_bad_option(NULL, c, argv);
		}
	}
	argv += optind;
	argc -= optind;
	if (argc > 0 && is_list(argv[0])) {
		if (job.mode == MODE_REMOVE)
			return tool_usage_error(NULL, "--remove takes "
				"permission names, not '%s'", argv[0]);
		job.mode = MODE_SET;
		status = parse_set(&job, argv[0]);
		argv++;
		argc--;
	} else {
		status = 0;
	}
	if (!status && argc == 0)
		status = tool_usage_error(NULL, "no PATH given");
	if (!status && job.mode == MODE_LIST)
		status = forgot_expression(argv[0]);
	if (!status) {
		admin_last(&job);
		status = job.mode == MODE_LIST ? list_all(&job, argv, argc)
					       : change_all(&job, argv, argc);
	}
	for (int p = 0; p < ACE_PERM_COUNT; p++)
		free(job.text[p]);
	return status;
}

int main(int argc, char **argv)
{
	tool_name = "streamfs-ace";
	return tool_finish(run(argc, argv));
}
