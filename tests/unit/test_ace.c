/* test_ace.c - unit tests of the ACE library (acl/ace.h): every grammar rule,
 * precedence, each error with its position, name resolution against the
 * real user database (root, nobody, adm), evaluation with supplementary
 * groups, canonical text, permission lists, and concurrent use.
 *
 * A tiny harness: CHECK counts passes and failures and reports each failure
 * with its line; main prints "N passed, N failed" and exits 1 on failure.
 */
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ace.h"

/* ========================================================================
 * Harness
 */

#include "check.h"

/* Parse in; on success the canonical numeric text must be want (and must
 * parse to itself), else report the error. */
#define OK(in, want) expect_text_at(in, want, ACE_TEXT_NUMERIC, __LINE__)
#define NAMES(in, want) expect_text_at(in, want, ACE_TEXT_NAMES, __LINE__)

static void expect_text_at(const char *in, const char *want, int flags,
			   int line)
{
	ace_t *a = NULL, *b = NULL;
	ace_error_t e;
	char *t1 = NULL, *t2 = NULL;
	int rc = ace_parse(in, strlen(in), &a, &e);

	if (!check_at(rc == 0, in, line)) {
		fprintf(stderr, "  parse \"%s\": %d at %zu: %s\n", in, rc,
			e.pos, e.msg);
		return;
	}
	check_at(ace_to_text(a, flags, &t1) == 0, "ace_to_text", line);
	if (t1 && !check_at(strcmp(t1, want) == 0, want, line))
		fprintf(stderr, "  \"%s\" printed as \"%s\"\n", in, t1);
	/* the printed text parses to a tree that prints the same */
	if (t1 && check_at(ace_parse(t1, strlen(t1), &b, NULL) == 0, t1, line)) {
		check_at(ace_to_text(b, flags, &t2) == 0, "reprint", line);
		check_at(t2 && strcmp(t1, t2) == 0, "reprint is stable", line);
	}
	free(t1);
	free(t2);
	ace_free(a);
	ace_free(b);
}

/* Parse in[0..len) and expect error code at pos. */
#define ERRN(in, len, code, pos) expect_error_at(in, len, code, pos, __LINE__)
#define ERR(in, code, pos) ERRN(in, strlen(in), code, pos)

static void expect_error_at(const char *in, size_t len, int code, size_t pos,
			    int line)
{
	ace_t *a = (ace_t *)1;
	ace_error_t e;
	int rc = ace_parse(in, len, &a, &e);

	if (!check_at(rc == code && e.code == code && e.pos == pos &&
		      a == NULL && e.msg[0] != '\0', in, line))
		fprintf(stderr, "  \"%.60s\": want %d at %zu, got %d/%d at %zu: %s\n",
			in, code, pos, rc, e.code, e.pos, e.msg);
	if (rc == 0)
		ace_free(a);
}

/* Whether in holds for who. */
static int holds(const char *in, const ace_caller_t *who)
{
	ace_t *a = NULL;
	int r;

	if (ace_parse(in, strlen(in), &a, NULL) != 0)
		return -1;
	r = ace_eval(a, who);
	ace_free(a);
	return r;
}

/* ========================================================================
 * Grammar
 */

static void test_terms(void)
{
	OK("u:0", "u:0");
	OK("u:root", "u:0");
	OK("u:nobody", "u:65534");
	OK("g:0", "g:0");
	OK("g:root", "g:0");
	OK("p", "p");
	OK("u:4000000", "u:4000000");      /* a uid nobody has is fine */
	OK("u:4294967294", "u:4294967294"); /* the largest valid uid */
	OK("g:007", "g:7");                 /* numbers are decimal */
}

static void test_operators(void)
{
	OK("!p", "!p");
	OK("u:0&g:0", "u:0 & g:0");
	OK("u:0|g:0", "u:0 | g:0");
	OK("(p)", "p");
	OK("((u:0))", "u:0");
	OK("!!p", "!!p");
	OK("!(u:0)", "!u:0");
	OK("!(u:0 & g:0)", "!(u:0 & g:0)");
	OK("!(u:0 | g:0)", "!(u:0 | g:0)");
}

static void test_spaces(void)
{
	OK("  u:0  ", "u:0");
	OK("u:0&g:0|!p", "u:0 & g:0 | !p");
	OK("\tu:0\n&\r\n( g:0 |\fp )\v", "u:0 & (g:0 | p)");
	OK("! p", "!p");
	OK("( ( p ) )", "p");
}

