/* metrics_render.c - a snapshot of the daemon's figures as text: one JSON
 * line (the /.streamfs/metrics topic) and the Prometheus text exposition
 * format 0.0.4 (/.streamfs/metrics.prom), with the escaping each needs.
 * Pure functions of a struct metrics_snap: no lock, no FUSE. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json.h"
#include "metrics.h"

#define METRICS_OP_NAME(id, name) name,
const char *const metrics_op_names[MOP_COUNT] = {
	METRICS_OPS(METRICS_OP_NAME)
};
#undef METRICS_OP_NAME

/* ---- the buffer ---- */

static bool mbuf_room(struct mbuf *b, size_t n)
{
	if (b->failed)
		return false;
	char *p = buf_grow(b->p, &b->cap, b->len + n + 1, 4096);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	return true;
}

void mbuf_add(struct mbuf *b, const char *s, size_t n)
{
	if (!mbuf_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		mbuf_add(b, tmp, (size_t)n);
		return;
	}
	if (!mbuf_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

#define ADD(b, lit) mbuf_add(b, lit, sizeof(lit) - 1)

/* The length of the UTF-8 sequence at s (n bytes left), or 0 if there is
 * none (a stray byte, an overlong form, a surrogate, past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

#define REPLACEMENT "\xef\xbf\xbd"     /* U+FFFD in UTF-8 */

void mbuf_json_str(struct mbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	ADD(b, "\"");
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t l = utf8_len(p + i, n - i);
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			mbuf_add(b, e, 2);
		} else if (c < 0x20) {
			mbuf_printf(b, "\\u%04x", c);
		} else if (l == 0) {
			ADD(b, REPLACEMENT);
			l = 1;
		} else {
			mbuf_add(b, s + i, l);
		}
		i += l ? l : 1;
	}
	ADD(b, "\"");
}

void mbuf_prom_label(struct mbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t l = utf8_len(p + i, n - i);
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			mbuf_add(b, e, 2);
		} else if (c == '\n') {
			ADD(b, "\\n");
		} else if (c < 0x20 || c == 0x7f || l == 0) {
			ADD(b, REPLACEMENT);
			l = 1;
		} else {
			mbuf_add(b, s + i, l);
		}
		i += l ? l : 1;
	}
}

/* ---- JSON ---- */

static const char *errno_name(unsigned e)
{
	const char *n = e ? strerrorname_np((int)e) : NULL;
	return n ? n : "other";
}

/* Quantiles of the counts in d (n values). */
static void json_quantiles(struct mbuf *b, const uint64_t *d, uint64_t n,
			   const char *unit)
{
	mbuf_printf(b, ",\"p50%s\":%llu,\"p99%s\":%llu,\"p999%s\":%llu,"
		    "\"max%s\":%llu", unit,
		    (unsigned long long)hist_quantile(d, n, 0.5), unit,
		    (unsigned long long)hist_quantile(d, n, 0.99), unit,
		    (unsigned long long)hist_quantile(d, n, 0.999), unit,
		    (unsigned long long)hist_max(d));
}

/* The counts of cur less those of prev (NULL: none), into d; their sum. */
static uint64_t hist_delta(uint64_t *d, const struct hist *cur,
			   const struct hist *prev)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		d[i] = cur->b[i] - (prev ? prev->b[i] : 0);
		n += d[i];
	}
	return n;
}

static void json_op(struct mbuf *b, unsigned op,
		    const struct metrics_op_stat *s,
		    const struct metrics_op_stat *p, uint64_t *d)
{
	mbuf_printf(b, "\"%s\":{\"count\":%llu", metrics_op_names[op],
		    (unsigned long long)s->count);
	if (s->nerr) {
		const char *sep = "";
		ADD(b, ",\"errors\":{");
		for (unsigned e = 0; e < METRICS_ERRNO_MAX; e++) {
			if (!s->errors[e])
				continue;
			mbuf_printf(b, "%s\"%s\":%llu", sep, errno_name(e),
				    (unsigned long long)s->errors[e]);
			sep = ",";
		}
		ADD(b, "}");
	}
	uint64_t n = hist_delta(d, &s->lat, p ? &p->lat : NULL);
	mbuf_printf(b, ",\"interval_count\":%llu", (unsigned long long)n);
	if (n)
		json_quantiles(b, d, n, "_ns");
	ADD(b, "}");
}

