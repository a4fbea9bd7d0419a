/* ace_parse.c - text to ACE trees.
 *
 * Owns: the tree's memory (node pool, ace_free), error reporting
 * (struct ace_error, ace_strerror), the tokenizer, the recursive-descent
 * parser (ace_parse), the permission names and the PERM=EXPR,... list parser
 * (ace_list_parse).  Name lookups are delegated to ace_names.c.
 *
 * Grammar (docs/ace.md has the full description and every message):
 *
 *     expr    := and ( '|' and )*
 *     and     := unary ( '&' unary )*
 *     unary   := '!' unary | primary
 *     primary := 'u:' NAME | 'g:' NAME | 'p' | '(' expr ')'
 *
 * The tokenizer reads one token ahead and the parser reports the first error
 * from the left, so the position an error names is always the leftmost thing
 * that cannot be right.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ace_int.h"

/* ========================================================================
 * Errors
 */

static const char *const reasons[] = {
	[-ACE_OK] = "no error",
	[-ACE_E_NOMEM] = "out of memory",
	[-ACE_E_INVAL] = "invalid argument",
	[-ACE_E_LONG] = "expression too long",
	[-ACE_E_EMPTY] = "empty expression",
	[-ACE_E_CHAR] = "unexpected character",
	[-ACE_E_TERM] = "empty term",
	[-ACE_E_USER] = "unknown user",
	[-ACE_E_GROUP] = "unknown group",
	[-ACE_E_LOOKUP] = "user or group database failed",
	[-ACE_E_UNCLOSED] = "unclosed parenthesis",
	[-ACE_E_UNOPENED] = "unexpected closing parenthesis",
	[-ACE_E_TRAILING] = "trailing operator",
	[-ACE_E_OPERAND] = "missing operand",
	[-ACE_E_OPERATOR] = "missing operator",
	[-ACE_E_DEPTH] = "nesting too deep",
	[-ACE_E_PERM] = "bad permission name",
	[-ACE_E_SYNTAX] = "malformed permission list",
};

/* Contract: any int; returns a static string, "unknown error" for codes
 * that are not ACE_E_* values. */
const char *ace_strerror(int code)
{
	const int count = (int)(sizeof(reasons) / sizeof(reasons[0]));

	if (code > 0 || code <= -count)
		return "unknown error";
	return reasons[-code];
}

/* Fill *err (when not NULL) and return code, so that callers can write
 * "return fail(...)".  pos is 1-based, 0 when the error has no place. */
