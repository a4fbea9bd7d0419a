/*
 * follow-bench - follower latency, for tools/bench_follow.sh (not a test).
 *
 * A writer thread appends one 100-byte message (a line: a 12-digit sequence
 * number, filler, a newline) every INTERVAL microseconds and takes the time
 * (CLOCK_MONOTONIC) right after each append returns.  A follower prints the
 * messages; this program reads what it prints and takes the time each line
 * arrives.  Latency = arrival - end of the append; the program prints one
 * line of key=value: count, lost, p50, p99, p999, max (microseconds), and
 * start_p50, start_p99: the same from the start of the append (what a
 * writer that waits for nothing but the follower would see).
 *
 *   follow-bench file PATH N INTERVAL -- CMD...
 *       append to PATH with write() on an O_APPEND descriptor; CMD (e.g.
 *       "streamctl tail -f -o end PATH", "tail -f -n0 PATH") prints the
 *       lines on its standard output, a pipe to this program
 *   follow-bench poll PATH N INTERVAL
 *       the same appends, followed inside this program: poll() on the file,
 *       then read() (no second process, no pipe)
 *   follow-bench redis PORT N INTERVAL -- CMD...
 *       XADD to stream key "bench" of the Redis server on 127.0.0.1:PORT;
 *       CMD follows it (normally "follow-bench redis-follow PORT")
 *   follow-bench redis-follow PORT
 *       print every new entry of "bench" (XREAD BLOCK), one line each
 *   follow-bench stats FILE...
 *       the same key=value line for latencies saved before: with
 *       FOLLOW_BENCH_RAW=FILE set, the other modes append each latency
 *       (nanoseconds from the end and from the start of the append, one
 *       message a line) to FILE, so rounds can be pooled
 *
 * Before measuring, a warm-up message is appended every 20 ms until the
 * follower prints one, so the measurement starts with the follower waiting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 100
#define SEQ_DIGITS 12
#define WARM_SEQ 999999999999ull
#define DRAIN_NS (5 * 1000000000ll)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "follow-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void make_msg(char *buf, uint64_t seq)
{
	snprintf(buf, SEQ_DIGITS + 1, "%0*" PRIu64, SEQ_DIGITS, seq);
	memset(buf + SEQ_DIGITS, 'x', MSG_SIZE - SEQ_DIGITS - 1);
	buf[MSG_SIZE - 1] = '\n';
}

/* ------------------------------------------------------------ Redis */

struct conn {
	int fd;
	char buf[1 << 16];
	size_t len, pos;
};

static void redis_connect(struct conn *c, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->len = c->pos = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (void *)&a, sizeof(a)) < 0)
		die("connect to redis");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

static void redis_cmd(struct conn *c, int argc, const char **argv,
		      const size_t *lens)
{
	char out[4096];
	size_t n = (size_t)snprintf(out, sizeof(out), "*%d\r\n", argc);

	for (int i = 0; i < argc; i++) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "$%zu\r\n",
				      lens[i]);
		memcpy(out + n, argv[i], lens[i]);
		n += lens[i];
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	send_all(c->fd, out, n);
}

static int conn_byte(struct conn *c)
{
	if (c->pos == c->len) {
		ssize_t n = read(c->fd, c->buf, sizeof(c->buf));
		if (n <= 0) {
			if (n == 0)
				exit(0);	/* server gone */
			die("read from redis");
		}
		c->len = (size_t)n;
		c->pos = 0;
	}
	return (unsigned char)c->buf[c->pos++];
}

/* One line of a reply, without its CRLF. */
static size_t conn_line(struct conn *c, char *out, size_t cap)
{
	size_t n = 0;
	int ch;

	while ((ch = conn_byte(c)) != '\r')
		if (n + 1 < cap)
			out[n++] = (char)ch;
	conn_byte(c);
	out[n] = '\0';
	return n;
}

/* Walk one reply; bulk strings go to fn (with their depth). */
static void reply_walk(struct conn *c, int depth,
		       void (*fn)(const char *, size_t, int, void *), void *arg)
{
	char line[128], *bulk;
	long n;

	conn_line(c, line, sizeof(line));
	switch (line[0]) {
	case '*':
		n = strtol(line + 1, NULL, 10);
		for (long i = 0; i < n; i++)
			reply_walk(c, depth + 1, fn, arg);
		break;
	case '$':
		n = strtol(line + 1, NULL, 10);
		if (n < 0)
			break;
		bulk = malloc((size_t)n + 2);
		for (long i = 0; i < n + 2; i++)
			bulk[i] = (char)conn_byte(c);
		if (fn)
			fn(bulk, (size_t)n, depth, arg);
		free(bulk);
		break;
	case '-':
		fprintf(stderr, "follow-bench: redis: %s\n", line + 1);
		exit(1);
	default:
		break;		/* +OK, :N */
	}
}