static void json_ops(struct mbuf *b, const struct metrics_snap *c,
		     const struct metrics_snap *p, uint64_t *d)
{
	const char *sep = "";
	ADD(b, ",\"ops\":{");
	for (unsigned op = 0; op < MOP_COUNT; op++) {
		if (!c->ops[op].count)
			continue;
		mbuf_add(b, sep, strlen(sep));
		json_op(b, op, &c->ops[op], p ? &p->ops[op] : NULL, d);
		sep = ",";
	}
	ADD(b, "}");
}

static void json_traffic(struct mbuf *b, const struct metrics_traffic *t)
{
	mbuf_printf(b, "\"appends\":%llu,\"messages_in\":%llu,"
		    "\"bytes_in\":%llu,\"reads\":%llu,\"bytes_out\":%llu",
		    (unsigned long long)t->appends,
		    (unsigned long long)t->messages_in,
		    (unsigned long long)t->bytes_in,
		    (unsigned long long)t->reads,
		    (unsigned long long)t->bytes_out);
}

static void json_path(struct mbuf *b, const char *key, const char *path)
{
	if (!path)
		return;
	mbuf_printf(b, ",\"%s\":", key);
	mbuf_json_str(b, path, strlen(path));
}

static void json_streams(struct mbuf *b, const struct metrics_snap *c)
{
	ADD(b, ",\"totals\":{");
	json_traffic(b, &c->totals);
	mbuf_printf(b, "},\"streams\":{\"tracked\":%llu,\"left_out\":%llu,"
		    "\"untracked_ops\":%llu,\"top\":[",
		    (unsigned long long)c->streams_tracked,
		    (unsigned long long)(c->streams_tracked - c->nstreams),
		    (unsigned long long)c->untracked_ops);
	for (unsigned i = 0; i < c->nstreams; i++) {
		const struct metrics_stream *s = &c->streams[i];
		mbuf_printf(b, "%s{\"ino\":%llu", i ? "," : "",
			    (unsigned long long)s->ino);
		json_path(b, "path", s->path);
		ADD(b, ",");
		json_traffic(b, &s->t);
		ADD(b, "}");
	}
	ADD(b, "]}");
}

static void json_gc(struct mbuf *b, const struct metrics_snap *c,
		    const struct metrics_snap *p, uint64_t *d)
{
	const struct metrics_gc *g = &c->gc;
	mbuf_printf(b, ",\"group_commit\":{\"syncs\":%llu,\"errors\":%llu,"
		    "\"writes\":%llu,\"fsyncs\":%llu",
		    (unsigned long long)g->syncs, (unsigned long long)g->errors,
		    (unsigned long long)g->writes,
		    (unsigned long long)g->fsyncs);
	uint64_t n = hist_delta(d, &g->size, p ? &p->gc.size : NULL);
	mbuf_printf(b, ",\"interval_count\":%llu", (unsigned long long)n);
	if (n) {
		json_quantiles(b, d, n, "_size");
		hist_delta(d, &g->lat, p ? &p->gc.lat : NULL);
		json_quantiles(b, d, n, "_ns");
	}
	ADD(b, "}");
}

