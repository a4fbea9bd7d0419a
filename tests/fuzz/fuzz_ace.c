/* fuzz_ace.c - libFuzzer target for the ACE library (acl/ace.h).
 *
 * Each input is an expression: it is parsed; an error must be well formed
 * (its code, a position inside the input or one past it, pointing at the
 * kind of character the code names, a non-empty message).  A tree is
 * printed in both forms, each re-parsed, and must print back to the same
 * canonical text and evaluate the same for a few callers.  The input is
 * also parsed as a PERM=EXPR list.  Everything is freed, so ASan's leak
 * check covers every path.  Build and run with tools/fuzz.sh ace.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the run with a message: libFuzzer saves the input as a crash. */
static void fault(const char *what, const char *in, size_t size)
{
	fprintf(stderr, "fuzz_ace: %s (input %zu bytes: \"%.*s\")\n", what,
		size, (int)(size > 200 ? 200 : size), in);
	abort();
}

/* Whether the byte at 1-based pos of in is one of chars. */
static int at_one_of(const char *in, size_t size, size_t pos,
		     const char *chars)
{
	return pos >= 1 && pos <= size && in[pos - 1] != '\0' &&
	       strchr(chars, in[pos - 1]) != NULL;
}

/* Whether in[0..size) holds nothing but spaces between tokens. */
static int all_spaces(const char *in, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (in[i] == '\0' || !strchr(" \t\n\r\v\f", in[i]))
			return 0;
	return 1;
}

/* Check the invariants of a failed parse of in[0..size). */
static void check_error(int rc, const ace_error_t *e, const char *in,
			size_t size)
{
	if (rc >= 0 || e->code != rc)
		fault("error code not negative or not in err", in, size);
	if (memchr(e->msg, '\0', sizeof(e->msg)) == NULL || e->msg[0] == '\0')
		fault("error message empty or unterminated", in, size);
	if (rc == ACE_E_NOMEM)
		return;
	if (e->pos < 1 || e->pos > size + 1)
		fault("error position outside the input", in, size);
	switch (rc) {
	case ACE_E_UNCLOSED:
		if (!at_one_of(in, size, e->pos, "("))
			fault("unclosed error not at '('", in, size);
		break;
	case ACE_E_UNOPENED:
		if (!at_one_of(in, size, e->pos, ")"))
			fault("unopened error not at ')'", in, size);
		break;
	case ACE_E_TRAILING:
		if (!at_one_of(in, size, e->pos, "!&|"))
			fault("trailing error not at an operator", in, size);
		break;
	case ACE_E_TERM:
	case ACE_E_USER:
	case ACE_E_GROUP:
		if (!at_one_of(in, size, e->pos, "ug"))
			fault("term error not at u or g", in, size);
		break;
	case ACE_E_OPERAND:
		if (!at_one_of(in, size, e->pos, "&|)"))
			fault("operand error not at '&', '|' or ')'", in, size);
		break;
	case ACE_E_OPERATOR:
		if (!at_one_of(in, size, e->pos, "ugp(!"))
			fault("operator error not at an operand", in, size);
		break;
	case ACE_E_DEPTH:
		if (!at_one_of(in, size, e->pos, "(!"))
			fault("depth error not at '(' or '!'", in, size);
		break;
	case ACE_E_EMPTY:
		if (e->pos != 1 || !all_spaces(in, size))
			fault("empty error on a non-empty input", in, size);
		break;
	case ACE_E_LONG:
		if (size <= ACE_MAX_LEN || e->pos != ACE_MAX_LEN + 1)
			fault("length error on a short input", in, size);
		break;
	}
}

/* Parse text (from printing) and return its tree, or fault.  NULL when
 * the printed form outgrew the length limit: names, numbers and added
 * spaces can make it longer than the input (the daemon refuses to store
 * such an expression for that reason). */
static ace_t *reparse(const char *text, const char *in, size_t size)
{
	ace_error_t e;
	ace_t *t = NULL;
	int rc = ace_parse(text, strlen(text), &t, &e);

	if (rc == ACE_E_LONG && strlen(text) > ACE_MAX_LEN)
		return NULL;
	if (rc != 0) {
		fprintf(stderr, "fuzz_ace: \"%s\": %s at %zu\n", text, e.msg,
			e.pos);
		fault("printed text does not parse", in, size);
	}
	return t;
}

