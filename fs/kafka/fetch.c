/* fetch.c - the Fetch API (versions 4 to 11, no fetch sessions: session
 * id 0): each partition's messages from fetch_offset (a message offset)
 * on, read with their keys, headers and timestamps (store_kafka_read) and
 * served as one uncompressed RecordBatch (records.c).  An offset below
 * the log start or past the end is OFFSET_OUT_OF_RANGE.  max_bytes and
 * the partitions' max_bytes bound the answer, except that the first
 * partition with data always gets at least one message.  With fewer than
 * min_bytes to give and max_wait_ms > 0, the request is parked
 * (kafka_park) and evaluated again when a topic it reads gets an append,
 * and at the deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kaccess.h"
#include "records.h"

#define FETCH_MAX_WAIT_MS 60000         /* a longer wait is cut to this */

struct fhead {
	int32_t max_wait, min_bytes, max_bytes;
	int32_t ntopics;
};

/* What one evaluation of the request found. */
struct feval {
	size_t bytes;                   /* record bytes in the answer */
	bool error;                     /* a partition has an error code */
	uint64_t watch[KAFKA_WATCH_MAX];
	int nwatch;
};

static void parse_head(struct kreader *r, int16_t v, struct fhead *h)
{
	kr_i32(r);                              /* replica_id */
	h->max_wait = kr_i32(r);
	h->min_bytes = kr_i32(r);
	h->max_bytes = kr_i32(r);
	kr_i8(r);                               /* isolation_level */
	if (v >= 7) {
		kr_i32(r);                      /* session_id */
		kr_i32(r);                      /* session_epoch */
	}
	h->ntopics = kr_array(r);
}

struct fpart {
	int16_t err;
	struct sf_topic t;
	struct sf_kread kr;
};

/* Read one partition (fs.lock held). */
static void read_partition(struct caller *c, struct kstr topic, int32_t part,
			   int64_t off, size_t budget, struct fpart *fp,
			   struct feval *ev)
{
	struct sf_inode in;
	struct sf_policy p;
	fp->err = kafka_topic_find(c, topic.p, topic.len, false, &in);
	if (fp->err == KERR_NONE && part != 0)
		fp->err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
	if (fp->err == KERR_NONE && ns_policy(in.parent, &p) < 0)
		fp->err = KERR_KAFKA_STORAGE_ERROR;
	if (fp->err != KERR_NONE)
		return;
	struct node *n = node_find(in.ino);
	if (n && n->topic)
		fp->t = *n->topic;
	else if (store_topic_load(fs.store, in.ino, &fp->t) < 0) {
		fp->err = KERR_KAFKA_STORAGE_ERROR;
		return;
	}
	if (off < (int64_t)fp->t.first_msg || off > (int64_t)fp->t.next_msg) {
		fp->err = KERR_OFFSET_OUT_OF_RANGE;
		return;
	}
	if (ev->nwatch < KAFKA_WATCH_MAX)
		ev->watch[ev->nwatch++] = in.ino;
	if (off == (int64_t)fp->t.next_msg || budget == 0)
		return;
	int r = store_kafka_read(fs.store, in.ino, &fp->t, (uint64_t)off,
				 budget, p.framing == SF_FRAMING_LINE,
				 &fp->kr);
	if (r == -ENXIO)
		fp->err = KERR_OFFSET_OUT_OF_RANGE;
	else if (r < 0)
		fp->err = kafka_store_error(r);
}

/* The messages read as one batch into resp, as a bytes field. */
static int write_records(struct kbuf *resp, const struct sf_kread *kr)
{
	if (kr->n == 0) {
		kb_i32(resp, 0);
		return 0;
	}
	struct krecord *recs = malloc(kr->n * sizeof(*recs));  /* all set */
	if (!recs)
		return -ENOMEM;
	for (size_t i = 0; i < kr->n; i++) {
		const struct sf_kmsg *m = &kr->m[i];
		recs[i] = (struct krecord){
			.offset_delta = (int64_t)(m->msg - kr->m[0].msg),
			.timestamp = m->ts, .key = m->key,
			.key_len = m->key_len, .value = m->value,
			.value_len = m->null_value ? -1 :
				     (int32_t)m->value_len,
			.headers = m->headers, .headers_len = m->headers_len,
			.nheaders = m->nheaders,
		};
	}
	size_t at = resp->len;
	kb_i32(resp, 0);
	int n = kbatch_encode(resp, (int64_t)kr->m[0].msg, recs, kr->n,
			      KCODEC_NONE);
	free(recs);
	if (n < 0)
		return n;
	kb_patch_i32(resp, at, n);
	return n;
}