static void test_precedence(void)
{
	ace_caller_t who = { .uid = 1000, .gid = 1000 };
	gid_t groups[3];
	unsigned m;

	/* !a&b|c groups as ((!a)&b)|c */
	OK("!u:1&u:2|u:3", "!u:1 & u:2 | u:3");
	OK("((!u:1)&u:2)|u:3", "!u:1 & u:2 | u:3");
	OK("!(u:1&u:2)|u:3", "!(u:1 & u:2) | u:3");
	OK("!u:1&(u:2|u:3)", "!u:1 & (u:2 | u:3)");
	OK("u:1|u:2&u:3", "u:1 | u:2 & u:3");
	OK("(u:1|u:2)&u:3", "(u:1 | u:2) & u:3");
	/* chains are flattened whatever their parentheses */
	OK("(u:1&u:2)&u:3", "u:1 & u:2 & u:3");
	OK("u:1&(u:2&u:3)", "u:1 & u:2 & u:3");
	OK("u:1|(u:2|(u:3|u:4))", "u:1 | u:2 | u:3 | u:4");
	OK("(u:1&u:2)|(u:3&u:4)", "u:1 & u:2 | u:3 & u:4");

	/* truth tables: membership of groups 1, 2, 3 drives a, b, c */
	who.groups = groups;
	for (m = 0; m < 8; m++) {
		int a = m & 1, b = !!(m & 2), c = !!(m & 4);

		who.ngroups = 0;
		if (a)
			groups[who.ngroups++] = 1;
		if (b)
			groups[who.ngroups++] = 2;
		if (c)
			groups[who.ngroups++] = 3;
		CHECK(holds("!g:1&g:2|g:3", &who) == ((!a && b) || c));
		CHECK(holds("!(g:1&g:2)|g:3", &who) == (!(a && b) || c));
		CHECK(holds("!g:1&(g:2|g:3)", &who) == (!a && (b || c)));
		CHECK(holds("g:1|g:2&g:3", &who) == (a || (b && c)));
		CHECK(holds("g:1&g:2|g:3&!g:1", &who) ==
		      ((a && b) || (c && !a)));
		CHECK(holds("!!g:1", &who) == a);
	}
}

/* ========================================================================
 * Errors and their positions
 */

static void test_error_empty(void)
{
	ERR("", ACE_E_EMPTY, 1);
	ERR("   ", ACE_E_EMPTY, 1);
	ERR("\t\n", ACE_E_EMPTY, 1);
	ERRN(NULL, 0, ACE_E_EMPTY, 1);
}

static void test_error_term(void)
{
	ERR("u:", ACE_E_TERM, 1);
	ERR("g:", ACE_E_TERM, 1);
	ERR("p | g:", ACE_E_TERM, 5);
	ERR("u: root", ACE_E_TERM, 1);
	ERR("(u:)", ACE_E_TERM, 2);
	ERR("u:&p", ACE_E_TERM, 1);
}

static void test_error_names(void)
{
	ace_t *a = NULL;
	ace_error_t e;

	ERR("u:no_such_user_xyz", ACE_E_USER, 1);
	ERR("p | g:no_such_group_xyz", ACE_E_GROUP, 5);
	ERR("u:root & !u:nobody | u:no.such-user", ACE_E_USER, 22);
	ERR("u:4294967295", ACE_E_USER, 1);  /* (uid_t)-1 is not an id */
	ERR("g:99999999999", ACE_E_GROUP, 1);
	ERR("u:ro ot", ACE_E_USER, 1);       /* "u:ro" is the term */
	/* the left-most error wins */
	ERR("u:no_such_user_xyz &", ACE_E_USER, 1);
	ERR("p & u:no_such_user_xyz & g:", ACE_E_USER, 5);

	ace_parse("u:no_such_user_xyz", 18, &a, &e);
	CHECK(strcmp(e.msg, "unknown user 'no_such_user_xyz'") == 0);
	ace_parse("g:no_such_group_xyz", 19, &a, &e);
	CHECK(strcmp(e.msg, "unknown group 'no_such_group_xyz'") == 0);
	ace_parse("u:4294967295", 12, &a, &e);
	CHECK(strcmp(e.msg, "uid 4294967295 is out of range") == 0);
}

