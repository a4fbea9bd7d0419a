/*
 * streamfs-bench — the measured I/O patterns of the streamfs benchmark.
 *
 * Each invocation runs one pattern against one path and prints a single line
 * of `key=value` pairs on stdout (machine-readable; tools/bench.sh parses it).
 * The program knows nothing about FUSE or streamfs: it is pointed at a plain
 * directory, a passthrough mount or a streamfs mount alike, so every system is
 * measured by the same code. Messages are 100-byte lines (99 bytes + '\n') that
 * start with a decimal sequence number.
 *
 * Patterns:
 *   write  PATH   one write() per message on one open descriptor       (a)
 *   batch  PATH   64 KiB writes made of whole lines                    (b)
 *   echo   PATH   open(O_APPEND)-write one line-close per message      (c)
 *   read   PATH   sequential read with 1 MiB read() calls              (d)
 *   topics DIR    create N topics: open(O_CREAT|O_APPEND)+line+close   (e)
 *   random DIR    open+append+close to topics chosen at random         (e)
 *   randfd DIR    write() per message to K open topics chosen at random (e)
 *   first  CMD..  time until CMD prints its first line                 (e)
 *
 * Caveats: timings use CLOCK_MONOTONIC around the whole pattern, open and
 * close included; nothing is fsync'd (the figures are page-cache speeds on
 * every system). After a write pattern the file size is checked, and where the
 * file answers `user.streamfs.info` the indexed message count is printed too,
 * so a fast but lossy run cannot pass unnoticed.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* A message: 99 bytes of text and a newline, as the benchmark asks. */
#define MSG_SIZE 100
/* Digits of the sequence number at the head of each line. */
#define SEQ_DIGITS 12
/* Pattern (b)'s write size: a page-aligned 64 KiB of whole lines. */
#define BATCH_SIZE 65536
/* Pattern (d)'s read size. */
#define READ_SIZE (1024 * 1024)

/* ---------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------- */

struct opts {
	const char *mode;      /* "append" (O_APPEND) or "trunc" (O_TRUNC, a blob) */
	uint64_t count;        /* messages to write, or topics to create */
	uint64_t bytes;        /* total bytes for `batch` */
	uint64_t topics;       /* topics to pick from, for `random`, `randfd` */
	uint64_t fds;          /* descriptors held open, for `randfd` */
	unsigned seed;         /* random seed, for `random` */
	int blob;              /* `echo`: create the file as a blob first */
	int verify;            /* check size (and index) after writing */
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: streamfs-bench PATTERN [options] PATH\n"
"       streamfs-bench first CMD [ARG...]\n"
"\n"
"patterns:\n"
"  write  PATH   one write() per %d-byte message            (-n N, -m MODE)\n"
"  batch  PATH   %d-byte writes of whole lines             (-b BYTES, -m MODE)\n"
"  echo   PATH   open(O_APPEND), write one line, close       (-n N, --blob)\n"
"  read   PATH   sequential read with 1 MiB reads\n"
"  topics DIR    create N topics t0000000.. with one line each (-n N)\n"
"  random DIR    N appends to topics picked among T at random  (-n N, -t T)\n"
"  randfd DIR    open K of T topics at random, then N writes to them (-k K)\n"
"  first  CMD..  seconds until CMD prints its first line\n"
"\n"
"options:\n"
"  -n N       messages (or topics)        -b BYTES  total bytes (k/m/g suffix)\n"
"  -m MODE    append (O_APPEND, default) or trunc (O_TRUNC: makes a blob)\n"
"  -t T       topics to choose from       -s SEED   random seed (default 1)\n"
"  -k K       descriptors held open (randfd, default 1000)\n"
"  --blob     echo: create the file with an O_TRUNC write first (a blob)\n"
"  --no-verify  skip the size check after writing\n"
"\n"
"Prints one line of key=value pairs; exits 1 on any I/O error.\n",
		MSG_SIZE, BATCH_SIZE);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == '\0')
		return v;