struct follow_state {
	char last_id[64];
	char out[1 << 16];
	size_t olen;
};

/* XREAD's reply: [[key, [[id, [field, value]], ...]]]: ids at depth 4,
 * field and value at depth 5. */
static void on_bulk(const char *s, size_t n, int depth, void *arg)
{
	struct follow_state *st = arg;

	if (depth == 4 && n < sizeof(st->last_id)) {
		memcpy(st->last_id, s, n);
		st->last_id[n] = '\0';
	} else if (depth == 5 && n == MSG_SIZE - 1 &&
		   st->olen + MSG_SIZE <= sizeof(st->out)) {
		memcpy(st->out + st->olen, s, n);
		st->out[st->olen + n] = '\n';
		st->olen += MSG_SIZE;
	}
}

static _Noreturn void redis_follow(int port)
{
	struct conn c;
	struct follow_state st = { .last_id = "$" };

	redis_connect(&c, port);
	for (;;) {
		const char *argv[] = { "XREAD", "BLOCK", "0", "COUNT", "1000",
				       "STREAMS", "bench", st.last_id };
		size_t lens[8];
		for (int i = 0; i < 8; i++)
			lens[i] = strlen(argv[i]);
		redis_cmd(&c, 8, argv, lens);
		st.olen = 0;
		reply_walk(&c, 0, on_bulk, &st);
		send_all(1, st.out, st.olen);
	}
}

/* ------------------------------------------------------------ writers */

struct run {
	const char *target;	/* PATH, or the Redis port */
	int redis;
	uint64_t n;
	int64_t interval_ns;
	int64_t *t_start, *t_write, *t_seen;
	volatile int warm;	/* the follower printed a warm-up message */
	volatile int done;
	struct conn rc;
	int fd;
};

static void append_one(struct run *r, uint64_t seq)
{
	char msg[MSG_SIZE];

	make_msg(msg, seq);
	if (r->redis) {
		const char *argv[] = { "XADD", "bench", "*", "d", msg };
		size_t lens[] = { 4, 5, 1, 1, MSG_SIZE - 1 };
		redis_cmd(&r->rc, 5, argv, lens);
		reply_walk(&r->rc, 0, NULL, NULL);
	} else if (write(r->fd, msg, MSG_SIZE) != MSG_SIZE) {
		die("append");
	}
}

static void *writer(void *arg)
{
	struct run *r = arg;
	struct timespec ts;

	while (!r->warm) {
		append_one(r, WARM_SEQ);
		usleep(20000);
	}
	usleep(100000);
	int64_t t0 = now_ns();
	for (uint64_t i = 0; i < r->n; i++) {
		int64_t at = t0 + (int64_t)i * r->interval_ns;
		ts.tv_sec = at / 1000000000;
		ts.tv_nsec = at % 1000000000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				       NULL) == EINTR)
			;
		r->t_start[i] = now_ns();
		append_one(r, i);
		r->t_write[i] = now_ns();
	}
	r->done = 1;
	return NULL;
}

/* Note the arrival of each complete line in buf[0..n); returns the bytes
 * of an incomplete last line, moved to the front. */
static size_t take_lines(struct run *r, char *buf, size_t n, int64_t t,
			 uint64_t *seen)
{
	char *p = buf, *end = buf + n, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		uint64_t seq = strtoull(p, NULL, 10);
		if (seq == WARM_SEQ)
			r->warm = 1;
		else if (seq < r->n && !r->t_seen[seq]) {
			r->t_seen[seq] = t;
			(*seen)++;
		}
		p = nl + 1;
	}
	memmove(buf, p, (size_t)(end - p));
	return (size_t)(end - p);
}

/* Read the follower's output (fd) until every message came, or DRAIN_NS
 * after the writer finished. */
static void collect(struct run *r, int fd)
{
	static char buf[1 << 20];
	size_t have = 0;
	uint64_t seen = 0;
	int64_t stop_at = 0;

	while (seen < r->n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (r->done && !stop_at)
			stop_at = now_ns() + DRAIN_NS;
		if (stop_at && now_ns() > stop_at)
			break;
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		int64_t t = now_ns();
		if (n <= 0)
			break;
		have = take_lines(r, buf, have + (size_t)n, t, &seen);
	}
}