static void test_error_parens(void)
{
	ERR("(p", ACE_E_UNCLOSED, 1);
	ERR("((p)", ACE_E_UNCLOSED, 1);
	ERR("(p & (u:0)", ACE_E_UNCLOSED, 1);
	ERR("p & (", ACE_E_UNCLOSED, 5);
	ERR("(", ACE_E_UNCLOSED, 1);
	ERR("p & ((u:0) | (g:0)", ACE_E_UNCLOSED, 5);
	ERR(")", ACE_E_UNOPENED, 1);
	ERR("p)", ACE_E_UNOPENED, 2);
	ERR("(p))", ACE_E_UNOPENED, 4);
	ERR("p & u:0 ) | g:0", ACE_E_UNOPENED, 9);
	ERR("()", ACE_E_OPERAND, 2);
	ERR("p & ( )", ACE_E_OPERAND, 7);
}

static void test_error_operators(void)
{
	ERR("p &", ACE_E_TRAILING, 3);
	ERR("p |", ACE_E_TRAILING, 3);
	ERR("p | ", ACE_E_TRAILING, 3);
	ERR("!", ACE_E_TRAILING, 1);
	ERR("p & !", ACE_E_TRAILING, 5);
	ERR("(p &)", ACE_E_TRAILING, 4);
	ERR("(!)", ACE_E_TRAILING, 2);
	ERR("& g:0", ACE_E_OPERAND, 1);
	ERR("| p", ACE_E_OPERAND, 1);
	ERR("p & | p", ACE_E_OPERAND, 5);
	ERR("p && p", ACE_E_OPERAND, 4);
	ERR("!&p", ACE_E_OPERAND, 2);
	ERR("(| p)", ACE_E_OPERAND, 2);
	ERR("p p", ACE_E_OPERATOR, 3);
	ERR("u:0 (p)", ACE_E_OPERATOR, 5);
	ERR("p !p", ACE_E_OPERATOR, 3);
	ERR("(p) g:0", ACE_E_OPERATOR, 5);
	ERR("(p u:0)", ACE_E_OPERATOR, 4);
}

static void test_error_chars(void)
{
	ERR("p # p", ACE_E_CHAR, 3);
	ERR("public", ACE_E_CHAR, 1);
	ERR("x:1", ACE_E_CHAR, 1);
	ERR("user:root", ACE_E_CHAR, 1);
	ERR("U:root", ACE_E_CHAR, 1);
	ERR("u:root:x", ACE_E_CHAR, 7);
	ERR("p, p", ACE_E_CHAR, 2);
	ERR("u:root , g:0", ACE_E_CHAR, 8);
	ERR("p & \xc3\xa9", ACE_E_CHAR, 5);
	ERRN("p\0", 2, ACE_E_CHAR, 2);
	ERR("p & ~p", ACE_E_CHAR, 5);
	ERR("u:0 && p", ACE_E_OPERAND, 6);
}

static void test_error_limits(void)
{
	char *s = malloc(ACE_MAX_LEN + 2);
	size_t i;

	if (!CHECK(s != NULL))
		return;
	/* exactly ACE_MAX_LEN bytes is accepted, one more is not */
	memset(s, ' ', ACE_MAX_LEN + 1);
	s[0] = 'p';
	ERRN(s, ACE_MAX_LEN + 1, ACE_E_LONG, ACE_MAX_LEN + 1);
	{
		ace_t *a = NULL;
		CHECK(ace_parse(s, ACE_MAX_LEN, &a, NULL) == 0);
		ace_free(a);
	}
	/* ACE_MAX_DEPTH levels of '(' or '!' are accepted, one more is not */
	for (i = 0; i < ACE_MAX_DEPTH; i++)
		s[i] = '(';
	s[i] = 'p';
	for (i = 0; i < ACE_MAX_DEPTH; i++)
		s[ACE_MAX_DEPTH + 1 + i] = ')';
	s[2 * ACE_MAX_DEPTH + 1] = '\0';
	OK(s, "p");
	memmove(s + 1, s, strlen(s) + 1);
	i = strlen(s);
	s[i] = ')';
	s[i + 1] = '\0';
	ERR(s, ACE_E_DEPTH, ACE_MAX_DEPTH + 1);
	memset(s, '!', ACE_MAX_DEPTH);
	strcpy(s + ACE_MAX_DEPTH, "p");
	OK(s, s); /* '!!' is kept: the canonical form does not simplify */
	memset(s, '!', ACE_MAX_DEPTH + 1);
	strcpy(s + ACE_MAX_DEPTH + 1, "p");
	ERR(s, ACE_E_DEPTH, ACE_MAX_DEPTH + 1);
	free(s);
}

