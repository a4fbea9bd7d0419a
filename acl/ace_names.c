/* ace_names.c - users and groups by name and number, and trees back to text.
 *
 * Owns: name <-> id resolution (ace_user_id, ace_group_id, ace_user_name,
 * ace_group_name) and printing (ace_to_text).  Lookups use the re-entrant
 * getpwnam_r/getpwuid_r/getgrnam_r/getgrgid_r with a buffer of our own, so
 * they are safe from any thread and go through NSS like ls and chown do.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ace_int.h"

/* Trees store ids as uint32_t. */
_Static_assert(sizeof(uid_t) == sizeof(uint32_t), "uid_t is 32 bits");
_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");

/* Longest name looked up; longer ones are unknown (LOGIN_NAME_MAX is 256
 * with its NUL on Linux, and group names in practice stay below it). */
#define NAME_LEN_MAX 255

/* Bounds of the lookup buffer: it starts at the size sysconf suggests (or
 * 1 KiB) and doubles on ERANGE up to 1 MiB (a big group lists every member
 * in it). */
#define LOOKUP_BUF_MIN 1024
#define LOOKUP_BUF_MAX (1024 * 1024)

/* ========================================================================
 * Lookups
 */

enum query_kind { Q_USER_BY_NAME, Q_USER_BY_ID, Q_GROUP_BY_NAME, Q_GROUP_BY_ID };

/* One database query.  In: kind, and name (NUL-terminated) or id.
 * Out: id, and the entry's name copied into out[0..outsize) when out is set. */
struct query {
	enum query_kind kind;
	const char *name;
	uint32_t id;
	char *out;
	size_t outsize;
};

/* One getpw*_r / getgr*_r call with buf[0..size).  Returns the call's error
 * number (0 when it ran, found or not) and sets *found to the entry's name
 * (inside buf) or NULL; sets q->id when found. */
static int query_once(struct query *q, char *buf, size_t size,
		      const char **found)
{
	struct passwd pw, *pwr = NULL;
	struct group gr, *grr = NULL;
	int e;

	switch (q->kind) {
	case Q_USER_BY_NAME: e = getpwnam_r(q->name, &pw, buf, size, &pwr); break;
	case Q_USER_BY_ID: e = getpwuid_r(q->id, &pw, buf, size, &pwr); break;
	case Q_GROUP_BY_NAME: e = getgrnam_r(q->name, &gr, buf, size, &grr); break;
	default: e = getgrgid_r(q->id, &gr, buf, size, &grr); break;
	}
	*found = NULL;
	if (pwr) {
		q->id = pwr->pw_uid;
		*found = pwr->pw_name;
	} else if (grr) {
		q->id = grr->gr_gid;
		*found = grr->gr_name;
	}
	return e;
}

/* The first buffer size for a query of kind. */
static size_t first_size(enum query_kind kind)
{
	int which = (kind == Q_USER_BY_NAME || kind == Q_USER_BY_ID) ?
		    _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX;
	long n = sysconf(which);

	return n >= LOOKUP_BUF_MIN && n <= LOOKUP_BUF_MAX ? (size_t)n :
						     LOOKUP_BUF_MIN;
}

/* Whether error number e from a getpw*_r / getgr*_r call means "no such
 * entry": POSIX allows several values for that besides 0 with no result. */
static int not_found_errno(int e)
{
	return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

/* Run query q, growing the buffer as needed.  Returns 0 (found), 1 (no such
 * entry), ACE_E_LOOKUP, ACE_E_NOMEM, or ACE_E_INVAL (found, but its name
 * does not fit q->out). */
static int run_query(struct query *q)
{
	size_t size = first_size(q->kind);
	const char *name;
	char *buf;
	int e, rc;

	for (;;) {
		buf = malloc(size);
		if (!buf)
			return ACE_E_NOMEM;
		e = query_once(q, buf, size, &name);
		if (e != ERANGE || size >= LOOKUP_BUF_MAX)
			break;
		free(buf);
		size *= 2;
	}
	if (name)
		rc = 0;
	else
		rc = not_found_errno(e) ? 1 : ACE_E_LOOKUP;
	if (name && q->out) {
		if (strlen(name) < q->outsize)
			strcpy(q->out, name);
		else
			rc = ACE_E_INVAL;
	}
	free(buf);
	return rc;
}

/* Parse s[0..n) as a decimal id.  Returns 1 and sets *id when s is all
 * digits and the value is a valid id (below 2^32 - 1, which means "no id"
 * to chown and setreuid); 0 when s is not all digits; -1 when it is all
 * digits but out of range. */
static int parse_id(const char *s, size_t n, uint32_t *id)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	for (i = 0; i < n; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v >= UINT32_MAX)
			return -1;
	}
	*id = (uint32_t)v;
	return 1;
}

/* Resolve name[0..len) as a user (user != 0) or group: a number is taken as
 * it is, anything else is looked up.  notfound is the code for "no such". */
static int name_to_id(const char *name, size_t len, int user, uint32_t *id,
		      int notfound)
{
	char key[NAME_LEN_MAX + 1];
	struct query q = { .kind = user ? Q_USER_BY_NAME : Q_GROUP_BY_NAME };
	int rc;

	if (!name || !id)
		return ACE_E_INVAL;
	rc = parse_id(name, len, id);
	if (rc != 0)
		return rc > 0 ? 0 : notfound;
	if (len == 0 || len > NAME_LEN_MAX || memchr(name, '\0', len))
		return notfound;
	memcpy(key, name, len);
	key[len] = '\0';
	q.name = key;
	rc = run_query(&q);
	if (rc == 0)
		*id = q.id;
	return rc == 1 ? notfound : rc;
}