/* Follow PATH inside this program: poll(), then read() to the end. */
static void *poll_follower(void *arg)
{
	struct run *r = arg;
	static char buf[1 << 20];
	size_t have = 0;
	uint64_t seen = 0;
	int fd = open(r->target, O_RDONLY);
	off_t pos = lseek(fd, 0, SEEK_END);

	if (fd < 0)
		die(r->target);
	while (seen < r->n && !(r->done && seen >= r->n)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = pread(fd, buf + have, sizeof(buf) - have, pos);
		if (n > 0) {
			pos += n;
			have = take_lines(r, buf, have + (size_t)n, now_ns(),
					  &seen);
			continue;
		}
		if (r->done && seen < r->n)
			break;
		poll(&p, 1, 1000);
	}
	close(fd);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

#define PCT(a, q) (k ? (a)[(uint64_t)((double)(k - 1) * (q))] / 1000.0 : 0.0)

/* lat: from the end of each append; from: from its start. */
static void print_stats(int64_t *lat, int64_t *from, uint64_t k,
			uint64_t lost)
{
	qsort(lat, k, sizeof(*lat), cmp_i64);
	qsort(from, k, sizeof(*from), cmp_i64);
	printf("count=%" PRIu64 " lost=%" PRIu64 " p50=%.1f p99=%.1f "
	       "p999=%.1f max=%.1f start_p50=%.1f start_p99=%.1f\n", k, lost,
	       PCT(lat, 0.5), PCT(lat, 0.99), PCT(lat, 0.999), PCT(lat, 1.0),
	       PCT(from, 0.5), PCT(from, 0.99));
}

static void report(struct run *r)
{
	int64_t *lat = malloc(r->n * sizeof(*lat));
	int64_t *from = malloc(r->n * sizeof(*from));
	const char *raw = getenv("FOLLOW_BENCH_RAW");
	FILE *f = raw && *raw ? fopen(raw, "a") : NULL;
	uint64_t k = 0;

	for (uint64_t i = 0; i < r->n; i++) {
		if (!r->t_seen[i] || !r->t_write[i])
			continue;
		lat[k] = r->t_seen[i] - r->t_write[i];
		from[k++] = r->t_seen[i] - r->t_start[i];
	}
	for (uint64_t i = 0; f && i < k; i++)
		fprintf(f, "%" PRId64 " %" PRId64 "\n", lat[i], from[i]);
	if (f)
		fclose(f);
	print_stats(lat, from, k, r->n - k);
	free(lat);
	free(from);
}

static int stats(int n, char **files)
{
	size_t k = 0, cap = 1 << 16;
	int64_t *lat = malloc(cap * sizeof(*lat));
	int64_t *from = malloc(cap * sizeof(*from));
	long long v, w;

	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f)
			die(files[i]);
		while (fscanf(f, "%lld %lld", &v, &w) == 2) {
			if (k == cap) {
				cap *= 2;
				lat = realloc(lat, cap * sizeof(*lat));
				from = realloc(from, cap * sizeof(*from));
			}
			lat[k] = v;
			from[k++] = w;
		}
		fclose(f);
	}
	print_stats(lat, from, k, 0);
	free(lat);
	free(from);
	return 0;
}

static pid_t spawn(char **argv, int *out)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "follow-bench: %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

static int usage(void)
{
	fprintf(stderr, "usage: follow-bench file PATH N INTERVAL_US -- CMD...\n"
		"       follow-bench poll PATH N INTERVAL_US\n"
		"       follow-bench redis PORT N INTERVAL_US -- CMD...\n"
		"       follow-bench redis-follow PORT\n"
		"       follow-bench stats FILE...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct run r = { .fd = -1 };
	pthread_t w, f;
	pid_t child = -1;
	int out = -1;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "redis-follow"))
		redis_follow(atoi(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "stats"))
		return stats(argc - 2, argv + 2);
	if (argc < 5)
		return usage();
	r.target = argv[2];
	r.redis = !strcmp(argv[1], "redis");
	r.n = strtoull(argv[3], NULL, 10);
	r.interval_ns = strtoll(argv[4], NULL, 10) * 1000;
	r.t_start = calloc(r.n, sizeof(int64_t));
	r.t_write = calloc(r.n, sizeof(int64_t));
	r.t_seen = calloc(r.n, sizeof(int64_t));
	if (r.redis)
		redis_connect(&r.rc, atoi(r.target));
	else if ((r.fd = open(r.target, O_WRONLY | O_APPEND | O_CREAT,
			      0644)) < 0)
		die(r.target);
	if (!strcmp(argv[1], "poll")) {
		r.warm = 1;
		pthread_create(&f, NULL, poll_follower, &r);
		usleep(200000);
		pthread_create(&w, NULL, writer, &r);
		pthread_join(w, NULL);
		pthread_join(f, NULL);
	} else {
		if (argc < 7 || strcmp(argv[5], "--"))
			return usage();
		child = spawn(argv + 6, &out);
		pthread_create(&w, NULL, writer, &r);
		collect(&r, out);
		pthread_join(w, NULL);
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	report(&r);
	return 0;
}