static void test_error_api(void)
{
	ace_t *a = NULL;
	ace_error_t e;
	char *t = NULL;

	CHECK(ace_parse(NULL, 3, &a, &e) == ACE_E_INVAL && e.pos == 0);
	CHECK(ace_parse("p", 1, NULL, &e) == ACE_E_INVAL);
	CHECK(ace_parse("p &", 3, &a, NULL) == ACE_E_TRAILING && a == NULL);
	CHECK(ace_parse("p", 1, &a, &e) == 0 && e.code == 0 && e.pos == 0 &&
	      e.msg[0] == '\0');
	CHECK(ace_to_text(a, 4, &t) == ACE_E_INVAL && t == NULL);
	CHECK(ace_to_text(NULL, 0, &t) == ACE_E_INVAL);
	CHECK(ace_to_text(a, 0, NULL) == ACE_E_INVAL);
	CHECK(ace_eval(NULL, NULL) == 0);
	ace_free(a);
	ace_free(NULL);
	CHECK(strcmp(ace_strerror(ACE_E_USER), "unknown user") == 0);
	CHECK(strcmp(ace_strerror(ACE_E_SYNTAX), "malformed permission list") == 0);
	CHECK(strcmp(ace_strerror(0), "no error") == 0);
	CHECK(strcmp(ace_strerror(-1000), "unknown error") == 0);
	CHECK(strcmp(ace_strerror(5), "unknown error") == 0);
	CHECK(strcmp(ace_strerror(-2147483647 - 1), "unknown error") == 0);
}

/* ========================================================================
 * Names
 */

static void test_names(void)
{
	struct group *adm = getgrnam("adm");
	struct group *g65534 = getgrgid(65534);
	char buf[64], want[80];
	uid_t uid = 1;
	gid_t gid = 1;

	CHECK(ace_user_id("root", 4, &uid) == 0 && uid == 0);
	CHECK(ace_user_id("nobody", 6, &uid) == 0 && uid == 65534);
	CHECK(ace_user_id("65534", 5, &uid) == 0 && uid == 65534);
	CHECK(ace_user_id("rootx", 4, &uid) == 0 && uid == 0); /* length counts */
	CHECK(ace_user_id("", 0, &uid) == ACE_E_USER);
	CHECK(ace_user_id("ro\0t", 4, &uid) == ACE_E_USER);
	CHECK(ace_user_id("no_such_user_xyz", 16, &uid) == ACE_E_USER);
	CHECK(ace_user_id("4294967295", 10, &uid) == ACE_E_USER);
	CHECK(ace_user_id(NULL, 0, &uid) == ACE_E_INVAL);
	CHECK(ace_user_id("root", 4, NULL) == ACE_E_INVAL);
	CHECK(ace_group_id("root", 4, NULL) == ACE_E_INVAL);
	CHECK(ace_user_name(0, NULL, 10) == ACE_E_INVAL);
	CHECK(ace_group_name(0, buf, 0) == ACE_E_INVAL);
	CHECK(ace_group_id("root", 4, &gid) == 0 && gid == 0);
	CHECK(ace_group_id("no_such_group_xyz", 17, &gid) == ACE_E_GROUP);
	CHECK(ace_user_name(0, buf, sizeof(buf)) == 0 && strcmp(buf, "root") == 0);
	CHECK(ace_user_name(65534, buf, sizeof(buf)) == 0 &&
	      strcmp(buf, "nobody") == 0);
	CHECK(ace_user_name(0, buf, 4) == ACE_E_INVAL); /* "root" needs 5 */
	CHECK(ace_user_name(4000000, buf, sizeof(buf)) == ACE_E_USER);
	CHECK(ace_group_name(0, buf, sizeof(buf)) == 0 && strcmp(buf, "root") == 0);
	CHECK(ace_group_name(4000000, buf, sizeof(buf)) == ACE_E_GROUP);
	{
		char big[400];
		memset(big, 'a', sizeof(big));
		CHECK(ace_user_id(big, sizeof(big), &uid) == ACE_E_USER);
		memcpy(big, "u:", 2);
		ERRN(big, sizeof(big), ACE_E_USER, 1);
	}

	/* printing: names where they resolve, numbers otherwise */
	NAMES("u:0 | u:65534", "u:root | u:nobody");
	NAMES("u:4000000 & g:4000000", "u:4000000 & g:4000000");
	NAMES("u:root & !g:0", "u:root & !g:root");
	if (CHECK(g65534 != NULL)) {
		snprintf(want, sizeof(want), "g:%s", g65534->gr_name);
		NAMES("g:65534", want);
	}
	if (CHECK(adm != NULL)) {
		/* adm is gid 4 on Debian and Ubuntu, but ask the database */
		snprintf(want, sizeof(want), "g:%u", (unsigned)adm->gr_gid);
		OK("g:adm", want);
		CHECK(ace_group_id("adm", 3, &gid) == 0 && gid == adm->gr_gid);
		NAMES(want, "g:adm");
	}
}