static void json_store(struct mbuf *b, const struct metrics_snap *c)
{
	const struct store_stats *s = &c->store;
	const struct store_recovery *r = &s->recovery;
	mbuf_printf(b, ",\"retention\":{\"records_expired\":%llu,"
		    "\"messages_expired\":%llu,\"bytes_expired\":%llu,"
		    "\"segments_deleted\":%llu,\"segment_bytes_deleted\":%llu,"
		    "\"segments_compacted\":%llu,\"bytes_copied\":%llu}",
		    (unsigned long long)s->records_expired,
		    (unsigned long long)s->messages_expired,
		    (unsigned long long)s->bytes_expired,
		    (unsigned long long)s->segments_deleted,
		    (unsigned long long)s->segment_bytes_deleted,
		    (unsigned long long)s->segments_compacted,
		    (unsigned long long)s->bytes_copied);
	mbuf_printf(b, ",\"recovery\":{\"streams\":%llu,\"segments_cut\":%llu,"
		    "\"bytes_cut\":%llu,\"records_reindexed\":%llu,"
		    "\"entries_dropped\":%llu,\"records_unindexed\":%llu,"
		    "\"orphans_purged\":%llu,\"ns\":%lld}",
		    (unsigned long long)r->streams,
		    (unsigned long long)r->segments_cut,
		    (unsigned long long)r->bytes_cut,
		    (unsigned long long)r->records_reindexed,
		    (unsigned long long)r->entries_dropped,
		    (unsigned long long)r->records_unindexed,
		    (unsigned long long)r->orphans_purged, (long long)r->ns);
}

static void json_levels(struct mbuf *b, const char *key, const uint64_t *v)
{
	mbuf_printf(b, ",\"%s\":[", key);
	for (unsigned l = 0; l < STORE_DB_LEVELS; l++)
		mbuf_printf(b, "%s%llu", l ? "," : "",
			    (unsigned long long)v[l]);
	ADD(b, "]");
}

static uint64_t level_sum(const uint64_t *v)
{
	uint64_t n = 0;
	for (unsigned l = 0; l < STORE_DB_LEVELS; l++)
		n += v[l];
	return n;
}

static void json_db(struct mbuf *b, const struct metrics_snap *c)
{
	const struct store_db_stats *d = &c->db;
	mbuf_printf(b, ",\"leveldb\":{\"writes\":%llu,\"synced_writes\":%llu,"
		    "\"reopens\":%llu",
		    (unsigned long long)c->store.db_writes,
		    (unsigned long long)c->store.db_synced_writes,
		    (unsigned long long)c->store.db_reopens);
	if (c->db_ok) {
		json_levels(b, "files", d->files);
		json_levels(b, "level_bytes", d->bytes);
		mbuf_printf(b, ",\"compaction_s\":%llu,\"compaction_read\":%llu,"
			    "\"compaction_written\":%llu,\"memory\":%llu",
			    (unsigned long long)level_sum(d->compaction_s),
			    (unsigned long long)level_sum(d->compaction_read),
			    (unsigned long long)level_sum(d->compaction_written),
			    (unsigned long long)d->memory);
	}
	ADD(b, "}");
}

static void json_lags(struct mbuf *b, const struct metrics_snap *c)
{
	mbuf_printf(b, ",\"lag\":{\"tracked\":%llu,\"left_out\":%llu,\"top\":[",
		    (unsigned long long)c->lags_tracked,
		    (unsigned long long)(c->lags_tracked - c->nlags));
	for (unsigned i = 0; i < c->nlags; i++) {
		const struct metrics_lag *l = &c->lags[i];
		mbuf_printf(b, "%s{\"group\":", i ? "," : "");
		mbuf_json_str(b, l->group, strlen(l->group));
		mbuf_printf(b, ",\"ino\":%llu", (unsigned long long)l->ino);
		json_path(b, "topic", l->path);
		mbuf_printf(b, ",\"messages\":%llu,\"bytes\":%llu}",
			    (unsigned long long)l->messages,
			    (unsigned long long)l->bytes);
	}
	ADD(b, "]}");
}

