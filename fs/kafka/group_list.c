/* group_list.c - ListGroups (v0-2) and DescribeGroups (v0-4): the
 * consumer groups the listener knows (groups.c: those with members, in
 * memory), each with its state, protocol type, chosen protocol and
 * members (id, instance id, client id, the metadata of the chosen
 * protocol and the leader's assignment).  A group the listener does not
 * know is described as Kafka describes one, state "Dead" and no members;
 * an id that is no cursor name gets INVALID_GROUP_ID.  Groups have no
 * access control (as for OffsetCommit, offsets.c), so neither answer
 * gives GROUP_AUTHORIZATION_FAILED.  Listener thread only; no store
 * call. */
#include <string.h>

#include "store.h"
#include "groups.h"

struct listing {
	struct kbuf *b;
	int32_t n;
};

static void listed(void *arg, const struct kgroup_info *g)
{
	struct listing *l = arg;
	kb_string(l->b, g->id);
	kb_string(l->b, g->ptype);
	l->n++;
}

int kafka_list_groups(struct kreq *req, struct kbuf *resp)
{
	if (req->body.bad)
		return -1;
	if (req->api_version >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_i16(resp, KERR_NONE);
	size_t count_at = resp->len;
	kb_i32(resp, 0);
	struct listing l = { .b = resp };
	kgroup_each(listed, &l);
	if (!resp->oom)
		kb_patch_i32(resp, count_at, l.n);
	return resp->oom ? -1 : 0;
}

struct members {
	struct kbuf *b;
	int16_t version;
	int32_t n;
};

static void member(void *arg, const struct kmember_info *m)
{
	struct members *ms = arg;
	kb_string(ms->b, m->id);
	if (ms->version >= 4)
		kb_string(ms->b, m->instance);
	kb_string(ms->b, m->client);
	kb_string(ms->b, "");                   /* client_host: not kept */
	kb_bytes(ms->b, m->meta ? m->meta : (const uint8_t *)"", m->mlen);
	kb_bytes(ms->b, m->assign ? m->assign : (const uint8_t *)"",
		 m->alen);
	ms->n++;
}

static void describe_one(struct kbuf *b, int16_t v, struct kstr id)
{
	char name[SF_GROUP_MAX + 1];
	struct kgroup_info g = { "", "Dead", "", "" };
	bool valid = kgroup_name(id, name) == 0;
	kb_i16(b, valid ? KERR_NONE : KERR_INVALID_GROUP_ID);
	kb_nstring(b, id.p, id.len > 0 ? (size_t)id.len : 0);
	/* The members go after the group's strings: gather them first. */
	struct kbuf scratch;
	kb_init(&scratch);
	struct members ms = { .b = &scratch, .version = v };
	if (valid)
		kgroup_describe(name, &g, member, &ms);
	kb_string(b, g.state);
	kb_string(b, g.ptype);
	kb_string(b, g.proto);
	kb_array(b, ms.n);
	kb_raw(b, scratch.p, scratch.len);
	if (scratch.oom)
		b->oom = true;
	kb_free(&scratch);
	if (v >= 3)
		kb_i32(b, INT32_MIN);   /* authorized_operations */
}

int kafka_describe_groups(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	int32_t n = kr_array(r);
	const uint8_t *ids = r->p;
	for (int32_t i = 0; i < n; i++)
		kr_string(r);
	if (v >= 3)
		kr_i8(r);               /* include_authorized_operations */
	if (r->bad)
		return -1;
	struct kreader again;
	kr_init(&again, ids, (size_t)(r->end - ids));
	if (v >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_array(resp, n < 0 ? 0 : n);
	for (int32_t i = 0; i < n; i++)
		describe_one(resp, v, kr_string(&again));
	return resp->oom ? -1 : 0;
}