/* ========================================================================
 * Evaluation
 */

static void test_eval(void)
{
	gid_t supp[] = { 4, 27, 1000 };
	ace_caller_t alice = { .uid = 1001, .gid = 1001, .groups = supp,
			       .ngroups = 3 };
	ace_caller_t bare = { .uid = 1002, .gid = 100 };
	ace_caller_t root = { .uid = 0, .gid = 0 };
	ace_caller_t nobody = { .uid = 65534, .gid = 65534 };

	CHECK(holds("p", &bare) == 1);
	CHECK(holds("!p", &bare) == 0);
	CHECK(holds("u:1001", &alice) == 1);
	CHECK(holds("u:1002", &alice) == 0);
	CHECK(holds("g:1001", &alice) == 1);  /* primary group */
	CHECK(holds("g:27", &alice) == 1);    /* supplementary */
	CHECK(holds("g:1000", &alice) == 1);  /* the last supplementary */
	CHECK(holds("g:28", &alice) == 0);
	CHECK(holds("g:100", &bare) == 1);    /* no supplementary groups */
	CHECK(holds("g:4", &bare) == 0);
	CHECK(holds("u:root", &root) == 1);
	CHECK(holds("u:root", &alice) == 0);  /* root is no wildcard */
	CHECK(holds("u:1001", &root) == 0);   /* nor a bypass, here */
	CHECK(holds("u:nobody", &nobody) == 1);
	CHECK(holds("g:4 & !u:1001", &alice) == 0);
	CHECK(holds("g:4 & !u:1002", &alice) == 1);
	CHECK(holds("u:1002 | g:27", &bare) == 1);
	CHECK(holds("u:1002 | g:27", &alice) == 1);
	CHECK(holds("u:1002 | g:26", &alice) == 0);
	CHECK(holds("u:1 & u:2 & u:1001", &alice) == 0);
	CHECK(holds("u:1 | u:2 | u:1001", &alice) == 1);
	if (getgrnam("adm")) {
		alice.groups = supp;
		supp[0] = getgrnam("adm")->gr_gid;
		CHECK(holds("g:adm & !u:nobody", &alice) == 1);
		CHECK(holds("g:adm & !u:nobody", &nobody) == 0);
	}
	/* a caller with groups == NULL but ngroups set is read as none */
	bare.ngroups = 5;
	CHECK(holds("g:4", &bare) == 0);
}

/* A load_groups hook that counts its calls and can fail. */
struct loader {
	const gid_t *groups;
	size_t n;
	int calls;
	int result; /* returned; the groups are set only when 0 */
};

static int load_cb(void *ctx, const gid_t **groups, size_t *n)
{
	struct loader *l = ctx;

	l->calls++;
	if (l->result == 0) {
		*groups = l->groups;
		*n = l->n;
	}
	return l->result;
}

static void test_eval_lazy_groups(void)
{
	gid_t supp[] = { 4, 27 }, ignored[] = { 5 };
	struct loader ld = { .groups = supp, .n = 2 };
	ace_caller_t who = { .uid = 1001, .gid = 1001, .groups = ignored,
			     .ngroups = 1, .load_groups = load_cb, .ctx = &ld };

	/* loaded only when a g: term does not match the primary gid */
	CHECK(holds("u:1001 | g:27", &who) == 1 && ld.calls == 0);
	CHECK(holds("g:1001", &who) == 1 && ld.calls == 0);
	CHECK(holds("u:1 & g:27", &who) == 0 && ld.calls == 0);
	CHECK(holds("g:27", &who) == 1 && ld.calls == 1);
	ld.calls = 0;
	CHECK(holds("g:5 | g:6 | !g:4 | g:27", &who) == 1 && ld.calls == 1);
	ld.calls = 0;
	CHECK(holds("g:5", &who) == 0 && ld.calls == 1); /* groups ignored */

	/* a failed load is returned, never guessed: "!g:5" must not grant */
	ld.result = -5;
	CHECK(holds("!g:5", &who) == -5);
	CHECK(holds("g:5 | u:1001", &who) == -5);
	CHECK(holds("u:1001 | g:5", &who) == 1);
	CHECK(holds("!(u:1 & g:5)", &who) == 1);
	CHECK(holds("!(g:5 & u:1)", &who) == -5);
	CHECK(holds("!!g:5", &who) == -5);
	ld.result = 7; /* a hook outside its contract */
	CHECK(holds("g:5", &who) == ACE_E_LOOKUP);

	/* a hook that gives no array gives no groups */
	ld.result = 0;
	ld.groups = NULL;
	CHECK(holds("g:4", &who) == 0);
	CHECK(holds("!g:4", &who) == 1);
}

