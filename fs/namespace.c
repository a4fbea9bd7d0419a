/* namespace.c - streams and names: lookup, attributes, mkdir/mknod/
 * symlink/create, unlink/rmdir, rename, link, directory listings, statfs,
 * access, and the POSIX permission rules that go with them.  Every
 * operation checks the caller itself: the daemon does not mount with
 * default_permissions. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "replica/replica.h"

/* ---- small helpers ---- */

static int name_check(const char *name)
{
	return strlen(name) > NAME_MAX_BYTES ? -ENAMETOOLONG : 0;
}

/* The directory dir, checked for type and for want by the caller. */
static int get_dir(struct caller *c, uint64_t dir, struct sf_inode *in,
		   int want)
{
	int r = store_get_inode(fs.store, dir, in);
	if (r < 0)
		return r;
	if (!S_ISDIR(in->mode))
		return -ENOTDIR;
	return want ? may_mode(c, in, want) : 0;
}

static uint32_t dtype_of(uint32_t mode)
{
	return IFTODT(mode);
}

static struct timespec max_ts(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec > b.tv_sec ? a : b;
	return a.tv_nsec >= b.tv_nsec ? a : b;
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };
	return ts;
}

/* ---- attributes ---- */

double attr_timeout_of(const struct sf_inode *in)
{
	return S_ISREG(in->mode) && in->kind != SF_KIND_BLOB ? 0.0
							     : ATTR_TIMEOUT;
}

void fill_attr(const struct sf_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
	st->st_blksize = 4096;
	if (S_ISDIR(in->mode)) {
		st->st_size = 4096;
		st->st_blocks = 8;
	}
}

static int topic_attr(const struct sf_inode *in, struct stat *st)
{
	struct node *n = node_find(in->ino);
	struct sf_topic tmp, *t = n && n->topic ? n->topic : NULL;
	if (!t) {
		int r = store_topic_load(fs.store, in->ino, &tmp);
		if (r < 0)
			return r;
		t = &tmp;
	}
	st->st_size = (off_t)t->size;
	st->st_blocks = (blkcnt_t)((t->size - t->start + 511) / 512);
	if (t->last_ns && !(in->flags & SF_INODE_MTIME_SET)) {
		st->st_mtim = max_ts(st->st_mtim, ns_to_ts(t->last_ns));
		st->st_ctim = max_ts(st->st_ctim, st->st_mtim);
	}
	st->st_blksize = 128 * 1024;
	return 0;
}

static int blob_attr(const struct sf_inode *in, struct stat *st)
{
	struct stat b;
	int r = store_blob_stat(fs.store, in->ino, &b);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	st->st_size = b.st_size;
	st->st_blocks = b.st_blocks;
	st->st_atim = b.st_atim;
	st->st_mtim = b.st_mtim;
	st->st_ctim = max_ts(st->st_ctim, b.st_ctim);
	st->st_blksize = 128 * 1024;
	return 0;
}

/* The attributes of an inode record just read or written. */
static int stat_of(const struct sf_inode *in, struct stat *st)
{
	int r = 0;
	fill_attr(in, st);
	if (S_ISLNK(in->mode)) {
		char *target;
		r = store_get_symlink(fs.store, in->ino, &target);
		if (r == 0) {
			st->st_size = (off_t)strlen(target);
			free(target);
		}
	} else if (is_topic(in)) {
		r = topic_attr(in, st);
	} else if (S_ISREG(in->mode) && in->kind == SF_KIND_BLOB) {
		r = blob_attr(in, st);
	} else if (sysstream_virtual_ino(in->ino)) {
		sysstream_virtual_attr(in->ino, NULL, st);
	}
	return r;
}

int attr_of(uint64_t ino, struct sf_inode *in, struct stat *st)
{
	int r = sysstream_get_inode(ino, in);
	return r < 0 ? r : stat_of(in, st);
}

/* ---- how long the kernel keeps a name ---- */

bool searchable_by_all(uint32_t mode)
{
	return (mode & 0111) == 0111;
}

