/* admin_topics.c - CreateTopics (v0-4) and DeleteTopics (v0-3): a topic
 * made as `mkdir -p STREAM; echo >> STREAM/TOPIC` through the mount would
 * make it (missing stream directories made when the caller may write in
 * their parent, mode 0755), and removed as `rm` would remove it; every
 * check is the FUSE side's (fs/namespace.c, fs/permission.c).  One
 * partition (0) on one broker (0), so num_partitions and
 * replication_factor must be 1 or -1.  A topic config is honoured only
 * when it is what the topic gets anyway: streamfs's policies belong to
 * the stream, and one topic's request must not change its neighbours'.
 * Every check of a topic runs before anything of it is made, and a
 * refused topic leaves nothing behind.  Runs on the listener's thread;
 * fs.lock is taken around each topic's store calls. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "kafka.h"
#include "kaccess.h"

#define DIR_MODE 0755           /* mkdir -p under umask 022 */
#define DEPTH_MAX 64            /* directories one request may make */

/* One topic of a CreateTopics request, as parsed. */
struct newtopic {
	struct kstr name;
	int32_t partitions;
	int16_t replication;
	bool assign_ok;                 /* none, or partition 0 on [0] */
	const uint8_t *configs;         /* the configs array, to read again */
	size_t configs_len;
	int32_t nconfigs;
	int16_t error;
	char msg[200];
};

/* ---- walking a path, making the stream's directories ---- */

/* Where the path's stream is: dir the deepest directory that exists,
 * rest the path's remainder below it; missing tells whether the stream
 * is there (rest then its topic's name alone). */
struct place {
	struct sf_inode dir;
	const char *rest;
	bool missing;
};

/* Walk path's directories from the root with the caller's search
 * permission, stopping at the first that does not exist. */
static int locate(struct caller *c, const char *path, struct place *pl)
{
	char name[NAME_MAX_BYTES + 1];
	const char *p = path, *e;
	int r = store_get_inode(fs.store, FUSE_ROOT_ID, &pl->dir);
	pl->missing = false;
	for (; r == 0 && (e = strchr(p, '/')); p = e + 1) {
		size_t l = (size_t)(e - p);
		uint64_t ino;
		if (l == 0 || l > NAME_MAX_BYTES)
			return -EINVAL;
		r = may_mode(c, &pl->dir, PERM_X);
		memcpy(name, p, l);
		name[l] = 0;
		if (r == 0 && sysstream_name(pl->dir.ino, name))
			r = sysstream_refuse(c, pl->dir.ino);
		if (r == 0)
			r = store_lookup(fs.store, pl->dir.ino, name, &ino);
		if (r == -ENOENT) {
			pl->missing = true;
			r = 0;
			break;
		}
		if (r == 0)
			r = store_get_inode(fs.store, ino, &pl->dir);
		if (r == 0 && !S_ISDIR(pl->dir.mode))
			r = -ENOTDIR;
	}
	pl->rest = p;
	const char *last = strrchr(path, '/');
	last = last ? last + 1 : path;
	if (r == 0 && (!*last || strlen(last) > NAME_MAX_BYTES))
		r = -EINVAL;
	if (r == 0)
		r = may_mode(c, &pl->dir, PERM_X);
	return r;
}

/* The directories made so far, to take back when the topic is refused. */
struct made {
	uint64_t parent[DEPTH_MAX];
	char name[DEPTH_MAX][NAME_MAX_BYTES + 1];
	int n;
};

static void unmake(struct caller *c, struct made *m)
{
	while (m->n > 0) {
		m->n--;
		ns_remove_as(c, m->parent[m->n], m->name[m->n], true);
		notify_inval_name(m->parent[m->n], m->name[m->n]);
	}
}

/* Make pl's missing directories (mkdir -p), recording them in m. */
static int make_dirs(struct caller *c, struct place *pl, struct made *m)
{
	const char *p = pl->rest, *e;
	double timeout;
	int r = 0;
	for (; r == 0 && (e = strchr(p, '/')); p = e + 1) {
		if (m->n == DEPTH_MAX)
			return -ENAMETOOLONG;
		if (e == p || e - p > NAME_MAX_BYTES)
			return -EINVAL;
		char *name = m->name[m->n];
		memcpy(name, p, (size_t)(e - p));
		name[e - p] = 0;
		uint64_t parent = pl->dir.ino;
		r = ns_make_as(c, parent, name, S_IFDIR | DIR_MODE, 0, NULL,
			       false, &pl->dir, &timeout);
		if (r == 0) {
			m->parent[m->n++] = parent;
			notify_inval_name(parent, name);
		}
	}
	pl->rest = p;
	return r;
}