/* ========================================================================
 * Permission lists
 */

/* Parse a list for obj and expect code at pos. */
#define LERR(in, obj, code, pos) list_error_at(in, obj, code, pos, __LINE__)

static void list_error_at(const char *in, int obj, int code, size_t pos,
			  int line)
{
	ace_list_t l;
	ace_error_t e;
	int rc = ace_list_parse(in, strlen(in), obj, &l, &e);

	if (!check_at(rc == code && e.code == code && e.pos == pos &&
		      l.n == 0 && e.msg[0], in, line))
		fprintf(stderr, "  \"%s\": want %d at %zu, got %d at %zu: %s\n",
			in, code, pos, rc, e.pos, e.msg);
	ace_list_clear(&l);
}

static void test_perm_names(void)
{
	static const char *names[] = { "admin", "produce", "consume", "topic",
				       "copy", "read", "write" };
	int i;

	CHECK(ACE_PERM_COUNT == 7);
	for (i = 0; i < ACE_PERM_COUNT; i++) {
		CHECK(strcmp(ace_perm_name(i), names[i]) == 0);
		CHECK(ace_perm_lookup(names[i], strlen(names[i])) == i);
		CHECK(ace_perm_object(i) ==
		      (i < ACE_PERM_READ ? ACE_OBJ_STREAM : ACE_OBJ_BLOB));
	}
	CHECK(ace_perm_name(-1) == NULL && ace_perm_name(7) == NULL);
	CHECK(ace_perm_object(7) == 0);
	CHECK(ace_perm_lookup("Admin", 5) == ACE_E_PERM);
	CHECK(ace_perm_lookup("admins", 6) == ACE_E_PERM);
	CHECK(ace_perm_lookup("adminx", 5) == ACE_PERM_ADMIN);
	CHECK(ace_perm_lookup(NULL, 0) == ACE_E_PERM);
}

static void test_list(void)
{
	const char *in = "produce='u:root|g:0',consume=g:0 & !u:nobody";
	const char *in2 = "produce=u:root|g:0,consume=g:0 & !u:nobody,admin=u:0";
	ace_caller_t root = { .uid = 0, .gid = 0 };
	ace_caller_t nobody = { .uid = 65534, .gid = 0 };
	ace_list_t l;
	ace_error_t e;
	char *t = NULL;

	/* quotes are the shell's business: here they are characters */
	LERR(in, ACE_OBJ_STREAM, ACE_E_CHAR, 9);
	CHECK(ace_list_parse(in2, strlen(in2), ACE_OBJ_STREAM, &l, &e) == 0);
	CHECK(l.n == 3);
	CHECK(l.item[0].perm == ACE_PERM_PRODUCE && l.item[0].pos == 1);
	CHECK(l.item[1].perm == ACE_PERM_CONSUME && l.item[1].pos == 20);
	CHECK(l.item[2].perm == ACE_PERM_ADMIN && l.item[2].pos == 44);
	CHECK(ace_eval(l.item[1].ace, &root) == 1);
	CHECK(ace_eval(l.item[1].ace, &nobody) == 0);
	CHECK(ace_to_text(l.item[0].ace, 0, &t) == 0 &&
	      strcmp(t, "u:0 | g:0") == 0);
	free(t);
	ace_list_clear(&l);
	CHECK(l.n == 0);
	ace_list_clear(&l);

	in = " produce = p , consume=p\t";
	CHECK(ace_list_parse(in, strlen(in), ACE_OBJ_STREAM, &l, &e) == 0 &&
	      l.n == 2 && l.item[0].pos == 2 && l.item[1].pos == 16);
	ace_list_clear(&l);
	in = "read=u:0,write=g:0";
	CHECK(ace_list_parse(in, strlen(in), ACE_OBJ_BLOB, &l, &e) == 0 &&
	      l.n == 2 && l.item[1].perm == ACE_PERM_WRITE);
	ace_list_clear(&l);
	in = "read=p,topic=p,copy=p";
	CHECK(ace_list_parse(in, strlen(in), ACE_OBJ_ANY, &l, &e) == 0 &&
	      l.n == 3);
	ace_list_clear(&l);
}