double entry_timeout_of(const struct sf_inode *dir)
{
	return searchable_by_all(dir->mode) ? ENTRY_TIMEOUT : 0.0;
}

/* Reply with an entry for in, as the caller just read or wrote it. */
void reply_entry(fuse_req_t req, const struct sf_inode *in,
		 double entry_timeout)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	int r = stat_of(in, &e.attr);
	struct node *n = r == 0 ? node_get(in->ino) : NULL;
	if (!n) {
		fuse_reply_err(req, r < 0 ? -r : ENOMEM);
		return;
	}
	node_note(n, in);
	e.ino = in->ino;
	e.generation = 1;
	e.attr_timeout = attr_timeout_of(in);
	e.entry_timeout = entry_timeout;
	n->nlookup++;
	if (fuse_reply_entry(req, &e) != 0) {
		n->nlookup--;
		node_release_if_unused(n);
	}
}

/* The directory parent (checked for want) and its entry name. */
static int get_child(struct caller *c, fuse_ino_t parent, const char *name,
		     int want, struct sf_inode *dir, struct sf_inode *in)
{
	uint64_t ino;
	int r = name_check(name);
	if (r == 0)
		r = get_dir(c, parent, dir, want);
	if (r == 0)
		r = store_lookup(fs.store, parent, name, &ino);
	if (r == 0)
		r = store_get_inode(fs.store, ino, in);
	return r;
}

void ns_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct caller c;
	struct sf_inode dir, in;
	caller_init(&c, req);
	int r = get_child(&c, parent, name, PERM_X, &dir, &in);
	if (r == -ENOENT && sysstream_virtual_lookup(parent, name, &in) == 0) {
		reply_entry(req, &in, entry_timeout_of(&dir));
		return;
	}
	if (r == -ENOENT) {
		/* A cached absence could not be withdrawn when dir stops
		 * being searchable (nothing lists it): none is kept. */
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	reply_entry(req, &in, entry_timeout_of(&dir));
}

void ns_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(ino, nlookup);
	fuse_reply_none(req);
}

void ns_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void ns_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sf_inode in;
	struct stat st;
	int r = attr_of(ino, &in, &st);
	/* fstat of a generated file: the snapshot that descriptor reads. */
	if (r == 0 && fi && sysstream_virtual_ino(ino))
		sysstream_virtual_attr(ino, (struct handle *)(uintptr_t)fi->fh,
				       &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, attr_timeout_of(&in));
}

/* ---- setattr ---- */

static int set_mode(struct caller *c, struct sf_inode *in, mode_t mode)
{
	mode &= 07777;
	if (perm_owner(c, in->uid) < 0) {
		/* Anyone who may write may drop set-id bits (the kernel asks
		 * for this when a non-owner writes). */
		uint32_t old = in->mode & 07777;
		if ((mode & ~old) || ((old & ~mode) & ~(S_ISUID | S_ISGID)))
			return permission_noted(c, in->ino, "owner", -EPERM);
	} else if (c->uid != 0 && !S_ISDIR(in->mode) &&
		   !perm_in_group(c, in->gid)) {
		mode &= ~S_ISGID;
	}
	in->mode = (in->mode & S_IFMT) | mode;
	return 0;
}

static int set_owner(struct caller *c, struct sf_inode *in, uid_t uid,
		     gid_t gid)
{
	if (c->uid != 0) {
		if (uid != in->uid || c->uid != in->uid)
			return permission_noted(c, in->ino, "owner", -EPERM);
		if (gid != in->gid && !perm_in_group(c, gid))
			return permission_noted(c, in->ino, "group", -EPERM);
	}
	in->uid = uid;
	in->gid = gid;
	return 0;
}