static int fail(ace_error_t *err, int code, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(ace_error_t *err, int code, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->pos = pos;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

static void clear_error(ace_error_t *err)
{
	if (err) {
		err->code = ACE_OK;
		err->pos = 0;
		err->msg[0] = '\0';
	}
}

/* Longest piece of the input quoted in a message; keeps messages within
 * ACE_MSG_MAX with room for the surrounding words. */
#define SHOW_MAX 40

/* Copy s[0..n) into buf (SHOW_MAX + 4 bytes) for quoting in a message:
 * bytes that are not printable ASCII become '?', and a longer piece is cut
 * and ends in "...".  Returns buf. */
static char *show(char *buf, const char *s, size_t n)
{
	size_t i, k = n > SHOW_MAX ? SHOW_MAX : n;

	for (i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n > k) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = '\0';
	return buf;
}

/* ========================================================================
 * Trees
 */

/* Append a node of kind (with id for terms) to the pool and set *idx to its
 * index.  Returns 0 or ACE_E_NOMEM.  Earlier indices stay valid; pointers
 * into the pool do not (it may move). */
static int new_node(ace_t *ace, uint32_t kind, uint32_t id, uint32_t *idx)
{
	struct ace_node *n;

	if (ace->n == ace->cap) {
		uint32_t cap = ace->cap ? ace->cap * 2 : 8;
		n = realloc(ace->node, cap * sizeof(*n));
		if (!n)
			return ACE_E_NOMEM;
		ace->node = n;
		ace->cap = cap;
	}
	n = &ace->node[ace->n];
	n->kind = kind;
	n->id = id;
	n->child = n->last = n->next = ACE_NIL;
	*idx = ace->n++;
	return 0;
}

/* Make child the last operand of parent.  A child with the parent's own
 * operator ("(a & b)" inside "... & c") gives its operands instead, so '&'
 * and '|' chains are flat whatever their parentheses; the child node is
 * then left unused in the pool. */
static void adopt(ace_t *ace, uint32_t parent, uint32_t child)
{
	struct ace_node *p = &ace->node[parent], *c = &ace->node[child];
	uint32_t first = child, last = child;

	if (c->kind == p->kind && p->kind != ACE_N_NOT)
		first = c->child, last = c->last;
	if (p->child == ACE_NIL)
		p->child = first;
	else
		ace->node[p->last].next = first;
	p->last = last;
}

/* Contract: ace from ace_parse, or NULL; frees it. */
void ace_free(ace_t *ace)
{
	if (ace) {
		free(ace->node);
		free(ace);
	}
}

/* ========================================================================
 * Tokenizer
 */

enum tok_kind {
	T_NONE, /* before the first token */
	T_END,
	T_LP,
	T_RP,
	T_NOT,
	T_AND,
	T_OR,
	T_USER,
	T_GROUP,
	T_PUBLIC,
};

struct tok {
	enum tok_kind kind;
	size_t pos;        /* 0-based offset of its first byte */
	size_t name, nlen; /* T_USER, T_GROUP: the name after "u:" */
};

struct parser {
	const char *s;
	size_t len;
	size_t at;       /* first byte not yet tokenized */
	struct tok cur;  /* the token being looked at */
	struct tok prev; /* the token before it */
	unsigned depth;  /* enclosing '(' and '!' */
	ace_t *ace;
	ace_error_t *err;
};

/* Report an unexpected byte, or an unknown word (a run of name characters
 * that is neither "p" nor a u:/g: term), at offset i. */
static int bad_word(struct parser *p, size_t i, size_t end)
{
	char buf[SHOW_MAX + 4];
	unsigned char c = (unsigned char)p->s[i];

	if (end > i)
		return fail(p->err, ACE_E_CHAR, i + 1,
			    "unknown word '%s': a term is u:USER, g:GROUP or p",
			    show(buf, p->s + i, end - i));
	if (c >= 0x20 && c < 0x7f)
		return fail(p->err, ACE_E_CHAR, i + 1,
			    "unexpected character '%c'", c);
	return fail(p->err, ACE_E_CHAR, i + 1,
		    "unexpected byte 0x%02x", (unsigned)c);
}

/* Tokenize a term or word starting at offset i (not a space, not an
 * operator).  Returns 0 with p->cur set, or an error. */
static int lex_word(struct parser *p, size_t i)
{
	const char *s = p->s;
	struct tok *t = &p->cur;
	size_t end = i;

	if ((s[i] == 'u' || s[i] == 'g') && i + 1 < p->len && s[i + 1] == ':') {
		t->kind = s[i] == 'u' ? T_USER : T_GROUP;
		t->name = end = i + 2;
		while (end < p->len && ace_is_name_char((unsigned char)s[end]))
			end++;
		t->nlen = end - t->name;
		p->at = end;
		if (t->nlen == 0)
			return fail(p->err, ACE_E_TERM, i + 1,
				    "empty term '%c:': expected a %s name or number",
				    s[i], s[i] == 'u' ? "user" : "group");
		return 0;
	}
	while (end < p->len && (ace_is_name_char((unsigned char)s[end]) ||
				(end > i && s[end] == ':')))
		end++;
	if (end == i + 1 && s[i] == 'p') {
		t->kind = T_PUBLIC;
		p->at = end;
		return 0;
	}
	return bad_word(p, i, end);
}

/* Advance: prev = cur, cur = the next token.  Returns 0 or an error (an
 * unexpected character, an empty term). */
static int lex(struct parser *p)
{
	size_t i = p->at;
	enum tok_kind k;

	p->prev = p->cur;
	while (i < p->len && ace_is_space((unsigned char)p->s[i]))
		i++;
	p->cur.pos = i;
	p->cur.name = p->cur.nlen = 0;
	if (i == p->len) {
		p->cur.kind = T_END;
		p->at = i;
		return 0;
	}
	switch (p->s[i]) {
	case '(': k = T_LP; break;
	case ')': k = T_RP; break;
	case '!': k = T_NOT; break;
	case '&': k = T_AND; break;
	case '|': k = T_OR; break;
	default: return lex_word(p, i);
	}
	p->cur.kind = k;
	p->at = i + 1;
	return 0;
}

/* ========================================================================
 * Parser
 */

static int parse_or(struct parser *p, uint32_t *out);

/* Quote token t's text into buf (SHOW_MAX + 4 bytes) for a message. */
static char *tok_text(const struct parser *p, const struct tok *t, char *buf)
{
	size_t n = 1;

	if (t->kind == T_USER || t->kind == T_GROUP)
		n = t->name + t->nlen - t->pos;
	return show(buf, p->s + t->pos, n);
}

/* An operand was expected but p->cur cannot start one (it is ')', '&', '|'
 * or the end).  Name the error by what came before. */
static int missing_operand(struct parser *p)
{
	const struct tok *c = &p->cur, *pr = &p->prev;
	char op;

	if (c->kind == T_AND || c->kind == T_OR)
		return fail(p->err, ACE_E_OPERAND, c->pos + 1,
			    "missing operand before '%c'", p->s[c->pos]);
	if (pr->kind == T_NOT || pr->kind == T_AND || pr->kind == T_OR) {
		op = p->s[pr->pos];
		return fail(p->err, ACE_E_TRAILING, pr->pos + 1,
			    "trailing operator '%c': nothing after it", op);
	}
	if (c->kind == T_END && pr->kind == T_LP)
		return fail(p->err, ACE_E_UNCLOSED, pr->pos + 1,
			    "unclosed '(': no ')' matches it");
	if (c->kind == T_END)
		return fail(p->err, ACE_E_EMPTY, 1, "empty expression");
	if (pr->kind == T_LP)
		return fail(p->err, ACE_E_OPERAND, c->pos + 1,
			    "empty parentheses: missing operand before ')'");
	return fail(p->err, ACE_E_UNOPENED, c->pos + 1,
		    "unexpected ')': no '(' is open");
}

/* A complete operand was followed by p->cur, which is neither an operator
 * nor what closes the operand's context (the end, or ')' when open is the
 * offset of the '(' being closed; SIZE_MAX at the top level). */
static int after_operand(struct parser *p, size_t open)
{
	const struct tok *c = &p->cur;
	char buf[SHOW_MAX + 4];

	if (c->kind == T_END)
		return fail(p->err, ACE_E_UNCLOSED, open + 1,
			    "unclosed '(': no ')' matches it");
	if (c->kind == T_RP)
		return fail(p->err, ACE_E_UNOPENED, c->pos + 1,
			    "unexpected ')': no '(' is open");
	return fail(p->err, ACE_E_OPERATOR, c->pos + 1,
		    "missing operator before '%s': join terms with '&' or '|'",
		    tok_text(p, c, buf));
}

/* Enter one level of nesting at token t; error when that is too deep. */
static int enter(struct parser *p, const struct tok *t)
{
	if (++p->depth <= ACE_MAX_DEPTH)
		return 0;
	return fail(p->err, ACE_E_DEPTH, t->pos + 1,
		    "nesting deeper than %d", ACE_MAX_DEPTH);
}

/* Whether s[0..n) is a number (all decimal digits). */
static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

/* The current token is a u: or g: term: resolve its name into *id. */
static int resolve(struct parser *p, uint32_t *id)
{
	const struct tok *t = &p->cur;
	int user = t->kind == T_USER;
	const char *name = p->s + t->name;
	char buf[SHOW_MAX + 4];
	int rc;

	if (user) {
		uid_t uid = 0;
		rc = ace_user_id(name, t->nlen, &uid);
		*id = (uint32_t)uid;
	} else {
		gid_t gid = 0;
		rc = ace_group_id(name, t->nlen, &gid);
		*id = (uint32_t)gid;
	}
	if (rc == 0)
		return 0;
	show(buf, name, t->nlen);
	if (rc == ACE_E_NOMEM)
		return fail(p->err, rc, 0, "out of memory");
	if (rc == ACE_E_LOOKUP)
		return fail(p->err, rc, t->pos + 1, "cannot look up %s '%s'",
			    user ? "user" : "group", buf);
	if (all_digits(name, t->nlen))
		return fail(p->err, rc, t->pos + 1, "%s %s is out of range",
			    user ? "uid" : "gid", buf);
	return fail(p->err, rc, t->pos + 1, "unknown %s '%s'",
		    user ? "user" : "group", buf);
}

/* Add a term node for the current token (u:, g: or p). */
static int parse_term(struct parser *p, uint32_t *out)
{
	uint32_t kind = ACE_N_PUBLIC, id = 0;
	int rc = 0;

	if (p->cur.kind != T_PUBLIC) {
		kind = p->cur.kind == T_USER ? ACE_N_USER : ACE_N_GROUP;
		rc = resolve(p, &id);
	}
	if (rc == 0 && new_node(p->ace, kind, id, out) != 0)
		rc = fail(p->err, ACE_E_NOMEM, 0, "out of memory");
	return rc ? rc : lex(p);
}

/* primary := term | '(' expr ')' */
static int parse_primary(struct parser *p, uint32_t *out)
{
	struct tok open = p->cur;
	int rc;

	switch (p->cur.kind) {
	case T_USER:
	case T_GROUP:
	case T_PUBLIC:
		return parse_term(p, out);
	case T_LP:
		break;
	default:
		return missing_operand(p);
	}
	if ((rc = enter(p, &open)) || (rc = lex(p)) || (rc = parse_or(p, out)))
		return rc;
	if (p->cur.kind != T_RP)
		return after_operand(p, open.pos);
	p->depth--;
	return lex(p);
}

/* unary := '!' unary | primary */
static int parse_unary(struct parser *p, uint32_t *out)
{
	struct tok bang = p->cur;
	uint32_t child, node;
	int rc;

	if (p->cur.kind != T_NOT)
		return parse_primary(p, out);
	if ((rc = enter(p, &bang)) || (rc = lex(p)) ||
	    (rc = parse_unary(p, &child)))
		return rc;
	if (new_node(p->ace, ACE_N_NOT, 0, &node) != 0)
		return fail(p->err, ACE_E_NOMEM, 0, "out of memory");
	adopt(p->ace, node, child);
	p->depth--;
	*out = node;
	return 0;
}

/* A chain of operands joined by operator token op into one n-ary node of
 * kind (or just the operand when there is no operator). */
static int parse_chain(struct parser *p, enum tok_kind op, uint32_t kind,
		       int (*operand)(struct parser *, uint32_t *),
		       uint32_t *out)
{
	uint32_t left, right, node = ACE_NIL;
	int rc;

	if ((rc = operand(p, &left)))
		return rc;
	while (p->cur.kind == op) {
		if ((rc = lex(p)) || (rc = operand(p, &right)))
			return rc;
		if (node == ACE_NIL) {
			if (new_node(p->ace, kind, 0, &node) != 0)
				return fail(p->err, ACE_E_NOMEM, 0,
					    "out of memory");
			adopt(p->ace, node, left);
		}
		adopt(p->ace, node, right);
	}
	*out = node == ACE_NIL ? left : node;
	return 0;
}

/* and := unary ( '&' unary )* */
static int parse_and(struct parser *p, uint32_t *out)
{
	return parse_chain(p, T_AND, ACE_N_AND, parse_unary, out);
}

/* expr := and ( '|' and )* */
static int parse_or(struct parser *p, uint32_t *out)
{
	return parse_chain(p, T_OR, ACE_N_OR, parse_and, out);
}

/* Contract in ace.h. */
int ace_parse(const char *text, size_t len, ace_t **out, ace_error_t *err)
{
	struct parser p = { .s = text, .len = len, .err = err };
	uint32_t root = ACE_NIL;
	int rc;

	clear_error(err);
	if (!out || (!text && len))
		return fail(err, ACE_E_INVAL, 0, "invalid argument");
	*out = NULL;
	if (len > ACE_MAX_LEN)
		return fail(err, ACE_E_LONG, ACE_MAX_LEN + 1,
			    "expression is %zu bytes, over the limit of %d",
			    len, ACE_MAX_LEN);
	p.ace = calloc(1, sizeof(*p.ace));
	if (!p.ace)
		return fail(err, ACE_E_NOMEM, 0, "out of memory");
	p.cur.kind = T_NONE;
	rc = lex(&p);
	if (rc == 0)
		rc = parse_or(&p, &root);
	if (rc == 0 && p.cur.kind != T_END)
		rc = after_operand(&p, SIZE_MAX);
	if (rc != 0) {
		ace_free(p.ace);
		return rc;
	}
	p.ace->root = root;
	*out = p.ace;
	return 0;
}

/* ========================================================================
 * Permissions and permission lists
 */

static const char *const perm_names[ACE_PERM_COUNT] = {
	[ACE_PERM_ADMIN] = "admin",
	[ACE_PERM_PRODUCE] = "produce",
	[ACE_PERM_CONSUME] = "consume",
	[ACE_PERM_TOPIC] = "topic",
	[ACE_PERM_COPY] = "copy",
	[ACE_PERM_READ] = "read",
	[ACE_PERM_WRITE] = "write",
};

/* Contract in ace.h. */
const char *ace_perm_name(int perm)
{
	return perm >= 0 && perm < ACE_PERM_COUNT ? perm_names[perm] : NULL;
}

/* Contract in ace.h. */
int ace_perm_object(int perm)
{
	if (perm < 0 || perm >= ACE_PERM_COUNT)
		return 0;
	return perm <= ACE_PERM_COPY ? ACE_OBJ_STREAM : ACE_OBJ_BLOB;
}

/* Contract in ace.h. */
int ace_perm_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; name && i < ACE_PERM_COUNT; i++)
		if (strlen(perm_names[i]) == len &&
		    memcmp(perm_names[i], name, len) == 0)
			return i;
	return ACE_E_PERM;
}