/* ---- configs ---- */

/* A config's value as the topic would have it, from its stream's
 * policies p: false for a name streamfs has no config for. */
static bool config_value(const char *name, const struct sf_policy *p,
			 char *out, size_t cap)
{
	if (strcmp(name, "retention.ms") == 0)
		snprintf(out, cap, "%" PRId64, p->ttl_s ?
			 (int64_t)p->ttl_s * 1000 : (int64_t)-1);
	else if (strcmp(name, "retention.bytes") == 0)
		snprintf(out, cap, "%" PRId64, p->retention_bytes ?
			 (int64_t)p->retention_bytes : (int64_t)-1);
	else if (strcmp(name, "max.message.bytes") == 0)
		snprintf(out, cap, "%" PRIu64, p->max_message);
	else if (strcmp(name, "cleanup.policy") == 0)
		snprintf(out, cap, "delete");
	else if (strcmp(name, "message.timestamp.type") == 0)
		snprintf(out, cap, "CreateTime");
	else
		return false;
	return true;
}

/* Every config of t must be the value the topic gets from p: else
 * INVALID_CONFIG with a message naming the first that is not. */
static void check_configs(struct newtopic *t, const struct sf_policy *p)
{
	struct kreader r;
	kr_init(&r, t->configs, t->configs_len);
	for (int32_t i = 0; i < t->nconfigs && !t->error; i++) {
		char name[128], want[64], got[64];
		struct kstr n = kr_string(&r), v = kr_string(&r);
		if (!kstr_copy(n, name, sizeof name) ||
		    !config_value(name, p, want, sizeof want)) {
			t->error = KERR_INVALID_CONFIG;
			snprintf(t->msg, sizeof t->msg, "streamfs has no topic "
				 "config %.*s", n.len > 0 ? (int)n.len : 0,
				 (const char *)n.p);
		} else if (v.len >= 0 && (!kstr_copy(v, got, sizeof got) ||
					  strcmp(got, want) != 0)) {
			t->error = KERR_INVALID_CONFIG;
			snprintf(t->msg, sizeof t->msg, "%.40s is the "
				 "stream's policy (%.20s here) and would change "
				 "all its topics: set it on the stream", name,
				 want);
		}
	}
}

/* ---- CreateTopics ---- */

static int16_t topic_error(int r, char *msg, size_t cap)
{
	switch (r) {
	case 0:
		return KERR_NONE;
	case -EACCES:
	case -EPERM:
		snprintf(msg, cap, "permission denied");
		return KERR_TOPIC_AUTHORIZATION_FAILED;
	case -EEXIST:
		snprintf(msg, cap, "the name is taken");
		return KERR_TOPIC_ALREADY_EXISTS;
	case -ENOTDIR:
		snprintf(msg, cap, "a directory of the path is a file");
		return KERR_INVALID_TOPIC_EXCEPTION;
	case -EINVAL:
	case -ENAMETOOLONG:
		snprintf(msg, cap, "not a topic name streamfs can make");
		return KERR_INVALID_TOPIC_EXCEPTION;
	default:
		snprintf(msg, cap, "%s", strerror(-r));
		return kafka_store_error(r);
	}
}

/* What ns_make_as will ask of the caller, asked before anything is
 * made: for a stream still to make, write and search of the directory it
 * is made in, then the topic permission of a directory that has that
 * one's ACEs (mkdir copies them), the caller's owner and mode 0755; then
 * produce of the topic to be. */
static int may_create(struct caller *c, const struct place *pl)
{
	struct sf_inode stream = pl->dir;
	int r = 0;
	if (pl->missing) {
		r = may_mode(c, &pl->dir, PERM_W | PERM_X);
		stream.mode = S_IFDIR | DIR_MODE | (pl->dir.mode & S_ISGID);
		stream.uid = c->uid;
		stream.gid = pl->dir.mode & S_ISGID ? pl->dir.gid : c->gid;
	}
	if (r == 0)
		r = may_topic(c, &stream);
	struct sf_inode will = { .mode = S_IFREG | KAFKA_TOPIC_MODE,
				 .uid = c->uid, .parent = pl->dir.ino,
				 .gid = stream.mode & S_ISGID ? stream.gid :
					c->gid };
	if (r == 0)
		r = may_produce(c, &will);
	return r;
}

