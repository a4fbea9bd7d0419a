/* produce.c - the Produce API (versions 3 to 8; 0 to 2 are advertised,
 * since librdkafka sends compressed batches only then, and answered
 * UNSUPPORTED_VERSION): each partition's record set becomes messages of
 * the topic, appended through the store with their keys, headers and
 * CreateTimes (store_kafka_append).  Line framing: the record set is one
 * record of lines (a value gets a newline when it has none; a newline
 * inside a value is INVALID_RECORD); write framing: one record per value.
 *
 * Versions 0 to 2 get UNSUPPORTED_VERSION for every partition, in
 * their own response layout.  acks 1 and -1 are answered once the append is in the store, made as
 * durable as the stream's durability policy makes a file append (one
 * broker holds every replica); acks 0 gets no response at all, as
 * Kafka's brokers do.
 *
 * A batch with a producer id (an idempotent producer) is judged against
 * the producer's state on the topic (sequence.c): appended with the new
 * state, answered with its first base offset when it is a retry, or
 * refused.  A transactional request or batch is refused with
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kaccess.h"
#include "records.h"
#include "sequence.h"

#define APPEND_MAX 65536        /* messages per store record */

/* The records of one partition.  While every batch so far came plain,
 * the messages point into the request, which outlives the append; once
 * one comes compressed (its inflated records are freed after they are
 * decoded), every message is copied into arena, and the pointers are
 * offsets into arena until fixed. */
struct pset {
	struct sf_kmsg *m;
	size_t n, cap;
	bool copied;                    /* the messages live in arena */
	char *arena;
	size_t alen, acap;
	bool lines;
	uint64_t max_message;
	int16_t err;                    /* the first record refused */
	const struct kbatch *info;      /* the batch being decoded */
	unsigned batches;               /* seen so far */
	bool producer;                  /* one of them has a producer id */
};

/* A record that starts a batch (offset delta 0: they are checked to run
 * 0, 1, 2, ...): the batch's transactional bit and producer id. */
static void each_batch(struct pset *s)
{
	s->batches++;
	if (s->info->attributes & KBATCH_TRANSACTIONAL)
		s->err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
	if (s->info->producer_id >= 0)
		s->producer = true;
	if (s->producer && s->batches > 1)
		s->err = KERR_INVALID_RECORD;   /* idempotent: one batch */
}

static int keep(struct pset *s, const void *p, int32_t len, size_t *at)
{
	*at = s->alen;
	if (len <= 0)
		return 0;
	if (s->alen + (size_t)len > s->acap) {
		size_t c = s->acap ? s->acap : 4096;
		while (c < s->alen + (size_t)len)
			c *= 2;
		char *na = realloc(s->arena, c);
		if (!na)
			return -ENOMEM;
		s->arena = na;
		s->acap = c;
	}
	memcpy(s->arena + s->alen, p, (size_t)len);
	s->alen += (size_t)len;
	return 0;
}

/* Keep m's bytes in arena, m pointing at their offsets. */
static int keep_msg(struct pset *s, struct sf_kmsg *m)
{
	size_t v, k, h;
	if (keep(s, m->value, (int32_t)m->value_len, &v) < 0 ||
	    keep(s, m->key, m->key_len, &k) < 0 ||
	    keep(s, m->headers, (int32_t)m->headers_len, &h) < 0)
		return -ENOMEM;
	m->value = (void *)v;
	m->key = (void *)k;
	m->headers = (void *)h;
	return 0;
}