static void json_replicas(struct mbuf *b, const struct metrics_snap *c)
{
	mbuf_printf(b, ",\"replicas_total\":%llu,\"replicas_left_out\":%llu,"
		    "\"replicas\":[", (unsigned long long)c->replicas_total,
		    (unsigned long long)(c->replicas_total - c->nreplicas));
	for (unsigned i = 0; i < c->nreplicas; i++) {
		const struct metrics_replica *r = &c->replicas[i];
		mbuf_printf(b, "%s{\"id\":%llu,\"ino\":%llu", i ? "," : "",
			    (unsigned long long)r->id,
			    (unsigned long long)r->ino);
		json_path(b, "stream", r->path);
		ADD(b, ",\"peer\":");
		mbuf_json_str(b, r->peer, strlen(r->peer));
		ADD(b, ",\"state\":");
		mbuf_json_str(b, r->state, strlen(r->state));
		mbuf_printf(b, ",\"msgs_behind\":%llu,\"secs_behind\":%.3f,"
			    "\"sent_msgs\":%llu,\"sent_bytes\":%llu,"
			    "\"scans\":%llu,\"cursor_looks\":%llu,"
			    "\"last_error\":", (unsigned long long)r->msgs_behind,
			    r->secs_behind, (unsigned long long)r->sent_msgs,
			    (unsigned long long)r->sent_bytes,
			    (unsigned long long)r->scans,
			    (unsigned long long)r->cursor_looks);
		mbuf_json_str(b, r->last_error, strlen(r->last_error));
		mbuf_printf(b, ",\"last_error_ns\":%lld}",
			    (long long)r->last_error_ns);
	}
	ADD(b, "]");
}