bad:
	fprintf(stderr, "streamfs-bench: bad number '%s'\n", s);
	exit(2);
}

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "streamfs-bench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Writes all of buf or dies; a short write to a file is an error here. */
static void write_all(int fd, const char *buf, size_t len, const char *path)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write", path);
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Fills line[0..len) with a message: sequence number, filler, newline. */
static void make_line(char *line, size_t len, uint64_t seq)
{
	static const char filler[] =
		"streamfs benchmark message abcdefghijklmnopqrstuvwxyz "
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 the quick brown fox ";
	size_t i;

	for (i = 0; i < len - 1; i++)
		line[i] = filler[i % (sizeof(filler) - 1)];
	line[len - 1] = '\n';
	for (i = SEQ_DIGITS; i-- > 0; seq /= 10)
		line[i] = (char)('0' + seq % 10);
	line[SEQ_DIGITS] = ' ';
}

/* Rewrites just the sequence number of a line made by make_line(). */
static void set_seq(char *line, uint64_t seq)
{
	size_t i;

	for (i = SEQ_DIGITS; i-- > 0; seq /= 10)
		line[i] = (char)('0' + seq % 10);
}

static int open_flags(const struct opts *o)
{
	if (strcmp(o->mode, "trunc") == 0)
		return O_WRONLY | O_CREAT | O_TRUNC;
	return O_WRONLY | O_CREAT | O_APPEND;
}

/*
 * Prints " size=S" and, where the file is a streamfs topic, " indexed=M"
 * (its message count from user.streamfs.info) and its kind. A size other than
 * want adds " size_mismatch=WANT", an index count other than want_msgs adds
 * " index_mismatch=WANT_MSGS".
 */
static void verify(const char *path, uint64_t want, uint64_t want_msgs, int on)
{
	struct stat st;
	char info[1024];
	ssize_t n;

	if (!on)
		return;
	if (stat(path, &st) < 0)
		die("stat", path);
	printf(" size=%" PRIu64, (uint64_t)st.st_size);
	if ((uint64_t)st.st_size != want)
		printf(" size_mismatch=%" PRIu64, want);
	n = getxattr(path, "user.streamfs.info", info, sizeof(info) - 1);
	if (n > 0) {
		const char *m;

		info[n] = '\0';
		m = strstr(info, "messages=");
		if (m) {
			uint64_t got = strtoull(m + 9, NULL, 10);

			printf(" indexed=%" PRIu64, got);
			if (got != want_msgs)
				printf(" index_mismatch=%" PRIu64, want_msgs);
		}
	}
	n = getxattr(path, "user.streamfs.kind", info, sizeof(info) - 1);
	if (n > 0) {
		info[n] = '\0';
		printf(" kind=%s", info);
	}
}

static void report(const char *pattern, uint64_t msgs, uint64_t bytes, double secs)
{
	if (secs <= 0)
		secs = 1e-9;
	printf("pattern=%s msgs=%" PRIu64 " bytes=%" PRIu64 " secs=%.6f"
	       " msgs_per_s=%.0f mb_per_s=%.2f",
	       pattern, msgs, bytes, secs, msgs / secs, bytes / secs / 1e6);
}

/* ---------------------------------------------------------------------------
 * Patterns
 * ------------------------------------------------------------------------- */

/* (a) One write() per message on one descriptor. */
static void run_write(const struct opts *o, const char *path)
{
	char line[MSG_SIZE];
	double t0, t1;
	uint64_t i;
	int fd;

	make_line(line, sizeof(line), 0);
	t0 = now();
	fd = open(path, open_flags(o), 0644);
	if (fd < 0)
		die("open", path);
	for (i = 0; i < o->count; i++) {
		set_seq(line, i);
		write_all(fd, line, sizeof(line), path);
	}
	if (close(fd) < 0)
		die("close", path);
	t1 = now();
	report("write", o->count, o->count * MSG_SIZE, t1 - t0);
	verify(path, o->count * MSG_SIZE, o->count, o->verify);
	printf("\n");
}