/* The first compressed batch: the messages kept so far move to arena. */
static int start_copying(struct pset *s)
{
	s->copied = true;
	for (size_t i = 0; i < s->n; i++)
		if (keep_msg(s, &s->m[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* Check one record against the stream's framing, and keep it. */
static int each_record(void *arg, const struct krecord *r)
{
	struct pset *s = arg;
	int32_t vl = r->value_len < 0 ? 0 : r->value_len;
	if (r->offset_delta == 0)
		each_batch(s);
	if (s->err)
		return 1;
	if (s->lines) {
		/* A newline inside the value is the store's to refuse (-EINVAL:
		 * INVALID_RECORD), in the same pass that sizes the record. */
		bool ends = vl && r->value[vl - 1] == '\n';
		if ((uint64_t)vl + (ends ? 0 : 1) > s->max_message)
			s->err = KERR_MESSAGE_TOO_LARGE;
	} else if (vl == 0) {
		s->err = KERR_INVALID_RECORD;   /* a message has a byte */
	} else if ((uint64_t)vl > s->max_message) {
		s->err = KERR_MESSAGE_TOO_LARGE;
	}
	if (s->err)
		return 1;
	if (s->n == s->cap) {
		size_t c = s->cap ? s->cap * 2 : 64;
		struct sf_kmsg *nm = realloc(s->m, c * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		s->m = nm;
		s->cap = c;
	}
	if (!s->copied && s->info->codec != KCODEC_NONE &&
	    start_copying(s) < 0)
		return -ENOMEM;
	struct sf_kmsg *m = &s->m[s->n];
	*m = (struct sf_kmsg){
		.ts = r->timestamp, .value = (void *)r->value,
		.value_len = (uint32_t)vl, .key = (void *)r->key,
		.key_len = r->key_len, .headers = (void *)r->headers,
		.headers_len = (uint32_t)r->headers_len,
		.nheaders = r->nheaders, .null_value = r->value_len < 0,
	};
	if (s->copied && keep_msg(s, m) < 0)
		return -ENOMEM;
	s->n++;
	return 0;
}

static void fix_pointers(struct pset *s)
{
	for (size_t i = 0; s->copied && i < s->n; i++) {
		s->m[i].value = s->arena + (size_t)s->m[i].value;
		s->m[i].key = s->arena + (size_t)s->m[i].key;
		s->m[i].headers = s->arena + (size_t)s->m[i].headers;
	}
}

static void pset_free(struct pset *s)
{
	free(s->m);
	free(s->arena);
}

/* The listener thread's set memory, kept between partitions (handlers
 * run on that thread only), so a steady producer's requests reuse it
 * instead of growing a fresh set by doubling each time; given back when
 * it holds more than PSET_KEEP bytes. */
#define PSET_KEEP ((size_t)4 << 20)
static struct pset kept;

static struct pset pset_take(void)
{
	struct pset s = { .m = kept.m, .cap = kept.cap,
			  .arena = kept.arena, .acap = kept.acap };
	kept = (struct pset){ 0 };
	return s;
}

static void pset_give(struct pset *s)
{
	if (s->acap + s->cap * sizeof(*s->m) > PSET_KEEP) {
		pset_free(s);
		return;
	}
	pset_free(&kept);
	kept = (struct pset){ .m = s->m, .cap = s->cap,
			      .arena = s->arena, .acap = s->acap };
}

void kafka_produce_fini(void)
{
	pset_free(&kept);
	kept = (struct pset){ 0 };
}

struct presult {
	int16_t err;
	int64_t base, log_start;
};

/* Append the decoded set to topic in (fs.lock held): the node's state is
 * the one every append uses. */
static int append_set(const struct sf_inode *in, const struct sf_policy *p,
		      struct pset *s, const struct sf_ptag *tag,
		      struct presult *res)
{
	struct node *n = node_get(in->ino);
	if (!n)
		return -ENOMEM;
	struct sf_topic *t = topic_state(n);
	int r = t ? 0 : -EIO;
	bool sync = p->durability == SF_DUR_ALWAYS;
	uint64_t bytes = 0;
	size_t done = 0;
	if (t)
		res->base = (int64_t)t->next_msg;
	while (r == 0 && done < s->n) {
		size_t k = s->lines ? s->n - done : 1;
		if (k > APPEND_MAX)
			k = APPEND_MAX;
		uint64_t size = t->size;
		/* The record that ends the set carries the producer's tag,
		 * for recovery (kproducer.c). */
		r = store_kafka_append_tagged(fs.store, in->ino, in->parent, t,
					      s->m + done, k, s->lines, sync,
					      done + k == s->n ? tag : NULL,
					      NULL);
		if (r == 0) {
			bytes += t->size - size;
			metrics_append(in->parent, t->size - size, k);
		}
		done += k;
	}
	if (done && (r == 0 || bytes))
		topic_appended(n, p);
	if (t)
		res->log_start = (int64_t)t->first_msg;
	node_release_if_unused(n);
	return r;
}

/* The topic's end and log start, as an answer that appends nothing
 * gives them.  fs.lock held. */
static void topic_now(const struct sf_inode *in, struct presult *res)
{
	struct node *n = node_find(in->ino);
	struct sf_topic t;
	if (n && n->topic)
		t = *n->topic;
	else if (store_topic_load(fs.store, in->ino, &t) < 0)
		res->err = KERR_KAFKA_STORAGE_ERROR;
	if (res->err == KERR_NONE) {
		res->base = (int64_t)t.next_msg;
		res->log_start = (int64_t)t.first_msg;
	}
}

/* The one batch of an idempotent producer: judged against the producer's
 * state on the topic (sequence.c); appended, and the new state written in
 * the same LevelDB write as the append's index entry, or, for a retry of
 * a stored batch, answered with the base offset it got then and not
 * appended again.  fs.lock held. */
static void append_idempotent(const struct sf_inode *in,
			      const struct sf_policy *p, struct pset *s,
			      const struct kbatch *b, struct presult *res)
{
	struct sf_producer ps;
	struct kseq q = {
		.pid = b->producer_id, .epoch = b->producer_epoch,
		.first = b->base_sequence,
		.last = kseq_last(b->base_sequence, b->last_offset_delta),
	};
	int g = store_producer_get(fs.store, in->ino, q.pid, &ps);
	if (g < 0 && g != -ENODATA) {
		res->err = kafka_store_error(g);
		return;
	}
	bool dup;
	uint64_t base;
	res->err = kseq_check(&ps, g == 0, &q, &dup, &base);
	if (res->err != KERR_NONE)
		return;
	if (dup) {
		topic_now(in, res);
		res->base = (int64_t)base;
		return;
	}
	struct sf_ptag tag = { q.pid, q.epoch, q.first, q.last };
	res->err = kafka_store_error(append_set(in, p, s, &tag, res));
	if (res->err != KERR_NONE)
		return;
	store_producer_note(&ps, q.first, q.last, (uint64_t)res->base);
	int r = store_producer_put(fs.store, in->ino, q.pid, &ps,
				   p->durability == SF_DUR_ALWAYS);
	res->err = kafka_store_error(r);
}

/* One partition: decode, check, append.  fs.lock held. */
static void produce_partition(struct caller *c, struct kstr topic,
			      int32_t part, struct kstr records,
			      struct presult *res)
{
	struct sf_inode in;
	struct sf_policy p;
	struct pset s = pset_take();
	*res = (struct presult){ .base = -1, .log_start = -1 };
	res->err = kafka_topic_find(c, topic.p, topic.len, true, &in);
	if (res->err == KERR_NONE && part != 0)
		res->err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
	if (res->err == KERR_NONE) {
		/* Homed at another replica: a lasting refusal, not one a
		 * client should retry. */
		int h = topic_home_check(node_find(in.ino), in.ino,
					 "Kafka produce");
		res->err = h == -EROFS ? KERR_POLICY_VIOLATION
					: kafka_store_error(h);
	}
	if (res->err == KERR_NONE && ns_policy(in.parent, &p) < 0)
		res->err = KERR_KAFKA_STORAGE_ERROR;
	if (res->err != KERR_NONE) {
		pset_give(&s);
		return;
	}
	s.lines = p.framing == SF_FRAMING_LINE;
	s.max_message = p.max_message;
	struct kbatch info;
	s.info = &info;
	int r = records.len < 0 ? 0
		: krecords_decode(records.p, (size_t)records.len, &info,
				  each_record, &s);
	if (s.err)
		res->err = s.err;
	else if (r < 0)
		res->err = kbatch_error_code(r);
	if (res->err == KERR_NONE && s.n && s.producer) {
		fix_pointers(&s);
		append_idempotent(&in, &p, &s, &info, res);
	} else if (res->err == KERR_NONE && s.n) {
		fix_pointers(&s);
		res->err = kafka_store_error(append_set(&in, &p, &s, NULL,
							res));
	} else if (res->err == KERR_NONE) {
		topic_now(&in, res);
	}
	pset_give(&s);
}

static void write_partition(struct kbuf *resp, int16_t v, int32_t part,
			    const struct presult *res)
{
	kb_i32(resp, part);
	kb_i16(resp, res->err);
	kb_i64(resp, res->err ? -1 : res->base);
	if (v >= 2)
		kb_i64(resp, -1);               /* log_append_time */
	if (v >= 5)
		kb_i64(resp, res->log_start);
	if (v >= 8) {
		kb_array(resp, 0);              /* record_errors */
		kb_string(resp, NULL);          /* error_message */
	}
}

int kafka_produce(struct kreq *req, struct kbuf *resp)
{
	int16_t v = req->api_version;
	struct kreader *r = &req->body;
	struct kstr txn = { NULL, -1 };
	if (v >= 3)
		txn = kr_string(r);
	int16_t acks = kr_i16(r);
	kr_i32(r);                              /* timeout_ms */
	int32_t nt = kr_array(r);
	struct caller c;
	kafka_caller(req, &c);
	kb_array(resp, nt < 0 ? 0 : nt);
	for (int32_t i = 0; i < nt; i++) {
		struct kstr topic = kr_string(r);
		int32_t np = kr_array(r);
		kb_nstring(resp, topic.p, topic.len < 0 ? 0 : (size_t)topic.len);
		kb_array(resp, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np; j++) {
			int32_t part = kr_i32(r);
			struct kstr recs = kr_bytes(r);
			struct presult res = { .base = -1, .log_start = -1 };
			if (v < 3)
				res.err = KERR_UNSUPPORTED_VERSION;
			else if (txn.len >= 0)
				res.err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
			else if (acks != 0 && acks != 1 && acks != -1)
				res.err = KERR_INVALID_REQUIRED_ACKS;
			else {
				pthread_mutex_lock(&fs.lock);
				produce_partition(&c, topic, part, recs, &res);
				pthread_mutex_unlock(&fs.lock);
				notify_send_polls();
				denial_report("kafka produce");
			}
			write_partition(resp, v, part, &res);
		}
	}
	if (v >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	return acks == 0 ? KAFKA_NO_RESPONSE : 0;
}
