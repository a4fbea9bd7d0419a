/* groups.c - Kafka consumer groups: FindCoordinator (0-2; this broker,
 * node 0, coordinates every group), JoinGroup (0-5), SyncGroup (0-3),
 * Heartbeat (0-3) and LeaveGroup (0-2).  A group's members, generation,
 * chosen protocol, leader and the leader's assignments live here, in
 * memory only: they are rebuilt by the clients' next join after a
 * restart (the committed offsets are the store's cursors, offsets.c).
 *
 * A group goes EMPTY -> JOINING (a member joined or left, or a session
 * ran out) -> SYNCING (every member has joined, or the rebalance time
 * passed: those that did not are dropped; generation + 1, a leader, a
 * protocol every member supports) -> STABLE (the leader's SyncGroup gave
 * the assignments) and back to JOINING.  A JoinGroup waits (parked) until
 * its round is over, a follower's SyncGroup until the leader's; a parked
 * request watches its group's wake number (a pseudo inode with the top
 * bit set, which no topic has) and is woken through kafka_topic_appended.
 * Sessions are checked whenever the group hears from any member, so a
 * member that stopped heartbeating is dropped when another speaks.
 *
 * Static members (JoinGroup v5's group_instance_id): a join that names
 * no member id but a known instance id takes that member's place under
 * a new member id, and the old id is fenced (FENCED_INSTANCE_ID).  When
 * the group is stable, the member is not its leader and it offers the
 * same protocols, the group keeps its generation and assignments: a
 * restarted static member rejoins without a rebalance.
 *
 * Threads: all of this runs on the listener's thread and only there
 * (handlers and rechecks), so kg and every group are unlocked; no store
 * call is made here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "groups.h"

#define SESSION_MIN_MS 1000
#define SESSION_MAX_MS 1800000
#define GROUP_MEMBERS_MAX 256
#define MEMBERS_MAX 16384       /* of all groups */
#define PROTOCOLS_MAX 16
#define MEMBER_ID_MAX 255
#define WAKE_BIT (1ULL << 63)

struct kproto {
	char *name;
	uint8_t *meta;
	int32_t len;
};

struct kmember {
	struct kmember *next;
	char *id;
	char *instance;                 /* group_instance_id, or NULL */
	int32_t session_ms, rebalance_ms;
	int64_t seen;                   /* last heard of, kafka_now_ms */
	struct kproto protos[PROTOCOLS_MAX];
	int nprotos;
	bool joined;                    /* in the current round */
	bool waiting;                   /* a request of it is parked */
	bool join_wait;                 /* that request is a JoinGroup */
	uint8_t *assign;                /* the leader's, for this member */
	int32_t alen;
	char *client;                   /* the client id it joined with */
};

enum gstate { G_EMPTY, G_JOINING, G_SYNCING, G_STABLE };

struct kgroup {
	struct kgroup *next;
	char id[SF_GROUP_MAX + 1];
	enum gstate state;
	int32_t generation;
	char *ptype;                    /* protocol_type of its members */
	const char *proto;              /* chosen; the leader's protos' */
	struct kmember *leader;
	struct kmember *members;
	int nmembers;
	int64_t deadline;               /* the JOINING round ends by then */
	uint64_t wake;
};

/* Listener thread only. */
static struct {
	struct kgroup *groups;
	int nmembers;
	uint64_t serial;
} kg;

/* ---- names ---- */

int kgroup_name(struct kstr s, char *out)
{
	if (!kstr_copy(s, out, SF_GROUP_MAX + 1))
		return -1;
	return store_cursor_name_check(out) < 0 ? -1 : 0;
}

static char *kstr_dup(struct kstr s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;
	char *p = malloc(n + 1);
	if (p) {
		if (n)
			memcpy(p, s.p, n);
		p[n] = 0;
	}
	return p;
}

/* ---- groups and members ---- */

