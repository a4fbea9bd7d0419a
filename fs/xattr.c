/* xattr.c - extended attributes: the mount's control surface.
 *
 * user.streamfs.* names are ours: a file's kind, a topic's info, seek and
 * index answers, a stream's policies, a topic's home and the root's
 * replica id (home.c) (docs/design.md lists them); a topic's consumer
 * group cursors are cursor_xattr.c's, a stream's replication links
 * replica_xattr.c's.  Other user.*
 * names are stored as given.  Other namespaces are not supported. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"

#define PREFIX_LEN (sizeof(SF_POLICY_PREFIX) - 1)

static const char *const kind_names[] = { NULL, "topic", "blob" };

static bool is_ours(const char *name)
{
	return strncmp(name, SF_POLICY_PREFIX, PREFIX_LEN) == 0;
}

/* The permission an "ace.PERM" name sets on in, or -EINVAL if it is no
 * permission of that kind of object (stream perms on directories, blob
 * perms on files that are not topics). */
static int ace_perm_of(const struct sf_inode *in, const char *sub)
{
	if (strncmp(sub, "ace.", 4) != 0)
		return -ENOENT;
	int perm = ace_perm_lookup(sub + 4, strlen(sub + 4));
	if (perm < 0)
		return -EINVAL;
	int obj = ace_perm_object(perm);
	if (S_ISDIR(in->mode) && obj == ACE_OBJ_STREAM)
		return perm;
	if (S_ISREG(in->mode) && !is_topic(in) && obj == ACE_OBJ_BLOB)
		return perm;
	return -EINVAL;
}

static bool is_policy(const char *sub)
{
	for (int i = 0; sf_policy_names[i]; i++)
		if (strcmp(sub, sf_policy_names[i]) == 0)
			return true;
	return false;
}

