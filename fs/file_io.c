/* file_io.c - open files: open, read, write, flush, release, fsync,
 * fallocate, lseek and poll, each dispatched by the file's kind.  A file
 * without a kind gets one at its first write (topic through an O_APPEND
 * handle, blob otherwise) or at a truncate to a non-zero size. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

int io_open_node(struct node *n, const struct sf_inode *in,
		 struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->node = n;
	h->flags = fi->flags;
	h->fd = -1;
	node_note(n, in);
	/* A file without a kind may become a topic while a reader holds it
	 * open: its reads must not come from pages the kernel cached while
	 * it was shorter (they would read as zeros once it grew). */
	if (in->kind == SF_KIND_BLOB)
		fi->keep_cache = 1;
	else if (in->kind == SF_KIND_TOPIC || (fi->flags & O_APPEND) ||
		 (fi->flags & O_ACCMODE) == O_RDONLY)
		fi->direct_io = 1;
	n->nopen++;
	fs.nhandles++;
	fi->fh = (uintptr_t)h;
	return 0;
}

void io_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct caller c;
	struct sf_inode in;
	caller_init(&c, req);
	int r = sysstream_get_inode(ino, &in);
	if (r == 0 && S_ISDIR(in.mode))
		r = -EISDIR;
	/* Only the daemon writes the system stream, whoever asks. */
	if (r == 0 && sysstream_is(ino) &&
	    ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)))
		r = sysstream_refuse(&c, ino);
	if (r == 0 && sysstream_virtual_ino(ino)) {
		sysstream_open(req, ino, fi);
		return;
	}
	if (r == 0)
		r = may_open(&c, &in, fi->flags);
	if (r == 0 && (fi->flags & O_TRUNC)) {
		if (is_topic(&in))
			r = -EPERM;     /* topics are append-only */
		else if (in.kind == SF_KIND_BLOB)
			r = store_blob_truncate(fs.store, ino, 0);
	}
	struct node *n = r == 0 ? node_get(ino) : NULL;
	if (r == 0 && !n)
		r = -ENOMEM;
	if (r == 0)
		r = io_open_node(n, &in, fi);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (fuse_reply_open(req, fi) != 0)
		io_release(NULL, ino, fi);
}

/* What the read and write paths need of a file's record: its kind and
 * stream, from the node's copy once the kind is decided (only an inode
 * without a kind is read in full, for decide_kind). */
static int record_of(struct node *n, struct sf_inode *in)
{
	if (n->known && n->kind != SF_KIND_NONE) {
		memset(in, 0, sizeof(*in));
		in->ino = n->ino;
		in->mode = S_IFREG;
		in->kind = n->kind;
		in->parent = n->parent;
		return 0;
	}
	int r = store_get_inode(fs.store, n->ino, in);
	if (r == 0)
		node_note(n, in);
	return r;
}

/* Give a file without a kind the kind its first write decides.  Making a
 * topic takes the stream's topic permission and produce. */
static int decide_kind(fuse_req_t req, struct handle *h, struct sf_inode *in)
{
	struct caller c;
	struct sf_inode dir;
	if (in->kind != SF_KIND_NONE)
		return 0;
	if (h->flags & O_APPEND) {
		caller_init(&c, req);
		int r = store_get_inode(fs.store, in->parent, &dir);
		if (r == 0)
			r = may_topic(&c, &dir);
		if (r == 0)
			r = may_produce(&c, in);
		if (r < 0)
			return r;
	}
	in->kind = (h->flags & O_APPEND) ? SF_KIND_TOPIC : SF_KIND_BLOB;
	return kind_save(in);
}

void io_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	if (h->snap) {
		sysstream_read(req, h, size, off);
		return;
	}
	int r = record_of(h->node, &in);
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (in.kind == SF_KIND_TOPIC)
		topic_read(req, h, size, off);
	else if (in.kind == SF_KIND_BLOB)
		blob_read(req, h, size, off);
	else
		fuse_reply_buf(req, NULL, 0);
}

void io_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	int r = record_of(h->node, &in);
	h->writer = fuse_req_ctx(req)->pid;
	if (r == 0)
		r = decide_kind(req, h, &in);
	if (r == 0)
		r = in.kind == SF_KIND_TOPIC ? topic_write(h, &in, buf, size, off)
					     : blob_write(h, buf, size, off);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, (size_t)r);
}

/* close(2) of any descriptor of the file sends a flush, also the copy a
 * forked child closes at exec; only the writer's own close ends its held
 * line (release ends it in any case). */
