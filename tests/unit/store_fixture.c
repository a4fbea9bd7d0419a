/* store_fixture.c - the harness and helpers the store's unit tests share
 * (store_fixture.h says what each one does). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_fixture.h"

/* ---- the harness ---- */

int passed, failed;

int check_at(int ok, const char *what, const char *file, int line)
{
	if (ok) {
		passed++;
		return 1;
	}
	failed++;
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	return 0;
}

int eq_at(unsigned long long got, unsigned long long want,
	  const char *what, const char *file, int line)
{
	if (check_at(got == want, what, file, line))
		return 1;
	fprintf(stderr, "  got %lld (0x%llx), want %lld (0x%llx)\n",
		(long long)got, got, (long long)want, want);
	return 0;
}

int bytes_at(const void *got, const void *want, size_t n,
	     const char *what, const char *file, int line)
{
	const unsigned char *g = got, *w = want;
	size_t i = 0;
	while (i < n && g[i] == w[i])
		i++;
	if (check_at(i == n, what, file, line))
		return 1;
	fprintf(stderr, "  first difference at byte %zu: got 0x%02x, "
		"want 0x%02x\n", i, g[i], w[i]);
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type,
		    struct FTW *ftw)
{
	return remove(path);
}

/* Run one test in a data folder of its own, named after the program. */
static void run(const char *prog, const struct test *t)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	int before = failed;
	snprintf(dir, sizeof(dir), "%s/%s.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp", prog);
	if (!check_at(mkdtemp(dir) != NULL, "mkdtemp", __FILE__, __LINE__))
		return;
	t->fn(dir);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("%s %s\n", failed == before ? "ok  " : "FAIL", t->name);
	fflush(stdout);
}

/* ---- opening, topics as fs/ makes them, appends and reads ---- */

struct store *open_reserve(const char *dir, uint64_t reserve)
{
	struct store *st = NULL;
	char err[512] = "";
	int r = store_open(dir, reserve, &st, err, sizeof(err));
	if (!EQ(r, 0))
		fprintf(stderr, "  store_open(%s): %s\n", dir, err);
	return r == 0 ? st : NULL;
}

struct store *open_store(const char *dir)
{
	return open_reserve(dir, 0);
}

/* A fresh inode number, as fs/ gets one. */
uint64_t new_ino(struct store *st)
{
	uint64_t ino = 0;
	EQ(store_alloc_ino(st, &ino), 0);
	return ino;
}

/* Make dir/name as fs/ does (ns_make): the inode record and the entry,
 * and the parent's record again with its new times and link count.  A
 * topic gets its kind at once (fs/ fixes it at the first write). */
uint64_t make_node(struct store *st, uint64_t dir, const char *name,
		   uint32_t mode, uint32_t kind)
{
	struct sf_inode d, in = {
		.ino = new_ino(st), .mode = mode, .uid = getuid(),
		.gid = getgid(), .nlink = S_ISDIR(mode) ? 2 : 1,
		.kind = kind, .parent = dir,
	};
	if (!EQ(store_get_inode(st, dir, &d), 0))
		return 0;
	clock_gettime(CLOCK_REALTIME, &in.mtime);
	in.atime = in.ctime = in.mtime;
	d.mtime = d.ctime = in.mtime;
	if (S_ISDIR(mode))
		d.nlink++;
	struct store_batch *b = store_batch_new();
	store_put_inode(b, &in);
	store_put_dirent(b, dir, name, in.ino, S_ISDIR(mode) ? DT_DIR : DT_REG);
	store_put_inode(b, &d);
	int r = store_commit(st, b, false);
	store_batch_free(b);
	return EQ(r, 0) ? in.ino : 0;
}

int make_topic_in(struct store *st, const char *sname, const char *tname,
		  struct fx *fx)
{
	if (store_lookup(st, 1, sname, &fx->stream) != 0)
		fx->stream = make_node(st, 1, sname, S_IFDIR | 0755, 0);
	fx->ino = fx->stream ? make_node(st, fx->stream, tname,
					 S_IFREG | 0644, SF_KIND_TOPIC) : 0;
	return fx->ino != 0;
}