static struct kgroup *group_find(const char *id)
{
	for (struct kgroup *g = kg.groups; g; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static struct kgroup *group_get(const char *id)
{
	struct kgroup *g = group_find(id);
	if (g)
		return g;
	g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	snprintf(g->id, sizeof g->id, "%s", id);
	g->wake = WAKE_BIT | ++kg.serial;
	g->next = kg.groups;
	kg.groups = g;
	return g;
}

/* Free g once it has no members (nothing parked can name it then). */
static void group_drop_if_empty(struct kgroup *g)
{
	if (g->nmembers)
		return;
	for (struct kgroup **pp = &kg.groups; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	free(g->ptype);
	free(g);
}

static struct kmember *member_find(struct kgroup *g, const char *id)
{
	for (struct kmember *m = g ? g->members : NULL; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static struct kmember *member_findk(struct kgroup *g, struct kstr id)
{
	char buf[MEMBER_ID_MAX + 1];
	if (!kstr_copy(id, buf, sizeof buf))
		return NULL;
	return member_find(g, buf);
}

static struct kmember *instance_findk(struct kgroup *g, struct kstr inst)
{
	char buf[MEMBER_ID_MAX + 1];
	if (inst.len <= 0 || !kstr_copy(inst, buf, sizeof buf))
		return NULL;
	for (struct kmember *m = g ? g->members : NULL; m; m = m->next)
		if (m->instance && strcmp(m->instance, buf) == 0)
			return m;
	return NULL;
}

static void protos_free(struct kmember *m)
{
	for (int i = 0; i < m->nprotos; i++) {
		free(m->protos[i].name);
		free(m->protos[i].meta);
	}
	m->nprotos = 0;
}

static void member_remove(struct kgroup *g, struct kmember *m)
{
	for (struct kmember **pp = &g->members; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	if (g->leader == m) {
		g->leader = NULL;
		g->proto = NULL;
	}
	g->nmembers--;
	kg.nmembers--;
	protos_free(m);
	free(m->assign);
	free(m->instance);
	free(m->client);
	free(m->id);
	free(m);
}

static bool member_has(const struct kmember *m, const char *proto)
{
	for (int i = 0; i < m->nprotos; i++)
		if (strcmp(m->protos[i].name, proto) == 0)
			return true;
	return false;
}

static const struct kproto *member_proto(const struct kmember *m,
					 const char *proto)
{
	for (int i = 0; proto && i < m->nprotos; i++)
		if (strcmp(m->protos[i].name, proto) == 0)
			return &m->protos[i];
	return NULL;
}

static void wake(struct kgroup *g)
{
	kafka_topic_appended(g->wake);
}

/* ---- rounds ---- */

static void rebalance_begin(struct kgroup *g, int64_t now)
{
	int32_t longest = 0;
	if (g->state == G_JOINING)
		return;
	g->state = G_JOINING;
	for (struct kmember *m = g->members; m; m = m->next) {
		m->joined = m->join_wait;       /* joins this round too */
		free(m->assign);
		m->assign = NULL;
		m->alen = 0;
		if (m->rebalance_ms > longest)
			longest = m->rebalance_ms;
	}
	g->deadline = now + longest;
	wake(g);                        /* parked SyncGroups: rebalancing */
}

/* The leader's first protocol that every member supports. */
static const char *choose_proto(const struct kgroup *g)
{
	for (int i = 0; i < g->leader->nprotos; i++) {
		const char *p = g->leader->protos[i].name;
		bool all = true;
		for (struct kmember *m = g->members; m && all; m = m->next)
			all = member_has(m, p);
		if (all)
			return p;
	}
	return NULL;
}

/* End the round: drop those that did not join, pick leader and protocol,
 * next generation. */
static void join_complete(struct kgroup *g)
{
	struct kmember *next;
	for (struct kmember *m = g->members; m; m = next) {
		next = m->next;
		if (!m->joined)
			member_remove(g, m);
	}
	g->generation++;
	if (!g->nmembers) {
		g->state = G_EMPTY;
		return;
	}
	if (!g->leader)
		g->leader = g->members;
	g->proto = choose_proto(g);
	g->state = G_SYNCING;
	wake(g);
}

static void join_check(struct kgroup *g, int64_t now)
{
	if (g->state != G_JOINING)
		return;
	bool all = true;
	for (struct kmember *m = g->members; m && all; m = m->next)
		all = m->joined;
	if (all || now >= g->deadline)
		join_complete(g);
}

/* Drop the members whose session ran out (not those waiting in a
 * parked request); a rebalance follows. */
static void expire(struct kgroup *g, int64_t now)
{
	bool gone = false;
	struct kmember *next;
	for (struct kmember *m = g->members; m; m = next) {
		next = m->next;
		if (!m->waiting && now - m->seen > m->session_ms) {
			member_remove(g, m);
			gone = true;
		}
	}
	if (gone && g->nmembers)
		rebalance_begin(g, now);
	else if (gone)
		g->state = G_EMPTY;
	join_check(g, now);
}

/* ---- waiting ---- */

struct wait {
	char group[SF_GROUP_MAX + 1];
	char member[MEMBER_ID_MAX + 1];
	int32_t generation;
};

static void wait_free(void *arg)
{
	struct wait *w = arg;
	struct kgroup *g = group_find(w->group);
	struct kmember *m = member_find(g, w->member);
	if (m) {
		m->waiting = m->join_wait = false;
		m->seen = kafka_now_ms();
	}
	free(w);
}

static int park(struct kreq *req, struct kgroup *g, struct kmember *m,
		int64_t deadline, krecheck *fn)
{
	struct wait *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	snprintf(w->group, sizeof w->group, "%s", g->id);
	snprintf(w->member, sizeof w->member, "%s", m->id);
	w->generation = g->generation;
	int r = kafka_park(req, deadline, fn, w, wait_free);
	if (r < 0) {
		free(w);
		return r;
	}
	m->waiting = true;
	kafka_watch(req, g->wake);
	return 0;
}

/* ---- FindCoordinator ---- */

int kafka_find_coordinator(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	kr_string(r);                           /* key */
	int8_t type = v >= 1 ? kr_i8(r) : 0;
	if (r->bad)
		return -1;
	bool ok = type == 0;                    /* groups; not transactions */
	/* A transaction coordinator: refused as InitProducerId refuses a
	 * transactional id (producer_id.c), an error clients give up on at
	 * once (COORDINATOR_NOT_AVAILABLE they retry until a timeout). */
	int16_t no = type == 1 ? KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
			       : KERR_COORDINATOR_NOT_AVAILABLE;
	if (v >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_i16(resp, ok ? KERR_NONE : no);
	if (v >= 1)
		kb_string(resp, ok ? NULL : "transactions are not supported");
	kb_i32(resp, ok ? 0 : -1);
	kb_string(resp, ok ? kafka_conn_host(req->conn) : "");
	kb_i32(resp, ok ? kafka_conn_port(req->conn) : -1);
	return 0;
}

/* ---- JoinGroup ---- */

struct join {
	struct kstr group, member, instance, ptype;
	int32_t session, rebalance;
	struct kstr names[PROTOCOLS_MAX], metas[PROTOCOLS_MAX];
	int32_t nprotos;                /* as sent */
};

static int join_parse(struct kreq *req, struct join *j)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	j->group = kr_string(r);
	j->session = kr_i32(r);
	j->rebalance = v >= 1 ? kr_i32(r) : j->session;
	j->member = kr_string(r);
	j->instance = v >= 5 ? kr_string(r) : (struct kstr){ NULL, -1 };
	j->ptype = kr_string(r);
	j->nprotos = kr_array(r);
	for (int32_t i = 0; i < j->nprotos && !r->bad; i++) {
		struct kstr n = kr_string(r), m = kr_bytes(r);
		if (i < PROTOCOLS_MAX) {
			j->names[i] = n;
			j->metas[i] = m;
		}
	}
	return r->bad ? -1 : 0;
}

static void join_answer(struct kbuf *b, int16_t v, int16_t err,
			const struct kgroup *g, const struct kmember *m,
			struct kstr asked)
{
	if (v >= 2)
		kb_i32(b, 0);                   /* throttle_time_ms */
	kb_i16(b, err);
	kb_i32(b, err ? -1 : g->generation);
	kb_string(b, err ? "" : g->proto ? g->proto : "");
	kb_string(b, err ? "" : g->leader->id);
	if (m)
		kb_string(b, m->id);
	else
		kb_nstring(b, asked.p, asked.len > 0 ? (size_t)asked.len : 0);
	bool leader = !err && g->leader == m;
	kb_array(b, leader ? g->nmembers : 0);
	for (struct kmember *o = leader ? g->members : NULL; o; o = o->next) {
		const struct kproto *p = member_proto(o, g->proto);
		kb_string(b, o->id);
		if (v >= 5)
			kb_string(b, o->instance);
		kb_bytes(b, p ? p->meta : NULL, p ? p->len : 0);
	}
}

/* The protocols j offers fit the group's others: same type, and each
 * other member supports one of them. */
static bool join_fits(const struct kgroup *g, const struct kmember *self,
		      const struct join *j)
{
	if (j->nprotos <= 0 || j->nprotos > PROTOCOLS_MAX || j->ptype.len < 0)
		return false;
	for (int32_t i = 0; i < j->nprotos; i++)
		if (j->names[i].len <= 0 || j->metas[i].len < 0)
			return false;
	for (struct kmember *o = g->members; o; o = o->next) {
		if (o == self)
			continue;
		if (g->ptype && !kstr_eq(j->ptype, g->ptype))
			return false;
		bool one = false;
		for (int32_t i = 0; i < j->nprotos && !one; i++)
			for (int k = 0; k < o->nprotos && !one; k++)
				one = kstr_eq(j->names[i], o->protos[k].name);
		if (!one)
			return false;
	}
	return true;
}

static char *member_id_new(const char *client)
{
	char id[MEMBER_ID_MAX + 1];
	snprintf(id, sizeof id, "%.64s-%016" PRIx64, *client ? client :
		 "member", ++kg.serial);
	return strdup(id);
}

static struct kmember *member_new(struct kgroup *g, const char *client)
{
	struct kmember *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->id = member_id_new(client);
	m->client = strdup(client);
	if (!m->id || !m->client) {
		free(m->id);
		free(m->client);
		free(m);
		return NULL;
	}
	m->next = g->members;           /* newest first; leader kept */
	g->members = m;
	g->nmembers++;
	kg.nmembers++;
	return m;
}

/* A static member's new incarnation: a new member id (the old one is
 * fenced from now on); false on oom, m unchanged. */
static bool member_renew(struct kmember *m, const char *client)
{
	char *id = member_id_new(client), *c = strdup(client);
	if (!id || !c) {
		free(id);
		free(c);
		return false;
	}
	free(m->id);
	free(m->client);
	m->id = id;
	m->client = c;
	return true;
}

/* j offers exactly the protocols m has, in the same order. */
static bool protos_same(const struct kmember *m, const struct join *j)
{
	if (j->nprotos != m->nprotos)
		return false;
	for (int i = 0; i < m->nprotos; i++) {
		const struct kproto *p = &m->protos[i];
		if (!kstr_eq(j->names[i], p->name) || j->metas[i].len != p->len ||
		    (p->len && memcmp(j->metas[i].p, p->meta, (size_t)p->len)))
			return false;
	}
	return true;
}

/* Take j's protocols and timeouts into m: false on oom. */
static bool member_take(struct kmember *m, const struct join *j)
{
	protos_free(m);
	for (int32_t i = 0; i < j->nprotos; i++) {
		struct kproto *p = &m->protos[i];
		p->name = kstr_dup(j->names[i]);
		p->len = j->metas[i].len;
		p->meta = malloc(p->len ? (size_t)p->len : 1);
		m->nprotos = i + 1;
		if (!p->name || !p->meta)
			return false;
		if (p->len)
			memcpy(p->meta, j->metas[i].p, (size_t)p->len);
	}
	free(m->instance);
	m->instance = j->instance.len >= 0 ? kstr_dup(j->instance) : NULL;
	m->session_ms = j->session;
	m->rebalance_ms = j->rebalance > 0 ? j->rebalance : j->session;
	return true;
}

static int join_recheck(struct kreq *req, struct kbuf *resp, bool expired,
			void *arg)
{
	struct wait *w = arg;
	struct kgroup *g = group_find(w->group);
	struct kmember *m = member_find(g, w->member);
	struct kstr none = { NULL, 0 };
	if (!m) {
		join_answer(resp, req->api_version, KERR_UNKNOWN_MEMBER_ID,
			    NULL, NULL, none);
		return 0;
	}
	if (expired && g->state == G_JOINING)
		join_complete(g);
	if (g->state == G_JOINING)
		return KAFKA_PARKED;
	join_answer(resp, req->api_version, KERR_NONE, g, m, none);
	return 0;
}

/* The group j names, and j's member in it (new when j names none): a
 * Kafka error, or KERR_NONE with *gp and *mp set. */
static int16_t join_member(struct kreq *req, const struct join *j,
			   struct kgroup **gp, struct kmember **mp, bool *kept)
{
	char name[SF_GROUP_MAX + 1];
	if (kgroup_name(j->group, name) < 0)
		return KERR_INVALID_GROUP_ID;
	if (j->session < SESSION_MIN_MS || j->session > SESSION_MAX_MS)
		return KERR_INVALID_SESSION_TIMEOUT;
	struct kgroup *g = group_get(name);
	if (!g)
		return KERR_COORDINATOR_NOT_AVAILABLE;
	int64_t now = kafka_now_ms();
	expire(g, now);
	struct kmember *m = NULL, *st = instance_findk(g, j->instance);
	if (j->member.len > 0 && !(m = member_findk(g, j->member))) {
		group_drop_if_empty(g);
		return st ? KERR_FENCED_INSTANCE_ID : KERR_UNKNOWN_MEMBER_ID;
	}
	if (m && st && st != m)
		return KERR_FENCED_INSTANCE_ID;
	if (!join_fits(g, m ? m : st, j)) {
		group_drop_if_empty(g);
		return KERR_INCONSISTENT_GROUP_PROTOCOL;
	}
	if (!m && (g->nmembers >= GROUP_MEMBERS_MAX ||
		   kg.nmembers >= MEMBERS_MAX)) {
		group_drop_if_empty(g);
		return KERR_GROUP_MAX_SIZE_REACHED;
	}
	*kept = false;
	if (!m && st) {
		if (!member_renew(st, req->client_id))
			return KERR_COORDINATOR_NOT_AVAILABLE;
		m = st;
		*kept = g->state == G_STABLE && g->leader != m &&
			protos_same(m, j);
	}
	if (!m)
		m = member_new(g, req->client_id);
	if (!m || !member_take(m, j)) {
		if (m)
			member_remove(g, m);
		group_drop_if_empty(g);
		return KERR_COORDINATOR_NOT_AVAILABLE;
	}
	if (g->nmembers == 1 || !g->ptype) {
		free(g->ptype);
		g->ptype = kstr_dup(j->ptype);
	}
	m->seen = now;
	*gp = g;
	*mp = m;
	return KERR_NONE;
}

int kafka_join_group(struct kreq *req, struct kbuf *resp)
{
	struct join j;
	struct kgroup *g = NULL;
	struct kmember *m = NULL;
	bool kept = false;
	if (join_parse(req, &j) < 0)
		return -1;
	int16_t err = join_member(req, &j, &g, &m, &kept);
	if (err) {
		join_answer(resp, req->api_version, err, NULL, NULL, j.member);
		return 0;
	}
	if (kept) {             /* a static member back: no new round */
		join_answer(resp, req->api_version, KERR_NONE, g, m, j.member);
		return 0;
	}
	int64_t now = kafka_now_ms();
	rebalance_begin(g, now);
	if (now + m->rebalance_ms > g->deadline)
		g->deadline = now + m->rebalance_ms;
	m->joined = true;
	join_check(g, now);
	if (g->state != G_JOINING) {
		join_answer(resp, req->api_version, KERR_NONE, g, m, j.member);
		return 0;
	}
	if (park(req, g, m, g->deadline, join_recheck) < 0) {
		join_answer(resp, req->api_version,
			    KERR_COORDINATOR_NOT_AVAILABLE, NULL, NULL,
			    j.member);
		return 0;
	}
	m->join_wait = true;
	return KAFKA_PARKED;
}

/* ---- SyncGroup ---- */

static void sync_answer(struct kbuf *b, int16_t v, int16_t err,
			const struct kmember *m)
{
	if (v >= 1)
		kb_i32(b, 0);                   /* throttle_time_ms */
	kb_i16(b, err);
	if (!err && m->assign)
		kb_bytes(b, m->assign, m->alen);
	else
		kb_bytes(b, "", 0);
}

/* The leader's assignments (the rest of the request) into the members. */
static int sync_take(struct kgroup *g, struct kreader *r)
{
	int32_t n = kr_array(r);
	for (int32_t i = 0; i < n && !r->bad; i++) {
		struct kstr id = kr_string(r), a = kr_bytes(r);
		struct kmember *o = r->bad ? NULL : member_findk(g, id);
		if (!o || a.len < 0)
			continue;
		free(o->assign);
		o->assign = malloc(a.len ? (size_t)a.len : 1);
		o->alen = o->assign ? a.len : 0;
		if (o->assign && a.len)
			memcpy(o->assign, a.p, (size_t)a.len);
	}
	return r->bad ? -1 : 0;
}

static int sync_recheck(struct kreq *req, struct kbuf *resp, bool expired,
			void *arg)
{
	struct wait *w = arg;
	struct kgroup *g = group_find(w->group);
	struct kmember *m = member_find(g, w->member);
	int16_t v = req->api_version;
	if (!m)
		sync_answer(resp, v, KERR_UNKNOWN_MEMBER_ID, NULL);
	else if (g->generation != w->generation || g->state == G_JOINING)
		sync_answer(resp, v, KERR_REBALANCE_IN_PROGRESS, NULL);
	else if (g->state == G_STABLE)
		sync_answer(resp, v, KERR_NONE, m);
	else if (!expired)
		return KAFKA_PARKED;
	else            /* the leader gave nothing in time: a new round */
		sync_answer(resp, v, KERR_REBALANCE_IN_PROGRESS, NULL);
	if (m && expired && g->state == G_SYNCING) {
		rebalance_begin(g, kafka_now_ms());
	}
	return 0;
}

/* The group and member a SyncGroup, Heartbeat or LeaveGroup names, heard
 * of now: KERR_NONE, INVALID_GROUP_ID or UNKNOWN_MEMBER_ID. */
static int16_t member_of(struct kstr group, struct kstr member,
			 struct kstr instance, struct kgroup **gp,
			 struct kmember **mp)
{
	char name[SF_GROUP_MAX + 1];
	if (kgroup_name(group, name) < 0)
		return KERR_INVALID_GROUP_ID;
	struct kgroup *g = group_find(name);
	struct kmember *m = g ? member_findk(g, member) : NULL;
	struct kmember *st = g ? instance_findk(g, instance) : NULL;
	if (st && st != m)
		return KERR_FENCED_INSTANCE_ID;
	if (!m)
		return KERR_UNKNOWN_MEMBER_ID;
	int64_t now = kafka_now_ms();
	m->seen = now;
	expire(g, now);
	*gp = g;
	*mp = m;
	return KERR_NONE;
}

/* The head of SyncGroup and Heartbeat: group, generation, member and,
 * from v3, the instance id.  -1 when the body is short. */
struct mhead {
	struct kstr group, member, inst;
	int32_t gen;
};

static int mhead_read(struct kreader *r, int16_t v, struct mhead *h)
{
	h->group = kr_string(r);
	h->gen = kr_i32(r);
	h->member = kr_string(r);
	h->inst = v >= 3 ? kr_string(r) : (struct kstr){ NULL, -1 };
	return r->bad ? -1 : 0;
}

int kafka_sync_group(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct mhead h;
	/* The listener checked the body's shape (shapes.c): what follows
	 * the head is the leader's assignments, read by sync_take. */
	if (mhead_read(r, v, &h) < 0)
		return -1;
	struct kreader assignments = *r;
	struct kgroup *g = NULL;
	struct kmember *m = NULL;
	int16_t err = member_of(h.group, h.member, h.inst, &g, &m);
	int32_t gen = h.gen;
	if (!err && gen != g->generation)
		err = KERR_ILLEGAL_GENERATION;
	if (!err && g->state == G_JOINING)
		err = KERR_REBALANCE_IN_PROGRESS;
	if (!err && g->state == G_SYNCING && g->leader == m) {
		if (sync_take(g, &assignments) < 0)
			return -1;
		g->state = G_STABLE;
		wake(g);
	}
	if (err || g->state == G_STABLE) {
		sync_answer(resp, v, err, m);
		return 0;
	}
	if (park(req, g, m, kafka_now_ms() + m->session_ms, sync_recheck) < 0)
		sync_answer(resp, v, KERR_COORDINATOR_NOT_AVAILABLE, NULL);
	else
		return KAFKA_PARKED;
	return 0;
}

/* ---- Heartbeat, LeaveGroup ---- */

int kafka_heartbeat(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct mhead h;
	if (mhead_read(r, v, &h) < 0)
		return -1;
	struct kgroup *g = NULL;
	struct kmember *m = NULL;
	int16_t err = member_of(h.group, h.member, h.inst, &g, &m);
	if (!err && g->state == G_JOINING)
		err = KERR_REBALANCE_IN_PROGRESS;
	if (!err && h.gen != g->generation)
		err = KERR_ILLEGAL_GENERATION;
	if (v >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_i16(resp, err);
	return 0;
}

int kafka_leave_group(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	int16_t v = req->api_version;
	struct kstr group = kr_string(r);
	struct kstr member = kr_string(r);
	if (r->bad)
		return -1;
	struct kgroup *g = NULL;
	struct kmember *m = NULL;
	struct kstr none = { NULL, -1 };
	int16_t err = member_of(group, member, none, &g, &m);
	if (!err) {
		int64_t now = kafka_now_ms();
		member_remove(g, m);
		if (g->nmembers) {
			rebalance_begin(g, now);
			join_check(g, now);
		} else {
			g->state = G_EMPTY;
			group_drop_if_empty(g);
		}
	}
	if (v >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	kb_i16(resp, err);
	return 0;
}

/* ---- for OffsetCommit ---- */

int16_t kgroup_commit_check(const char *group, int32_t generation,
			    struct kstr member)
{
	struct kgroup *g = group_find(group);
	int64_t now = kafka_now_ms();
	if (g)
		expire(g, now);
	if (g && !g->nmembers) {
		group_drop_if_empty(g);
		g = NULL;
	}
	if (generation < 0 && member.len <= 0 && (!g || !g->nmembers))
		return KERR_NONE;
	struct kmember *m = g ? member_findk(g, member) : NULL;
	if (!m)
		return KERR_UNKNOWN_MEMBER_ID;
	m->seen = now;
	if (g->state == G_SYNCING)
		return KERR_REBALANCE_IN_PROGRESS;
	if (generation != g->generation)
		return KERR_ILLEGAL_GENERATION;
	return KERR_NONE;
}

/* ---- descriptions (ListGroups, DescribeGroups: group_list.c) ---- */

static void group_info(const struct kgroup *g, struct kgroup_info *i)
{
	static const char *const names[] = {
		[G_EMPTY] = "Empty", [G_JOINING] = "PreparingRebalance",
		[G_SYNCING] = "CompletingRebalance", [G_STABLE] = "Stable",
	};
	i->id = g->id;
	i->state = names[g->state];
	i->ptype = g->ptype ? g->ptype : "";
	i->proto = g->proto && g->state != G_JOINING ? g->proto : "";
}

void kgroup_each(void (*fn)(void *arg, const struct kgroup_info *g),
		 void *arg)
{
	struct kgroup_info i;
	for (struct kgroup *g = kg.groups; g; g = g->next) {
		group_info(g, &i);
		fn(arg, &i);
	}
}

bool kgroup_describe(const char *id, struct kgroup_info *gi,
		     void (*member)(void *arg, const struct kmember_info *m),
		     void *arg)
{
	struct kgroup *g = group_find(id);
	if (!g)
		return false;
	group_info(g, gi);
	for (struct kmember *m = g->members; m && member; m = m->next) {
		const struct kproto *p = member_proto(m, *gi->proto ?
						      gi->proto : NULL);
		struct kmember_info mi = {
			.id = m->id, .instance = m->instance,
			.client = m->client ? m->client : "",
			.meta = p ? p->meta : NULL, .mlen = p ? p->len : 0,
			.assign = m->assign, .alen = m->assign ? m->alen : 0,
		};
		member(arg, &mi);
	}
	return true;
}
