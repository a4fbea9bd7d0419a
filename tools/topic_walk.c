/*
 * topic_walk.c - finding the topics a PATH stands for (topic_walk.h):
 * regular files whose kind is topic, in name order, in a stream and, when
 * asked, its substreams.
 */
#include "topic_walk.h"
#include "tool.h"
#include "xattr_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_type(const char *dir, const struct dirent *de, int dt,
		   mode_t fmt)
{
	struct stat st;
	char *p;
	int yes;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == dt;
	p = tool_join(dir, de->d_name);
	yes = p && lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == fmt;
	free(p);
	return yes;
}

static int is_file(const char *dir, const struct dirent *de)
{
	return is_type(dir, de, DT_REG, S_IFREG);
}

static int is_dir(const char *dir, const struct dirent *de)
{
	return is_type(dir, de, DT_DIR, S_IFDIR);
}

int topic_is(const char *path)
{
	char *kind;
	int rc = sfs_get_word(path, "kind", &kind);

	if (rc == -ENODATA)
		return 0;
	if (rc) {
		tool_error(path, "cannot read kind: %s", sfs_strerror(rc));
		return -TOOL_FAIL;
	}
	rc = strcmp(kind, "topic") == 0;
	free(kind);
	return rc;
}

/* fn for each name of DIR that LIST found, joined to DIR. */
static int each_name(const char *dir, char **names, size_t n,
		     int (*one)(const char *path, void *ctx), void *ctx)
{
	int status = 0;

	for (size_t i = 0; i < n; i++) {
		char *p = tool_join(dir, names[i]);
		if (!p) {
			tool_error(dir, "out of memory");
			status = TOOL_FAIL;
		} else if (one(p, ctx)) {
			status = TOOL_FAIL;
		}
		free(p);
		free(names[i]);
	}
	free(names);
	return status;
}

struct walk_ctx {
	struct topic_walk *w;
	topic_fn *fn;
	void *arg;
};

static int one_file(const char *path, void *ctx)
{
	struct walk_ctx *c = ctx;
	int rc = topic_is(path);

	return rc < 0 || (rc == 1 && c->fn(path, 0, c->arg)) ? TOOL_FAIL : 0;
}

static int each_of_stream(const char *path, struct walk_ctx *c, int top);

static int one_dir(const char *path, void *ctx)
{
	return each_of_stream(path, ctx, 0);
}

static int each_of_stream(const char *path, struct walk_ctx *c, int top)
{
	char **names;
	size_t n;
	int status = 0;
	int rc = tool_list_dir(path, is_file, &names, &n);

	if (rc == -EACCES && !top) {
		c->w->skipped++;
		return each_name(path, names, 0, one_file, c);
	}
	if (rc) {
		tool_error(path, "cannot list: %s", strerror(-rc));
		status = TOOL_FAIL;
	}
	status |= each_name(path, names, n, one_file, c);
	if (!c->w->recursive)
		return status;
	if ((rc = tool_list_dir(path, is_dir, &names, &n)) != 0) {
		tool_error(path, "cannot list: %s", strerror(-rc));
		status = TOOL_FAIL;
	}
	return status | each_name(path, names, n, one_dir, c);
}

int topic_each(const char *path, struct topic_walk *w, topic_fn *fn,
	       void *arg)
{
	struct walk_ctx c = { w, fn, arg };
	struct stat st;
	int rc;

	w->stream = 0;
	w->skipped = 0;
	if (tool_stat(path, &st))
		return TOOL_FAIL;
	rc = sfs_check_path(path, S_ISDIR(st.st_mode));
	if (rc) {
		tool_error(path, "%s", sfs_strerror(rc));
		return TOOL_FAIL;
	}
	if (S_ISDIR(st.st_mode)) {
		w->stream = 1;
		return each_of_stream(path, &c, 1);
	}
	rc = S_ISREG(st.st_mode) ? topic_is(path) : 0;
	if (rc == 0)
		tool_error(path, "not a topic or stream");
	return rc == 1 ? fn(path, 1, arg) : TOOL_FAIL;
}