static int set_size(struct caller *c, struct sf_inode *in, off_t size,
		    struct fuse_file_info *fi)
{
	if (S_ISDIR(in->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode))
		return -EINVAL;
	if (in->kind == SF_KIND_TOPIC)
		return -EPERM;          /* topics are append-only */
	if (!fi) {
		int r = may_blob(c, in, PERM_W);
		if (r < 0)
			return r;
	}
	if (in->kind == SF_KIND_NONE) {
		if (size == 0)
			return 0;
		in->kind = SF_KIND_BLOB;
	}
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	int fd = h ? blob_fd(h) : -1;
	int r;
	if (fd >= 0)
		r = ftruncate(fd, size) < 0 ? -errno : 0;
	else
		r = store_blob_truncate(fs.store, in->ino, size);
	if (r == 0)
		touch_mtime(in);
	return r;
}

static int set_times(struct caller *c, struct sf_inode *in,
		     const struct stat *attr, int to_set)
{
	bool explicit = (to_set & FUSE_SET_ATTR_ATIME &&
			 !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
			(to_set & FUSE_SET_ATTR_MTIME &&
			 !(to_set & FUSE_SET_ATTR_MTIME_NOW));
	if (perm_owner(c, in->uid) < 0) {
		if (explicit)
			return permission_noted(c, in->ino, "owner", -EPERM);
		int r = may_mode(c, in, PERM_W);
		if (r < 0)
			return r;
	}
	struct timespec now, ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		ts[0] = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		ts[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		ts[1] = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		ts[1] = attr->st_mtim;
	if (ts[0].tv_nsec != UTIME_OMIT)
		in->atime = ts[0];
	if (ts[1].tv_nsec != UTIME_OMIT)
		in->mtime = ts[1];
	/* A topic's mtime is the arrival of its last message, unless a given
	 * time was set since: that one shows until the next append. */
	if (is_topic(in) && (to_set & FUSE_SET_ATTR_MTIME)) {
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			in->flags &= ~SF_INODE_MTIME_SET;
		else
			in->flags |= SF_INODE_MTIME_SET;
	}
	if (S_ISREG(in->mode) && in->kind == SF_KIND_BLOB) {
		int fd = store_blob_open(fs.store, in->ino, O_RDONLY);
		if (fd >= 0) {
			int r = futimens(fd, ts) < 0 ? -errno : 0;
			close(fd);
			return r;
		}
	}
	return 0;
}

void ns_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int to_set, struct fuse_file_info *fi)
{
	struct caller c;
	struct sf_inode in;
	caller_init(&c, req);
	/* chmod, chown, utimens, truncate: the system stream is the
	 * daemon's (docs/design.md, "The system stream"). */
	int r = sysstream_is(ino) ? sysstream_refuse(&c, ino)
				  : store_get_inode(fs.store, ino, &in);
	bool was_open = r == 0 && S_ISDIR(in.mode) &&
			searchable_by_all(in.mode);
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE))
		r = set_mode(&c, &in, attr->st_mode);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = set_owner(&c, &in,
			      to_set & FUSE_SET_ATTR_UID ? attr->st_uid : in.uid,
			      to_set & FUSE_SET_ATTR_GID ? attr->st_gid : in.gid);
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		r = set_size(&c, &in, attr->st_size, fi);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				 FUSE_SET_ATTR_ATIME_NOW |
				 FUSE_SET_ATTR_MTIME_NOW)))
		r = set_times(&c, &in, attr, to_set);
	if (r == 0) {
		touch_ctime(&in);
		if (to_set & FUSE_SET_ATTR_CTIME)
			in.ctime = attr->st_ctim;
		r = inode_save(&in);
	}
	/* Names under a directory that stopped being searchable by all were
	 * cached for long: the kernel must ask again. */
	if (r == 0 && was_open && !searchable_by_all(in.mode))
		notify_inval_dir(ino);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
				 FUSE_SET_ATTR_GID)))
		replica_names_changed(in.parent);
	struct stat st;
	if (r == 0)
		r = attr_of(ino, &in, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, attr_timeout_of(&in));
}