static void reply_value(fuse_req_t req, const char *val, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

/* ---- reading ---- */

static int topic_info(struct node *n, const struct sf_inode *in, char *buf,
		      size_t cap)
{
	struct sf_topic tmp, *t = n && n->topic ? n->topic : &tmp;
	if (t == &tmp) {
		int r = store_topic_load(fs.store, in->ino, &tmp);
		if (r < 0)
			return r;
	}
	long long last = t->next_msg > t->first_msg ?
			 (long long)t->next_msg - 1 : -1;
	return snprintf(buf, cap,
		"messages=%" PRIu64 "\nfirst_message=%" PRIu64 "\n"
		"last_message=%lld\nfirst_offset=%" PRIu64 "\n"
		"size=%" PRIu64 "\nfirst_time=%" PRId64 "\n"
		"last_time=%" PRId64 "\n",
		t->next_msg - t->first_msg, t->first_msg, last, t->start,
		t->size, t->first_ns, t->last_ns);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int topic_seek(const struct sf_inode *in, const char *q, char *buf,
		      size_t cap)
{
	struct sf_topic t;
	uint64_t arg, off;
	int r = store_topic_load(fs.store, in->ino, &t);
	if (r < 0)
		return r;
	if (strncmp(q, "message.", 8) == 0 && parse_u64(q + 8, &arg) == 0)
		/* An expired message is said to be gone, not answered with
		 * the first live byte (docs/design.md, "The expired head
		 * of a topic"). */
		r = arg < t.first_msg ? -ENOMSG :
		    store_topic_seek_message(fs.store, in->ino, &t, arg, &off);
	else if (strncmp(q, "time.", 5) == 0 && parse_u64(q + 5, &arg) == 0)
		r = store_topic_seek_time(fs.store, in->ino, &t,
					  arg > INT64_MAX ? INT64_MAX
							  : (int64_t)arg, &off);
	else
		return -EINVAL;
	return r < 0 ? r : snprintf(buf, cap, "%" PRIu64, off);
}

/* Records read from the store per step of an "index.OFF" answer. */
#define INDEX_STEP 256
/* The longest record line: five decimal numbers (20 digits at most; the
 * two 32-bit ones 10), four spaces and a newline. */
#define INDEX_LINE_MAX 85

/* "index.OFF": the records from the one that holds byte OFF on, one line
 * each, "OFF LEN MESSAGES FIRST_MESSAGE ARRIVAL_NS", as many as fit in
 * cap (XATTR_VALUE_MAX: a reader gets hundreds per call); empty past the
 * end. */
static int topic_index(const struct sf_inode *in, const char *q, char *buf,
		       size_t cap)
{
	struct sf_record rec[INDEX_STEP];
	struct sf_topic t;
	uint64_t off;
	size_t len = 0;
	int r;
	if (parse_u64(q, &off) < 0)
		return -EINVAL;
	r = store_topic_load(fs.store, in->ino, &t);
	while (r >= 0 && cap - len >= INDEX_LINE_MAX) {
		r = store_topic_records(fs.store, in->ino, &t, off, rec,
					INDEX_STEP);
		for (int i = 0; i < r && cap - len >= INDEX_LINE_MAX; i++) {
			len += (size_t)snprintf(buf + len, cap - len,
				"%" PRIu64 " %" PRIu32 " %" PRIu32 " %" PRIu64
				" %" PRId64 "\n", rec[i].off, rec[i].len,
				rec[i].nmsgs, rec[i].msg, rec[i].ns);
			off = rec[i].off + rec[i].len;
		}
		if (r < INDEX_STEP)
			break;
	}
	return r < 0 ? r : (int)len;
}

/* The value of one of our names into buf: its length or -errno. */
static int our_value(const struct sf_inode *in, const char *sub, char *buf,
		     size_t cap)
{
	if (strncmp(sub, "ace.", 4) == 0) {
		char *v;
		size_t len;
		if (ace_perm_of(in, sub) < 0)
			return -ENODATA;
		char name[64];
		snprintf(name, sizeof(name), SF_POLICY_PREFIX "%s", sub);
		int r = store_get_xattr(fs.store, in->ino, name, &v, &len);
		if (r < 0)
			return r;
		if (len >= cap)
			len = cap - 1;
		memcpy(buf, v, len);
		free(v);
		return (int)len;
	}
	if (home_xattr_name(sub))
		return home_xattr_get(in, sub, buf, cap);
	if (strcmp(sub, "kind") == 0) {
		if (!S_ISREG(in->mode) || in->kind == SF_KIND_NONE)
			return -ENODATA;
		return snprintf(buf, cap, "%s", kind_names[in->kind]);
	}
	if (is_policy(sub)) {
		struct sf_policy p;
		if (!S_ISDIR(in->mode))
			return -ENODATA;
		int r = ns_policy(in->ino, &p);
		return r < 0 ? r : policy_format(sub, &p, buf, cap);
	}
	if (!is_topic(in))
		return -ENODATA;
	if (strcmp(sub, "info") == 0)
		return topic_info(node_find(in->ino), in, buf, cap);
	if (strncmp(sub, "seek.", 5) == 0)
		return topic_seek(in, sub + 5, buf, cap);
	if (strncmp(sub, "index.", 6) == 0)
		return topic_index(in, sub + 6, buf, cap);
	return -ENODATA;
}

/* Of a topic, seek answers find data (consume); everything else describes
 * the topic (consume or produce). */
static int may_read_ours(struct caller *c, const struct sf_inode *topic,
			 const char *sub)
{
	if (strncmp(sub, "seek.", 5) == 0)
		return may_consume(c, topic);
	return may_describe(c, topic);
}

/* A topic's cursor or group listing (cursor_xattr.c). */
static void get_cursor(fuse_req_t req, struct caller *c,
		       const struct sf_inode *in, const char *sub, size_t size)
{
	char *val;
	size_t len;
	int r = cursor_xattr_get(c, in, sub, &val, &len);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	reply_value(req, val, len, size);
	free(val);
}

/* A stream's replication links (replica_xattr.c). */
static void get_links(fuse_req_t req, struct caller *c,
		      const struct sf_inode *in, const char *sub, size_t size)
{
	char *val;
	size_t len;
	int r = replica_xattr_get(c, in, sub, &val, &len);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	reply_value(req, val, len, size);
	free(val);
}

void xa_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size)
{
	struct caller c;
	struct sf_inode in;
	char small[ACE_MAX_LEN * 4];    /* an expression in canonical form */
	caller_init(&c, req);
	int r = sysstream_get_inode(ino, &in);
	if (r == 0 && strncmp(name, "user.", 5) != 0)
		r = -ENODATA;
	if (r == 0 && is_topic(&in) && is_ours(name) &&
	    cursor_xattr_name(name + PREFIX_LEN)) {
		get_cursor(req, &c, &in, name + PREFIX_LEN, size);
		return;
	}
	if (r == 0 && (S_ISDIR(in.mode) || is_topic(&in)) && is_ours(name) &&
	    replica_xattr_name(name + PREFIX_LEN)) {
		get_links(req, &c, &in, name + PREFIX_LEN, size);
		return;
	}
	if (r == 0 && is_topic(&in) && is_ours(name))
		r = may_read_ours(&c, &in, name + PREFIX_LEN);
	else if (r == 0)
		r = may_mode(&c, &in, PERM_R);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (is_ours(name)) {
		/* An index answer fills the largest value Linux passes. */
		bool big = strncmp(name + PREFIX_LEN, "index.", 6) == 0;
		char *buf = big ? malloc(XATTR_VALUE_MAX) : small;
		size_t cap = big ? XATTR_VALUE_MAX : sizeof(small);
		r = buf ? our_value(&in, name + PREFIX_LEN, buf, cap) : -ENOMEM;
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			reply_value(req, buf, (size_t)r, size);
		if (big)
			free(buf);
		return;
	}
	char *val;
	size_t len;
	r = store_get_xattr(fs.store, ino, name, &val, &len);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	reply_value(req, val, len, size);
	free(val);
}

/* ---- listing ---- */

struct namelist {
	char *buf;
	size_t len, cap;
};

static int push_name(struct namelist *l, const char *name, size_t len)
{
	if (l->len + len + 1 > l->cap) {
		size_t cap = (l->cap ? l->cap * 2 : 256) + len + 1;
		char *b = realloc(l->buf, cap);
		if (!b)
			return -ENOMEM;
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, name, len);
	l->buf[l->len + len] = 0;
	l->len += len + 1;
	return 0;
}

/* Stored names, except ours: those are listed by what the inode is (but
 * the ACEs that are set are stored names). */
static int add_stored(const char *name, size_t len, void *arg)
{
	if (len >= PREFIX_LEN && memcmp(name, SF_POLICY_PREFIX,
					PREFIX_LEN) == 0 &&
	    !(len > PREFIX_LEN + 4 &&
	      memcmp(name + PREFIX_LEN, "ace.", 4) == 0))
		return 0;
	return push_name(arg, name, len);
}

static int add_ours(struct namelist *l, const struct sf_inode *in)
{
	char name[64];
	int r = 0;
	if (S_ISDIR(in->mode)) {
		for (int i = 0; r == 0 && sf_policy_names[i]; i++) {
			int n = snprintf(name, sizeof(name), SF_POLICY_PREFIX
					 "%s", sf_policy_names[i]);
			r = push_name(l, name, (size_t)n);
		}
	} else if (S_ISREG(in->mode) && in->kind != SF_KIND_NONE) {
		r = push_name(l, SF_POLICY_PREFIX "kind", PREFIX_LEN + 4);
		if (r == 0 && in->kind == SF_KIND_TOPIC)
			r = push_name(l, SF_POLICY_PREFIX "info",
				      PREFIX_LEN + 4);
	}
	return r;
}

void xa_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sf_inode in;
	struct namelist l = { 0 };
	int r = sysstream_get_inode(ino, &in);
	if (r == 0)
		r = add_ours(&l, &in);
	if (r == 0)
		r = store_list_xattr(fs.store, ino, add_stored, &l);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_value(req, l.buf, l.len, size);
	free(l.buf);
}

