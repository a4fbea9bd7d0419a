/* test_metrics.c - unit tests of the metrics' histograms (fs/histogram.c)
 * and renderings (fs/metrics_render.c), without a mount: bucket bounds
 * and quantiles, JSON and Prometheus escaping, and a made-up snapshot
 * rendered both ways.  When promtool is installed, the Prometheus text is
 * also run through `promtool check metrics`.
 *
 * TEST_METRICS_DUMP=1 in the environment prints both renderings.
 * main prints "N passed, N failed" and exits 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "histogram.h"
#include "metrics.h"

#include "check.h"

/* ---- histograms ---- */

static void test_buckets(void)
{
	/* Every value lies in its bucket's range, buckets are in order, and
	 * no bucket is wider than an eighth of its values. */
	unsigned prev = 0;
	int bad = 0;
	for (uint64_t v = 1; v < (1ull << 40); v += v / 7 + 1) {
		unsigned i = hist_index(v);
		uint64_t hi = hist_upper(i);
		uint64_t lo = i ? hist_upper(i - 1) + 1 : 0;
		if (v > hi || v < lo || i < prev || (v > 16 && hi - lo > v / 7))
			bad++;
		prev = i;
	}
	CHECK(bad == 0);
	CHECK(hist_index(0) == 0 && hist_index(1) == 0);
	CHECK(hist_index(2) == 1 && hist_upper(1) == 2);
	CHECK(hist_index(8) == 7 && hist_index(9) == 8);
	CHECK(hist_index(1ull << 50) == HIST_BUCKETS - 1);
	CHECK(hist_index(UINT64_MAX) == HIST_BUCKETS - 1);
	/* "At most 2^k" is exactly the buckets below hist_below(k). */
	for (unsigned k = 0; k <= 39; k++) {
		uint64_t x = 1ull << k;
		CHECK(hist_index(x) < hist_below(k));
		CHECK(hist_index(x + 1) >= hist_below(k));
		CHECK(hist_upper(hist_below(k) - 1) == x);
	}
}

static void test_quantiles(void)
{
	struct hist h = { { 0 }, 0 };
	for (uint64_t v = 1; v <= 1000; v++)
		hist_add(&h, v * 1000);
	uint64_t n = hist_count(h.b);
	CHECK(n == 1000);
	CHECK(h.sum == 500500000);
	uint64_t p50 = hist_quantile(h.b, n, 0.5);
	uint64_t p99 = hist_quantile(h.b, n, 0.99);
	uint64_t p999 = hist_quantile(h.b, n, 0.999);
	CHECK(p50 >= 500000 && p50 <= 500000 + 500000 / 8);
	CHECK(p99 >= 990000 && p99 <= 990000 + 990000 / 8);
	CHECK(p999 >= 999000 && p999 <= 999000 + 999000 / 8);
	CHECK(hist_max(h.b) >= 1000000 && hist_max(h.b) <= 1125000);
	CHECK(hist_quantile(h.b, 0, 0.5) == 0);
	struct hist one = { { 0 }, 0 };
	hist_add(&one, 5);
	CHECK(hist_quantile(one.b, 1, 0.5) == 5);
	CHECK(hist_quantile(one.b, 1, 0.999) == 5);
}

/* ---- escaping ---- */

static int escaped_json(const char *in, size_t n, const char *want)
{
	struct mbuf b = { 0 };
	mbuf_json_str(&b, in, n);
	int ok = b.p && strcmp(b.p, want) == 0;
	if (!ok)
		fprintf(stderr, "  json of %zu bytes: got %s, want %s\n", n,
			b.p ? b.p : "(null)", want);
	free(b.p);
	return ok;
}

static int escaped_label(const char *in, size_t n, const char *want)
{
	struct mbuf b = { 0 };
	mbuf_prom_label(&b, in, n);
	int ok = (b.p ? strcmp(b.p, want) : strcmp("", want)) == 0;
	if (!ok)
		fprintf(stderr, "  label of %zu bytes: got %s, want %s\n", n,
			b.p ? b.p : "(null)", want);
	free(b.p);
	return ok;
}

