/* metrics.h - the daemon's figures as the metrics thread copies them once
 * a second (struct metrics_snap), the FUSE operations they count, and the
 * two renderings of a copy (metrics_render.c): one JSON line for
 * /.streamfs/metrics and the Prometheus text exposition format 0.0.4 for
 * /.streamfs/metrics.prom.  Free of FUSE, so that a unit test can render
 * figures of its own (tests/unit/test_metrics.c); fs.h has the counting
 * calls.  docs/design.md ("Metrics") describes every field. */
#ifndef STREAMFS_METRICS_H
#define STREAMFS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "store.h"

/* The operations counted, in the order of fuse_lowlevel_ops. */
#define METRICS_OPS(X) \
	X(LOOKUP, "lookup") X(FORGET, "forget") \
	X(FORGET_MULTI, "forget_multi") X(GETATTR, "getattr") \
	X(SETATTR, "setattr") X(READLINK, "readlink") X(MKNOD, "mknod") \
	X(MKDIR, "mkdir") X(UNLINK, "unlink") X(RMDIR, "rmdir") \
	X(SYMLINK, "symlink") X(RENAME, "rename") X(LINK, "link") \
	X(OPEN, "open") X(READ, "read") X(WRITE, "write") \
	X(FLUSH, "flush") X(RELEASE, "release") X(FSYNC, "fsync") \
	X(OPENDIR, "opendir") X(READDIR, "readdir") \
	X(RELEASEDIR, "releasedir") X(FSYNCDIR, "fsyncdir") \
	X(STATFS, "statfs") X(SETXATTR, "setxattr") \
	X(GETXATTR, "getxattr") X(LISTXATTR, "listxattr") \
	X(REMOVEXATTR, "removexattr") X(ACCESS, "access") \
	X(CREATE, "create") X(POLL, "poll") X(FALLOCATE, "fallocate") \
	X(LSEEK, "lseek") X(IOCTL, "ioctl")

#define METRICS_OP_ENUM(id, name) MOP_##id,
enum metrics_op { METRICS_OPS(METRICS_OP_ENUM) MOP_COUNT };
#undef METRICS_OP_ENUM

extern const char *const metrics_op_names[MOP_COUNT];

/* errno values counted one by one (Linux has fewer); a larger one is
 * counted as 0, "other". */
#define METRICS_ERRNO_MAX 134
#define METRICS_TOP_DEFAULT 20
#define METRICS_TOP_MAX 1000

struct metrics_op_stat {
	uint64_t count;                 /* requests answered */
	uint64_t nerr;                  /* ... with an error */
	uint64_t errors[METRICS_ERRNO_MAX];     /* by errno */
	struct hist lat;                /* ns from the request's start to its
					 * reply */
};

/* Topic traffic: appends (records), their messages and bytes; reads of
 * topics and the bytes they returned. */
struct metrics_traffic {
	uint64_t appends, messages_in, bytes_in, reads, bytes_out;
};

/* A stream among the N most active. */
struct metrics_stream {
	uint64_t ino;
	char *path;                     /* NULL if not found; the snapshot's */
	struct metrics_traffic t;
};

/* A consumer group's cursor on a topic, and how far it is behind. */
struct metrics_lag {
	uint64_t ino;                   /* the topic */
	char *path;                     /* NULL if not found; the snapshot's */
	char group[SF_GROUP_MAX + 1];
	uint64_t messages, bytes;       /* topic end minus the cursor */
};

/* A replication link of this mount (store_link_list) and what its
 * thread says it is doing (replica_link_status). */
#define METRICS_REPLICA_STATE 16
#define METRICS_REPLICA_ERROR 256
struct metrics_replica {
	uint64_t id;
	uint64_t ino;                   /* the local stream */
	char *path;                     /* NULL if not found; the snapshot's */
	char peer[SF_LINK_PEER_MAX + SF_LINK_PATH_MAX]; /* HOST:PORT/PATH */
	char state[METRICS_REPLICA_STATE];  /* connecting, up, paused, error */
	uint64_t msgs_behind;
	double secs_behind;
	uint64_t sent_msgs, sent_bytes; /* acknowledged since the mount */
	uint64_t scans, cursor_looks;   /* looks at the stream's topics and
					 * at their cursors since the mount */
	char last_error[METRICS_REPLICA_ERROR]; /* "" when none yet */
	int64_t last_error_ns;          /* when, ns since the epoch; 0: none */
};

/* The sync thread (group_commit.c). */
struct metrics_gc {
	uint64_t syncs, errors;
	uint64_t writes;                /* durability=batch writes covered */
	uint64_t fsyncs;                /* fsync()s answered */
	struct hist size;               /* writes and fsyncs per sync */
	struct hist lat;                /* ns per sync */
};

struct metrics_snap {
	int64_t ts_ns;                  /* CLOCK_REALTIME when taken */
	int64_t mono_ns;                /* CLOCK_MONOTONIC when taken */
	int64_t start_ns;               /* when the mount started (REALTIME) */
	struct metrics_op_stat ops[MOP_COUNT];
	struct metrics_traffic totals;
	struct metrics_gc gc;
	struct store_stats store;
	struct store_db_stats db;
	bool db_ok;                     /* db was read */
	uint64_t open_files, inodes, rss_bytes;
	/* The top N streams by activity, of streams_tracked; operations on
	 * streams that found the table full are in totals only. */
	struct metrics_stream *streams;
	unsigned nstreams;
	uint64_t streams_tracked, untracked_ops;
	/* The N largest lags, of lags_tracked cursors. */
	struct metrics_lag *lags;
	unsigned nlags;
	uint64_t lags_tracked;
	/* The first N replication links by id, of replicas_total stored. */
	struct metrics_replica *replicas;
	unsigned nreplicas;
	uint64_t replicas_total;
};

/* A growing output buffer; failed once memory ran out (p stays valid). */
struct mbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

void mbuf_add(struct mbuf *b, const char *s, size_t n);
void mbuf_printf(struct mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* s[0..n) as a JSON string (quotes included): bytes that are not UTF-8
 * become U+FFFD. */
void mbuf_json_str(struct mbuf *b, const char *s, size_t n);
/* s as a Prometheus label value (no quotes): \, " and newline escaped,
 * other control characters and bytes that are not UTF-8 U+FFFD. */
void mbuf_prom_label(struct mbuf *b, const char *s, size_t n);

/* One JSON object, ending in a newline: cur's figures, and percentiles of
 * what happened since prev (NULL: since the mount).  0, or -ENOMEM. */
int metrics_render_json(struct mbuf *b, const struct metrics_snap *cur,
			const struct metrics_snap *prev);
/* cur's figures in the Prometheus text format.  0, or -ENOMEM. */
int metrics_render_prom(struct mbuf *b, const struct metrics_snap *cur);

#endif