/*
 * (b) Writes of exactly BATCH_SIZE bytes, each made of whole lines: 619 lines
 * of 100 bytes and 36 of 101 (65536 = 655 * 100 + 36), so no write splits a
 * message and every write is page-aligned.
 */
static void run_batch(const struct opts *o, const char *path)
{
	const unsigned nlines = BATCH_SIZE / MSG_SIZE;           /* 655 */
	const unsigned longer = BATCH_SIZE - nlines * MSG_SIZE;  /* 36 */
	char *buf = malloc(BATCH_SIZE);
	uint64_t nwrites, msgs, i;
	size_t off = 0;
	double t0, t1;
	unsigned l;
	int fd;

	if (!buf)
		die("malloc", "");
	for (l = 0; l < nlines; l++) {
		size_t len = MSG_SIZE + (l < longer ? 1 : 0);

		make_line(buf + off, len, l);
		off += len;
	}
	nwrites = (o->bytes + BATCH_SIZE - 1) / BATCH_SIZE;
	msgs = nwrites * nlines;

	t0 = now();
	fd = open(path, open_flags(o), 0644);
	if (fd < 0)
		die("open", path);
	for (i = 0; i < nwrites; i++) {
		set_seq(buf, i);
		write_all(fd, buf, BATCH_SIZE, path);
	}
	if (close(fd) < 0)
		die("close", path);
	t1 = now();
	report("batch", msgs, nwrites * BATCH_SIZE, t1 - t0);
	verify(path, nwrites * BATCH_SIZE, msgs, o->verify);
	printf("\n");
	free(buf);
}

/* (c) What `echo line >> PATH` does per message: open, one write, close. */
static void run_echo(const struct opts *o, const char *path)
{
	char line[MSG_SIZE];
	uint64_t i, total = o->count;
	double t0, t1;
	int fd;

	make_line(line, sizeof(line), 0);
	if (o->blob) {
		/* First write through a non-append handle: the file is a blob. */
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die("open", path);
		write_all(fd, line, sizeof(line), path);
		if (close(fd) < 0)
			die("close", path);
		total++;
	}
	t0 = now();
	for (i = 0; i < o->count; i++) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			die("open", path);
		set_seq(line, i);
		write_all(fd, line, sizeof(line), path);
		if (close(fd) < 0)
			die("close", path);
	}
	t1 = now();
	report("echo", o->count, o->count * MSG_SIZE, t1 - t0);
	verify(path, total * MSG_SIZE, total, o->verify);
	printf("\n");
}

/* (d) Sequential read of the whole file with READ_SIZE read() calls. */
static void run_read(const char *path)
{
	char *buf = malloc(READ_SIZE);
	uint64_t total = 0, sum = 0;
	double t0, t1;
	ssize_t n;
	int fd;

	if (!buf)
		die("malloc", "");
	t0 = now();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	for (;;) {
		n = read(fd, buf, READ_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read", path);
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		sum += (unsigned char)buf[n - 1];  /* touch the data */
	}
	close(fd);
	t1 = now();
	/* Messages are ~100 bytes; msgs counts newline-sized units. */
	report("read", total / MSG_SIZE, total, t1 - t0);
	printf(" touch=%" PRIu64 "\n", sum % 256);
	free(buf);
}

static void topic_path(char *out, size_t size, const char *dir, uint64_t i)
{
	snprintf(out, size, "%s/t%07" PRIu64, dir, i);
}

/* Open for append (creating), one line, close; dies on error. */
static void append_one(const char *path, char *line, uint64_t seq)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd < 0)
		die("open", path);
	set_seq(line, seq);
	write_all(fd, line, MSG_SIZE, path);
	if (close(fd) < 0)
		die("close", path);
}

