/* offsets.c - OffsetCommit (2-7) and OffsetFetch (1-5): a group's
 * committed Kafka offset of a topic IS the topic's cursor of that group
 * (user.streamfs.cursor.GROUP, store/cursor.c), kept as a byte offset:
 * a commit of message offset N stores the byte offset where message N
 * starts (the topic's end for its next message offset, its first live
 * byte for one below its log start, the end for one past it, as a Kafka
 * broker takes any offset: kafkajs's seek commits it), a fetch gives the
 * message offset at the cursor.  Both need the topic's consume permission, as a cursor
 * read or commit through the mount (TOPIC_AUTHORIZATION_FAILED); the
 * commit metadata is not kept (a fetch gives ""); a commit below 0
 * gets OFFSET_OUT_OF_RANGE; partitions other than 0
 * UNKNOWN_TOPIC_OR_PARTITION; a group id that is no cursor name
 * INVALID_GROUP_ID.  Store calls are made under fs.lock. */
#include <errno.h>
#include <string.h>

#include "fs.h"
#include "groups.h"
#include "kaccess.h"

/* The cursor for message offset msg of topic t: 0, or a Kafka error. */
static int16_t cursor_at(const struct sf_inode *in, const struct sf_topic *t,
			 int64_t msg, struct sf_cursor *cur)
{
	if (msg < 0)
		return KERR_OFFSET_OUT_OF_RANGE;
	if ((uint64_t)msg <= t->first_msg) {
		cur->off = t->start;
		cur->msg = t->first_msg;
	} else if ((uint64_t)msg >= t->next_msg) {     /* the end */
		cur->off = t->size;
		cur->msg = t->next_msg;
	} else {
		cur->msg = (uint64_t)msg;
		int r = store_topic_seek_message(fs.store, in->ino, t,
						 (uint64_t)msg, &cur->off);
		if (r < 0)
			return kafka_store_error(r);
	}
	return KERR_NONE;
}

static int16_t commit_one(struct caller *c, const char *group,
			  struct kstr name, int32_t part, int64_t msg)
{
	struct sf_inode in;
	struct sf_topic t;
	struct sf_cursor cur;
	if (part != 0)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	pthread_mutex_lock(&fs.lock);
	int16_t e = kafka_topic_find(c, name.p, name.len, false, &in);
	int r = e ? 0 : ktopic_state(in.ino, &t);
	if (!e && r < 0)
		e = kafka_store_error(r);
	if (!e)
		e = cursor_at(&in, &t, msg, &cur);
	if (!e && (r = cursor_commit(&in, group, &cur)) < 0)
		e = kafka_store_error(r);
	pthread_mutex_unlock(&fs.lock);
	if (e == KERR_TOPIC_AUTHORIZATION_FAILED)
		denial_report("kafka offset_commit");
	return e;
}

int kafka_offset_commit(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct caller c;
	kafka_caller(req, &c);
	char group[SF_GROUP_MAX + 1];
	struct kstr gid = kr_string(r);
	int32_t gen = kr_i32(r);
	struct kstr member = kr_string(r);
	if (v >= 7)
		kr_string(r);                   /* group_instance_id */
	if (v <= 4)
		kr_i64(r);                      /* retention_time_ms */
	if (r->bad)
		return -1;
	int16_t gerr = kgroup_name(gid, group) < 0 ? KERR_INVALID_GROUP_ID
		: kgroup_commit_check(group, gen, member);
	if (v >= 3)
		kb_i32(resp, 0);                /* throttle_time_ms */
	int32_t nt = kr_array(r);
	kb_array(resp, nt < 0 ? 0 : nt);
	for (int32_t i = 0; i < nt && !r->bad; i++) {
		struct kstr name = kr_string(r);
		int32_t np = kr_array(r);
		kb_nstring(resp, name.p, name.len < 0 ? 0 : (size_t)name.len);
		kb_array(resp, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np && !r->bad; j++) {
			int32_t part = kr_i32(r);
			int64_t off = kr_i64(r);
			if (v >= 6)
				kr_i32(r);      /* committed_leader_epoch */
			kr_string(r);           /* committed_metadata */
			if (r->bad)
				break;
			kb_i32(resp, part);
			kb_i16(resp, gerr ? gerr
			       : commit_one(&c, group, name, part, off));
		}
	}
	return r->bad ? -1 : 0;
}

