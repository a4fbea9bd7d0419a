/* sysstream.c - /.streamfs, the system's own stream: made at mount when
 * missing (its topics `metrics` and `errors`, a ttl of 7 days), the
 * daemon's own appends to it, and what the operations of users may do to
 * it: nothing but read (docs/design.md, "The system stream").  Its
 * generated files are sysstream_files.c's.
 *
 * sys is set by sysstream_init before the session runs and only read
 * afterwards, by any thread; the nodes and the store are used under
 * fs.lock. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"

#define SYS_NAME ".streamfs"
/* Marks the system stream's directory.  No user can set a name of ours
 * that is not a policy or an ACE (EINVAL), so an old store cannot hold
 * it: a `.streamfs` without it is a user's. */
#define SYS_MARK SF_POLICY_PREFIX "system"
#define SYS_TTL "604800"        /* 7 days */
/* A metrics line a second is up to ~6 KiB, ~3.5 GB in 7 days: each topic
 * is also capped, so the stream stays small on any disk. */
#define SYS_RETENTION "268435456"       /* 256 MiB a topic */
#define SYS_DIR_MODE 0555       /* its names and policies are no secret */
#define SYS_TOPIC_MODE 0400

static const char *const topic_names[SYS_TOPICS] = { "metrics", "errors" };

struct sys sys;

/* ---- which inodes are the system stream's ---- */

bool sysstream_is(uint64_t ino)
{
	if (ino == 0)
		return false;
	if (ino == sys.dir || sysstream_virtual_ino(ino))
		return true;
	for (int i = 0; i < SYS_TOPICS; i++)
		if (ino == sys.topic[i])
			return true;
	return false;
}

bool sysstream_name(uint64_t dir, const char *name)
{
	return sysstream_is(dir) ||
	       (dir == FUSE_ROOT_ID && strcmp(name, SYS_NAME) == 0);
}

bool sysstream_hidden(uint64_t dir, uint64_t ino)
{
	return dir == FUSE_ROOT_ID && ino == sys.dir && ino != 0;
}

bool sysstream_topic_name(const char *name)
{
	for (int i = 0; i < SYS_TOPICS; i++)
		if (strcmp(name, topic_names[i]) == 0)
			return true;
	return false;
}

/* ---- what users may change: attributes only ---- */

int sysstream_refuse(struct caller *c, uint64_t ino)
{
	return permission_noted(c, ino, "system", -EPERM);
}

int sysstream_xattr_check(struct caller *c, uint64_t ino, const char *name)
{
	const char *sub = strncmp(name, SF_POLICY_PREFIX,
				  sizeof(SF_POLICY_PREFIX) - 1) == 0
			  ? name + sizeof(SF_POLICY_PREFIX) - 1 : NULL;
	if (!sysstream_is(ino))
		return 0;
	/* A consumer group's cursor is the readers' own state. */
	if (sub && ino != sys.dir && cursor_xattr_name(sub))
		return 0;
	/* Root may bound the stream and say who reads it. */
	if (sub && ino == sys.dir && c->uid == 0 &&
	    (strcmp(sub, "ttl") == 0 || strcmp(sub, "retention_bytes") == 0 ||
	     strcmp(sub, "ace.consume") == 0))
		return 0;
	return sysstream_refuse(c, ino);
}

/* ---- making it ---- */

static void sys_inode(struct sf_inode *in, uint64_t ino, uint32_t mode,
		      uint64_t parent)
{
	memset(in, 0, sizeof(*in));
	in->ino = ino;
	in->mode = mode;
	in->uid = sys.uid;
	in->gid = sys.gid;
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->parent = parent;
	in->kind = S_ISREG(mode) ? SF_KIND_TOPIC : SF_KIND_NONE;
	touch_mtime(in);
	in->atime = in->mtime;
}

/* A `.streamfs` of a user's, from a store made before the system stream
 * existed, moves aside to the first free name of .streamfs.old,
 * .streamfs.old.2, ...: nothing of it is lost, and the mount goes on. */
