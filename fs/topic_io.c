/* topic_io.c - topic I/O: framing writes into messages, holding a partial
 * line per open file, appending through the store, reading byte ranges,
 * and waking readers that wait in poll().
 *
 * Line framing: the complete lines of a write become one record (one index
 * entry, one message per line); the rest waits in the handle until a later
 * write ends it or the file is closed.  So lines of concurrent writers never
 * interleave, whatever sizes their writes have. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "kafka/kafka.h"
#include "replica/replica.h"

struct sf_topic *topic_state(struct node *n)
{
	if (n->topic)
		return n->topic;
	struct sf_topic *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	if (store_topic_load(fs.store, n->ino, t) < 0) {
		free(t);
		return NULL;
	}
	n->topic = t;
	return t;
}

/* Recently closed topics keep their state; the oldest of IDLE_KEEP give
 * it up, so memory does not grow with the number of topics.  A topic may
 * stand in the ring twice; freeing on an old entry only costs a reload. */
#define IDLE_KEEP 4096
static uint64_t idle_ring[IDLE_KEEP];
static unsigned idle_next;

void topic_state_idle(struct node *n)
{
	uint64_t old = idle_ring[idle_next];
	idle_ring[idle_next] = n->ino;
	idle_next = (idle_next + 1) % IDLE_KEEP;
	struct node *o = old ? node_find(old) : NULL;
	if (o && o != n && o->nopen == 0 && o->topic) {
		free(o->topic);
		o->topic = NULL;
	}
}

int handle_hold(struct handle *h, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (h->plen + n > h->pcap) {
		size_t cap = h->pcap ? h->pcap : 256;
		while (cap < h->plen + n)
			cap *= 2;
		char *b = realloc(h->pending, cap);
		if (!b)
			return -ENOMEM;
		h->pending = b;
		h->pcap = cap;
	}
	memcpy(h->pending + h->plen, p, n);
	h->plen += n;
	return 0;
}

void topic_appended(struct node *n, const struct sf_policy *p)
{
	if (p->durability == SF_DUR_BATCH)
		group_commit_mark();
	notify_pollers(n);
	kafka_topic_appended(n->ino);
	replica_topic_appended(n->ino, n->known ? n->parent : 0);
	if (p->retention_bytes && n->topic &&
	    n->topic->size - n->topic->start > p->retention_bytes)
		retention_note(n->ino);
	if (n->mtime_set) {
		/* A given mtime is shown only until the next append. */
		struct sf_inode in;
		if (store_get_inode(fs.store, n->ino, &in) == 0) {
			in.flags &= ~SF_INODE_MTIME_SET;
			if (inode_save(&in) < 0)
				log_msg(SF_LOG_ERROR, "topic %llu: "
					"cannot clear its given mtime",
					(unsigned long long)n->ino);
		}
	}
}

static int append(struct handle *h, const struct sf_inode *in,
		  const struct sf_policy *p, const struct iovec *iov,
		  int iovcnt, size_t len, uint32_t nmsgs)
{
	struct sf_topic *t = topic_state(h->node);
	if (!t)
		return -EIO;
	int r = store_topic_append(fs.store, in->ino, in->parent, t, iov,
				   iovcnt, len, nmsgs,
				   p->durability == SF_DUR_ALWAYS);
	if (r == 0) {
		metrics_append(in->parent, len, nmsgs);
		topic_appended(h->node, p);
	}
	return r;
}

/* Count the lines ending in buf[0..end) and check each against max; the
 * first line also carries the `held` bytes before buf. */
static int count_lines(const char *buf, size_t end, size_t held,
		       uint64_t max, uint32_t *nmsgs)
{
	size_t start = 0;
	uint32_t n = 0;
	while (start < end) {
		const char *nl = memchr(buf + start, '\n', end - start);
		size_t stop = (size_t)(nl - buf) + 1;
		if (stop - start + (n == 0 ? held : 0) > max)
			return -EMSGSIZE;
		n++;
		start = stop;
	}
	*nmsgs = n;
	return 0;
}

static int topic_write_framed(struct handle *h, const struct sf_inode *in,
			      const char *buf, size_t size, off_t off);

static int write_lines(struct handle *h, const struct sf_inode *in,
		       const struct sf_policy *p, const char *buf, size_t size)
{
	const char *last = memrchr(buf, '\n', size);
	size_t done = last ? (size_t)(last - buf) + 1 : 0;
	size_t rest = size - done;
	uint32_t nmsgs = 0;
	int r = 0;
	/* A line held without its newline must stay below max_message, or
	 * it could only ever become a message that is too long.  (The kernel
	 * hands writes over 1 MiB to us in 1 MiB pieces, so this is what
	 * refuses an oversized line in its first piece.) */
	size_t first = last ? (size_t)((const char *)memchr(buf, '\n', size)
				       - buf) + 1 : size;
	if (h->skip) {
		/* The rest of a line already refused: refused as well, up to
		 * and including the write that ends it. */
		h->skip = last == NULL;
		return -EMSGSIZE;
	}
	if (h->plen + first > p->max_message - (last ? 0 : 1)) {
		/* The held line itself is too long: none of it is kept.  If
		 * the held part came in a full-sized piece of a write the
		 * kernel split, the writer was told it was taken and will
		 * send the rest again: that is refused too. */
		h->skip = h->plen > 0 && h->split;
		h->plen = 0;
		return -EMSGSIZE;
	}
	if ((done ? rest : h->plen + rest) >= p->max_message)
		r = -EMSGSIZE;
	else if (h->plen + done <= p->max_message)
		/* No line of it can be too long: count them in one pass. */
		nmsgs = (uint32_t)count_newlines(buf, done);
	else
		r = count_lines(buf, done, h->plen, p->max_message, &nmsgs);
	if (r < 0)
		return r;
	if (r == 0 && done) {
		struct iovec iov[2] = { { h->pending, h->plen },
					{ (void *)buf, done } };
		r = append(h, in, p, iov + (h->plen ? 0 : 1),
			   h->plen ? 2 : 1, h->plen + done, nmsgs);
		if (r == 0)
			h->plen = 0;
	}
	if (r == 0 && rest)
		r = handle_hold(h, buf + done, rest);
	return r < 0 ? r : (int)size;
}