int make_topic(struct store *st, struct fx *fx)
{
	return make_topic_in(st, "s", "t", fx);
}

uint32_t count_lines(const char *s, size_t n)
{
	uint32_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += s[i] == '\n';
	return c;
}

/* Append s as one record of line messages. */
int append(struct store *st, const struct fx *fx, struct sf_topic *t,
	   const char *s)
{
	struct iovec iov = { (void *)s, strlen(s) };
	return store_topic_append(st, fx->ino, fx->stream, t, &iov, 1,
				  iov.iov_len, count_lines(s, iov.iov_len),
				  false);
}

int append_all(struct store *st, const struct fx *fx, struct sf_topic *t,
	       const char *const *recs, int n)
{
	int r = 0;
	for (int i = 0; r == 0 && i < n; i++)
		r = append(st, fx, t, recs[i]);
	return r;
}

/* Bytes [off, off+len) of a topic gathered into out (NUL-terminated);
 * their count, or -errno. */
long read_into(struct store *st, uint64_t ino, const struct sf_topic *t,
	       uint64_t off, size_t len, char *out, size_t cap)
{
	struct sf_readbuf rb = { 0 };
	int r = store_topic_read(st, ino, t, off, len, &rb);
	size_t n = 0;
	for (int i = 0; r == 0 && i < rb.iovcnt; i++) {
		if (n + rb.iov[i].iov_len >= cap) {
			r = -E2BIG;
			break;
		}
		memcpy(out + n, rb.iov[i].iov_base, rb.iov[i].iov_len);
		n += rb.iov[i].iov_len;
	}
	if (r == 0 && n != rb.bytes)
		r = -EPROTO;            /* the iovecs disagree with the count */
	store_readbuf_free(&rb);
	out[n] = 0;
	return r < 0 ? r : (long)n;
}

int reads_at(struct store *st, uint64_t ino, const struct sf_topic *t,
	     uint64_t off, size_t len, const char *want, const char *file,
	     int line)
{
	static char buf[1 << 16];
	long n = read_into(st, ino, t, off, len, buf, sizeof(buf));
	int ok = n == (long)strlen(want) && memcmp(buf, want, n) == 0;
	if (check_at(ok, "topic read", file, line))
		return 1;
	fprintf(stderr, "  read [%llu, +%zu): got %ld \"%.60s\", "
		"want \"%.60s\"\n",
		(unsigned long long)off, len, n, n >= 0 ? buf : "", want);
	return 0;
}

int same_topic_at(const struct sf_topic *a, const struct sf_topic *b,
		  const char *file, int line)
{
	int ok = eq_at(a->size, b->size, "size", file, line);
	ok &= eq_at(a->start, b->start, "start", file, line);
	ok &= eq_at(a->next_msg, b->next_msg, "next_msg", file, line);
	ok &= eq_at(a->first_msg, b->first_msg, "first_msg", file, line);
	ok &= eq_at(a->first_ns, b->first_ns, "first_ns", file, line);
	ok &= eq_at(a->last_ns, b->last_ns, "last_ns", file, line);
	ok &= eq_at(a->seg_stream, b->seg_stream, "seg_stream", file, line);
	ok &= eq_at(a->seg_seq, b->seg_seq, "seg_seq", file, line);
	return ok;
}

/* ---- files, time ---- */

void seg_file(char *buf, size_t cap, const char *dir, uint64_t stream,
	      uint64_t seq)
{
	snprintf(buf, cap, "%s/segments/%016llx/%016llx", dir,
		 (unsigned long long)stream, (unsigned long long)seq);
}

long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

struct store *reopen_load(const char *dir, const struct fx *fx,
			  struct sf_topic *t)
{
	struct store *st = open_store(dir);
	if (st && !EQ(store_topic_load(st, fx->ino, t), 0)) {
		store_close(st);
		st = NULL;
	}
	return st;
}

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int fixture_main(const char *prog, const struct test *tests, size_t n,
		 int argc, char **argv)
{
	for (size_t i = 0; i < n; i++)
		if (argc < 2 || strstr(tests[i].name, argv[1]))
			run(prog, &tests[i]);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