void io_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	int r = 0;
	if (h->plen > 0 && fuse_req_ctx(req)->pid == h->writer) {
		r = record_of(h->node, &in);
		if (r == 0)
			r = topic_flush(h, &in);
	}
	fuse_reply_err(req, -r);
}

void io_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct node *n = h->node;
	struct sf_inode in;
	if (h->plen > 0 && !h->restoring && (record_of(n, &in) < 0 ||
					     topic_flush(h, &in) < 0))
		log_msg(SF_LOG_ERROR, "topic %llu: a partial line "
			"of %zu bytes could not be appended at close",
			(unsigned long long)ino, h->plen);
	topic_forget_poll(h);
	if (h->fd >= 0)
		close(h->fd);
	free(h->pending);
	free(h->snap);
	free(h);
	fs.nhandles--;
	if (--n->nopen == 0 && n->topic)
		topic_state_idle(n);
	node_release_if_unused(n);
	if (req)
		fuse_reply_err(req, 0);
}

void io_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	int r = h->snap ? 1 : store_get_inode(fs.store, ino, &in);
	if (r == 1) {
		r = 0;                  /* a snapshot: nothing to sync */
	} else if (r == 0 && in.kind == SF_KIND_BLOB) {
		int fd = blob_fd(h);
		r = fd < 0 ? fd : store_blob_sync(fs.store, ino, fd, datasync,
						  &h->node->sync_failed,
						  &h->node->blob_named);
	} else if (r == 0) {
		/* Answered by the sync thread, with everything else that
		 * waits for a sync (group_commit.c). */
		if (group_commit_fsync(req) == 0)
			return;
		r = store_sync_data(fs.store);
	}
	fuse_reply_err(req, -r);
}

void io_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	int r = store_get_inode(fs.store, ino, &in);
	if (r == 0 && is_topic(&in))
		r = -EPERM;             /* topics are append-only */
	if (r == 0 && in.kind == SF_KIND_NONE) {
		in.kind = SF_KIND_BLOB;
		r = inode_save(&in);
	}
	if (r == 0)
		r = store_space_check(fs.store, (uint64_t)length);
	int fd = r == 0 ? blob_fd(h) : r;
	if (fd < 0)
		r = fd;
	else if (fallocate(fd, mode, offset, length) < 0)
		r = -errno;
	fuse_reply_err(req, -r);
}

/* A topic's expired head [0, start) is a hole, [start, size) data, and
 * nothing lies past the end (docs/design.md, "The expired head of a
 * topic"). */
static off_t topic_seek(const struct sf_topic *t, off_t off, int whence)
{
	if (off < 0 || (uint64_t)off >= t->size)
		return -ENXIO;
	if (whence == SEEK_HOLE)
		return (uint64_t)off < t->start ? off : (off_t)t->size;
	if (t->start >= t->size)
		return -ENXIO;          /* every message has expired */
	return (uint64_t)off < t->start ? (off_t)t->start : off;
}

/* The kernel answers SEEK_SET, SEEK_CUR and SEEK_END itself and asks only
 * for SEEK_DATA and SEEK_HOLE.  Never answer ENOSYS: the kernel would stop
 * asking for the whole mount and treat every file as data. */
void io_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	off_t res;
	int r = h->snap ? 0 : record_of(h->node, &in);
	if (r < 0) {
		res = r;
	} else if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		res = -EINVAL;
	} else if (h->snap) {
		res = sysstream_seek(h, off, whence);
	} else if (in.kind == SF_KIND_TOPIC) {
		struct sf_topic *t = topic_state(h->node);
		res = t ? topic_seek(t, off, whence) : -ENOMEM;
	} else if (in.kind == SF_KIND_BLOB) {
		int fd = blob_fd(h);
		res = fd < 0 ? fd : lseek(fd, off, whence);
		if (res < 0 && fd >= 0)
			res = -errno;
	} else {
		res = -ENXIO;           /* no kind yet: empty */
	}
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_lseek(req, res);
}

void io_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	     struct fuse_pollhandle *ph)
{
	struct handle *h = handle_of(fi);
	struct sf_inode in;
	int r = h->snap ? 0 : record_of(h->node, &in);
	if (r < 0) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_err(req, -r);
		return;
	}
	if (h->snap || in.kind == SF_KIND_BLOB) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT |
				     POLLWRNORM);
		return;
	}
	/* Topics and files that may become one wait for data. */
	fuse_reply_poll(req, (unsigned)topic_poll(h, ph));
}
