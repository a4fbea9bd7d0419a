/* describe_configs.c - DescribeConfigs (v0-3): a topic's configs are its
 * stream's policies under Kafka's names (retention.ms from ttl,
 * retention.bytes, max.message.bytes from max_message) and what is fixed
 * for every topic (cleanup.policy delete, message.timestamp.type
 * CreateTime); the broker's (node 0) are the fixed facts of the listener.
 * Every config is read-only here (AlterConfigs is not served: policies
 * are set through the mount).  Only topics (resource type 2) and the
 * broker (4) are described; synonyms are never listed.  Runs on the
 * listener's thread; fs.lock is taken around a topic's store calls. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"
#include "kafka.h"
#include "kaccess.h"

#define RES_TOPIC 2
#define RES_BROKER 4

/* Kafka's config sources and types. */
enum { SRC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };
enum { T_BOOLEAN = 1, T_STRING = 2, T_INT = 3, T_LONG = 5, T_LIST = 7 };

struct config {
	const char *name;
	char value[32];
	bool is_default;
	int8_t source;
	int8_t type;
	const char *doc;
};

/* One resource's answer being built. */
struct answer {
	struct kbuf *b;
	int16_t version;
	struct kreader names;           /* the config names asked for */
	int32_t nnames;                 /* -1: all */
	bool docs;                      /* include_documentation */
	int32_t n;                      /* configs written */
	size_t count_at;                /* where their count goes */
};

static bool asked(struct answer *a, const char *name)
{
	if (a->nnames < 0)
		return true;
	struct kreader r = a->names;
	for (int32_t i = 0; i < a->nnames; i++)
		if (kstr_eq(kr_string(&r), name))
			return true;
	return false;
}

static void put_config(struct answer *a, const struct config *c)
{
	struct kbuf *b = a->b;
	if (!asked(a, c->name))
		return;
	kb_string(b, c->name);
	kb_string(b, c->value);
	kb_i8(b, 1);                            /* read_only */
	if (a->version == 0)
		kb_i8(b, c->is_default);
	else
		kb_i8(b, c->source);
	kb_i8(b, 0);                            /* is_sensitive */
	if (a->version >= 1)
		kb_array(b, 0);                 /* synonyms */
	if (a->version >= 3) {
		kb_i8(b, c->type);
		kb_string(b, a->docs ? c->doc : NULL);
	}
	a->n++;
}

/* A policy whose value is v (def the default): the topic's own when it
 * differs from the default. */
static void put_policy(struct answer *a, const char *name, int64_t v,
		       int64_t def, int8_t type, const char *doc)
{
	struct config c = { .name = name, .is_default = v == def,
			    .source = v == def ? SRC_DEFAULT : SRC_TOPIC,
			    .type = type, .doc = doc };
	snprintf(c.value, sizeof c.value, "%" PRId64, v);
	put_config(a, &c);
}

static void put_fixed(struct answer *a, const char *name, const char *v,
		      int8_t source, int8_t type, const char *doc)
{
	struct config c = { .name = name, .is_default = source == SRC_DEFAULT,
			    .source = source, .type = type, .doc = doc };
	snprintf(c.value, sizeof c.value, "%s", v);
	put_config(a, &c);
}

static void topic_configs(struct answer *a, const struct sf_policy *p)
{
	struct sf_policy d;
	policy_defaults(&d);
	put_policy(a, "retention.ms", p->ttl_s ? (int64_t)p->ttl_s * 1000 : -1,
		   d.ttl_s ? (int64_t)d.ttl_s * 1000 : -1, T_LONG,
		   "the stream's ttl policy, in ms (-1: none)");
	put_policy(a, "retention.bytes", p->retention_bytes ?
		   (int64_t)p->retention_bytes : -1, d.retention_bytes ?
		   (int64_t)d.retention_bytes : -1, T_LONG,
		   "the stream's retention_bytes policy (-1: none)");
	put_policy(a, "max.message.bytes", (int64_t)p->max_message,
		   (int64_t)d.max_message, T_INT,
		   "the stream's max_message policy");
	put_fixed(a, "cleanup.policy", "delete", SRC_DEFAULT, T_LIST,
		  "messages expire by ttl and retention_bytes");
	put_fixed(a, "message.timestamp.type", "CreateTime", SRC_DEFAULT,
		  T_STRING, "the producer's timestamp is kept");
}