static int move_aside(const struct sf_inode *in)
{
	char name[64];
	uint64_t other;
	struct sf_inode root;
	int r = -EEXIST;
	for (int i = 1; i < 1000 && r == -EEXIST; i++) {
		if (i == 1)
			snprintf(name, sizeof(name), SYS_NAME ".old");
		else
			snprintf(name, sizeof(name), SYS_NAME ".old.%d", i);
		r = store_lookup(fs.store, FUSE_ROOT_ID, name, &other);
		r = r == 0 ? -EEXIST : r == -ENOENT ? 0 : r;
	}
	if (r == 0)
		r = store_get_inode(fs.store, FUSE_ROOT_ID, &root);
	if (r < 0)
		return r;
	struct sf_inode moved = *in;
	struct store_batch *b = store_batch_new();
	store_del_dirent(b, FUSE_ROOT_ID, SYS_NAME);
	store_put_dirent(b, FUSE_ROOT_ID, name, in->ino, IFTODT(in->mode));
	touch_ctime(&moved);
	put_inode(b, &moved);
	touch_mtime(&root);
	put_inode(b, &root);
	r = store_commit(fs.store, b, true);
	store_batch_free(b);
	if (r == 0)
		log_msg(SF_LOG_INFO, "/" SYS_NAME " was a user's (the store "
			"is older than the system stream); it is now /%s", name);
	return r;
}

/* Add the directory to b: its record, its name (not counted in the
 * root's links, as it is not listed), its mark, its ttl and its cap. */
static int make_dir(struct store_batch *b)
{
	struct sf_inode in;
	uint64_t ino;
	int r = store_alloc_ino(fs.store, &ino);
	if (r < 0)
		return r;
	sys_inode(&in, ino, S_IFDIR | SYS_DIR_MODE, FUSE_ROOT_ID);
	put_inode(b, &in);
	store_put_dirent(b, FUSE_ROOT_ID, SYS_NAME, ino, DT_DIR);
	store_put_xattr(b, ino, SYS_MARK, "1", 1);
	store_put_xattr(b, ino, SF_POLICY_PREFIX "ttl", SYS_TTL,
			strlen(SYS_TTL));
	store_put_xattr(b, ino, SF_POLICY_PREFIX "retention_bytes",
			SYS_RETENTION, strlen(SYS_RETENTION));
	sys.dir = ino;
	return 1;
}

/* Find /.streamfs, or add it to b (1: b holds something to commit). */
static int find_dir(struct store_batch *b)
{
	struct sf_inode in;
	uint64_t ino;
	char *mark;
	size_t len;
	int r = store_lookup(fs.store, FUSE_ROOT_ID, SYS_NAME, &ino);
	if (r == -ENOENT)
		return make_dir(b);
	if (r == 0)
		r = store_get_inode(fs.store, ino, &in);
	if (r < 0)
		return r;
	r = S_ISDIR(in.mode) ? store_get_xattr(fs.store, ino, SYS_MARK, &mark,
					       &len) : -ENODATA;
	if (r == 0) {
		free(mark);
		sys.dir = ino;
		return 0;
	}
	if (r != -ENODATA)
		return r;
	r = move_aside(&in);
	return r < 0 ? r : make_dir(b);
}

/* Find each topic, or add it to b (made: how many were added). */
static int find_topics(struct store_batch *b, int *made)
{
	*made = 0;
	for (int i = 0; i < SYS_TOPICS; i++) {
		struct sf_inode in;
		int r = store_lookup(fs.store, sys.dir, topic_names[i],
				     &sys.topic[i]);
		if (r == 0)
			continue;
		if (r == -ENOENT)
			r = store_alloc_ino(fs.store, &sys.topic[i]);
		if (r < 0)
			return r;
		sys_inode(&in, sys.topic[i], S_IFREG | SYS_TOPIC_MODE,
			  sys.dir);
		put_inode(b, &in);
		store_put_dirent(b, sys.dir, topic_names[i], in.ino, DT_REG);
		(*made)++;
	}
	return 0;
}

/* The mount owner owns it, whoever mounted before: the directory and the
 * topics get this mount's owner and their modes (nothing else can change
 * them).  Adds what differs to b; 1 if anything did. */
static int own(struct store_batch *b)
{
	uint64_t inos[SYS_TOPICS + 1] = { sys.dir };
	int changed = 0;
	memcpy(inos + 1, sys.topic, sizeof(sys.topic));
	for (int i = 0; i < SYS_TOPICS + 1; i++) {
		struct sf_inode in;
		int r = store_get_inode(fs.store, inos[i], &in);
		if (r == -ENOENT)
			continue;       /* made in b */
		if (r < 0)
			return r;
		uint32_t mode = i == 0 ? SYS_DIR_MODE : SYS_TOPIC_MODE;
		if (in.uid == sys.uid && in.gid == sys.gid &&
		    (in.mode & 07777) == mode)
			continue;
		in.uid = sys.uid;
		in.gid = sys.gid;
		in.mode = (in.mode & S_IFMT) | mode;
		touch_ctime(&in);
		put_inode(b, &in);
		changed = 1;
	}
	return changed;
}

/* The daemon holds the directory and the topics open while it runs: their
 * nodes (with the topics' state and the stream's settings) stay. */
