/* sysstream_files.c - the generated files of /.streamfs (`status`, and
 * those other parts register, such as `metrics.prom`).  They are not in
 * the store: each has an inode number of its own from VIRT_BASE up, which
 * no stored inode reaches, and a record made up from the system stream's
 * (the mount owner's, mode 0400).  Lookups, listings and getattr of the
 * directory show them; an open for reading runs the file's generator and
 * keeps what it made in the handle, so every reader reads one whole
 * generation, whatever other opens do meanwhile.  Everything else is
 * refused (sysstream.c, and the write checks of the operations).
 *
 * virt.f[].name, .gen and virt.n are set before the session runs
 * (sysstream_virtual) and only read afterwards; a file's .size and .made
 * (its last generation) are guarded by fs.lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define VIRT_BASE (UINT64_C(1) << 62)
#define VIRT_MAX 16
#define VIRT_NAME_MAX 64

static struct {
	struct vfile {
		char name[VIRT_NAME_MAX];
		int (*gen)(char **buf, size_t *len);
		uint64_t size;          /* of the last generation */
		struct timespec made;   /* its time; 0: none yet */
	} f[VIRT_MAX];
	unsigned n;
} virt;

static int find(const char *name)
{
	for (unsigned i = 0; i < virt.n; i++)
		if (strcmp(virt.f[i].name, name) == 0)
			return (int)i;
	return -1;
}

void sysstream_virtual(const char *name, int (*gen)(char **buf, size_t *len))
{
	size_t len = strlen(name);
	if (virt.n == VIRT_MAX || len == 0 || len >= VIRT_NAME_MAX ||
	    strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || sysstream_topic_name(name) ||
	    find(name) >= 0 || !gen) {
		fprintf(stderr, "streamfs: error: cannot add the file "
			"/.streamfs/%s\n", name);
		return;
	}
	struct vfile *f = &virt.f[virt.n];
	memcpy(f->name, name, len + 1);
	f->gen = gen;
	virt.n++;
}

bool sysstream_virtual_ino(uint64_t ino)
{
	return ino >= VIRT_BASE && ino - VIRT_BASE < virt.n;
}

static struct vfile *file_of(uint64_t ino)
{
	return &virt.f[ino - VIRT_BASE];
}

static void made_up(uint64_t ino, struct sf_inode *in)
{
	const struct vfile *f = file_of(ino);
	memset(in, 0, sizeof(*in));
	in->ino = ino;
	in->mode = S_IFREG | 0400;
	in->uid = sys.uid;
	in->gid = sys.gid;
	in->nlink = 1;
	in->parent = sys.dir;
	in->atime = in->mtime = in->ctime =
		f->made.tv_sec ? f->made : sys.mounted;
}

int sysstream_get_inode(uint64_t ino, struct sf_inode *in)
{
	if (!sysstream_virtual_ino(ino))
		return store_get_inode(fs.store, ino, in);
	made_up(ino, in);
	return 0;
}

int sysstream_virtual_lookup(uint64_t dir, const char *name,
			     struct sf_inode *in)
{
	int i = dir == sys.dir && dir != 0 ? find(name) : -1;
	if (i < 0)
		return -ENOENT;
	made_up(VIRT_BASE + (uint64_t)i, in);
	return 0;
}

int sysstream_virtual_entry(uint64_t dir, unsigned i, char *name,
			    uint64_t *ino)
{
	if (dir != sys.dir || dir == 0 || i >= virt.n)
		return 0;
	strcpy(name, virt.f[i].name);
	*ino = VIRT_BASE + i;
	return 1;
}

/* What stat shows: through an open descriptor (fstat), its own snapshot;
 * by name, the last one any open made (0 bytes before the first). */
void sysstream_virtual_attr(uint64_t ino, const struct handle *h,
			    struct stat *st)
{
	const struct vfile *f = file_of(ino);
	uint64_t size = h && h->snap ? h->snaplen : f->size;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	if (h && h->snap)
		st->st_mtim = st->st_ctim = st->st_atim = h->snaptime;
}

void sysstream_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct caller c;
	struct sf_inode in;
	struct vfile *f = file_of(ino);
	char *buf = NULL;
	size_t len = 0;
	caller_init(&c, req);
	made_up(ino, &in);
	/* The stream's consume decides, as for its topics (mode bits:
	 * the mount owner). */
	int r = may_consume(&c, &in);
	if (r == 0)
		r = f->gen(&buf, &len);
	if (r == 0 && !buf && !(buf = malloc(1)))
		r = -ENOMEM;
	struct node *n = r == 0 ? node_get(ino) : NULL;
	if (r == 0 && !n)
		r = -ENOMEM;
	if (r == 0)
		r = io_open_node(n, &in, fi);
	if (r < 0) {
		free(buf);
		if (n)
			node_release_if_unused(n);
		fuse_reply_err(req, -r);
		return;
	}
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	h->snap = buf;
	h->snaplen = len;
	clock_gettime(CLOCK_REALTIME, &h->snaptime);
	f->size = len;
	f->made = h->snaptime;
	/* Reads reach the daemon whatever size the kernel last saw. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) != 0)
		io_release(NULL, ino, fi);
}

void sysstream_read(fuse_req_t req, const struct handle *h, size_t size,
		    off_t off)
{
	if (off < 0 || (uint64_t)off >= h->snaplen) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = h->snaplen - (size_t)off;
	fuse_reply_buf(req, h->snap + off, n < size ? n : size);
}

off_t sysstream_seek(const struct handle *h, off_t off, int whence)
{
	if (off < 0 || (uint64_t)off >= h->snaplen)
		return -ENXIO;
	return whence == SEEK_HOLE ? (off_t)h->snaplen : off;
}