/* The permission names an object of kind obj may use, for messages. */
static const char *perms_of(int obj)
{
	switch (obj) {
	case ACE_OBJ_STREAM: return "a stream has admin, produce, consume, topic, copy";
	case ACE_OBJ_BLOB: return "a blob has read, write";
	default: return "admin, produce, consume, topic, copy (streams), read, write (blobs)";
	}
}

/* Check permission name s[i..end) (trimmed) for an object of kind obj and
 * against the items already in list.  Returns its enum ace_perm value or an
 * error. */
static int item_perm(const char *s, size_t i, size_t end, int obj,
		     const ace_list_t *list, ace_error_t *err)
{
	char buf[SHOW_MAX + 4];
	int perm = ace_perm_lookup(s + i, end - i);
	size_t k;

	show(buf, s + i, end - i);
	if (perm < 0)
		return fail(err, ACE_E_PERM, i + 1,
			    "unknown permission '%s': %s", buf, perms_of(obj));
	if (!(ace_perm_object(perm) & obj))
		return fail(err, ACE_E_PERM, i + 1,
			    "'%s' is not a permission here: %s", buf,
			    perms_of(obj));
	for (k = 0; k < list->n; k++)
		if (list->item[k].perm == perm)
			return fail(err, ACE_E_PERM, i + 1,
				    "permission '%s' given twice", buf);
	return perm;
}