int metrics_render_json(struct mbuf *b, const struct metrics_snap *c,
			const struct metrics_snap *p)
{
	uint64_t *d = malloc(HIST_BUCKETS * sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* ts as the errors stream has it, and in ns for arithmetic. */
	char when[64];
	struct timespec ts = { (time_t)(c->ts_ns / 1000000000),
			       (long)(c->ts_ns % 1000000000) };
	json_time(when, sizeof(when), &ts);
	mbuf_printf(b, "{\"ts\":%s,\"ts_ns\":%lld,\"interval_ns\":%lld,"
		    "\"start_ns\":%lld", when, (long long)c->ts_ns,
		    (long long)(p ? c->mono_ns - p->mono_ns : 0),
		    (long long)c->start_ns);
	json_ops(b, c, p, d);
	json_streams(b, c);
	json_gc(b, c, p, d);
	json_store(b, c);
	json_db(b, c);
	mbuf_printf(b, ",\"gauges\":{\"open_files\":%llu,"
		    "\"inodes_in_memory\":%llu,\"rss_bytes\":%llu}",
		    (unsigned long long)c->open_files,
		    (unsigned long long)c->inodes,
		    (unsigned long long)c->rss_bytes);
	json_lags(b, c);
	json_replicas(b, c);
	ADD(b, "}\n");
	free(d);
	return b->failed ? -ENOMEM : 0;
}

/* ---- Prometheus ---- */

static void prom_family(struct mbuf *b, const char *name, const char *type,
			const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample without labels. */
static void prom_one(struct mbuf *b, const char *name, const char *type,
		     const char *help, uint64_t v)
{
	prom_family(b, name, type, help);
	mbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void prom_seconds(struct mbuf *b, const char *name, const char *type,
			 const char *help, double v)
{
	prom_family(b, name, type, help);
	mbuf_printf(b, "%s %.9f\n", name, v);
}

/* Bucket bounds: powers of two of the histogram's unit, from 2^lo to
 * 2^hi in steps of 2^step, each shown as 2^k / scale. */
struct prom_hist {
	unsigned lo, hi, step;
	double scale;
};

static const struct prom_hist LAT = { 10, 34, 2, 1e9 };    /* 1 us - 17 s */
static const struct prom_hist SIZE = { 0, 12, 1, 1 };      /* 1 - 4096 */

/* The samples of one histogram; labels is "" or `k="v",`. */
static void prom_hist_samples(struct mbuf *b, const char *name,
			      const char *labels, const struct hist *h,
			      const struct prom_hist *ph)
{
	uint64_t below = 0;
	unsigned i = 0;
	for (unsigned k = ph->lo; k <= ph->hi; k += ph->step) {
		for (unsigned end = hist_below(k); i < end; i++)
			below += h->b[i];
		mbuf_printf(b, "%s_bucket{%sle=\"%.9g\"} %llu\n", name, labels,
			    (double)(1ull << k) / ph->scale,
			    (unsigned long long)below);
	}
	uint64_t n = hist_count(h->b);
	mbuf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
		    (unsigned long long)n);
	size_t ll = strlen(labels);
	mbuf_printf(b, "%s_sum%s%.*s%s %.9g\n", name, ll ? "{" : "",
		    (int)(ll ? ll - 1 : 0), labels, ll ? "}" : "",
		    (double)h->sum / ph->scale);
	mbuf_printf(b, "%s_count%s%.*s%s %llu\n", name, ll ? "{" : "",
		    (int)(ll ? ll - 1 : 0), labels, ll ? "}" : "",
		    (unsigned long long)n);
}

static void prom_ops(struct mbuf *b, const struct metrics_snap *c)
{
	bool any = false, errs = false;
	for (unsigned op = 0; op < MOP_COUNT; op++) {
		any |= c->ops[op].count > 0;
		errs |= c->ops[op].nerr > 0;
	}
	if (!any)
		return;
	const char *rq = "streamfs_fuse_requests_total";
	prom_family(b, rq, "counter", "FUSE requests answered, by operation.");
	for (unsigned op = 0; op < MOP_COUNT; op++)
		if (c->ops[op].count)
			mbuf_printf(b, "%s{op=\"%s\"} %llu\n", rq,
				    metrics_op_names[op],
				    (unsigned long long)c->ops[op].count);
	const char *er = "streamfs_fuse_errors_total";
	if (errs)
		prom_family(b, er, "counter", "FUSE requests answered with an "
			    "error, by operation and errno.");
	for (unsigned op = 0; errs && op < MOP_COUNT; op++)
		for (unsigned e = 0; e < METRICS_ERRNO_MAX; e++)
			if (c->ops[op].errors[e])
				mbuf_printf(b, "%s{op=\"%s\",errno=\"%s\"} "
					    "%llu\n", er, metrics_op_names[op],
					    errno_name(e), (unsigned long long)
					    c->ops[op].errors[e]);
	const char *du = "streamfs_fuse_request_duration_seconds";
	prom_family(b, du, "histogram", "Time from the start of a FUSE "
		    "request to its reply, by operation.");
	for (unsigned op = 0; op < MOP_COUNT; op++) {
		char labels[64];
		if (!c->ops[op].count)
			continue;
		snprintf(labels, sizeof(labels), "op=\"%s\",",
			 metrics_op_names[op]);
		prom_hist_samples(b, du, labels, &c->ops[op].lat, &LAT);
	}
}

static void prom_traffic(struct mbuf *b, const struct metrics_snap *c)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} f[] = {
		{ "appends", "Appends to topics (records).",
		  offsetof(struct metrics_traffic, appends) },
		{ "messages_in", "Messages appended to topics.",
		  offsetof(struct metrics_traffic, messages_in) },
		{ "bytes_in", "Bytes appended to topics.",
		  offsetof(struct metrics_traffic, bytes_in) },
		{ "reads", "Reads of topics.",
		  offsetof(struct metrics_traffic, reads) },
		{ "bytes_out", "Bytes read from topics.",
		  offsetof(struct metrics_traffic, bytes_out) },
	};
	char name[96], help[128];
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		snprintf(name, sizeof(name), "streamfs_%s_total", f[i].name);
		prom_one(b, name, "counter", f[i].help, *(const uint64_t *)
			 ((const char *)&c->totals + f[i].off));
	}
	for (size_t i = 0; c->nstreams && i < sizeof(f) / sizeof(f[0]); i++) {
		snprintf(name, sizeof(name), "streamfs_stream_%s_total",
			 f[i].name);
		snprintf(help, sizeof(help), "%.*s, of one of the most active "
			 "streams.", (int)strlen(f[i].help) - 1, f[i].help);
		prom_family(b, name, "counter", help);
		for (unsigned s = 0; s < c->nstreams; s++) {
			const struct metrics_stream *st = &c->streams[s];
			const char *path = st->path ? st->path : "";
			mbuf_printf(b, "%s{stream=\"", name);
			mbuf_prom_label(b, path, strlen(path));
			mbuf_printf(b, "\",ino=\"%llu\"} %llu\n",
				    (unsigned long long)st->ino,
				    (unsigned long long)*(const uint64_t *)
				    ((const char *)&st->t + f[i].off));
		}
	}
	prom_one(b, "streamfs_streams_tracked", "gauge", "Streams whose "
		 "figures are kept (the most active of them are shown).",
		 c->streams_tracked);
	prom_one(b, "streamfs_streams_left_out", "gauge", "Streams kept but "
		 "not shown (not among the most active).",
		 c->streams_tracked - c->nstreams);
	prom_one(b, "streamfs_untracked_operations_total", "counter",
		 "Appends and reads of streams that found the table of "
		 "streams full (counted in the totals only).",
		 c->untracked_ops);
}