/* The checks that need the store, with fs.lock held; then, unless
 * validate, the topic (and its stream) made. */
static int create_locked(struct caller *c, struct newtopic *t,
			 const char *path, bool validate)
{
	struct place pl;
	struct sf_policy p;
	uint64_t ino;
	int r = locate(c, path, &pl);
	if (r == 0 && !pl.missing) {
		r = store_lookup(fs.store, pl.dir.ino, pl.rest, &ino);
		r = r == 0 ? -EEXIST : r == -ENOENT ? 0 : r;
	}
	/* The topic's policies: its stream's, or, for a stream still to
	 * make, the deepest existing directory's, which mkdir copies. */
	if (r == 0)
		r = may_create(c, &pl);
	if (r == 0)
		r = ns_policy(pl.dir.ino, &p);
	if (r < 0)
		return r;
	check_configs(t, &p);
	if (t->error || validate)
		return 0;
	struct made m = { .n = 0 };
	struct sf_inode in;
	r = make_dirs(c, &pl, &m);
	if (r == 0)
		r = ktopic_create(c, path, &in);
	if (r < 0)
		unmake(c, &m);
	return r;
}

static void create_one(struct caller *c, struct newtopic *t, bool validate)
{
	char path[4096];
	if (t->error)
		return;
	if (t->name.len <= 0 || kname_to_path((const char *)t->name.p,
					      (size_t)t->name.len, path,
					      sizeof path) < 0) {
		t->error = KERR_INVALID_TOPIC_EXCEPTION;
		snprintf(t->msg, sizeof t->msg, "not a topic name of this "
			 "mount's mapping");
		return;
	}
	pthread_mutex_lock(&fs.lock);
	int r = create_locked(c, t, path, validate);
	pthread_mutex_unlock(&fs.lock);
	if (!t->error)
		t->error = topic_error(r, t->msg, sizeof t->msg);
	if (t->error == KERR_TOPIC_AUTHORIZATION_FAILED)
		denial_report("kafka create_topics");
}

/* The checks that need only the request. */
static void check_shape(struct newtopic *t)
{
	if (t->partitions != 1 && t->partitions != -1) {
		t->error = KERR_INVALID_PARTITIONS;
		snprintf(t->msg, sizeof t->msg, "a streamfs topic has one "
			 "partition (num_partitions 1 or -1)");
	} else if (t->replication != 1 && t->replication != -1) {
		t->error = KERR_INVALID_REPLICATION_FACTOR;
		snprintf(t->msg, sizeof t->msg, "streamfs is one broker "
			 "(replication_factor 1 or -1)");
	} else if (!t->assign_ok) {
		t->error = KERR_INVALID_REPLICA_ASSIGNMENT;
		snprintf(t->msg, sizeof t->msg, "the only assignment is "
			 "partition 0 on broker 0");
	}
}

/* The assignments of one topic: true when none, or only partition 0 on
 * broker 0. */
static bool parse_assignments(struct kreader *r)
{
	int32_t n = kr_array(r);
	bool ok = n <= 1;
	for (int32_t i = 0; i < n; i++) {
		ok &= kr_i32(r) == 0;
		int32_t nb = kr_array(r);
		ok &= nb == 1;
		for (int32_t j = 0; j < nb; j++)
			ok &= kr_i32(r) == 0;
	}
	return ok;
}

static void parse_topic(struct kreader *r, struct newtopic *t)
{
	memset(t, 0, sizeof *t);
	t->name = kr_string(r);
	t->partitions = kr_i32(r);
	t->replication = kr_i16(r);
	t->assign_ok = parse_assignments(r);
	t->nconfigs = kr_array(r);
	t->configs = r->p;
	for (int32_t i = 0; i < t->nconfigs; i++) {
		kr_string(r);
		kr_string(r);
	}
	t->configs_len = r->bad ? 0 : (size_t)(r->p - t->configs);
	if (t->nconfigs < 0)
		t->nconfigs = 0;
}

/* A name given twice in one request: INVALID_REQUEST for each, as
 * Kafka answers. */
