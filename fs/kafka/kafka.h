/* kafka.h - what the files of the Kafka listener (fs/kafka/) share: the
 * bounded readers and writers of the protocol's primitives (codec.c), a
 * request as the handlers see it, the table of APIs, the parking of a
 * request that waits for data (listener.c), the topic name mapping
 * (names.c), the caller of a connection (peer.c), and the listener's
 * start and stop (listener.c), called from main.c.
 *
 * Threads and locks: the listener runs one thread (listener.c) that owns
 * every connection, its buffers and the parked requests; handlers run on
 * it, with no lock held, and take fs.lock around every store call as the
 * FUSE handlers do.  kafka_topic_appended is called with fs.lock held by
 * any thread: it takes kl.lock (fs.lock -> kl.lock, a leaf), marks the
 * inode and wakes the thread through an eventfd. */
#ifndef STREAMFS_KAFKA_H
#define STREAMFS_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- codec.c: primitives, classic and compact (flexible) forms ---- */

/* A request being parsed.  Any read past end (or a bad length) sets bad
 * and returns a zero value: check bad once at the end of a parse. */
struct kreader {
	const uint8_t *p, *end;
	bool bad;
};

/* A response being built.  A failed growth sets oom, and every later
 * write is dropped: check oom once at the end. */
struct kbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

/* A string or bytes field as read: points into the request; len -1 is
 * null (p NULL).  Not NUL-terminated. */
struct kstr {
	const uint8_t *p;
	int32_t len;
};

void kr_init(struct kreader *r, const void *p, size_t len);
size_t kr_left(const struct kreader *r);
int16_t kr_i16(struct kreader *r);
int32_t kr_i32(struct kreader *r);
int64_t kr_i64(struct kreader *r);

/* Skip n raw bytes; point at them (NULL when short). */
static inline const uint8_t *kr_skip(struct kreader *r, size_t n)
{
	const uint8_t *at = r->p;
	if (r->bad || (size_t)(r->end - at) < n) {
		r->bad = true;
		return NULL;
	}
	r->p = at + n;
	return at;
}

static inline int8_t kr_i8(struct kreader *r)
{
	const uint8_t *p = kr_skip(r, 1);
	return p ? (int8_t)*p : 0;
}

/* An unsigned varint of at most max bytes, read in place: one and two
 * bytes (every length under 8 KiB; a record has seven varints) here,
 * the rest, and every short or overlong one, by kr_uvar_long. */
uint64_t kr_uvar_long(struct kreader *r, unsigned max);
static inline uint64_t kr_uvar(struct kreader *r, unsigned max)
{
	const uint8_t *p = r->p;
	ptrdiff_t left = r->end - p;
	if (!r->bad && left >= 1 && !(p[0] & 0x80)) {
		r->p = p + 1;
		return p[0];
	}
	if (!r->bad && left >= 2 && !(p[1] & 0x80)) {
		r->p = p + 2;
		return (p[0] & 0x7fu) | (uint64_t)p[1] << 7;
	}
	return kr_uvar_long(r, max);
}