/* Parse one item, s[start..end) (no comma inside), and add it to list. */
static int parse_item(const char *s, size_t start, size_t end, int obj,
		      ace_list_t *list, ace_error_t *err)
{
	char buf[SHOW_MAX + 4];
	size_t i = start, eq, nend;
	const char *p;
	ace_t *ace;
	int perm, rc;

	while (i < end && ace_is_space((unsigned char)s[i]))
		i++;
	if (i == end)
		return fail(err, ACE_E_SYNTAX, i + 1,
			    "empty item: expected PERM=EXPRESSION");
	p = memchr(s + i, '=', end - i);
	if (!p)
		return fail(err, ACE_E_SYNTAX, i + 1,
			    "no '=' in '%s': expected PERM=EXPRESSION",
			    show(buf, s + i, end - i));
	eq = (size_t)(p - s);
	nend = eq;
	while (nend > i && ace_is_space((unsigned char)s[nend - 1]))
		nend--;
	if (nend == i)
		return fail(err, ACE_E_SYNTAX, eq + 1,
			    "missing permission name before '='");
	perm = item_perm(s, i, nend, obj, list, err);
	if (perm < 0)
		return perm;
	rc = ace_parse(s + eq + 1, end - eq - 1, &ace, err);
	if (rc != 0) {
		if (err && err->pos)
			err->pos += eq + 1;
		return rc;
	}
	list->item[list->n].perm = perm;
	list->item[list->n].ace = ace;
	list->item[list->n].pos = i + 1;
	list->n++;
	return 0;
}