void ns_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target;
	int r = store_get_symlink(fs.store, ino, &target);
	if (r < 0) {
		fuse_reply_err(req, r == -EIO ? EINVAL : -r);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

/* ---- making inodes ---- */

static void copy_xattr(struct store_batch *b, uint64_t from, uint64_t to,
		       const char *name)
{
	char *v;
	size_t len;
	if (store_get_xattr(fs.store, from, name, &v, &len) == 0) {
		store_put_xattr(b, to, name, v, len);
		free(v);
	}
}

/* A new stream starts with a copy of its parent's policies and ACEs. */
static void copy_policies(struct store_batch *b, uint64_t from, uint64_t to)
{
	char name[64];
	for (int i = 0; sf_policy_names[i]; i++) {
		snprintf(name, sizeof(name), SF_POLICY_PREFIX "%s",
			 sf_policy_names[i]);
		copy_xattr(b, from, to, name);
	}
	for (int i = 0; i < STREAM_PERMS; i++) {
		snprintf(name, sizeof(name), SF_POLICY_PREFIX "ace.%s",
			 ace_perm_name(i));
		copy_xattr(b, from, to, name);
	}
}

int ns_make(fuse_req_t req, fuse_ino_t parent, const char *name,
	    mode_t mode, dev_t rdev, const char *target, bool topic,
	    struct sf_inode *out, double *entry_timeout)
{
	struct caller c;
	caller_init(&c, req);
	return ns_make_as(&c, parent, name, mode, rdev, target, topic, out,
			  entry_timeout);
}

int ns_make_as(struct caller *cp, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev, const char *target, bool topic,
	       struct sf_inode *out, double *entry_timeout)
{
	struct caller c = *cp;
	struct sf_inode dir, *in = out;
	uint64_t ino;
	int r = sysstream_is(parent) ? sysstream_refuse(&c, parent)
				     : name_check(name);
	if (r == 0 && target && strlen(target) > SYMLINK_MAX)
		r = -ENAMETOOLONG;
	if (r == 0)
		r = get_dir(&c, parent, &dir, topic ? 0 : PERM_W | PERM_X);
	if (r == 0 && topic)
		r = may_topic(&c, &dir);
	if (r == 0 && topic) {
		/* The create is for appending: the caller must also be able
		 * to produce, or it would leave an empty file behind. */
		struct sf_inode will = { .mode = mode, .uid = c.uid,
					 .gid = c.gid, .parent = parent };
		r = may_produce(&c, &will);
	}
	if (r == 0 && dir.nlink == 0)
		r = -ENOENT;            /* removed while in use */
	if (r == 0) {
		r = store_lookup(fs.store, parent, name, &ino);
		r = r == 0 ? -EEXIST : r == -ENOENT ? 0 : r;
	}
	if (r < 0)
		return r;
	*entry_timeout = entry_timeout_of(&dir);
	memset(in, 0, sizeof(*in));
	r = store_alloc_ino(fs.store, &in->ino);
	if (r < 0)
		return r;
	in->mode = mode;
	in->uid = c.uid;
	in->gid = (dir.mode & S_ISGID) ? dir.gid : c.gid;
	if (S_ISDIR(mode) && (dir.mode & S_ISGID))
		in->mode |= S_ISGID;
	if (!S_ISDIR(mode) && (mode & S_ISGID) && c.uid != 0 &&
	    !perm_in_group(&c, in->gid))
		in->mode &= ~S_ISGID;
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->parent = parent;
	in->rdev = rdev;
	touch_mtime(in);
	in->atime = in->mtime;

	struct store_batch *b = store_batch_new();
	put_inode(b, in);
	store_put_dirent(b, parent, name, in->ino, dtype_of(mode));
	if (target)
		store_put_symlink(b, in->ino, target);
	if (S_ISDIR(mode)) {
		copy_policies(b, parent, in->ino);
		dir.nlink++;
	}
	touch_mtime(&dir);
	put_inode(b, &dir);
	r = store_commit(fs.store, b, false);
	store_batch_free(b);
	if (r == 0) {
		store_inode_added(fs.store);
		replica_names_changed(parent);
	}
	return r;
}

static void make_and_reply(fuse_req_t req, fuse_ino_t parent,
			   const char *name, mode_t mode, dev_t rdev,
			   const char *target)
{
	struct sf_inode in;
	double timeout;
	int r = ns_make(req, parent, name, mode, rdev, target, false, &in,
			&timeout);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &in, timeout);
}