static void test_list_errors(void)
{
	ace_list_t l;

	LERR("", ACE_OBJ_STREAM, ACE_E_EMPTY, 1);
	LERR("  ", ACE_OBJ_STREAM, ACE_E_EMPTY, 1);
	LERR("read=p", ACE_OBJ_STREAM, ACE_E_PERM, 1);
	LERR("produce=p", ACE_OBJ_BLOB, ACE_E_PERM, 1);
	LERR("foo=p", ACE_OBJ_ANY, ACE_E_PERM, 1);
	LERR("produce=p, Produce=p", ACE_OBJ_STREAM, ACE_E_PERM, 12);
	LERR("produce=p,produce=u:0", ACE_OBJ_STREAM, ACE_E_PERM, 11);
	LERR("produce", ACE_OBJ_STREAM, ACE_E_SYNTAX, 1);
	LERR("produce=p,consume", ACE_OBJ_STREAM, ACE_E_SYNTAX, 11);
	LERR("=p", ACE_OBJ_STREAM, ACE_E_SYNTAX, 1);
	LERR("  =p", ACE_OBJ_STREAM, ACE_E_SYNTAX, 3);
	LERR("produce=p,", ACE_OBJ_STREAM, ACE_E_SYNTAX, 11);
	LERR(",produce=p", ACE_OBJ_STREAM, ACE_E_SYNTAX, 1);
	LERR("produce=p,,consume=p", ACE_OBJ_STREAM, ACE_E_SYNTAX, 11);
	/* errors inside an expression count from the start of the list */
	LERR("produce=", ACE_OBJ_STREAM, ACE_E_EMPTY, 9);
	LERR("produce=p,consume=p &", ACE_OBJ_STREAM, ACE_E_TRAILING, 21);
	LERR("produce=u:no_such_user_xyz", ACE_OBJ_STREAM, ACE_E_USER, 9);
	LERR("admin=(p", ACE_OBJ_STREAM, ACE_E_UNCLOSED, 7);
	LERR("admin=p,consume=u:0 | g:", ACE_OBJ_STREAM, ACE_E_TERM, 23);
	LERR("produce=p=p", ACE_OBJ_STREAM, ACE_E_CHAR, 10);
	/* a later error frees the earlier items (checked by ASan builds) */
	LERR("produce=p,consume=p,admin=)", ACE_OBJ_STREAM, ACE_E_UNOPENED, 27);
	CHECK(ace_list_parse("p", 1, 0, &l, NULL) == ACE_E_INVAL);
	CHECK(ace_list_parse("p", 1, 4, &l, NULL) == ACE_E_INVAL);
	CHECK(ace_list_parse(NULL, 1, ACE_OBJ_ANY, &l, NULL) == ACE_E_INVAL);
	CHECK(ace_list_parse("p", 1, ACE_OBJ_ANY, NULL, NULL) == ACE_E_INVAL);
	CHECK(ace_list_parse("produce", 7, ACE_OBJ_ANY, &l, NULL) ==
	      ACE_E_SYNTAX);
	ace_list_clear(NULL);
}

/* ========================================================================
 * Running out of memory
 *
 * glibc lets a program replace malloc; this one passes every call on to
 * glibc's own allocator, except that once armed it fails the Nth allocation
 * and counts blocks still live, so every error path can be made to run and
 * checked for leaks.  Sanitizer builds bring their own allocator, so there
 * (and off glibc) the test is skipped.
 */

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
	__has_feature(thread_sanitizer)
#define NO_MALLOC_HOOK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
	!defined(__GLIBC__)
#define NO_MALLOC_HOOK 1
#endif

#ifndef NO_MALLOC_HOOK
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static int armed;        /* counting and failing */
static long fail_at;     /* allocations left before the one that fails */
static long live;        /* blocks allocated minus blocks freed, while armed */
static int failed_one;   /* an allocation was failed */

/* Whether this allocation is the one to fail. */
static int fail_now(void)
{
	if (!armed || fail_at-- != 0)
		return 0;
	failed_one = 1;
	return 1;
}

void *malloc(size_t size)
{
	void *p = fail_now() ? NULL : __libc_malloc(size);

	live += armed && p;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = fail_now() ? NULL : __libc_calloc(n, size);

	live += armed && p;
	return p;
}

void *realloc(void *old, size_t size)
{
	void *p;

	if (fail_now())
		return NULL;
	p = __libc_realloc(old, size);
	live += armed && p && !old;
	return p;
}

void free(void *p)
{
	live -= armed && p;
	__libc_free(p);
}

