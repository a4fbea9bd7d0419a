/* list_offsets.c - ListOffsets (v1-5): the message offset of a topic's
 * end (timestamp -1), of its log start (-2), or of its first message
 * that arrived at or after a time in ms (>= 0; offset -1 when none did),
 * for partition 0; any other partition gets UNKNOWN_TOPIC_OR_PARTITION,
 * a topic the caller may not describe TOPIC_AUTHORIZATION_FAILED. */
#include <errno.h>

#include "fs.h"
#include "kafka.h"

struct answer {
	int16_t error;
	int64_t timestamp, offset;
};

/* The message at or after ns: its offset and arrival (ms), or -1s. */
static int by_time(const struct sf_inode *in, const struct sf_topic *t,
		   int64_t ms, struct answer *a)
{
	uint64_t off, msg;
	int64_t ns = ms > INT64_MAX / 1000000 ? INT64_MAX : ms * 1000000;
	int r = store_topic_seek_time(fs.store, in->ino, t, ns, &off);
	if (r < 0)
		return r;
	if (off >= t->size)
		return 0;                       /* -1, -1 */
	struct sf_record rec;
	r = store_topic_boundary(fs.store, in->ino, t, off, &msg);
	if (r == 0)
		r = store_topic_records(fs.store, in->ino, t, off, &rec, 1);
	if (r < 0)
		return r;
	a->offset = (int64_t)msg;
	a->timestamp = r > 0 ? rec.ns / 1000000 : -1;
	return 0;
}

static struct answer lookup(struct caller *c, struct kstr name,
			    int32_t partition, int64_t ts)
{
	struct answer a = { KERR_NONE, -1, -1 };
	char path[4096];
	if (partition != 0 ||
	    kname_to_path((const char *)name.p, (size_t)name.len, path,
			  sizeof path) < 0) {
		a.error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		return a;
	}
	struct sf_inode in;
	struct sf_topic t;
	pthread_mutex_lock(&fs.lock);
	int r = ktopic_lookup(c, path, &in);
	if (r == 0)
		r = may_describe(c, &in);
	if (r == 0)
		r = ktopic_state(in.ino, &t);
	if (r == 0 && ts == -1)
		a.offset = (int64_t)t.next_msg;
	else if (r == 0 && ts == -2)
		a.offset = (int64_t)t.first_msg;
	else if (r == 0 && ts >= 0)
		r = by_time(&in, &t, ts, &a);
	else if (r == 0)
		r = -EINVAL;
	pthread_mutex_unlock(&fs.lock);
	if (r == -EACCES || r == -EPERM) {
		denial_report("kafka list_offsets");
		a.error = KERR_TOPIC_AUTHORIZATION_FAILED;
	} else if (r == -ENOENT) {
		a.error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
	} else if (r == -EINVAL) {
		a.error = KERR_INVALID_REQUEST;
	} else if (r < 0) {
		a.error = KERR_KAFKA_STORAGE_ERROR;
	}
	if (a.error)
		a.timestamp = a.offset = -1;
	return a;
}

int kafka_list_offsets(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct caller c;
	kafka_caller(req, &c);
	kr_i32(r);                              /* replica_id */
	if (v >= 2)
		kr_i8(r);                       /* isolation_level */
	if (v >= 2)
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
			if (v >= 4)
				kr_i32(r);      /* current_leader_epoch */
			int64_t ts = kr_i64(r);
			if (r->bad)
				break;
			struct answer a = lookup(&c, name, part, ts);
			kb_i32(resp, part);
			kb_i16(resp, a.error);
			kb_i64(resp, a.timestamp);
			kb_i64(resp, a.offset);
			if (v >= 4)
				kb_i32(resp, a.error ? -1 : 0);
		}
	}
	return r->bad ? -1 : 0;
}