static void write_partition(struct kbuf *resp, int16_t v, int32_t part,
			    struct fpart *fp, struct feval *ev)
{
	bool known = fp->err == KERR_NONE || fp->err ==
		     KERR_OFFSET_OUT_OF_RANGE;
	kb_i32(resp, part);
	size_t err_at = resp->len;
	kb_i16(resp, fp->err);
	kb_i64(resp, known ? (int64_t)fp->t.next_msg : -1);
	kb_i64(resp, known ? (int64_t)fp->t.next_msg : -1);
	if (v >= 5)
		kb_i64(resp, known ? (int64_t)fp->t.first_msg : -1);
	kb_array(resp, 0);                      /* aborted_transactions */
	if (v >= 11)
		kb_i32(resp, -1);               /* preferred_read_replica */
	int n = write_records(resp, &fp->kr);
	if (n < 0 && !resp->oom) {
		resp->p[err_at] = (uint8_t)((uint16_t)KERR_UNKNOWN_SERVER_ERROR
					    >> 8);
		resp->p[err_at + 1] = (uint8_t)KERR_UNKNOWN_SERVER_ERROR;
	}
	if (fp->err != KERR_NONE)
		ev->error = true;
	if (n > 0)
		ev->bytes += (size_t)n;
}

/* Evaluate the request (body from its start) into resp. */
static void evaluate(struct kreq *req, struct kbuf *resp, struct feval *ev,
		     struct fhead *h)
{
	int16_t v = req->api_version;
	struct kreader r = req->body;
	struct caller c;
	kafka_caller(req, &c);
	parse_head(&r, v, h);
	int64_t left = h->max_bytes > 0 ? h->max_bytes : 0;
	kb_i32(resp, 0);                        /* throttle_time_ms */
	if (v >= 7) {
		kb_i16(resp, KERR_NONE);
		kb_i32(resp, 0);                /* session_id */
	}
	kb_array(resp, h->ntopics < 0 ? 0 : h->ntopics);
	for (int32_t i = 0; i < h->ntopics; i++) {
		struct kstr topic = kr_string(&r);
		int32_t np = kr_array(&r);
		kb_nstring(resp, topic.p, topic.len < 0 ? 0 : (size_t)topic.len);
		kb_array(resp, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np; j++) {
			int32_t part = kr_i32(&r);
			if (v >= 9)
				kr_i32(&r);     /* current_leader_epoch */
			int64_t off = kr_i64(&r);
			if (v >= 5)
				kr_i64(&r);     /* log_start_offset */
			int32_t pmax = kr_i32(&r);
			size_t budget = pmax > 0 ? (size_t)pmax : 0;
			if ((int64_t)budget > left)
				budget = (size_t)left;
			if (budget == 0 && ev->bytes == 0 && pmax > 0)
				budget = 1;     /* one message at least */
			struct fpart fp = { .err = KERR_NONE };
			pthread_mutex_lock(&fs.lock);
			read_partition(&c, topic, part, off, budget, &fp, ev);
			pthread_mutex_unlock(&fs.lock);
			denial_report("kafka fetch");
			size_t before = ev->bytes;
			write_partition(resp, v, part, &fp, ev);
			left -= (int64_t)(ev->bytes - before);
			if (left < 0)
				left = 0;
			store_kread_free(&fp.kr);
		}
	}
}

static bool satisfied(const struct feval *ev, const struct fhead *h)
{
	return ev->error || h->max_wait <= 0 ||
	       ev->bytes >= (size_t)(h->min_bytes > 0 ? h->min_bytes : 0);
}

static int recheck(struct kreq *req, struct kbuf *resp, bool expired,
		   void *arg)
{
	(void)arg;
	struct feval ev = { 0 };
	struct fhead h;
	evaluate(req, resp, &ev, &h);
	if (expired || satisfied(&ev, &h))
		return 0;
	resp->len = 0;
	return KAFKA_PARKED;
}

int kafka_fetch(struct kreq *req, struct kbuf *resp)
{
	struct feval ev = { 0 };
	struct fhead h;
	evaluate(req, resp, &ev, &h);
	if (satisfied(&ev, &h))
		return 0;
	resp->len = 0;
	int32_t wait = h.max_wait > FETCH_MAX_WAIT_MS ? FETCH_MAX_WAIT_MS
						      : h.max_wait;
	if (kafka_park(req, kafka_now_ms() + wait, recheck, NULL, NULL) < 0) {
		ev = (struct feval){ 0 };
		evaluate(req, resp, &ev, &h);
		return 0;
	}
	for (int i = 0; i < ev.nwatch; i++)
		kafka_watch(req, ev.watch[i]);
	return KAFKA_PARKED;
}