/* Regular files only.  The kernel opens a FIFO, socket or device node
 * without asking the daemon, so nothing would hold their mode bits. */
void ns_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode)) {
		bool special = S_ISFIFO(mode) || S_ISSOCK(mode) ||
			       S_ISCHR(mode) || S_ISBLK(mode);
		fuse_reply_err(req, special ? EPERM : EINVAL);
		return;
	}
	make_and_reply(req, parent, name, mode, rdev, NULL);
}

void ns_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	make_and_reply(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

void ns_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, link);
}

void ns_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	struct sf_inode in;
	double timeout;
	/* A create for appending makes a topic: the stream's topic and
	 * produce permissions decide, not only the directory's w bit. */
	bool topic = (fi->flags & O_APPEND) && (fi->flags & O_ACCMODE) !=
					       O_RDONLY;
	int r = ns_make(req, parent, name, S_IFREG | (mode & 07777), 0, NULL,
			topic, &in, &timeout);
	struct node *n = r == 0 ? node_get(in.ino) : NULL;
	if (r == 0 && !n)
		r = -ENOMEM;
	if (r == 0)
		r = io_open_node(n, &in, fi);
	if (r < 0) {
		if (n)
			node_release_if_unused(n);
		fuse_reply_err(req, -r);
		return;
	}
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	fill_attr(&in, &e.attr);
	e.ino = in.ino;
	e.generation = 1;
	e.attr_timeout = attr_timeout_of(&in);
	e.entry_timeout = timeout;
	n->nlookup++;
	if (fuse_reply_create(req, &e, fi) != 0) {
		n->nlookup--;
		/* The kernel will not release a file it never saw. */
		io_release(NULL, in.ino, fi);
	}
}

/* ---- removing names ---- */

/* May the caller add or remove the entry of `in` in dir: a topic by the
 * stream's topic permission, anything else by the directory's w and x. */
static int may_change_entry(struct caller *c, const struct sf_inode *dir,
			    const struct sf_inode *in)
{
	if (is_topic(in))
		return may_topic(c, dir);
	return may_mode(c, dir, PERM_W | PERM_X);
}

/* Drop one link of in (already decremented by the caller); purge it now if
 * nothing refers to it, else mark it an orphan for later. Returns true if
 * the caller must purge after committing b. */
static bool unlink_inode(struct store_batch *b, struct sf_inode *in)
{
	touch_ctime(in);
	if (in->nlink > 0) {
		put_inode(b, in);
		return false;
	}
	struct node *n = node_find(in->ino);
	if (n && (n->nlookup > 0 || n->nopen > 0)) {
		n->unlinked = true;
		put_inode(b, in);
		store_put_orphan(b, in->ino);
		return false;
	}
	return true;
}

static void purge(uint64_t ino)
{
	int r = store_purge_inode(fs.store, ino);
	if (r < 0)
		log_msg(SF_LOG_ERROR, "cannot purge inode %llu: %s "
			"(retried at the next mount)",
			(unsigned long long)ino, strerror(-r));
}