/* ---- OffsetFetch ---- */

struct fetched {
	int16_t error;
	int64_t offset;                 /* -1: none committed */
};

static struct fetched fetch_one(struct caller *c, const char *group,
				struct kstr name, int32_t part)
{
	struct fetched f = { KERR_NONE, -1 };
	struct sf_inode in;
	struct sf_topic t;
	struct sf_cursor cur;
	if (part != 0) {
		f.error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		return f;
	}
	pthread_mutex_lock(&fs.lock);
	f.error = kafka_topic_find(c, name.p, name.len, false, &in);
	int r = f.error ? 0 : ktopic_state(in.ino, &t);
	if (r == 0 && !f.error)
		r = store_cursor_get(fs.store, in.ino, &t, group, &cur);
	pthread_mutex_unlock(&fs.lock);
	if (r == 0 && !f.error)
		f.offset = (int64_t)cur.msg;
	else if (r < 0 && r != -ENODATA)
		f.error = kafka_store_error(r);
	if (f.error == KERR_TOPIC_AUTHORIZATION_FAILED)
		denial_report("kafka offset_fetch");
	return f;
}

static void fetched_put(struct kbuf *b, int16_t v, int32_t part,
			struct fetched f)
{
	kb_i32(b, part);
	kb_i64(b, f.offset);
	if (v >= 5)
		kb_i32(b, -1);                  /* committed_leader_epoch */
	kb_string(b, "");                       /* metadata */
	kb_i16(b, f.error);
}

/* Every topic the caller may consume from that has a cursor of group. */
struct all {
	struct caller *c;
	const char *group;
	int16_t v;
	struct kbuf *b;
	int32_t n;
};

static int all_one(void *arg, const char *name, const struct sf_inode *in)
{
	struct all *a = arg;
	struct sf_topic t;
	struct sf_cursor cur;
	if (may_consume(a->c, in) < 0 || ktopic_state(in->ino, &t) < 0 ||
	    store_cursor_get(fs.store, in->ino, &t, a->group, &cur) < 0)
		return 0;
	kb_string(a->b, name);
	kb_array(a->b, 1);
	fetched_put(a->b, a->v, 0, (struct fetched){ KERR_NONE,
						     (int64_t)cur.msg });
	a->n++;
	return 0;
}

static int fetch_all(struct caller *c, const char *group, int16_t v,
		     struct kbuf *resp)
{
	struct kbuf b;
	kb_init(&b);
	struct all a = { c, group, v, &b, 0 };
	int r = ktopic_walk(c, all_one, &a);
	kb_array(resp, r < 0 || b.oom ? 0 : a.n);
	if (r == 0 && !b.oom)
		kb_raw(resp, b.p, b.len);
	kb_free(&b);
	return r < 0 || b.oom ? KERR_UNKNOWN_SERVER_ERROR : KERR_NONE;
}

int kafka_offset_fetch(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct caller c;
	kafka_caller(req, &c);
	char group[SF_GROUP_MAX + 1];
	struct kstr gid = kr_string(r);
	int16_t gerr = kgroup_name(gid, group) < 0 ? KERR_INVALID_GROUP_ID
						   : KERR_NONE;
	if (v >= 3)
		kb_i32(resp, 0);                /* throttle_time_ms */
	int32_t nt = kr_array(r);
	if (r->bad)
		return -1;
	if (nt < 0 && v >= 2) {                 /* null: every topic */
		if (gerr)
			kb_array(resp, 0);
		else
			gerr = fetch_all(&c, group, v, resp);
		kb_i16(resp, gerr);
		return 0;
	}
	kb_array(resp, nt < 0 ? 0 : nt);
	for (int32_t i = 0; i < nt && !r->bad; i++) {
		struct kstr name = kr_string(r);
		int32_t np = kr_array(r);
		kb_nstring(resp, name.p, name.len < 0 ? 0 : (size_t)name.len);
		kb_array(resp, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np && !r->bad; j++) {
			int32_t part = kr_i32(r);
			if (r->bad)
				break;
			struct fetched f = { gerr, -1 };
			if (!gerr)
				f = fetch_one(&c, group, name, part);
			fetched_put(resp, v, part, f);
		}
	}
	if (v >= 2)
		kb_i16(resp, gerr);
	return r->bad ? -1 : 0;
}