/* (e) Creates topics t0000000 .. t(N-1) in DIR, one line each. */
static void run_topics(const struct opts *o, const char *dir)
{
	char path[4096], line[MSG_SIZE];
	double t0, t1, tlast = 0;
	uint64_t i;

	make_line(line, sizeof(line), 0);
	t0 = now();
	for (i = 0; i < o->count; i++) {
		topic_path(path, sizeof(path), dir, i);
		append_one(path, line, i);
		/* Progress on stderr every 10 s, so a long run shows it is alive. */
		if ((i & 1023) == 0 && now() - (tlast ? tlast : t0) > 10) {
			tlast = now();
			fprintf(stderr, "  ... %" PRIu64 " topics, %.0f/s\n",
				i, i / (tlast - t0));
		}
	}
	t1 = now();
	report("topics", o->count, o->count * MSG_SIZE, t1 - t0);
	/* The last topic created must hold exactly its one line. */
	if (o->count > 0) {
		topic_path(path, sizeof(path), dir, o->count - 1);
		verify(path, MSG_SIZE, 1, o->verify);
	}
	printf("\n");
}

/* (e) N appends to topics picked uniformly among T (open+write+close each). */
static void run_random(const struct opts *o, const char *dir)
{
	char path[4096], line[MSG_SIZE];
	uint64_t i, state = o->seed ? o->seed : 1;
	double t0, t1;

	if (o->topics == 0) {
		fprintf(stderr, "streamfs-bench: random needs -t TOPICS\n");
		exit(2);
	}
	make_line(line, sizeof(line), 0);
	t0 = now();
	for (i = 0; i < o->count; i++) {
		/* xorshift64*: cheap, and the same sequence on every system. */
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		topic_path(path, sizeof(path), dir,
			   (state * 2685821657736338717ULL >> 11) % o->topics);
		append_one(path, line, i);
	}
	t1 = now();
	report("random", o->count, o->count * MSG_SIZE, t1 - t0);
	printf("\n");
}

/*
 * (e) The append cost alone, without name lookups: opens K topics picked at
 * random among T (O_WRONLY|O_APPEND), then makes N single-message writes,
 * each to one of those K descriptors picked at random. Compare with `write`
 * on one topic: the same system calls, one topic instead of K.
 */
