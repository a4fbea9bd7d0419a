/* metadata.c - Metadata (v0-8): one broker (node 0, the address the
 * client reached this listener on), the cluster id, controller 0, and
 * the topics: every topic the caller may describe, or those it asked
 * for, each with one partition 0 led by node 0.  A topic asked for that
 * does not exist is made (topics.c) when the request allows it (v4 on:
 * allow_auto_topic_creation; before v4 always, as Kafka's default), its
 * stream exists and the stream's autocreate policy says yes; else it
 * gets UNKNOWN_TOPIC_OR_PARTITION.  A name
 * that is not one the mapping makes gets INVALID_TOPIC_EXCEPTION, a topic
 * the caller may not describe or make TOPIC_AUTHORIZATION_FAILED. */
#include <errno.h>
#include <string.h>

#include "fs.h"
#include "kafka.h"

#define CLUSTER_ID "streamfs"

struct topics {
	struct kbuf b;                  /* the topics array's elements */
	int n;
	int16_t version;
};

/* One topic element; error != 0: the partitions array is empty. */
static void put_topic(struct topics *t, int16_t error, const void *name,
		      size_t len)
{
	struct kbuf *b = &t->b;
	kb_i16(b, error);
	kb_nstring(b, name, len);
	if (t->version >= 1)
		kb_i8(b, 0);                    /* is_internal */
	kb_array(b, error ? 0 : 1);
	if (!error) {
		kb_i16(b, KERR_NONE);
		kb_i32(b, 0);                   /* partition_index */
		kb_i32(b, 0);                   /* leader_id */
		if (t->version >= 7)
			kb_i32(b, 0);           /* leader_epoch */
		kb_array(b, 1);                 /* replica_nodes */
		kb_i32(b, 0);
		kb_array(b, 1);                 /* isr_nodes */
		kb_i32(b, 0);
		if (t->version >= 5)
			kb_array(b, 0);         /* offline_replicas */
	}
	if (t->version >= 8)
		kb_i32(b, INT32_MIN);   /* topic_authorized_operations */
	t->n++;
}

static int listed(void *arg, const char *name, const struct sf_inode *in)
{
	put_topic(arg, KERR_NONE, name, strlen(name));
	return 0;
}

/* The error of a topic asked for by name; made first if missing and
 * create says so. */
static int16_t asked_error(struct caller *c, struct kstr name, bool create)
{
	char path[4096];
	if (kname_to_path((const char *)name.p, (size_t)name.len, path,
			  sizeof path) < 0)
		return KERR_INVALID_TOPIC_EXCEPTION;
	struct sf_inode in;
	pthread_mutex_lock(&fs.lock);
	int r = ktopic_lookup(c, path, &in);
	if (r == -ENOENT && create) {
		r = ktopic_autocreate(c, path, &in);
		if (r == -EEXIST)       /* a file that is no topic */
			r = -ENOENT;
	}
	if (r == 0)
		r = may_describe(c, &in);
	pthread_mutex_unlock(&fs.lock);
	if (r == -EACCES || r == -EPERM) {
		denial_report("kafka metadata");
		return KERR_TOPIC_AUTHORIZATION_FAILED;
	}
	if (r == -ENOENT || r == -EINVAL || r == -ENAMETOOLONG)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	return r < 0 ? KERR_KAFKA_STORAGE_ERROR : KERR_NONE;
}

static void put_brokers(struct kreq *req, struct kbuf *resp)
{
	int16_t v = req->api_version;
	if (v >= 3)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_array(resp, 1);
	kb_i32(resp, 0);                        /* node_id */
	kb_string(resp, kafka_conn_host(req->conn));
	kb_i32(resp, kafka_conn_port(req->conn));
	if (v >= 1)
		kb_string(resp, NULL);          /* rack */
	if (v >= 2)
		kb_string(resp, CLUSTER_ID);
	if (v >= 1)
		kb_i32(resp, 0);                /* controller_id */
}

int kafka_metadata(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct caller c;
	kafka_caller(req, &c);
	struct topics t = { .version = v };
	kb_init(&t.b);
	int32_t n = kr_array(r);
	/* v0: an empty array asks for every topic; v1 on: null does. */
	bool all = n < 0 || (v == 0 && n == 0);
	const uint8_t *names = r->p;
	for (int32_t i = 0; i < n; i++)
		kr_string(r);
	/* Before v4 there was no asking: Kafka brokers create by default. */
	bool create = v >= 4 ? kr_i8(r) != 0 : true;
	if (v >= 8) {
		kr_i8(r);       /* include_cluster_authorized_operations */
		kr_i8(r);       /* include_topic_authorized_operations */
	}
	if (r->bad) {
		kb_free(&t.b);
		return -1;
	}
	if (all) {
		ktopic_walk(&c, listed, &t);
		/* Topics left out were denied quietly: a listing is no
		 * request for them. */
		permission_noted(&c, 0, "", 0);
	} else {
		struct kreader again;
		kr_init(&again, names, (size_t)(r->end - names));
		for (int32_t i = 0; i < n; i++) {
			struct kstr name = kr_string(&again);
			put_topic(&t, asked_error(&c, name, create), name.p,
				  name.len < 0 ? 0 : (size_t)name.len);
		}
	}
	put_brokers(req, resp);
	kb_array(resp, t.n);
	kb_raw(resp, t.b.p, t.b.len);
	if (v >= 8)
		kb_i32(resp, INT32_MIN);  /* cluster_authorized_operations */
	bool oom = t.b.oom;
	kb_free(&t.b);
	return oom ? -1 : 0;
}