/* Whether rc is an acceptable result when an allocation may have failed:
 * success, ACE_E_NOMEM, ACE_E_LOOKUP (NSS said it ran out), or "unknown"
 * (glibc's getgrnam_r answers "no such group" when its own fopen cannot
 * allocate, so a name may look unknown while memory is exhausted). */
static int oom_result(int rc)
{
	return rc == 0 || rc == ACE_E_NOMEM || rc == ACE_E_LOOKUP ||
	       rc == ACE_E_USER || rc == ACE_E_GROUP;
}

/* Parse, print by name and list-parse with allocation n failing; each must
 * give an oom_result and leave no block behind.  Returns whether an
 * allocation was failed. */
static int run_with_failure(long n)
{
	const char *in = "u:root | (g:adm & !p) | u:65534 & g:nogroup";
	const char *list = "produce=u:root|g:0,consume=!u:nobody,admin=p";
	ace_t *a = NULL;
	ace_list_t l;
	ace_error_t e, e2;
	char *t = NULL;
	int rc, rc2, rc3 = 0;

	armed = 1, fail_at = n, live = 0, failed_one = 0;
	rc = ace_parse(in, strlen(in), &a, &e);
	rc2 = ace_list_parse(list, strlen(list), ACE_OBJ_STREAM, &l, &e2);
	if (rc == 0)
		rc3 = ace_to_text(a, ACE_TEXT_NAMES, &t);
	free(t);
	ace_free(a);
	if (rc2 == 0)
		ace_list_clear(&l);
	armed = 0;
	if (!CHECK(oom_result(rc) && oom_result(rc2) &&
		   (rc3 == 0 || rc3 == ACE_E_NOMEM)))
		fprintf(stderr, "  allocation %ld failed: %d %s / %d %s / %d\n",
			n, rc, e.msg, rc2, e2.msg, rc3);
	CHECK(failed_one || (rc == 0 && rc2 == 0 && rc3 == 0));
	if (!CHECK(live == 0))
		fprintf(stderr, "  allocation %ld failed: %ld blocks leaked\n",
			n, live);
	return failed_one;
}

/* Whether this file's malloc is the one that runs (valgrind, for one,
 * swaps in its own).  Called through a volatile pointer so the compiler
 * cannot drop the call. */
static int hook_works(void)
{
	void *(*volatile m)(size_t) = malloc;
	void *p;

	armed = 1, fail_at = 0, failed_one = 0;
	p = m(16);
	armed = 0;
	if (p) {
		free(p);
		return 0;
	}
	return failed_one;
}

static void test_out_of_memory(void)
{
	long n;

	if (!hook_works()) {
		printf("skipped: malloc cannot be replaced here\n");
		return;
	}
	run_with_failure(-1); /* warm NSS's one-time state up */
	CHECK(run_with_failure(0));
	for (n = 1; n < 10000 && run_with_failure(n); n++)
		;
	CHECK(n > 10 && n < 10000);
}
#else
static void test_out_of_memory(void)
{
	printf("skipped: out-of-memory test (sanitizer or non-glibc build)\n");
}
#endif

/* ========================================================================
 * Concurrency: parse, print by name and evaluate from several threads
 */

#define THREADS 4
#define ROUNDS 200

static void *worker(void *arg)
{
	const char *in = "u:root | g:root & !u:nobody";
	ace_caller_t root = { .uid = 0, .gid = 0 };
	long bad = 0;
	int i;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		ace_t *a = NULL;
		char *t = NULL;

		if (ace_parse(in, strlen(in), &a, NULL) != 0 ||
		    ace_to_text(a, ACE_TEXT_NAMES, &t) != 0 ||
		    strcmp(t, "u:root | g:root & !u:nobody") != 0 ||
		    ace_eval(a, &root) != 1)
			bad++;
		free(t);
		ace_free(a);
	}
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t th[THREADS];
	void *bad;
	int i, started = 0;

	for (i = 0; i < THREADS; i++)
		started += pthread_create(&th[i], NULL, worker, NULL) == 0;
	CHECK(started == THREADS);
	for (i = 0; i < started; i++) {
		pthread_join(th[i], &bad);
		CHECK(bad == NULL);
	}
}

int main(void)
{
	test_terms();
	test_operators();
	test_spaces();
	test_precedence();
	test_error_empty();
	test_error_term();
	test_error_names();
	test_error_parens();
	test_error_operators();
	test_error_chars();
	test_error_limits();
	test_error_api();
	test_names();
	test_eval();
	test_eval_lazy_groups();
	test_perm_names();
	test_list();
	test_list_errors();
	test_threads();
	test_out_of_memory();
	return check_summary();
}