/* ---- writing ---- */

/* Is sub the kind of a file that has one, or the info of a topic? */
static bool listed_derived(const struct sf_inode *in, const char *sub)
{
	if (!S_ISREG(in->mode) || in->kind == SF_KIND_NONE)
		return false;
	return strcmp(sub, "kind") == 0 ||
	       (strcmp(sub, "info") == 0 && in->kind == SF_KIND_TOPIC);
}

/* 0 if ino has attribute name, -ENODATA if not, or another -errno. */
static int xattr_present(uint64_t ino, const char *name)
{
	char *old;
	size_t len;
	int r = store_get_xattr(fs.store, ino, name, &old, &len);
	if (r == 0)
		free(old);
	return r;
}

/* Store (val != NULL) or delete attribute name of in, with its ctime. */
static int xattr_change(struct sf_inode *in, const char *name,
			const void *val, size_t len)
{
	struct store_batch *b = store_batch_new();
	if (val)
		store_put_xattr(b, in->ino, name, val, len);
	else
		store_del_xattr(b, in->ino, name);
	touch_ctime(in);
	put_inode(b, in);
	int r = store_commit(fs.store, b, false);
	store_batch_free(b);
	return r;
}

/* Set a file's kind.  What copying tools do with it decides the rules:
 * tar sets the attributes of an empty new file before its data, so a
 * file without a kind takes the kind given; rsync and cp write the data
 * first (a blob, since not through O_APPEND), so "topic" on a blob is
 * accepted and changes nothing: the copy is a blob of the same bytes.
 * The same kind again is a no-op; "blob" on a topic is -EPERM (its bytes
 * are messages and stay so). */