static void run_randfd(const struct opts *o, const char *dir)
{
	char path[4096], line[MSG_SIZE];
	uint64_t i, k = o->fds, state = o->seed ? o->seed : 1;
	struct rlimit rl;
	double t0, t1;
	int *fds;

	if (o->topics == 0 || k == 0) {
		fprintf(stderr, "streamfs-bench: randfd needs -t TOPICS and -k FDS\n");
		exit(2);
	}
	fds = calloc(k, sizeof(*fds));
	if (!fds)
		die("calloc", "");
	/* K descriptors plus stdio must fit under the soft limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < k + 16) {
		rl.rlim_cur = rl.rlim_max < k + 16 ? rl.rlim_max : k + 16;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	make_line(line, sizeof(line), 0);
	for (i = 0; i < k; i++) {
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		topic_path(path, sizeof(path), dir,
			   (state * 2685821657736338717ULL >> 11) % o->topics);
		fds[i] = open(path, O_WRONLY | O_APPEND);
		if (fds[i] < 0)
			die("open", path);
	}
	t0 = now();
	for (i = 0; i < o->count; i++) {
		state ^= state >> 12;
		state ^= state << 25;
		state ^= state >> 27;
		set_seq(line, i);
		write_all(fds[(state * 2685821657736338717ULL >> 11) % k], line,
			  MSG_SIZE, dir);
	}
	t1 = now();
	for (i = 0; i < k; i++)
		if (close(fds[i]) < 0)
			die("close", dir);
	report("randfd", o->count, o->count * MSG_SIZE, t1 - t0);
	printf(" fds=%" PRIu64 "\n", k);
	free(fds);
}

/*
 * (e) Runs argv through a pipe and prints the seconds until its first
 * complete line arrived (first_s) and until it exited (total_s).
 */
static int run_first(char **argv)
{
	double t0, tfirst = -1, tend;
	char buf[4096], first[256] = "";
	size_t flen = 0;
	int p[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(p) < 0)
		die("pipe", "");
	t0 = now();
	pid = fork();
	if (pid < 0)
		die("fork", "");
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read", "pipe");
		}
		if (tfirst < 0) {
			char *nl = memchr(buf, '\n', (size_t)n);
			size_t take = nl ? (size_t)(nl - buf) : (size_t)n;

			if (take > sizeof(first) - 1 - flen)
				take = sizeof(first) - 1 - flen;
			memcpy(first + flen, buf, take);
			flen += take;
			first[flen] = '\0';
			if (nl)
				tfirst = now();
		}
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	tend = now();
	if (tfirst < 0)
		tfirst = tend;
	printf("pattern=first first_s=%.6f total_s=%.6f first_line=%s status=%d\n",
	       tfirst - t0, tend - t0, first[0] ? first : "-",
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

int main(int argc, char *argv[])
{
	struct opts o = { .mode = "append", .count = 100000, .bytes = 1ULL << 30,
			  .seed = 1, .fds = 1000, .verify = 1 };
	const char *pattern, *path = NULL;
	int i;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	pattern = argv[1];
	if (strcmp(pattern, "first") == 0) {
		if (argc < 3) {
			usage(stderr);
			return 2;
		}
		return run_first(argv + 2);
	}

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if ((strcmp(a, "-n") == 0 || strcmp(a, "-b") == 0 ||
		     strcmp(a, "-m") == 0 || strcmp(a, "-t") == 0 ||
		     strcmp(a, "-s") == 0 || strcmp(a, "-k") == 0) &&
		    i + 1 >= argc) {
			fprintf(stderr, "streamfs-bench: %s needs a value\n", a);
			return 2;
		}
		if (strcmp(a, "-n") == 0)
			o.count = parse_size(argv[++i]);
		else if (strcmp(a, "-b") == 0)
			o.bytes = parse_size(argv[++i]);
		else if (strcmp(a, "-t") == 0)
			o.topics = parse_size(argv[++i]);
		else if (strcmp(a, "-k") == 0)
			o.fds = parse_size(argv[++i]);
		else if (strcmp(a, "-s") == 0)
			o.seed = (unsigned)parse_size(argv[++i]);
		else if (strcmp(a, "-m") == 0) {
			o.mode = argv[++i];
			if (strcmp(o.mode, "append") && strcmp(o.mode, "trunc")) {
				fprintf(stderr, "streamfs-bench: -m append|trunc\n");
				return 2;
			}
		} else if (strcmp(a, "--blob") == 0)
			o.blob = 1;
		else if (strcmp(a, "--no-verify") == 0)
			o.verify = 0;
		else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "streamfs-bench: unknown option %s\n", a);
			return 2;
		} else if (!path)
			path = a;
		else {
			fprintf(stderr, "streamfs-bench: one PATH only\n");
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(pattern, "write") == 0)
		run_write(&o, path);
	else if (strcmp(pattern, "batch") == 0)
		run_batch(&o, path);
	else if (strcmp(pattern, "echo") == 0)
		run_echo(&o, path);
	else if (strcmp(pattern, "read") == 0)
		run_read(path);
	else if (strcmp(pattern, "topics") == 0)
		run_topics(&o, path);
	else if (strcmp(pattern, "random") == 0)
		run_random(&o, path);
	else if (strcmp(pattern, "randfd") == 0)
		run_randfd(&o, path);
	else {
		fprintf(stderr, "streamfs-bench: unknown pattern '%s'\n", pattern);
		return 2;
	}
	fflush(stdout);
	return 0;
}