static void test_escaping(void)
{
	CHECK(escaped_json("/plant", 6, "\"/plant\""));
	CHECK(escaped_json("a\"b\\c", 5, "\"a\\\"b\\\\c\""));
	CHECK(escaped_json("x\ny\x01", 4, "\"x\\u000ay\\u0001\""));
	CHECK(escaped_json("caf\xc3\xa9", 5, "\"caf\xc3\xa9\""));
	CHECK(escaped_json("\xff" "a\xc3", 3, "\"\xef\xbf\xbd" "a\xef\xbf\xbd\""));
	CHECK(escaped_json("\xed\xa0\x80", 3,       /* a surrogate */
			   "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""));
	CHECK(escaped_json("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""));
	CHECK(escaped_json("", 0, "\"\""));
	CHECK(escaped_label("/a b", 4, "/a b"));
	CHECK(escaped_label("q\"b\\n\n", 6, "q\\\"b\\\\n\\n"));
	CHECK(escaped_label("t\tz\x7f", 4, "t\xef\xbf\xbdz\xef\xbf\xbd"));
	CHECK(escaped_label("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"));
	CHECK(escaped_label("", 0, ""));
}

/* ---- rendering ---- */

static void fill(struct metrics_snap *s, int64_t t)
{
	memset(s, 0, sizeof(*s));
	s->ts_ns = 1700000000000000000LL + t;
	s->mono_ns = 5000000000LL + t;
	s->start_ns = 1700000000000000000LL;
}

static char *path_dup(const char *p)
{
	return p ? strdup(p) : NULL;
}

static void make_snaps(struct metrics_snap *a, struct metrics_snap *b)
{
	fill(a, 0);
	fill(b, 1000000000);
	for (int i = 0; i < 10; i++)
		hist_add(&a->ops[MOP_GETATTR].lat, 2000);
	a->ops[MOP_GETATTR].count = 10;
	*b = *a;
	b->ts_ns = a->ts_ns + 1000000000;
	b->mono_ns = a->mono_ns + 1000000000;
	for (int i = 0; i < 4; i++)
		hist_add(&b->ops[MOP_GETATTR].lat, 40000);
	b->ops[MOP_GETATTR].count = 14;
	hist_add(&b->ops[MOP_RMDIR].lat, 9000);
	b->ops[MOP_RMDIR].count = 1;
	b->ops[MOP_RMDIR].nerr = 1;
	b->ops[MOP_RMDIR].errors[39] = 1;       /* ENOTEMPTY */
	b->ops[MOP_RMDIR].errors[0] = 1;        /* other */
	b->totals = (struct metrics_traffic){ 5, 8, 40, 2, 40 };
	static struct metrics_stream st[2];
	st[0] = (struct metrics_stream){ 5, path_dup("/pl\"ant\n"),
					 { 5, 8, 40, 2, 40 } };
	st[1] = (struct metrics_stream){ 9, NULL, { 0, 0, 0, 0, 0 } };
	b->streams = st;
	b->nstreams = 2;
	b->streams_tracked = 3;
	static struct metrics_lag lg[1];
	lg[0] = (struct metrics_lag){ 7, path_dup("/pl\"ant\n/t\xff"), "etl",
				      3, 24 };
	b->lags = lg;
	b->nlags = 1;
	b->lags_tracked = 1;
	static struct metrics_replica rl[2];
	rl[0] = (struct metrics_replica){ .id = 3, .ino = 5,
		.path = path_dup("/pl\"ant\n"), .peer = "b:9411/pl\"ant",
		.state = "up", .msgs_behind = 4, .secs_behind = 0.25,
		.sent_msgs = 10, .sent_bytes = 80, .scans = 7,
		.cursor_looks = 2,
		.last_error = "peer \"b\" refused", .last_error_ns =
		1500000000LL * 1000000000LL };
	rl[1] = (struct metrics_replica){ .id = 4, .ino = 9,
		.peer = "[::1]:9411/x", .state = "error" };
	b->replicas = rl;
	b->nreplicas = 2;
	b->replicas_total = 5;
	hist_add(&b->gc.size, 3);
	hist_add(&b->gc.lat, 120000);
	b->gc.syncs = 1;
	b->gc.writes = 2;
	b->gc.fsyncs = 1;
	b->db_ok = true;
	b->db.files[0] = 2;
	b->store.db_writes = 17;
}

static void test_json(void)
{
	struct metrics_snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	make_snaps(a, b);
	struct mbuf m = { 0 };
	CHECK(metrics_render_json(&m, b, a) == 0);
	CHECK(m.len > 0 && m.p[m.len - 1] == '\n');
	CHECK(memchr(m.p, '\n', m.len) == m.p + m.len - 1);
	CHECK(strstr(m.p, "\"interval_ns\":1000000000,") != NULL);
	/* getattr: 14 in all, 4 of them (40 us) in the interval. */
	CHECK(strstr(m.p, "\"getattr\":{\"count\":14,\"interval_count\":4,"
		     "\"p50_ns\":40960,") != NULL);
	CHECK(strstr(m.p, "\"rmdir\":{\"count\":1,\"errors\":{\"other\":1,"
		     "\"ENOTEMPTY\":1},") != NULL);
	CHECK(strstr(m.p, "{\"ino\":5,\"path\":\"/pl\\\"ant\\u000a\","
		     "\"appends\":5,\"messages_in\":8,\"bytes_in\":40,") != NULL);
	CHECK(strstr(m.p, "{\"ino\":9,\"appends\":0,") != NULL);
	CHECK(strstr(m.p, "\"streams\":{\"tracked\":3,\"left_out\":1,") != NULL);
	CHECK(strstr(m.p, "{\"group\":\"etl\",\"ino\":7,\"topic\":"
		     "\"/pl\\\"ant\\u000a/t\xef\xbf\xbd\",\"messages\":3,"
		     "\"bytes\":24}") != NULL);
	CHECK(strstr(m.p, "\"writes\":17,") != NULL);
	CHECK(strstr(m.p, "\"replicas_total\":5,\"replicas_left_out\":3,"
		     "\"replicas\":[{\"id\":3,\"ino\":5,\"stream\":"
		     "\"/pl\\\"ant\\u000a\",\"peer\":\"b:9411/pl\\\"ant\","
		     "\"state\":\"up\",\"msgs_behind\":4,\"secs_behind\":0.250,"
		     "\"sent_msgs\":10,\"sent_bytes\":80,\"scans\":7,"
		     "\"cursor_looks\":2,\"last_error\":"
		     "\"peer \\\"b\\\" refused\",\"last_error_ns\":"
		     "1500000000000000000},{\"id\":4,\"ino\":9,\"peer\":") != NULL);
	if (getenv("TEST_METRICS_DUMP"))
		fputs(m.p, stdout);
	free(m.p);
	/* Without an earlier copy: percentiles since the mount. */
	m = (struct mbuf){ 0 };
	CHECK(metrics_render_json(&m, a, NULL) == 0);
	CHECK(strstr(m.p, "\"interval_ns\":0,") != NULL);
	CHECK(strstr(m.p, "\"getattr\":{\"count\":10,\"interval_count\":10,"
		     "\"p50_ns\":2048,") != NULL);
	free(m.p);
	free(b->streams[0].path);
	free(b->lags[0].path);
	free(b->replicas[0].path);
	free(a);
	free(b);
}

/* Run promtool check metrics on text, if promtool is there: 1 ok, 0 not,
 * -1 no promtool. */
static int promtool_ok(const char *text, size_t len)
{
	if (access("/usr/bin/promtool", X_OK) != 0)
		return -1;
	FILE *p = popen("/usr/bin/promtool check metrics", "w");
	if (!p)
		return 0;
	fwrite(text, 1, len, p);
	int st = pclose(p);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_prom(void)
{
	struct metrics_snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	make_snaps(a, b);
	struct mbuf m = { 0 };
	CHECK(metrics_render_prom(&m, b) == 0);
	CHECK(strstr(m.p, "# TYPE streamfs_fuse_requests_total counter\n"
		     "streamfs_fuse_requests_total{op=\"getattr\"} 14\n"
		     "streamfs_fuse_requests_total{op=\"rmdir\"} 1\n") != NULL);
	CHECK(strstr(m.p, "streamfs_fuse_errors_total{op=\"rmdir\","
		     "errno=\"ENOTEMPTY\"} 1\n") != NULL);
	/* 10 of 2 us and 4 of 40 us: 10 are at most 4.096 us, all at most
	 * 65.536 us. */
	CHECK(strstr(m.p, "streamfs_fuse_request_duration_seconds_bucket{"
		     "op=\"getattr\",le=\"1.024e-06\"} 0\n"
		     "streamfs_fuse_request_duration_seconds_bucket{"
		     "op=\"getattr\",le=\"4.096e-06\"} 10\n") != NULL);
	CHECK(strstr(m.p, "streamfs_fuse_request_duration_seconds_bucket{"
		     "op=\"getattr\",le=\"6.5536e-05\"} 14\n") != NULL);
	CHECK(strstr(m.p, "streamfs_fuse_request_duration_seconds_bucket{"
		     "op=\"getattr\",le=\"+Inf\"} 14\n"
		     "streamfs_fuse_request_duration_seconds_sum{"
		     "op=\"getattr\"} 0.00018\n"
		     "streamfs_fuse_request_duration_seconds_count{"
		     "op=\"getattr\"} 14\n") != NULL);
	CHECK(strstr(m.p, "streamfs_stream_messages_in_total{stream="
		     "\"/pl\\\"ant\\n\",ino=\"5\"} 8\n") != NULL);
	CHECK(strstr(m.p, "streamfs_stream_messages_in_total{stream=\"\","
		     "ino=\"9\"} 0\n") != NULL);
	CHECK(strstr(m.p, "streamfs_consumer_lag_bytes{group=\"etl\",topic="
		     "\"/pl\\\"ant\\n/t\xef\xbf\xbd\",ino=\"7\"} 24\n") != NULL);
	CHECK(strstr(m.p, "streamfs_group_commit_size_bucket{le=\"2\"} 0\n"
		     "streamfs_group_commit_size_bucket{le=\"4\"} 1\n") != NULL);
	CHECK(strstr(m.p, "streamfs_leveldb_files{level=\"0\"} 2\n") != NULL);
	CHECK(strstr(m.p, "streamfs_replica_msgs_behind{link=\"3\",stream="
		     "\"/pl\\\"ant\\n\",peer=\"b:9411/pl\\\"ant\"} 4\n") != NULL);
	CHECK(strstr(m.p, "streamfs_replica_state{link=\"4\",stream=\"\","
		     "peer=\"[::1]:9411/x\",state=\"error\"} 1\n") != NULL);
	CHECK(strstr(m.p, "streamfs_replica_last_error_time_seconds{link="
		     "\"4\",stream=\"\",peer=\"[::1]:9411/x\"} 0.000000000\n")
	      != NULL);
	CHECK(strstr(m.p, "streamfs_replica_links_left_out 3\n") != NULL);
	CHECK(strstr(m.p, "refused") == NULL);  /* no error text */
	if (getenv("TEST_METRICS_DUMP"))
		fputs(m.p, stdout);
	int ok = promtool_ok(m.p, m.len);
	if (ok < 0)
		fprintf(stderr, "test_metrics: no promtool, format not "
			"checked by it\n");
	else
		CHECK(ok == 1);
	free(m.p);
	/* Nothing counted yet (just after the mount). */
	fill(a, 0);
	m = (struct mbuf){ 0 };
	CHECK(metrics_render_prom(&m, a) == 0);
	CHECK(strstr(m.p, "streamfs_fuse_requests_total") == NULL);
	if (ok >= 0)
		CHECK(promtool_ok(m.p, m.len) == 1);
	free(m.p);
	free(b->streams[0].path);
	free(b->lags[0].path);
	free(b->replicas[0].path);
	free(a);
	free(b);
}

int main(void)
{
	test_buckets();
	test_quantiles();
	test_escaping();
	test_json();
	test_prom();
	return check_summary();
}