static inline int64_t kr_unzigzag(uint64_t v)
{
	return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

/* unsigned, at most 5 bytes */
static inline uint32_t kr_uvarint(struct kreader *r)
{
	uint64_t v = kr_uvar(r, 5);
	if (v > UINT32_MAX) {
		r->bad = true;
		return 0;
	}
	return (uint32_t)v;
}

/* zigzag, at most 5 bytes */
static inline int32_t kr_varint(struct kreader *r)
{
	return (int32_t)kr_unzigzag(kr_uvarint(r));
}

/* zigzag, at most 10 bytes */
static inline int64_t kr_varlong(struct kreader *r)
{
	return kr_unzigzag(kr_uvar(r, 10));
}

struct kstr kr_string(struct kreader *r);       /* int16 length, -1 null */
struct kstr kr_bytes(struct kreader *r);        /* int32 length, -1 null */
struct kstr kr_cstring(struct kreader *r);      /* uvarint length+1, 0 null */
struct kstr kr_cbytes(struct kreader *r);       /* uvarint length+1, 0 null */
/* An array's count: classic int32 (-1 null), compact uvarint N+1 (0
 * null), both returned as -1 for null.  A count larger than the bytes
 * left (each element takes at least one byte) sets bad. */
int32_t kr_array(struct kreader *r);
int32_t kr_carray(struct kreader *r);
/* Skip a tagged-field section (uvarint count, then tag, size, data). */
void kr_tags(struct kreader *r);

/* The string as a NUL-terminated copy in buf (cap bytes): false if it is
 * null, longer than cap - 1 or holds a NUL. */
bool kstr_copy(struct kstr s, char *buf, size_t cap);
bool kstr_eq(struct kstr s, const char *c);

void kb_init(struct kbuf *b);
void kb_free(struct kbuf *b);
/* Room for n more bytes: a pointer to them (len grows by n), NULL on
 * oom.  The bytes are not initialized. */
uint8_t *kb_reserve(struct kbuf *b, size_t n);
void kb_raw(struct kbuf *b, const void *p, size_t n);
void kb_i8(struct kbuf *b, int8_t v);
void kb_i16(struct kbuf *b, int16_t v);
void kb_i32(struct kbuf *b, int32_t v);
void kb_i64(struct kbuf *b, int64_t v);
void kb_uvarint(struct kbuf *b, uint32_t v);
void kb_varint(struct kbuf *b, int32_t v);
void kb_varlong(struct kbuf *b, int64_t v);
/* s NULL: null. */
void kb_string(struct kbuf *b, const char *s);  /* int16 length */
void kb_nstring(struct kbuf *b, const void *s, size_t len);
void kb_bytes(struct kbuf *b, const void *p, int32_t len);  /* -1 null */
void kb_cstring(struct kbuf *b, const char *s);  /* compact, NULL null */
void kb_cnstring(struct kbuf *b, const void *s, size_t len);
void kb_cbytes(struct kbuf *b, const void *p, int32_t len);
void kb_array(struct kbuf *b, int32_t n);        /* int32 count */
void kb_carray(struct kbuf *b, int32_t n);       /* uvarint n+1, -1 null */
void kb_tags(struct kbuf *b);                    /* an empty tag section */
/* Overwrite 4 bytes at off (written before, e.g. by kb_i32(b, 0)) with v,
 * big-endian: a size or a CRC known only later. */
void kb_patch_i32(struct kbuf *b, size_t off, int32_t v);

/* ---- errors (the protocol's codes) ---- */
enum {
	KERR_NONE = 0,
	KERR_UNKNOWN_SERVER_ERROR = -1,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_LEADER_NOT_AVAILABLE = 5,
	KERR_NOT_LEADER_OR_FOLLOWER = 6,
	KERR_REQUEST_TIMED_OUT = 7,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_INVALID_TOPIC_EXCEPTION = 17,
	KERR_RECORD_LIST_TOO_LARGE = 18,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_ILLEGAL_GENERATION = 22,
	KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KERR_INVALID_GROUP_ID = 24,
	KERR_UNKNOWN_MEMBER_ID = 25,
	KERR_INVALID_SESSION_TIMEOUT = 26,
	KERR_REBALANCE_IN_PROGRESS = 27,
	KERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KERR_GROUP_AUTHORIZATION_FAILED = 30,
	KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_TOPIC_ALREADY_EXISTS = 36,
	KERR_INVALID_REQUEST = 42,
	KERR_POLICY_VIOLATION = 44,
	KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
	KERR_GROUP_MAX_SIZE_REACHED = 81,
	KERR_FENCED_INSTANCE_ID = 82,
	KERR_INVALID_RECORD = 87,
	/* the admin APIs (admin_topics.c, describe_configs.c) */
	KERR_INVALID_PARTITIONS = 37,
	KERR_INVALID_REPLICATION_FACTOR = 38,
	KERR_INVALID_REPLICA_ASSIGNMENT = 39,
	KERR_INVALID_CONFIG = 40,
	/* idempotent producers, no transactions (producer_id.c, produce.c) */
	KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KERR_INVALID_PRODUCER_EPOCH = 47,
	KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KERR_UNKNOWN_PRODUCER_ID = 59,
};

/* API keys of this slice (and the ones later slices will add). */
enum {
	KAPI_PRODUCE = 0,
	KAPI_FETCH = 1,
	KAPI_LIST_OFFSETS = 2,
	KAPI_METADATA = 3,
	KAPI_OFFSET_COMMIT = 8,
	KAPI_OFFSET_FETCH = 9,
	KAPI_FIND_COORDINATOR = 10,
	KAPI_JOIN_GROUP = 11,
	KAPI_HEARTBEAT = 12,
	KAPI_LEAVE_GROUP = 13,
	KAPI_SYNC_GROUP = 14,
	KAPI_API_VERSIONS = 18,
	/* the admin APIs */
	KAPI_DESCRIBE_GROUPS = 15,
	KAPI_LIST_GROUPS = 16,
	KAPI_CREATE_TOPICS = 19,
	KAPI_DELETE_TOPICS = 20,
	KAPI_DESCRIBE_CONFIGS = 32,
	KAPI_INIT_PRODUCER_ID = 22,
	KAPI_MAX = 75,                  /* keys are below this */
};

/* ---- a request as a handler sees it ---- */
struct kconn;

struct kreq {
	int16_t api_key, api_version;
	int32_t correlation_id;
	const char *client_id;          /* NUL-terminated; "" when null */
	bool flexible;                  /* header v2: compact body, tags */
	struct kreader body;            /* after the request header */
	struct kconn *conn;
	uid_t uid;                      /* the peer's (peer.c) */
	gid_t gid;
};

/* Writes the response body (after the header the listener wrote) into
 * resp.  Returns 0, KAFKA_PARKED after kafka_park, or -1 to close the
 * connection (a request it cannot parse, as Kafka does). */
typedef int khandler(struct kreq *req, struct kbuf *resp);
#define KAFKA_PARKED 1
/* Returned instead of 0: the request gets no response at all (Produce
 * with acks 0); resp is dropped. */
#define KAFKA_NO_RESPONSE 2

struct kapi {
	int16_t min_version, max_version;
	/* The first version whose request header is v2 (flexible), or -1:
	 * the table knows it so the listener can parse the header before
	 * the handler runs. */
	int16_t flexible_from;
	khandler *handler;
};

/* The table (apis.c): api_key -> versions and handler; handler NULL
 * for a key not served.  ApiVersions answers from it. */
extern const struct kapi kafka_apis[KAPI_MAX];

/* The handlers (one file each). */
khandler kafka_api_versions;    /* api_versions.c */
khandler kafka_metadata;        /* metadata.c */
khandler kafka_list_offsets;    /* list_offsets.c */
khandler kafka_produce;         /* produce.c (K3) */
/* Give back the memory produce keeps between requests (after the
 * listener thread has ended). */
void kafka_produce_fini(void);
khandler kafka_fetch;           /* fetch.c (K3) */
khandler kafka_find_coordinator;        /* groups.c */
khandler kafka_join_group;              /* groups.c */
khandler kafka_sync_group;              /* groups.c */
khandler kafka_heartbeat;               /* groups.c */
khandler kafka_leave_group;             /* groups.c */
khandler kafka_offset_commit;           /* offsets.c */
khandler kafka_offset_fetch;            /* offsets.c */
/* the admin APIs: at most KAFKA_ADMIN_MAX topics or resources a request
 * (more: a bad request, the connection is closed) */
#define KAFKA_ADMIN_MAX 4096
khandler kafka_create_topics;           /* admin_topics.c */
khandler kafka_delete_topics;           /* admin_topics.c */
khandler kafka_describe_configs;        /* describe_configs.c */
khandler kafka_list_groups;             /* group_list.c */
khandler kafka_describe_groups;         /* group_list.c */
khandler kafka_init_producer_id;        /* producer_id.c */

/* ---- frame.c: frames and request headers (pure) ---- */
#define KAFKA_FRAME_MAX (64u << 20)
/* The bytes of the frame at p (n of them there), its size field
 * included, once the size is in: 0 while not, (size_t)-1 for a size out
 * of bounds (below a header's 8 bytes, or over KAFKA_FRAME_MAX). */
size_t kframe_size(const uint8_t *p, size_t n);
/* A request header as read: client_id and body point into the frame. */
struct khead {
	int16_t api_key, api_version;
	int32_t correlation_id;
	struct kstr client_id;
	bool flexible;                  /* header v2 */
	struct kreader body;
	const struct kapi *api;         /* its row of kafka_apis */
};
/* Read the header of the frame at p (n bytes, size field excluded): 0,
 * or -1 for a short header or a key not in kafka_apis (close). */
int khead_parse(const uint8_t *p, size_t n, struct khead *h);
/* Whether h's version is in its API's range. */
bool khead_version_served(const struct khead *h);

/* ---- shapes.c: request bodies (pure) ---- */
/* Whether a body of API key at version parses to its last field: 0, or
 * -1 (short, or a count or length past its end). */
int krequest_check(int16_t key, int16_t version, struct kreader body);

/* ---- spare.c: response buffers kept for reuse (listener thread) ---- */
#define KAFKA_SPARE_MAX ((size_t)4 << 20)       /* one buffer's cap */
#define KAFKA_SPARE_TOTAL ((size_t)64 << 20)    /* all spares' caps */
/* b becomes the spare sp (empty; sp left empty), or a new buffer. */
void kspare_take(struct kbuf *sp, struct kbuf *b);
/* Keep b (its contents dropped) as the spare sp when sp is empty and the
 * bounds allow, else free it; b is left empty either way. */
void kspare_give(struct kbuf *sp, struct kbuf *b);
/* Free the spare sp (a connection closed). */
void kspare_drop(struct kbuf *sp);
/* The bytes all spares hold. */
size_t kspare_total(void);

/* The address and port clients reached this connection's listener on, as
 * Metadata advertises it: the listener's own, or the socket's local
 * address when it listens on a wildcard. */
const char *kafka_conn_host(const struct kconn *c);
int kafka_conn_port(const struct kconn *c);

/* ---- parking (listener.c): a request that waits for data ----
 *
 * A handler that must wait (Fetch below min_bytes) calls kafka_park,
 * kafka_watch for each topic it waits on, and returns KAFKA_PARKED,
 * leaving resp empty.  The connection reads no further request until it
 * is answered.  The listener calls recheck with the same req (body reset
 * to the start of the request's body; arg as given) and a fresh resp:
 * when a watched topic got an append, and at the deadline with expired
 * true.  recheck returns 0 once it has written the response, KAFKA_PARKED
 * to wait on (never when expired), or -1 to close.  When the request is
 * over (answered or the connection closed), free_arg(arg) is called if
 * free_arg is not NULL. */
typedef int krecheck(struct kreq *req, struct kbuf *resp, bool expired,
		     void *arg);
/* deadline: CLOCK_MONOTONIC, ms (kafka_now_ms).  0, -ENOMEM, or -EBUSY
 * when this connection already has a parked request. */
int kafka_park(struct kreq *req, int64_t deadline_ms, krecheck *recheck,
	       void *arg, void (*free_arg)(void *arg));
/* The parked request of req also waits on topic ino (up to
 * KAFKA_WATCH_MAX topics; more: it is rechecked on any append). */
#define KAFKA_WATCH_MAX 16
void kafka_watch(struct kreq *req, uint64_t ino);
int64_t kafka_now_ms(void);

/* A topic got an append: called by topic_appended (fs/topic_io.c) with
 * fs.lock held.  Only marks and wakes the listener thread; costs one
 * atomic load when nothing is parked. */
void kafka_topic_appended(uint64_t ino);

/* ---- listener.c: configuration, start, stop (main.c) ---- */
/* One -o kafka=ADDR:PORT value (IPv4 a.b.c.d:P, [IPv6]:P, or a name
 * getaddrinfo resolves).  0, or -1 after a line on stderr. */
int kafka_add_listener(const char *spec);
/* One -o kafka_tls=ADDR:PORT value: the same, speaking TLS with the
 * daemon's context (fs/tls.h); its callers are the users their client
 * certificates name, from any host. */
int kafka_add_tls_listener(const char *spec);
bool kafka_configured(void);
bool kafka_plain_configured(void);     /* a kafka= listener */
bool kafka_tls_configured(void);
/* -o kafka_remote_user=USER (peer.c): a plain listener's client on
 * another host, which it would refuse, acts as USER (a login name or a
 * decimal uid).  0, or -1 after an error line. */
int kafka_set_remote_user(const char *user);
bool kafka_remote_user_set(void);
/* Bind every configured listener and start the thread: 0, or -1 after a
 * log line (the mount then fails). */
int kafka_start(void);
/* Close every connection and listener, and join the thread. */
void kafka_stop(void);

/* ---- peer.c: who is at the other end ---- */
/* The uid owning the peer socket of fd on this host (its row in the
 * kernel's socket table, found by the connection's four-tuple), with the
 * gid from the user database: 0, -EPERM when the peer is not on this
 * host, or -errno. */
int kafka_peer_cred(int fd, uid_t *uid, gid_t *gid);
/* The caller of req for fs/permission.c's checks (pid 0; supplementary
 * groups the user database's, loaded when a check needs them).  Valid
 * while the request is served (on the listener's thread). */
struct caller;
void kafka_caller(const struct kreq *req, struct caller *c);

/* ---- names.c: stream paths <-> Kafka topic names ---- */
#define KAFKA_NAME_MAX 249
/* The Kafka name of the topic at path (relative to the mount's root, no
 * leading slash, e.g. "plant/temp"): its length, or -ENAMETOOLONG when
 * the name would be longer than KAFKA_NAME_MAX (such a topic is not
 * listed).  out has KAFKA_NAME_MAX + 1 bytes. */
int kname_from_path(const char *path, char *out);
/* The path of the topic a Kafka name (or MapR's "/stream:topic") names:
 * 0, or -EINVAL when it is not a name the mapping makes.  out has cap
 * bytes; -ENAMETOOLONG when it does not fit. */
int kname_to_path(const char *name, size_t len, char *out, size_t cap);

/* ---- topics.c: topics by path, for the caller ---- */
struct sf_inode;
struct sf_topic;
/* The topic at path (as kname_to_path gives it), walking from the root
 * with the caller's search permission on each directory: 0, -ENOENT (no
 * such topic, or not a topic), -EACCES.  Call with fs.lock held. */
int ktopic_lookup(struct caller *c, const char *path, struct sf_inode *out);
/* Make the topic at path in its existing stream, for the caller: the
 * checks and the result of an `echo >> PATH` through the mount (the
 * stream's topic and produce permissions), mode KAFKA_TOPIC_MODE, owner
 * the caller; kind topic at once.  0, -ENOENT (no such stream), -EEXIST,
 * -EACCES, -EPERM, -errno.  Call with fs.lock held. */
#define KAFKA_TOPIC_MODE 0644
int ktopic_create(struct caller *c, const char *path, struct sf_inode *out);
/* ktopic_create for a client that named a missing topic (Metadata,
 * Produce), when the stream's autocreate policy allows it: else
 * -ENOENT, as for a missing stream.  Call with fs.lock held. */
int ktopic_autocreate(struct caller *c, const char *path,
		      struct sf_inode *out);
/* The topic's current state (the open node's, else the store's).  Call
 * with fs.lock held. */
int ktopic_state(uint64_t ino, struct sf_topic *t);
/* Call fn for every topic the caller may describe (consume or produce)
 * and whose directories it may read and search, with its Kafka name;
 * topics whose name would be too long are left out.  Takes fs.lock per
 * directory (fn is called with it held): 0, or fn's non-zero value. */
int ktopic_walk(struct caller *c,
		int (*fn)(void *arg, const char *name,
			  const struct sf_inode *in),
		void *arg);

#endif