static int pin(void)
{
	uint64_t inos[SYS_TOPICS + 1] = { sys.dir };
	memcpy(inos + 1, sys.topic, sizeof(sys.topic));
	for (int i = 0; i < SYS_TOPICS + 1; i++) {
		struct sf_inode in;
		struct node *n = node_get(inos[i]);
		int r = n ? store_get_inode(fs.store, inos[i], &in) : -ENOMEM;
		if (r < 0)
			return r;
		node_note(n, &in);
		n->nopen++;
	}
	return 0;
}

static int setup(void)
{
	struct store_batch *b = store_batch_new();
	int made_dir = find_dir(b), made = 0, changed = 0, r = made_dir;
	if (r >= 0)
		r = find_topics(b, &made);
	if (r >= 0)
		r = changed = own(b);
	if (r >= 0 && (made_dir > 0 || made > 0 || changed))
		r = store_commit(fs.store, b, true);
	store_batch_free(b);
	for (int i = 0; r >= 0 && i < made + (made_dir > 0); i++)
		store_inode_added(fs.store);
	if (r >= 0)
		r = pin();
	if (r >= 0)
		retention_policy_set(sys.dir);
	return r < 0 ? r : 0;
}

/* One line to /.streamfs/errors at each mount: the continuity of its
 * message offsets across mounts is there to see. */
static void mount_event(void)
{
	char line[3 * PATH_MAX + 256], when[64], dir[2 * PATH_MAX];
	json_time(when, sizeof(when), &sys.mounted);
	json_str(dir, sizeof(dir), fs.datadir ? fs.datadir : "");
	int n = snprintf(line, sizeof(line), "{\"ts\":%s,\"type\":\"mount\","
			 "\"version\":\"%s\",\"datadir\":%s,\"pid\":%d,"
			 "\"uid\":%u}\n", when, PACKAGE_VERSION, dir,
			 (int)getpid(), (unsigned)sys.uid);
	int r = n > 0 && (size_t)n < sizeof(line)
		? sysstream_append("errors", line, (size_t)n) : -ENAMETOOLONG;
	if (r < 0)
		log_msg(SF_LOG_ERROR, "cannot append the mount event to /"
			SYS_NAME "/errors: %s", strerror(-r));
}

int sysstream_init(void)
{
	clock_gettime(CLOCK_REALTIME, &sys.mounted);
	clock_gettime(CLOCK_MONOTONIC, &sys.started);
	sys.uid = getuid();
	sys.gid = getgid();
	pthread_mutex_lock(&fs.lock);
	int r = setup();
	pthread_mutex_unlock(&fs.lock);
	if (r < 0) {
		sys.dir = 0;
		memset(sys.topic, 0, sizeof(sys.topic));
		return r;
	}
	sysstream_virtual("status", sysstream_status);
	mount_event();
	return 0;
}

/* ---- the daemon's own appends ---- */

/* Every line of p[0..len) ends in a newline and fits max: 0 and their
 * number in *n, else -EINVAL or -EMSGSIZE. */
static int whole_lines(const char *p, size_t len, uint64_t max, uint32_t *n)
{
	size_t start = 0;
	*n = 0;
	if (len == 0 || p[len - 1] != '\n')
		return -EINVAL;
	while (start < len) {
		const char *nl = memchr(p + start, '\n', len - start);
		size_t end = (size_t)(nl - p) + 1;
		if (end - start > max)
			return -EMSGSIZE;
		start = end;
		(*n)++;
	}
	return 0;
}

static int append_locked(int i, const char *line, size_t len)
{
	struct node *n = sys.topic[i] ? node_find(sys.topic[i]) : NULL;
	struct sf_policy p;
	uint32_t nmsgs = 0;
	if (!n)
		return -ENOENT;         /* before sysstream_init */
	struct sf_topic *t = topic_state(n);
	if (!t)
		return -EIO;
	int r = ns_policy(sys.dir, &p);
	if (r == 0)
		r = whole_lines(line, len, p.max_message, &nmsgs);
	if (r < 0)
		return r;
	struct iovec iov = { (void *)line, len };
	r = store_topic_append(fs.store, n->ino, sys.dir, t, &iov, 1, len,
			       nmsgs, p.durability == SF_DUR_ALWAYS);
	if (r == 0)
		topic_appended(n, &p);
	return r;
}

int sysstream_append(const char *name, const char *line, size_t len)
{
	int i = 0;
	while (i < SYS_TOPICS && strcmp(name, topic_names[i]) != 0)
		i++;
	if (i == SYS_TOPICS)
		return -ENOENT;
	pthread_mutex_lock(&fs.lock);
	int r = append_locked(i, line, len);
	pthread_mutex_unlock(&fs.lock);
	notify_send_polls();
	return r;
}
