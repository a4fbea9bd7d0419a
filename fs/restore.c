/* restore.c - appending restored records (streamctl import): the
 * SF_IOC_RESTORE ioctl names a handle's next record (sf_ioctl.h), and the
 * writes that follow on that handle are its bytes, held until the record
 * is complete and then appended as one record with its own arrival time,
 * message count and offsets.  Only the admin of the topic's stream may
 * restore, so a producer cannot forge times or framing. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs.h"

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* May the caller restore records of topic `in` through h? */
static int may_restore(fuse_req_t req, const struct handle *h,
		       const struct sf_inode *in)
{
	struct caller c;
	struct sf_inode dir;
	if (!is_topic(in))
		return -EINVAL;         /* make it a topic first */
	if ((h->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (h->plen > 0 && !h->restoring)
		return -EBUSY;          /* a line is held */
	caller_init(&c, req);
	int r = store_get_inode(fs.store, in->parent, &dir);
	return r < 0 ? r : may_admin(&c, &dir);
}

/* Does the record fit the topic's end and the stream's limits? */
static int check_record(const struct sf_restore *rec, const struct sf_topic *t,
			const struct sf_policy *p)
{
	bool never = t->size == 0 && t->next_msg == 0;
	if (rec->len == 0 || rec->len > SF_RESTORE_MAX || rec->nmsgs == 0 ||
	    rec->nmsgs > rec->len || rec->ns < t->last_ns || rec->ns <= 0)
		return -EINVAL;
	if (rec->nmsgs == 1 && rec->len > p->max_message)
		return -EINVAL;
	if (!never && (rec->off != t->size || rec->msg != t->next_msg))
		return -EINVAL;
	return 0;
}

void io_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz)
{
	struct handle *h = handle_of(fi);
	struct sf_restore rec;
	struct sf_inode in;
	struct sf_policy p;
	if (cmd != SF_IOC_RESTORE) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	int r = in_bufsz == sizeof(rec) ? 0 : -EINVAL;
	if (r == 0 && sysstream_is(ino))
		r = -EPERM;
	if (r == 0)
		r = store_get_inode(fs.store, ino, &in);
	if (r == 0)
		r = may_restore(req, h, &in);
	if (r == 0)
		r = topic_home_check(h->node, ino, "restore");
	struct sf_topic *t = r == 0 ? topic_state(h->node) : NULL;
	if (r == 0 && !t)
		r = -EIO;
	if (r == 0)
		r = ns_policy(in.parent, &p);
	if (r == 0) {
		memcpy(&rec, in_buf, sizeof(rec));
		r = check_record(&rec, t, &p);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	h->restoring = true;
	h->restore = rec;
	h->plen = 0;            /* an unfinished record before is dropped */
	fuse_reply_ioctl(req, 0, NULL, 0);
}

/* Several messages are lines: each ends in a newline, and is at most
 * max bytes. */
static int check_lines(const char *buf, size_t len, uint32_t nmsgs,
		       uint64_t max)
{
	size_t start = 0;
	uint32_t n = 0;
	if (nmsgs == 1)
		return 0;
	while (start < len) {
		const char *nl = memchr(buf + start, '\n', len - start);
		if (!nl || (size_t)(nl - buf) + 1 - start > max)
			return -EINVAL;
		start = (size_t)(nl - buf) + 1;
		n++;
	}
	return n == nmsgs ? 0 : -EINVAL;
}

int restore_write(struct handle *h, const struct sf_inode *in,
		  const char *buf, size_t size)
{
	struct sf_restore *rec = &h->restore;
	struct sf_policy p;
	int r = h->plen + size > rec->len ? -EINVAL : 0;
	if (r == 0)
		r = handle_hold(h, buf, size);
	if (r == 0 && h->plen < rec->len)
		return (int)size;       /* more of the record to come */
	struct sf_topic *t = r == 0 ? topic_state(h->node) : NULL;
	if (r == 0 && !t)
		r = -EIO;
	if (r == 0)
		r = ns_policy(in->parent, &p);
	if (r == 0)
		r = check_lines(h->pending, h->plen, rec->nmsgs, p.max_message);
	if (r == 0) {
		struct iovec iov = { h->pending, h->plen };
		r = store_topic_restore(fs.store, in->ino, in->parent, t, &iov,
					1, h->plen, rec->nmsgs, rec->ns,
					rec->off, rec->msg,
					p.durability == SF_DUR_ALWAYS);
	}
	if (r == 0) {
		metrics_append(in->parent, h->plen, rec->nmsgs);
		topic_appended(h->node, &p);
	}
	h->restoring = false;
	h->plen = 0;
	return r < 0 ? r : (int)size;
}