static void broker_configs(struct answer *a)
{
	put_fixed(a, "broker.id", "0", SRC_STATIC_BROKER, T_INT, NULL);
	put_fixed(a, "num.partitions", "1", SRC_STATIC_BROKER, T_INT,
		  "every topic has one partition");
	put_fixed(a, "default.replication.factor", "1", SRC_STATIC_BROKER,
		  T_INT, NULL);
	put_fixed(a, "auto.create.topics.enable", "true", SRC_STATIC_BROKER,
		  T_BOOLEAN, "Metadata and Produce make missing topics");
	put_fixed(a, "socket.request.max.bytes", "67108864",
		  SRC_STATIC_BROKER, T_INT, "the largest request frame");
}

/* The policies of the topic Kafka name `name` names, checked for the
 * caller (describe: consume or produce): a Kafka error code. */
static int16_t topic_policies(struct caller *c, struct kstr name,
			      struct sf_policy *p)
{
	char path[4096];
	struct sf_inode in;
	if (name.len <= 0 || kname_to_path((const char *)name.p,
					   (size_t)name.len, path,
					   sizeof path) < 0)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	pthread_mutex_lock(&fs.lock);
	int r = ktopic_lookup(c, path, &in);
	if (r == 0)
		r = may_describe(c, &in);
	if (r == 0)
		r = ns_policy(in.parent, p);
	pthread_mutex_unlock(&fs.lock);
	if (r == -EACCES || r == -EPERM) {
		denial_report("kafka describe_configs");
		return KERR_TOPIC_AUTHORIZATION_FAILED;
	}
	if (r == -ENOENT)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	return kafka_store_error(r);
}

static void describe_one(struct caller *c, struct answer *a, int8_t type,
			 struct kstr name)
{
	struct sf_policy p;
	int16_t err = KERR_NONE;
	const char *msg = NULL;
	if (type == RES_TOPIC) {
		err = topic_policies(c, name, &p);
		msg = err == KERR_TOPIC_AUTHORIZATION_FAILED ?
		      "permission denied" : err ? "no such topic" : NULL;
	} else if (type == RES_BROKER) {
		if (!kstr_eq(name, "0") && !kstr_eq(name, "")) {
			err = KERR_INVALID_REQUEST;
			msg = "this broker is node 0";
		}
	} else {
		err = KERR_INVALID_REQUEST;
		msg = "streamfs describes topics (2) and the broker (4)";
	}
	kb_i16(a->b, err);
	kb_string(a->b, msg);
	kb_i8(a->b, type);
	kb_nstring(a->b, name.p, name.len > 0 ? (size_t)name.len : 0);
	a->count_at = a->b->len;
	kb_i32(a->b, 0);
	a->n = 0;
	if (err == KERR_NONE && type == RES_TOPIC)
		topic_configs(a, &p);
	else if (err == KERR_NONE)
		broker_configs(a);
	if (!a->b->oom)
		kb_patch_i32(a->b, a->count_at, a->n);
}

/* Skip one resource of the request; its parts into type, name, a. */
static void parse_resource(struct kreader *r, int8_t *type,
			   struct kstr *name, struct answer *a)
{
	*type = kr_i8(r);
	*name = kr_string(r);
	a->nnames = kr_array(r);
	a->names = *r;
	for (int32_t i = 0; i < a->nnames; i++)
		kr_string(r);
}

int kafka_describe_configs(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	int32_t n = kr_array(r);
	const uint8_t *res = r->p;
	struct answer a = { .b = resp, .version = v };
	int8_t type;
	struct kstr name;
	for (int32_t i = 0; i < n && !r->bad; i++)
		parse_resource(r, &type, &name, &a);
	if (v >= 1)
		kr_i8(r);                       /* include_synonyms */
	if (v >= 3)
		a.docs = kr_i8(r) != 0;
	if (r->bad || n > KAFKA_ADMIN_MAX)
		return -1;
	struct caller c;
	kafka_caller(req, &c);
	struct kreader again;
	kr_init(&again, res, (size_t)(r->end - res));
	kb_i32(resp, 0);                        /* throttle_time_ms */
	kb_array(resp, n < 0 ? 0 : n);
	for (int32_t i = 0; i < n; i++) {
		parse_resource(&again, &type, &name, &a);
		describe_one(&c, &a, type, name);
	}
	return resp->oom ? -1 : 0;
}