/* Contract in ace.h. */
int ace_list_parse(const char *text, size_t len, int obj, ace_list_t *list,
		   ace_error_t *err)
{
	size_t start = 0, end, i = 0;
	int rc;

	clear_error(err);
	if (!list)
		return fail(err, ACE_E_INVAL, 0, "invalid argument");
	list->n = 0;
	if ((!text && len) || obj < ACE_OBJ_STREAM || obj > ACE_OBJ_ANY)
		return fail(err, ACE_E_INVAL, 0, "invalid argument");
	while (i < len && ace_is_space((unsigned char)text[i]))
		i++;
	if (i == len)
		return fail(err, ACE_E_EMPTY, 1,
			    "empty permission list: expected PERM=EXPRESSION");
	for (;;) {
		const char *comma = memchr(text + start, ',', len - start);
		end = comma ? (size_t)(comma - text) : len;
		rc = parse_item(text, start, end, obj, list, err);
		if (rc != 0) {
			ace_list_clear(list);
			return rc;
		}
		if (end == len)
			return 0;
		start = end + 1;
	}
}

/* Contract in ace.h. */
void ace_list_clear(ace_list_t *list)
{
	size_t k;

	if (!list)
		return;
	for (k = 0; k < list->n && k < ACE_PERM_COUNT; k++)
		ace_free(list->item[k].ace);
	list->n = 0;
}
