/* topics.c - the topics a Kafka caller names or may see: a path walked
 * from the root with the caller's search permission, a topic made on
 * request (as `echo >> PATH` would make it; for a client that only named
 * it, if its stream's autocreate policy says yes), a topic's current
 * state, and
 * the walk of the whole tree for Metadata (directories the caller may
 * read and search, topics it may describe). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "kafka.h"

/* Walk the directories of path but its last name from the root, with
 * the caller's search permission on each: the last directory in *dir,
 * its last name in *last. */
static int walk_dirs(struct caller *c, const char *path, struct sf_inode *dir,
		     const char **last)
{
	char name[NAME_MAX_BYTES + 1];
	const char *p = path;
	int r = store_get_inode(fs.store, FUSE_ROOT_ID, dir);
	for (const char *e; r == 0 && (e = strchr(p, '/')); p = e + 1) {
		size_t l = (size_t)(e - p);
		uint64_t ino;
		if (l == 0 || l > NAME_MAX_BYTES || !S_ISDIR(dir->mode))
			return -ENOENT;
		r = may_mode(c, dir, PERM_X);
		if (r < 0)
			return r;
		memcpy(name, p, l);
		name[l] = 0;
		r = store_lookup(fs.store, dir->ino, name, &ino);
		if (r == 0)
			r = store_get_inode(fs.store, ino, dir);
	}
	if (r == 0 && !S_ISDIR(dir->mode))
		r = -ENOENT;
	if (r == 0 && (!*p || strlen(p) > NAME_MAX_BYTES))
		r = -ENOENT;
	*last = p;
	return r < 0 && r != -EACCES ? -ENOENT : r;
}

int ktopic_lookup(struct caller *c, const char *path, struct sf_inode *out)
{
	struct sf_inode dir;
	const char *name;
	uint64_t ino;
	int r = walk_dirs(c, path, &dir, &name);
	if (r == 0)
		r = may_mode(c, &dir, PERM_X);
	if (r == 0)
		r = store_lookup(fs.store, dir.ino, name, &ino);
	if (r == 0)
		r = store_get_inode(fs.store, ino, out);
	if (r < 0)
		return r == -EACCES ? r : -ENOENT;
	return is_topic(out) ? 0 : -ENOENT;
}

/* Make the topic at path; named: only if its stream's autocreate policy
 * allows a topic a client merely names (else -ENOENT). */
static int create(struct caller *c, const char *path, bool named,
		  struct sf_inode *out)
{
	struct sf_inode dir;
	struct sf_policy p;
	const char *name;
	double timeout;
	int r = walk_dirs(c, path, &dir, &name);
	if (r == 0)
		r = may_mode(c, &dir, PERM_X);
	if (r == 0 && named && (r = ns_policy(dir.ino, &p)) == 0 &&
	    !p.autocreate)
		r = -ENOENT;
	if (r == 0)
		r = ns_make_as(c, dir.ino, name, S_IFREG | KAFKA_TOPIC_MODE, 0,
			       NULL, true, out, &timeout);
	if (r == 0) {
		/* A topic from the start, so that Metadata lists it before
		 * its first message. */
		out->kind = SF_KIND_TOPIC;
		r = kind_save(out);
		notify_inval_name(dir.ino, name);
	}
	return r;
}

int ktopic_create(struct caller *c, const char *path, struct sf_inode *out)
{
	return create(c, path, false, out);
}

int ktopic_autocreate(struct caller *c, const char *path,
		      struct sf_inode *out)
{
	return create(c, path, true, out);
}

int ktopic_state(uint64_t ino, struct sf_topic *t)
{
	struct node *n = node_find(ino);
	if (n && n->topic) {
		*t = *n->topic;
		return 0;
	}
	return store_topic_load(fs.store, ino, t);
}

/* A directory still to walk: its inode and path. */
struct pending {
	uint64_t ino;
	char *path;                     /* "" for the root */
};

struct stack {
	struct pending *v;
	size_t n, cap;
};

static int push(struct stack *s, uint64_t ino, const char *path)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct pending *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	s->v[s->n].ino = ino;
	s->v[s->n++].path = p;
	return 0;
}

/* One directory, with fs.lock held: its topics to fn, its directories
 * onto the stack. */
static int walk_dir(struct caller *c, const struct pending *d,
		    struct stack *s,
		    int (*fn)(void *, const char *, const struct sf_inode *),
		    void *arg)
{
	struct sf_inode dir, in;
	if (store_get_inode(fs.store, d->ino, &dir) < 0 ||
	    !S_ISDIR(dir.mode) || may_mode(c, &dir, PERM_R | PERM_X) < 0)
		return 0;
	struct store_dirit *it = store_dirit_open(fs.store, d->ino);
	if (!it)
		return 0;
	const char *name;
	size_t nlen;
	uint64_t ino;
	uint32_t dtype;
	int r = 0;
	char path[4096], kname[KAFKA_NAME_MAX + 1];
	while (r == 0 && store_dirit_next(it, &name, &nlen, &ino, &dtype) > 0) {
		int w = snprintf(path, sizeof path, "%s%s%.*s", d->path,
				 *d->path ? "/" : "", (int)nlen, name);
		if (w < 0 || (size_t)w >= sizeof path ||
		    kname_from_path(path, kname) < 0 ||
		    store_get_inode(fs.store, ino, &in) < 0)
			continue;
		if (S_ISDIR(in.mode))
			r = push(s, ino, path) < 0 ? -ENOMEM : 0;
		else if (is_topic(&in) && may_describe(c, &in) == 0)
			r = fn(arg, kname, &in);
	}
	store_dirit_close(it);
	return r;
}

int ktopic_walk(struct caller *c,
		int (*fn)(void *arg, const char *name,
			  const struct sf_inode *in),
		void *arg)
{
	struct stack s = { 0 };
	int r = push(&s, FUSE_ROOT_ID, "");
	while (r == 0 && s.n > 0) {
		struct pending d = s.v[--s.n];
		pthread_mutex_lock(&fs.lock);
		r = walk_dir(c, &d, &s, fn, arg);
		pthread_mutex_unlock(&fs.lock);
		free(d.path);
	}
	while (s.n > 0)
		free(s.v[--s.n].path);
	free(s.v);
	return r;
}