static void prom_gc(struct mbuf *b, const struct metrics_snap *c)
{
	const struct metrics_gc *g = &c->gc;
	prom_one(b, "streamfs_group_commits_total", "counter",
		 "Syncs of the sync thread (durability=batch, fsync).",
		 g->syncs);
	prom_one(b, "streamfs_group_commit_errors_total", "counter",
		 "Syncs of the sync thread that failed.", g->errors);
	prom_one(b, "streamfs_group_commit_writes_total", "counter",
		 "durability=batch writes made durable by the sync thread.",
		 g->writes);
	prom_one(b, "streamfs_group_commit_fsyncs_total", "counter",
		 "fsync() calls answered by the sync thread.", g->fsyncs);
	const char *sz = "streamfs_group_commit_size";
	prom_family(b, sz, "histogram", "Writes and fsync() calls covered "
		    "by one sync of the sync thread.");
	prom_hist_samples(b, sz, "", &g->size, &SIZE);
	const char *du = "streamfs_group_commit_duration_seconds";
	prom_family(b, du, "histogram", "Time one sync of the sync thread "
		    "took.");
	prom_hist_samples(b, du, "", &g->lat, &LAT);
}

static void prom_store(struct mbuf *b, const struct metrics_snap *c)
{
	const struct store_stats *s = &c->store;
	const struct store_recovery *r = &s->recovery;
	prom_one(b, "streamfs_expired_records_total", "counter",
		 "Records (appends) expired by ttl or retention_bytes.",
		 s->records_expired);
	prom_one(b, "streamfs_expired_messages_total", "counter",
		 "Messages expired by ttl or retention_bytes.",
		 s->messages_expired);
	prom_one(b, "streamfs_expired_bytes_total", "counter",
		 "Message bytes expired by ttl or retention_bytes.",
		 s->bytes_expired);
	prom_one(b, "streamfs_segments_deleted_total", "counter",
		 "Segment files deleted (nothing live left in them).",
		 s->segments_deleted);
	prom_one(b, "streamfs_segment_bytes_deleted_total", "counter",
		 "Bytes of the segment files deleted.",
		 s->segment_bytes_deleted);
	prom_one(b, "streamfs_segments_compacted_total", "counter",
		 "Segments whose live records were copied forward.",
		 s->segments_compacted);
	prom_one(b, "streamfs_compaction_bytes_copied_total", "counter",
		 "Bytes of live records copied forward by compaction.",
		 s->bytes_copied);
	prom_one(b, "streamfs_recovery_streams", "gauge", "Streams whose "
		 "unsynced segment tails recovery read at this mount.",
		 r->streams);
	prom_one(b, "streamfs_recovery_segments_cut", "gauge", "Segments "
		 "recovery cut back at this mount.", r->segments_cut);
	prom_one(b, "streamfs_recovery_cut_bytes", "gauge", "Bytes "
		 "recovery cut off at this mount.", r->bytes_cut);
	prom_one(b, "streamfs_recovery_records_reindexed", "gauge",
		 "Records recovery indexed again at this mount.",
		 r->records_reindexed);
	prom_one(b, "streamfs_recovery_entries_dropped", "gauge", "Index "
		 "entries recovery dropped at this mount.",
		 r->entries_dropped);
	prom_one(b, "streamfs_recovery_records_unindexed", "gauge",
		 "Whole records recovery left unindexed at this mount.",
		 r->records_unindexed);
	prom_one(b, "streamfs_recovery_orphans_purged", "gauge", "Inodes "
		 "unlinked while open that recovery purged at this mount.",
		 r->orphans_purged);
	prom_seconds(b, "streamfs_recovery_duration_seconds", "gauge",
		     "How long recovery took at this mount.",
		     (double)r->ns / 1e9);
}