int ns_remove_as(struct caller *cp, fuse_ino_t parent, const char *name,
		 bool want_dir)
{
	struct caller c = *cp;
	struct sf_inode dir, in = { 0 };
	int r = sysstream_name(parent, name) ? sysstream_refuse(&c, parent)
		: get_child(&c, parent, name, 0, &dir, &in);
	uint64_t ino = in.ino;
	if (r == 0)
		r = may_change_entry(&c, &dir, &in);
	if (r == 0 && want_dir && !S_ISDIR(in.mode))
		r = -ENOTDIR;
	if (r == 0 && !want_dir && S_ISDIR(in.mode))
		r = -EISDIR;
	if (r == 0)
		r = may_sticky(&c, &dir, in.uid);
	if (r == 0 && want_dir) {
		r = store_dir_is_empty(fs.store, ino);
		r = r == 1 ? 0 : r == 0 ? -ENOTEMPTY : r;
	}
	if (r < 0)
		return r;
	struct store_batch *b = store_batch_new();
	store_del_dirent(b, parent, name);
	if (want_dir) {
		in.nlink = 0;
		dir.nlink--;
	} else {
		in.nlink--;
	}
	bool purge_now = unlink_inode(b, &in);
	touch_mtime(&dir);
	put_inode(b, &dir);
	r = store_commit(fs.store, b, false);
	store_batch_free(b);
	if (r == 0 && purge_now)
		purge(ino);
	if (r == 0) {
		replica_names_changed(parent);
		if (want_dir)
			replica_names_changed(ino);     /* a stream gone */
	}
	return r;
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			bool want_dir)
{
	struct caller c;
	caller_init(&c, req);
	fuse_reply_err(req, -ns_remove_as(&c, parent, name, want_dir));
}

void ns_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

void ns_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, true);
}

/* ---- rename and link ---- */

/* -EINVAL if directory `dir` is `ino` or lies below it. */
static int check_not_below(uint64_t dir, uint64_t ino)
{
	for (int depth = 0; depth < 4096; depth++) {
		struct sf_inode in;
		if (dir == ino)
			return -EINVAL;
		if (dir == FUSE_ROOT_ID)
			return 0;
		int r = store_get_inode(fs.store, dir, &in);
		if (r < 0)
			return r;
		dir = in.parent;
	}
	return -ELOOP;
}

struct rename_op {
	struct caller c;
	struct sf_inode p, np, src, dst;
	bool have_dst;
	uint64_t src_ino, dst_ino;
};

static int rename_check(struct rename_op *o, fuse_ino_t parent,
			const char *name, fuse_ino_t newparent,
			const char *newname, unsigned flags)
{
	int r = flags & ~RENAME_NOREPLACE ? -EINVAL : 0;
	if (r == 0 && (sysstream_name(parent, name) ||
		       sysstream_name(newparent, newname)))
		r = sysstream_refuse(&o->c, parent);
	if (r == 0)
		r = name_check(name) ? -ENAMETOOLONG : name_check(newname);
	if (r == 0)
		r = get_dir(&o->c, parent, &o->p, 0);
	if (r == 0)
		r = get_dir(&o->c, newparent, &o->np, 0);
	if (r == 0)
		r = store_lookup(fs.store, parent, name, &o->src_ino);
	if (r == 0)
		r = store_get_inode(fs.store, o->src_ino, &o->src);
	if (r == 0)
		r = may_change_entry(&o->c, &o->p, &o->src);
	if (r == 0)
		r = may_change_entry(&o->c, &o->np, &o->src);
	if (r == 0)
		r = may_sticky(&o->c, &o->p, o->src.uid);
	if (r < 0)
		return r;
	r = store_lookup(fs.store, newparent, newname, &o->dst_ino);
	if (r == 0) {
		o->have_dst = true;
		r = store_get_inode(fs.store, o->dst_ino, &o->dst);
	} else if (r == -ENOENT) {
		r = 0;
	}
	if (r == 0 && o->have_dst) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (o->dst_ino == o->src_ino)
			return 1;       /* same file: nothing to do */
		if (S_ISDIR(o->src.mode) && !S_ISDIR(o->dst.mode))
			return -ENOTDIR;
		if (!S_ISDIR(o->src.mode) && S_ISDIR(o->dst.mode))
			return -EISDIR;
		if (S_ISDIR(o->dst.mode)) {
			r = store_dir_is_empty(fs.store, o->dst_ino);
			if (r <= 0)
				return r == 0 ? -ENOTEMPTY : r;
			r = 0;
		}
		if (r == 0)
			r = may_sticky(&o->c, &o->np, o->dst.uid);
		/* A topic is never replaced without a trace: whoever means
		 * to drop its messages deletes it first. */
		if (r == 0 && is_topic(&o->dst))
			r = may_topic(&o->c, &o->np);
		if (r == 0 && is_topic(&o->dst))
			r = -EPERM;
	}
	if (r == 0 && S_ISDIR(o->src.mode) && parent != newparent) {
		r = check_not_below(newparent, o->src_ino);
		if (r == 0)
			r = may_mode(&o->c, &o->src, PERM_W);
	}
	return r;
}