/* Contract in ace.h. */
int ace_user_id(const char *name, size_t len, uid_t *uid)
{
	uint32_t id = 0;
	int rc;

	if (!uid)
		return ACE_E_INVAL;
	rc = name_to_id(name, len, 1, &id, ACE_E_USER);
	if (rc == 0)
		*uid = (uid_t)id;
	return rc;
}

/* Contract in ace.h. */
int ace_group_id(const char *name, size_t len, gid_t *gid)
{
	uint32_t id = 0;
	int rc;

	if (!gid)
		return ACE_E_INVAL;
	rc = name_to_id(name, len, 0, &id, ACE_E_GROUP);
	if (rc == 0)
		*gid = (gid_t)id;
	return rc;
}

/* Look up the name of id (a uid when user != 0, else a gid) into buf. */
static int id_to_name(uint32_t id, int user, char *buf, size_t size,
		      int notfound)
{
	struct query q = {
		.kind = user ? Q_USER_BY_ID : Q_GROUP_BY_ID,
		.id = id, .out = buf, .outsize = size,
	};
	int rc;

	if (!buf || size == 0)
		return ACE_E_INVAL;
	rc = run_query(&q);
	return rc == 1 ? notfound : rc;
}

/* Contract in ace.h. */
int ace_user_name(uid_t uid, char *buf, size_t size)
{
	return id_to_name((uint32_t)uid, 1, buf, size, ACE_E_USER);
}

/* Contract in ace.h. */
int ace_group_name(gid_t gid, char *buf, size_t size)
{
	return id_to_name((uint32_t)gid, 0, buf, size, ACE_E_GROUP);
}

/* ========================================================================
 * Printing
 */

/* A growing output string; err is set once an allocation fails, and every
 * later write is then ignored. */
struct out {
	char *p;
	size_t len, cap;
	int err;
	int flags;
};

/* Append s[0..n) to o, keeping it NUL-terminated. */
static void put(struct out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 64;
		char *p;

		while (o->len + n + 1 > cap)
			cap *= 2;
		p = realloc(o->p, cap);
		if (!p) {
			o->err = ACE_E_NOMEM;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Whether name may be printed in place of id: it must read back as a name
 * token (name characters, not all digits) and resolve to the same id, so
 * that parsing the printed text gives the same tree. */
static int name_round_trips(const char *name, int user, uint32_t id)
{
	size_t i, n = strlen(name), digits = 0;
	uid_t uid = 0;
	gid_t gid = 0;

	for (i = 0; i < n; i++) {
		if (!ace_is_name_char((unsigned char)name[i]))
			return 0;
		digits += name[i] >= '0' && name[i] <= '9';
	}
	if (n == 0 || digits == n)
		return 0;
	if (user)
		return ace_user_id(name, n, &uid) == 0 && (uint32_t)uid == id;
	return ace_group_id(name, n, &gid) == 0 && (uint32_t)gid == id;
}

/* Print a u: or g: term: by name when o asks for names and one fits, else
 * by number. */
static void put_term(struct out *o, int user, uint32_t id)
{
	char name[NAME_LEN_MAX + 1], num[16];
	int rc;

	put_str(o, user ? "u:" : "g:");
	if (o->flags & ACE_TEXT_NAMES) {
		rc = user ? ace_user_name((uid_t)id, name, sizeof(name)) :
			    ace_group_name((gid_t)id, name, sizeof(name));
		if (rc == 0 && name_round_trips(name, user, id)) {
			put_str(o, name);
			return;
		}
	}
	snprintf(num, sizeof(num), "%u", (unsigned)id);
	put_str(o, num);
}

static void put_node(const ace_t *ace, uint32_t i, struct out *o);

/* Print operand i, in parentheses when it is a '|' or '&' that would
 * otherwise bind wrongly under its parent: any binary node under '!', an '|'
 * under '&'. */
static void put_operand(const ace_t *ace, uint32_t i, uint32_t parent_kind,
			struct out *o)
{
	uint32_t k = ace->node[i].kind;
	int paren = (parent_kind == ACE_N_NOT && (k == ACE_N_AND || k == ACE_N_OR)) ||
		    (parent_kind == ACE_N_AND && k == ACE_N_OR);

	if (paren)
		put(o, "(", 1);
	put_node(ace, i, o);
	if (paren)
		put(o, ")", 1);
}

/* Print node i of ace and everything under it. */
static void put_node(const ace_t *ace, uint32_t i, struct out *o)
{
	const struct ace_node *n = &ace->node[i];
	uint32_t c;

	switch (n->kind) {
	case ACE_N_USER:
	case ACE_N_GROUP:
		put_term(o, n->kind == ACE_N_USER, n->id);
		return;
	case ACE_N_PUBLIC:
		put(o, "p", 1);
		return;
	case ACE_N_NOT:
		put(o, "!", 1);
		put_operand(ace, n->child, n->kind, o);
		return;
	}
	for (c = n->child; c != ACE_NIL; c = ace->node[c].next) {
		if (c != n->child)
			put_str(o, n->kind == ACE_N_AND ? " & " : " | ");
		put_operand(ace, c, n->kind, o);
	}
}

/* Contract in ace.h. */
int ace_to_text(const ace_t *ace, int flags, char **out)
{
	struct out o = { .flags = flags };

	if (!out)
		return ACE_E_INVAL;
	*out = NULL;
	if (!ace || ace->root == ACE_NIL || (flags & ~ACE_TEXT_NAMES))
		return ACE_E_INVAL;
	put_node(ace, ace->root, &o);
	if (o.err) {
		free(o.p);
		return o.err;
	}
	*out = o.p;
	return 0;
}