static void prom_levels(struct mbuf *b, const char *name, const char *type,
			const char *help, const uint64_t *v)
{
	prom_family(b, name, type, help);
	for (unsigned l = 0; l < STORE_DB_LEVELS; l++)
		mbuf_printf(b, "%s{level=\"%u\"} %llu\n", name, l,
			    (unsigned long long)v[l]);
}

static void prom_db(struct mbuf *b, const struct metrics_snap *c)
{
	const struct store_db_stats *d = &c->db;
	prom_one(b, "streamfs_leveldb_writes_total", "counter",
		 "LevelDB batches written.", c->store.db_writes);
	prom_one(b, "streamfs_leveldb_synced_writes_total", "counter",
		 "LevelDB batches written and synced.",
		 c->store.db_synced_writes);
	prom_one(b, "streamfs_leveldb_reopens_total", "counter",
		 "Times LevelDB was reopened after a fault.",
		 c->store.db_reopens);
	if (!c->db_ok)
		return;
	prom_levels(b, "streamfs_leveldb_files", "gauge",
		    "LevelDB table files, by level.", d->files);
	prom_levels(b, "streamfs_leveldb_level_bytes", "gauge",
		    "LevelDB table bytes, by level (whole MiB).", d->bytes);
	prom_levels(b, "streamfs_leveldb_compaction_seconds_total", "counter",
		    "Time LevelDB spent compacting into a level (whole "
		    "seconds).", d->compaction_s);
	prom_levels(b, "streamfs_leveldb_compaction_read_bytes_total",
		    "counter", "Bytes LevelDB's compactions into a level read "
		    "(whole MiB).", d->compaction_read);
	prom_levels(b, "streamfs_leveldb_compaction_written_bytes_total",
		    "counter", "Bytes LevelDB's compactions into a level "
		    "wrote (whole MiB).", d->compaction_written);
	prom_one(b, "streamfs_leveldb_memory_bytes", "gauge",
		 "LevelDB's estimate of the memory it uses.", d->memory);
}

static void prom_lags(struct mbuf *b, const struct metrics_snap *c)
{
	static const char *const names[2] = {
		"streamfs_consumer_lag_messages", "streamfs_consumer_lag_bytes"
	};
	static const char *const helps[2] = {
		"Messages between a consumer group's cursor and the end of "
		"its topic.",
		"Bytes between a consumer group's cursor and the end of its "
		"topic.",
	};
	for (unsigned k = 0; c->nlags && k < 2; k++) {
		prom_family(b, names[k], "gauge", helps[k]);
		for (unsigned i = 0; i < c->nlags; i++) {
			const struct metrics_lag *l = &c->lags[i];
			const char *path = l->path ? l->path : "";
			mbuf_printf(b, "%s{group=\"", names[k]);
			mbuf_prom_label(b, l->group, strlen(l->group));
			ADD(b, "\",topic=\"");
			mbuf_prom_label(b, path, strlen(path));
			mbuf_printf(b, "\",ino=\"%llu\"} %llu\n",
				    (unsigned long long)l->ino,
				    (unsigned long long)(k ? l->bytes
							   : l->messages));
		}
	}
	prom_one(b, "streamfs_consumer_cursors_tracked", "gauge",
		 "Consumer group cursors used since the mount whose lag is "
		 "followed.", c->lags_tracked);
	prom_one(b, "streamfs_consumer_cursors_left_out", "gauge",
		 "Cursors followed but not shown (not among the largest "
		 "lags).", c->lags_tracked - c->nlags);
}

/* The labels of link r: link, stream (its path, "" if not found) and
 * peer. */
static void prom_link_labels(struct mbuf *b, const struct metrics_replica *r)
{
	const char *path = r->path ? r->path : "";
	mbuf_printf(b, "{link=\"%llu\",stream=\"", (unsigned long long)r->id);
	mbuf_prom_label(b, path, strlen(path));
	ADD(b, "\",peer=\"");
	mbuf_prom_label(b, r->peer, strlen(r->peer));
	ADD(b, "\"");
}