/* The kernel moves its cached entry to the new name and keeps its
 * timeout, which may be long only under a directory searchable by all.
 * (Also when the old directory is not: a walk of it, queued when it
 * stopped being searchable, may have missed the name.) */
static void moved_in(uint64_t dir, const struct sf_inode *d,
		     const char *name, uint64_t ino)
{
	struct node *n = node_find(ino);
	if (!searchable_by_all(d->mode) && n && n->nlookup > 0)
		notify_inval_name(dir, name);
}

int ns_rename_as(struct caller *cp, fuse_ino_t parent, const char *name,
		 fuse_ino_t newparent, const char *newname, unsigned flags)
{
	struct rename_op o;
	memset(&o, 0, sizeof(o));
	o.c = *cp;
	int r = rename_check(&o, parent, name, newparent, newname, flags);
	if (r != 0)
		return r > 0 ? 0 : r;
	/* p and np are one record when the parents are the same. */
	struct sf_inode *np = parent == newparent ? &o.p : &o.np;
	bool is_dir = S_ISDIR(o.src.mode), purge_now = false;
	struct store_batch *b = store_batch_new();
	store_del_dirent(b, parent, name);
	store_put_dirent(b, newparent, newname, o.src_ino,
			 dtype_of(o.src.mode));
	if (o.have_dst) {
		if (S_ISDIR(o.dst.mode)) {
			o.dst.nlink = 0;
			np->nlink--;
		} else {
			o.dst.nlink--;
		}
		purge_now = unlink_inode(b, &o.dst);
	}
	if (parent != newparent) {
		if (is_dir) {
			o.p.nlink--;
			np->nlink++;
		}
		o.src.parent = newparent;
	}
	touch_ctime(&o.src);
	put_inode(b, &o.src);
	touch_mtime(&o.p);
	put_inode(b, &o.p);
	if (np != &o.p) {
		touch_mtime(np);
		put_inode(b, np);
	}
	r = store_commit(fs.store, b, false);
	store_batch_free(b);
	if (r == 0 && purge_now)
		purge(o.dst_ino);
	if (r == 0) {
		moved_in(newparent, np, newname, o.src_ino);
		metrics_renamed();
		replica_names_changed(parent);
		if (newparent != parent)
			replica_names_changed(newparent);
	}
	return r;
}

void ns_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct caller c;
	caller_init(&c, req);
	fuse_reply_err(req, -ns_rename_as(&c, parent, name, newparent,
					  newname, flags));
}

void ns_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct caller c;
	struct sf_inode dir, in;
	uint64_t other;
	caller_init(&c, req);
	int r = sysstream_is(ino) || sysstream_name(newparent, newname)
		? sysstream_refuse(&c, ino) : name_check(newname);
	if (r == 0)
		r = store_get_inode(fs.store, ino, &in);
	if (r == 0 && S_ISDIR(in.mode))
		r = -EPERM;
	if (r == 0 && is_topic(&in))
		r = -EPERM;             /* a topic belongs to one stream */
	if (r == 0 && in.nlink == 0)
		r = -ENOENT;
	if (r == 0)
		r = get_dir(&c, newparent, &dir, PERM_W | PERM_X);
	/* A file with two names can no longer become a topic (a topic has one
	 * stream): linking decides it is a blob. */
	if (r == 0 && S_ISREG(in.mode) && in.kind == SF_KIND_NONE)
		in.kind = SF_KIND_BLOB;
	if (r == 0) {
		r = store_lookup(fs.store, newparent, newname, &other);
		r = r == 0 ? -EEXIST : r == -ENOENT ? 0 : r;
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	struct store_batch *b = store_batch_new();
	in.nlink++;
	touch_ctime(&in);
	put_inode(b, &in);
	store_put_dirent(b, newparent, newname, ino, dtype_of(in.mode));
	touch_mtime(&dir);
	put_inode(b, &dir);
	r = store_commit(fs.store, b, false);
	store_batch_free(b);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &in, entry_timeout_of(&dir));
}