/* Print t in form flags, or fault (running out of memory is no fault). */
static char *print(const ace_t *t, int flags, const char *in, size_t size)
{
	char *s = NULL;
	int rc = ace_to_text(t, flags, &s);

	if (rc == ACE_E_NOMEM)
		return NULL;
	if (rc != 0 || !s)
		fault("ace_to_text failed", in, size);
	return s;
}

/* A load_groups hook handing out the groups in ctx (a struct lazy). */
struct lazy {
	const gid_t *groups;
	size_t n;
};

static int lazy_groups(void *ctx, const gid_t **groups, size_t *n)
{
	const struct lazy *l = ctx;

	*groups = l->groups;
	*n = l->n;
	return 0;
}

/* Callers to compare evaluations with: fixed ones, and one whose ids come
 * from the input so that its numbers can match the expression's. */
static void compare_evals(const ace_t *a, const ace_t *b, const char *in,
			  size_t size)
{
	gid_t groups[4] = { 4, 100, 1000, 65534 };
	ace_caller_t who[5] = {
		{ .uid = 0, .gid = 0 },
		{ .uid = 65534, .gid = 65534 },
		{ .uid = 1000, .gid = 1000, .groups = groups, .ngroups = 4 },
		{ .uid = 1, .gid = 1, .groups = groups + 1, .ngroups = 1 },
		{ .uid = size ? (uint8_t)in[0] % 8 : 0,
		  .gid = size > 1 ? (uint8_t)in[1] % 8 : 0 },
	};
	struct lazy l = { groups, 4 };
	ace_caller_t lazy = { .uid = 1000, .gid = 1000,
			      .load_groups = lazy_groups, .ctx = &l };
	size_t i;

	for (i = 0; i < 5; i++)
		if (ace_eval(a, &who[i]) != ace_eval(b, &who[i]))
			fault("re-parsed tree evaluates differently", in, size);
	if (ace_eval(a, &lazy) != ace_eval(a, &who[2]))
		fault("lazy groups evaluate differently", in, size);
}

/* Print a in both forms and re-parse them: same canonical text, same
 * decisions. */
static void round_trip(const ace_t *a, const char *in, size_t size)
{
	char *num = print(a, ACE_TEXT_NUMERIC, in, size), *names, *again;
	ace_t *b, *c;

	if (!num)
		return;
	b = reparse(num, in, size);
	if (!b) {
		free(num);
		return;
	}
	again = print(b, ACE_TEXT_NUMERIC, in, size);
	if (again && strcmp(num, again) != 0)
		fault("canonical text is not stable", in, size);
	free(again);
	names = print(a, ACE_TEXT_NAMES, in, size);
	if (names && !(c = reparse(names, in, size))) {
		free(names);
		names = NULL;
	}
	if (names) {
		again = print(c, ACE_TEXT_NUMERIC, in, size);
		if (again && strcmp(num, again) != 0)
			fault("names form re-parses to another tree", in, size);
		free(again);
		compare_evals(a, c, in, size);
		ace_free(c);
		free(names);
	}
	compare_evals(a, b, in, size);
	ace_free(b);
	free(num);
}

/* Parse the input as a permission list for any object. */
static void fuzz_list(const char *in, size_t size)
{
	ace_list_t l;
	ace_error_t e;
	size_t k;
	int rc = ace_list_parse(in, size, ACE_OBJ_ANY, &l, &e);

	if (rc != 0) {
		if (l.n != 0 || e.code != rc ||
		    (rc != ACE_E_NOMEM && (e.pos < 1 || e.pos > size + 1)))
			fault("bad list error", in, size);
		return;
	}
	if (l.n < 1 || l.n > ACE_PERM_COUNT)
		fault("bad list length", in, size);
	for (k = 0; k < l.n; k++)
		if (!l.item[k].ace || !ace_perm_name(l.item[k].perm))
			fault("bad list item", in, size);
	ace_list_clear(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	ace_error_t e;
	ace_t *a = NULL;
	int rc = ace_parse(in, size, &a, &e);

	if (rc != 0) {
		if (a)
			fault("tree returned with an error", in, size);
		check_error(rc, &e, in, size);
	} else {
		round_trip(a, in, size);
		ace_free(a);
	}
	fuzz_list(in, size);
	return 0;
}