static const char *const link_states[] = {
	"connecting", "up", "paused", "error",
};

static void prom_link_state(struct mbuf *b, const struct metrics_snap *c)
{
	const char *name = "streamfs_replica_state";
	prom_family(b, name, "gauge", "1 for the state a replication link is "
		    "in (connecting, up, paused, error), 0 for the others.");
	for (unsigned i = 0; i < c->nreplicas; i++)
		for (size_t k = 0; k < sizeof(link_states) /
		     sizeof(link_states[0]); k++) {
			mbuf_add(b, name, strlen(name));
			prom_link_labels(b, &c->replicas[i]);
			mbuf_printf(b, ",state=\"%s\"} %d\n", link_states[k],
				    strcmp(c->replicas[i].state,
					   link_states[k]) == 0);
		}
}

static void prom_replicas(struct mbuf *b, const struct metrics_snap *c)
{
	enum { BEHIND, SECS, SENT, BYTES, ERR, NFIELDS };
	static const struct {
		const char *name, *type, *help;
	} f[NFIELDS] = {
		{ "streamfs_replica_msgs_behind", "gauge", "Messages of the "
		  "local stream a replication link's peer has not "
		  "acknowledged." },
		{ "streamfs_replica_behind_seconds", "gauge", "Age of the "
		  "oldest message a replication link's peer has not "
		  "acknowledged (0 when none)." },
		{ "streamfs_replica_sent_messages_total", "counter",
		  "Messages a replication link's peer acknowledged since the "
		  "mount." },
		{ "streamfs_replica_sent_bytes_total", "counter", "Message "
		  "bytes a replication link's peer acknowledged since the "
		  "mount." },
		{ "streamfs_replica_last_error_time_seconds", "gauge", "When "
		  "a replication link last failed, in seconds since the epoch "
		  "(0: not since the mount)." },
	};
	for (unsigned k = 0; c->nreplicas && k < NFIELDS; k++) {
		prom_family(b, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < c->nreplicas; i++) {
			const struct metrics_replica *r = &c->replicas[i];
			mbuf_add(b, f[k].name, strlen(f[k].name));
			prom_link_labels(b, r);
			if (k == SECS)
				mbuf_printf(b, "} %.3f\n", r->secs_behind);
			else if (k == ERR)
				mbuf_printf(b, "} %.9f\n",
					    (double)r->last_error_ns / 1e9);
			else
				mbuf_printf(b, "} %llu\n", (unsigned long long)
					    (k == BEHIND ? r->msgs_behind :
					     k == SENT ? r->sent_msgs :
					     r->sent_bytes));
		}
	}
	if (c->nreplicas)
		prom_link_state(b, c);
	prom_one(b, "streamfs_replica_links", "gauge", "Replication links "
		 "stored at this mount (the first by id are shown).",
		 c->replicas_total);
	prom_one(b, "streamfs_replica_links_left_out", "gauge", "Replication "
		 "links stored but not shown (beyond metrics_top).",
		 c->replicas_total - c->nreplicas);
}

int metrics_render_prom(struct mbuf *b, const struct metrics_snap *c)
{
	prom_seconds(b, "streamfs_start_time_seconds", "gauge",
		     "When this mount started, in seconds since the epoch.",
		     (double)c->start_ns / 1e9);
	prom_seconds(b, "streamfs_metrics_time_seconds", "gauge",
		     "When these figures were taken, in seconds since the "
		     "epoch.", (double)c->ts_ns / 1e9);
	prom_ops(b, c);
	prom_traffic(b, c);
	prom_gc(b, c);
	prom_store(b, c);
	prom_db(b, c);
	prom_one(b, "streamfs_open_files", "gauge", "Open file handles.",
		 c->open_files);
	prom_one(b, "streamfs_inodes_in_memory", "gauge", "Inodes the "
		 "daemon holds in memory (the kernel's references, open "
		 "files).", c->inodes);
	prom_one(b, "streamfs_resident_memory_bytes", "gauge", "The "
		 "daemon's resident memory.", c->rss_bytes);
	prom_lags(b, c);
	prom_replicas(b, c);
	return b->failed ? -ENOMEM : 0;
}