static int topic_write_framed(struct handle *h, const struct sf_inode *in,
			      const char *buf, size_t size, off_t off)
{
	struct sf_topic *t = topic_state(h->node);
	struct sf_policy p;
	if (!t || ns_policy(in->parent, &p) < 0)
		return -EIO;
	/* Without O_APPEND a write must land exactly at the end. */
	if (!(h->flags & O_APPEND) && (uint64_t)off != t->size + h->plen)
		return -EPERM;
	if (size == 0)
		return 0;
	if (p.framing == SF_FRAMING_LINE)
		return write_lines(h, in, &p, buf, size);
	if (size > p.max_message)
		return -EMSGSIZE;
	struct iovec iov = { (void *)buf, size };
	int r = append(h, in, &p, &iov, 1, size, 1);
	return r < 0 ? r : (int)size;
}

int topic_write(struct handle *h, const struct sf_inode *in,
		const char *buf, size_t size, off_t off)
{
	int r = topic_home_check(h->node, in->ino,
				 h->restoring ? "restore" : "write");
	if (r < 0)
		return r;
	if (h->restoring)
		return restore_write(h, in, buf, size);
	r = topic_write_framed(h, in, buf, size, off);
	/* A direct write is cut into pieces of max_write bytes less the
	 * buffer's offset in its first page. */
	h->split = size + 4096 > fs.conn->max_write;
	return r;
}

int topic_flush(struct handle *h, const struct sf_inode *in)
{
	struct sf_policy p;
	if (h->plen == 0)
		return 0;
	if (h->restoring)
		return -EIO;            /* a restored record left unfinished */
	if (ns_policy(in->parent, &p) < 0)
		return -EIO;
	int r = topic_home_check(h->node, in->ino, "write");
	if (r < 0)
		return r;
	struct iovec iov = { h->pending, h->plen };
	r = append(h, in, &p, &iov, 1, h->plen, 1);
	if (r == 0)
		h->plen = 0;
	return r;
}

/* Each serving thread keeps one read buffer; a worker thread that exits
 * (libfuse's pool shrinks) frees its own. */
static pthread_key_t rb_key;
static pthread_once_t rb_once = PTHREAD_ONCE_INIT;

static void rb_destroy(void *p)
{
	store_readbuf_free(p);
	free(p);
}

static void rb_key_init(void)
{
	pthread_key_create(&rb_key, rb_destroy);
}

static struct sf_readbuf *thread_readbuf(void)
{
	pthread_once(&rb_once, rb_key_init);
	struct sf_readbuf *rb = pthread_getspecific(rb_key);
	if (!rb && (rb = calloc(1, sizeof(*rb))) &&
	    pthread_setspecific(rb_key, rb) != 0) {
		free(rb);
		rb = NULL;
	}
	return rb;
}

void topic_read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct sf_readbuf *rb = thread_readbuf();
	struct sf_topic *t = topic_state(h->node);
	int r = t && rb ? store_topic_read(fs.store, h->node->ino, t,
					   (uint64_t)off, size, rb) : -EIO;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	h->rpos = (uint64_t)off + rb->bytes;
	metrics_read(h->node->parent, rb->bytes);
	if (rb->iovcnt == 0)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_iov(req, rb->iov, rb->iovcnt);
	/* Do not let one huge read pin a huge buffer. */
	if (rb->cap > (8u << 20))
		store_readbuf_free(rb);
}

int topic_poll(struct handle *h, struct fuse_pollhandle *ph)
{
	struct sf_topic *t = topic_state(h->node);
	int ev = (h->flags & O_ACCMODE) != O_RDONLY ? POLLOUT | POLLWRNORM : 0;
	if (!t || h->rpos < t->size) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		return ev | POLLIN | POLLRDNORM;
	}
	if (ph) {
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		else {
			h->poll_next = h->node->pollers;
			h->node->pollers = h;
		}
		h->ph = ph;
	}
	return ev;
}

void topic_forget_poll(struct handle *h)
{
	if (!h->ph)
		return;
	struct handle **pp = &h->node->pollers;
	while (*pp && *pp != h)
		pp = &(*pp)->poll_next;
	if (*pp)
		*pp = h->poll_next;
	fuse_pollhandle_destroy(h->ph);
	h->ph = NULL;
}

void notify_pollers(struct node *n)
{
	struct handle *h = n->pollers;
	n->pollers = NULL;
	while (h) {
		struct handle *next = h->poll_next;
		notify_queue(h->ph);
		h->ph = NULL;
		h->poll_next = NULL;
		h = next;
	}
}