static int set_kind(struct caller *c, struct sf_inode *in, const char *val,
		    size_t len)
{
	uint32_t kind = 0;
	for (uint32_t k = 1; k <= 2; k++)
		if (strlen(kind_names[k]) == len &&
		    memcmp(val, kind_names[k], len) == 0)
			kind = k;
	if (!S_ISREG(in->mode) || kind == 0)
		return -EINVAL;
	if (in->kind == kind ||
	    (in->kind == SF_KIND_BLOB && kind == SF_KIND_TOPIC))
		return 0;               /* changes nothing */
	if (in->kind != SF_KIND_NONE)
		return -EPERM;          /* a topic stays a topic */
	struct sf_inode dir;
	int r = may_mode(c, in, PERM_W);
	if (r == 0 && kind == SF_KIND_TOPIC) {
		r = store_get_inode(fs.store, in->parent, &dir);
		if (r == 0)
			r = may_topic(c, &dir);
	}
	if (r < 0)
		return r;
	in->kind = kind;
	touch_ctime(in);
	return kind_save(in);
}

/* Set (val != NULL) or reset to its default (val == NULL) a policy.  A
 * change needs the stream's admin permission; what leaves the effective
 * value as it is (a copy of the stream's own attributes) is a no-op that
 * needs none. */
static int set_policy(struct caller *c, struct sf_inode *in, const char *sub,
		      const char *name, const char *val, size_t len)
{
	struct sf_policy p, want;
	char now[64], canon[64];
	if (!S_ISDIR(in->mode))
		return -EINVAL;
	int r = ns_policy(in->ino, &p);
	want = p;
	if (r == 0 && !val)
		policy_defaults(&want);
	if (r == 0 && val)
		r = policy_parse(sub, val, len, &want);
	if (r < 0)
		return r == -ENOENT ? -EINVAL : r;
	policy_format(sub, &p, now, sizeof(now));
	int n = policy_format(sub, &want, canon, sizeof(canon));
	if (strcmp(now, canon) == 0)
		return 0;
	r = may_admin(c, in);
	if (r < 0)
		return r;
	r = xattr_change(in, name, val ? canon : NULL, val ? (size_t)n : 0);
	ns_policy_changed(in->ino);
	if (r == 0)
		retention_policy_set(in->ino);
	return r;
}

/* 1 if attribute name of ino holds exactly val, else 0 (or -errno). */
static int xattr_holds(uint64_t ino, const char *name, const char *val)
{
	char *old;
	size_t len;
	int r = store_get_xattr(fs.store, ino, name, &old, &len);
	if (r == -ENODATA)
		return 0;
	if (r == 0)
		r = len == strlen(val) && memcmp(old, val, len) == 0;
	if (r >= 0)
		free(old);
	return r;
}

/* Set (val != NULL) or remove an ACE.  A stream's need its admin
 * permission, a blob's its owner (or root); setting the expression the
 * object already holds (in canonical form) is a no-op that needs
 * neither. */
static int set_ace(struct caller *c, struct sf_inode *in, const char *name,
		   const char *val, size_t len)
{
	ace_t *ace = NULL;
	char *canon = NULL;
	ace_error_t err;
	int r = 0;
	if (val && ace_parse(val, len, &ace, &err) < 0)
		r = -EINVAL;
	if (r == 0 && ace && ace_to_text(ace, ACE_TEXT_NUMERIC, &canon) < 0)
		r = -ENOMEM;
	/* What is stored must parse again: names become numbers and spaces
	 * are added, so the canonical text can outgrow the limit. */
	if (r == 0 && canon && strlen(canon) > ACE_MAX_LEN)
		r = -EINVAL;
	ace_free(ace);
	if (r == 0 && canon)
		r = xattr_holds(in->ino, name, canon);  /* 1: already so */
	if (r == 0)
		r = S_ISDIR(in->mode) ? may_admin(c, in)
			: permission_noted(c, in->ino, "owner",
					   perm_owner(c, in->uid) < 0 ? -EACCES
								      : 0);
	if (r == 0 && !val)
		r = xattr_present(in->ino, name);
	if (r == 0) {
		r = xattr_change(in, name, canon, canon ? strlen(canon) : 0);
		ns_policy_changed(in->ino);
	}
	free(canon);
	return r < 0 ? r : 0;
}