/* ---- directory listings ---- */

struct dirh {
	struct store_dirit *it;
	off_t pos;                      /* offset of the next entry */
	bool held;                      /* an entry read but not yet sent */
	char name[NAME_MAX_BYTES + 1];
	uint64_t ino;
	uint32_t dtype;
	uint64_t parent;                /* for ".." */
	unsigned vnext;                 /* generated files listed so far */
};

void ns_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct caller c;
	struct sf_inode in;
	caller_init(&c, req);
	int want = (fi->flags & O_ACCMODE) == O_RDONLY ? PERM_R : PERM_W;
	int r = get_dir(&c, ino, &in, want);
	struct dirh *d = r == 0 ? calloc(1, sizeof(*d)) : NULL;
	if (r == 0 && !d)
		r = -ENOMEM;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	d->parent = ino == FUSE_ROOT_ID ? FUSE_ROOT_ID : in.parent;
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

/* Fetch the entry at d->pos into d's held slot: 1, 0 at the end. */
static int dir_fetch(struct dirh *d, uint64_t ino)
{
	if (d->held)
		return 1;
	if (d->pos < 2) {
		strcpy(d->name, d->pos == 0 ? "." : "..");
		d->ino = d->pos == 0 ? ino : d->parent;
		d->dtype = DT_DIR;
		d->held = true;
		return 1;
	}
	if (!d->it && !(d->it = store_dirit_open(fs.store, ino)))
		return -ENOMEM;
	const char *name;
	size_t nlen;
	int r;
	do
		r = store_dirit_next(d->it, &name, &nlen, &d->ino, &d->dtype);
	while (r == 1 && sysstream_hidden(ino, d->ino));
	if (r == 1) {
		memcpy(d->name, name, nlen + 1);
		d->held = true;
	} else if (r == 0 && sysstream_virtual_entry(ino, d->vnext, d->name,
						     &d->ino)) {
		/* After the stored entries: /.streamfs's generated files. */
		d->vnext++;
		d->dtype = DT_REG;
		d->held = true;
		r = 1;
	}
	return r;
}

void ns_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	if (off != d->pos) {
		/* A seek: start again and skip to off. */
		store_dirit_close(d->it);
		d->it = NULL;
		d->pos = 0;
		d->vnext = 0;
		d->held = false;
		while (d->pos < off && dir_fetch(d, ino) == 1) {
			d->held = false;
			d->pos++;
		}
	}
	char *buf = malloc(size);
	size_t used = 0;
	int r = buf ? 0 : -ENOMEM;
	while (r == 0 && (r = dir_fetch(d, ino)) == 1) {
		struct stat st = { .st_ino = d->ino,
				   .st_mode = DTTOIF(d->dtype) };
		size_t n = fuse_add_direntry(req, buf + used, size - used,
					     d->name, &st, d->pos + 1);
		if (n > size - used) {
			r = 0;
			break;
		}
		used += n;
		d->held = false;
		d->pos++;
		r = 0;
	}
	if (r < 0 && used == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void ns_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	store_dirit_close(d->it);
	free(d);
	fuse_reply_err(req, 0);
}

/* ---- the rest ---- */

void ns_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int r = store_statfs(fs.store, &sv);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	sv.f_namemax = NAME_MAX_BYTES;
	fuse_reply_statfs(req, &sv);
}

void ns_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct caller c;
	struct sf_inode in;
	caller_init(&c, req);
	int r = sysstream_get_inode(ino, &in);
	/* As for an immutable file: nobody may write it. */
	if (r == 0 && (mask & W_OK) && sysstream_is(ino))
		r = -EPERM;
	if (r == 0 && mask != F_OK)
		r = perm_check(&c, in.mode, in.uid, in.gid, mask & 7);
	fuse_reply_err(req, -r);
}