static void check_duplicates(struct newtopic *t, int32_t n)
{
	for (int32_t i = 0; i < n; i++)
		for (int32_t j = 0; j < n; j++)
			if (i != j && t[i].name.len == t[j].name.len &&
			    t[i].name.len >= 0 &&
			    memcmp(t[i].name.p, t[j].name.p,
				   (size_t)t[i].name.len) == 0) {
				t[i].error = KERR_INVALID_REQUEST;
				snprintf(t[i].msg, sizeof t[i].msg,
					 "the topic is named twice");
			}
}

static void create_answer(struct kbuf *b, int16_t v, struct newtopic *t,
			  int32_t n)
{
	if (v >= 2)
		kb_i32(b, 0);                   /* throttle_time_ms */
	kb_array(b, n);
	for (int32_t i = 0; i < n; i++) {
		kb_nstring(b, t[i].name.p, t[i].name.len > 0 ?
			   (size_t)t[i].name.len : 0);
		kb_i16(b, t[i].error);
		if (v >= 1)
			kb_string(b, t[i].error ? t[i].msg : NULL);
	}
}

int kafka_create_topics(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int32_t n = kr_array(r);
	if (n > KAFKA_ADMIN_MAX)
		return -1;
	struct newtopic *t = calloc(n > 0 ? (size_t)n : 1, sizeof *t);
	if (!t)
		return -1;
	for (int32_t i = 0; i < n && !r->bad; i++)
		parse_topic(r, &t[i]);
	kr_i32(r);                              /* timeout_ms */
	bool validate = req->api_version >= 1 && kr_i8(r) != 0;
	if (r->bad) {
		free(t);
		return -1;
	}
	struct caller c;
	kafka_caller(req, &c);
	check_duplicates(t, n);
	for (int32_t i = 0; i < n; i++) {
		if (!t[i].error)
			check_shape(&t[i]);
		create_one(&c, &t[i], validate);
	}
	create_answer(resp, req->api_version, t, n < 0 ? 0 : n);
	free(t);
	return 0;
}

/* ---- DeleteTopics ---- */

/* rm PATH through the mount, for the caller, with fs.lock held. */
static int delete_locked(struct caller *c, const char *path)
{
	struct place pl;
	struct sf_inode in;
	uint64_t ino;
	int r = locate(c, path, &pl);
	if (r == 0 && pl.missing)
		r = -ENOENT;
	if (r == 0)
		r = store_lookup(fs.store, pl.dir.ino, pl.rest, &ino);
	if (r == 0)
		r = store_get_inode(fs.store, ino, &in);
	if (r == 0 && !is_topic(&in))
		r = -ENOENT;
	if (r == 0)
		r = ns_remove_as(c, pl.dir.ino, pl.rest, false);
	if (r == 0)
		notify_inval_name(pl.dir.ino, pl.rest);
	return r;
}

static int16_t delete_one(struct caller *c, struct kstr name)
{
	char path[4096];
	if (name.len <= 0 || kname_to_path((const char *)name.p,
					   (size_t)name.len, path,
					   sizeof path) < 0)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	pthread_mutex_lock(&fs.lock);
	int r = delete_locked(c, path);
	pthread_mutex_unlock(&fs.lock);
	switch (r) {
	case 0:
		return KERR_NONE;
	case -EACCES:
	case -EPERM:
		denial_report("kafka delete_topics");
		return KERR_TOPIC_AUTHORIZATION_FAILED;
	case -ENOENT:
	case -ENOTDIR:
	case -EINVAL:
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	default:
		return kafka_store_error(r);
	}
}

int kafka_delete_topics(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int32_t n = kr_array(r);
	const uint8_t *names = r->p;
	for (int32_t i = 0; i < n && !r->bad; i++)
		kr_string(r);
	kr_i32(r);                              /* timeout_ms */
	if (r->bad || n > KAFKA_ADMIN_MAX)
		return -1;
	struct caller c;
	kafka_caller(req, &c);
	struct kreader again;
	kr_init(&again, names, (size_t)(r->end - names));
	if (req->api_version >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_array(resp, n < 0 ? 0 : n);
	for (int32_t i = 0; i < n; i++) {
		struct kstr name = kr_string(&again);
		kb_nstring(resp, name.p, name.len > 0 ? (size_t)name.len : 0);
		kb_i16(resp, delete_one(&c, name));
	}
	return 0;
}