static int set_ours(struct caller *c, struct sf_inode *in, const char *name,
		    const char *val, size_t len)
{
	const char *sub = name + PREFIX_LEN;
	int perm = ace_perm_of(in, sub);
	if (perm >= 0)
		return set_ace(c, in, name, val, len);
	if (perm == -EINVAL)
		return -EINVAL;
	if (strcmp(sub, "kind") == 0)
		return set_kind(c, in, val, len);
	if (is_policy(sub))
		return set_policy(c, in, sub, name, val, len);
	if (strcmp(sub, "info") == 0)
		return S_ISREG(in->mode) ? 0 : -EINVAL; /* derived: a no-op */
	if (strncmp(sub, "seek.", 5) == 0 || strncmp(sub, "index.", 6) == 0 ||
	    home_xattr_name(sub))
		return -EPERM;          /* answers, not settings */
	return -EINVAL;
}

/* Linux allows user.* attributes on files and directories only. */
static int user_xattr_allowed(struct caller *c, const struct sf_inode *in)
{
	if (!S_ISREG(in->mode) && !S_ISDIR(in->mode))
		return -EPERM;
	return may_mode(c, in, PERM_W);
}

void xa_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	struct caller c;
	struct sf_inode in;
	caller_init(&c, req);
	int r = sysstream_get_inode(ino, &in);
	if (r == 0)
		r = sysstream_xattr_check(&c, ino, name);
	if (r == 0 && strncmp(name, "user.", 5) != 0)
		r = -EOPNOTSUPP;
	if (r == 0 && is_ours(name)) {
		const char *sub = name + PREFIX_LEN;
		if (cursor_xattr_name(sub))
			r = cursor_xattr_set(&c, &in, sub, value, size, flags);
		else if (replica_xattr_name(sub))
			r = replica_xattr_set(&c, &in, sub, value, size);
		else
			r = set_ours(&c, &in, name, value, size);
		fuse_reply_err(req, -r);
		return;
	}
	if (r == 0)
		r = user_xattr_allowed(&c, &in);
	if (r == 0 && size > XATTR_VALUE_MAX)
		r = -E2BIG;
	if (r == 0 && strlen(name) > NAME_MAX_BYTES)
		r = -ERANGE;
	if (r == 0 && (flags & (XATTR_CREATE | XATTR_REPLACE))) {
		int e = xattr_present(ino, name);
		if (e == 0 && (flags & XATTR_CREATE))
			r = -EEXIST;
		else if (e == -ENODATA && (flags & XATTR_REPLACE))
			r = -ENODATA;
		else if (e < 0 && e != -ENODATA)
			r = e;
	}
	if (r == 0)
		r = xattr_change(&in, name, value ? value : "", size);
	fuse_reply_err(req, -r);
}

void xa_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct caller c;
	struct sf_inode in;
	caller_init(&c, req);
	int r = sysstream_get_inode(ino, &in);
	if (r == 0)
		r = sysstream_xattr_check(&c, ino, name);
	if (r == 0 && strncmp(name, "user.", 5) != 0)
		r = -EOPNOTSUPP;
	if (r == 0 && is_ours(name)) {
		const char *sub = name + PREFIX_LEN;
		int perm = ace_perm_of(&in, sub);
		if (perm >= 0)
			r = set_ace(&c, &in, name, NULL, 0);
		else if (perm == -EINVAL)
			r = -ENODATA;
		else if (is_policy(sub))
			r = set_policy(&c, &in, sub, name, NULL, 0);
		else if (listed_derived(&in, sub))
			r = 0;  /* they belong to the data: a no-op */
		else if (cursor_xattr_name(sub))
			r = cursor_xattr_remove(&c, &in, sub);
		else if (home_xattr_name(sub))
			r = -EPERM;     /* answers, not settings */
		else
			r = -ENODATA;
		fuse_reply_err(req, -r);
		return;
	}
	if (r == 0)
		r = user_xattr_allowed(&c, &in);
	if (r == 0)
		r = xattr_present(ino, name);
	if (r == 0)
		r = xattr_change(&in, name, NULL, 0);
	fuse_reply_err(req, -r);
}
