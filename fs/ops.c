/* ops.c - the fuse_lowlevel_ops table: thin handlers that take fs.lock and
 * call the operation's owner (namespace.c, file_io.c, xattr.c, restore.c),
 * plus the session's init and destroy.  Each handler is timed and counted
 * for the metrics (metrics.c): from before it waits for fs.lock to after
 * the owner returned, its reply sent (an fsync() the sync thread answers
 * is counted there).  After each operation, a denial it met is reported,
 * named for the operation (op_NAME: NAME). */
#include <errno.h>
#include <stdio.h>

#include "fs.h"
#include "metrics.h"

#define LOCKED(op, call) do {                      \
		struct metrics_timer mt_;          \
		metrics_op_begin(&mt_, MOP_##op);  \
		pthread_mutex_lock(&fs.lock);      \
		call;                              \
		metrics_op_end(&mt_);              \
		pthread_mutex_unlock(&fs.lock);    \
		denial_report(__func__ + 3);       \
	} while (0)

/* An operation that may append: then wake the topic's pollers, once the
 * writer has its reply (notify.c). */
#define LOCKED_APPEND(op, call) do {               \
		LOCKED(op, call);                  \
		notify_send_polls();               \
	} while (0)

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* O_TRUNC reaches open(), so a topic can refuse it before anything
	 * changes; the writeback cache would hand O_APPEND and the size of
	 * topics to the kernel, so it stays off. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	fs.conn = conn;         /* libfuse settles max_write after init */
}

static void op_destroy(void *userdata)
{
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	LOCKED(LOOKUP, ns_lookup(req, parent, name));
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	LOCKED(FORGET, ns_forget(req, ino, nlookup));
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	LOCKED(FORGET_MULTI, ns_forget_multi(req, count, forgets));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	LOCKED(GETATTR, ns_getattr(req, ino, fi));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	LOCKED(SETATTR, ns_setattr(req, ino, attr, to_set, fi));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	LOCKED(READLINK, ns_readlink(req, ino));
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	LOCKED(MKNOD, ns_mknod(req, parent, name, mode, rdev));
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	LOCKED(MKDIR, ns_mkdir(req, parent, name, mode));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	LOCKED(UNLINK, ns_unlink(req, parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	LOCKED(RMDIR, ns_rmdir(req, parent, name));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	LOCKED(SYMLINK, ns_symlink(req, link, parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	LOCKED(RENAME, ns_rename(req, parent, name, newparent, newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	LOCKED(LINK, ns_link(req, ino, newparent, newname));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	LOCKED(OPEN, io_open(req, ino, fi));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	LOCKED(READ, io_read(req, ino, size, off, fi));
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	LOCKED_APPEND(WRITE, io_write(req, ino, buf, size, off, fi));
}

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	LOCKED_APPEND(FLUSH, io_flush(req, ino, fi));
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	LOCKED_APPEND(RELEASE, io_release(req, ino, fi));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	LOCKED(FSYNC, io_fsync(req, ino, datasync, fi));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	LOCKED(OPENDIR, ns_opendir(req, ino, fi));
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	LOCKED(READDIR, ns_readdir(req, ino, size, off, fi));
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	LOCKED(RELEASEDIR, ns_releasedir(req, ino, fi));
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	LOCKED(FSYNCDIR, fuse_reply_err(req, -store_sync(fs.store)));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	LOCKED(STATFS, ns_statfs(req, ino));
}

static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	LOCKED_APPEND(IOCTL, io_ioctl(req, ino, cmd, arg, fi, flags,
				      in_buf, in_bufsz, out_bufsz));
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	LOCKED(SETXATTR, xa_setxattr(req, ino, name, value, size, flags));
	replica_xattr_flush();
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	LOCKED(GETXATTR, xa_getxattr(req, ino, name, size));
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	LOCKED(LISTXATTR, xa_listxattr(req, ino, size));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	LOCKED(REMOVEXATTR, xa_removexattr(req, ino, name));
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	LOCKED(ACCESS, ns_access(req, ino, mask));
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	LOCKED(CREATE, ns_create(req, parent, name, mode, fi));
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	LOCKED(POLL, io_poll(req, ino, fi, ph));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	LOCKED(FALLOCATE, io_fallocate(req, ino, mode, offset, length, fi));
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	LOCKED(LSEEK, io_lseek(req, ino, off, whence, fi));
}

const struct fuse_lowlevel_ops streamfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.ioctl = op_ioctl,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.poll = op_poll,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
};
