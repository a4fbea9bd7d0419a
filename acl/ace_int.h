/* ace_int.h - the shape of a parsed ACE, shared by ace_parse.c (which builds
 * and frees trees), ace_eval.c and ace_names.c (which walk them).  Private to
 * the acl library: nothing outside acl/ace_*.c includes it.
 *
 * A tree is one array of nodes; links are indices into it, so freeing is one
 * free() and no walk.  '&' and '|' nodes are n-ary: their operands are a
 * sibling list (child, then next, next, ...), and an operand never has the
 * same operator as its parent (the parser flattens such chains).
 */
#ifndef STREAMFS_ACE_INT_H
#define STREAMFS_ACE_INT_H

#include <stdint.h>

#include "ace.h"

/* No node: the end of a sibling list, or no child. */
#define ACE_NIL UINT32_MAX

enum ace_kind {
	ACE_N_USER,   /* id is a uid */
	ACE_N_GROUP,  /* id is a gid */
	ACE_N_PUBLIC, /* p */
	ACE_N_NOT,    /* exactly one operand */
	ACE_N_AND,    /* two or more operands */
	ACE_N_OR,     /* two or more operands */
};

struct ace_node {
	uint32_t kind;  /* enum ace_kind */
	uint32_t id;    /* ACE_N_USER, ACE_N_GROUP */
	uint32_t child; /* first operand, ACE_NIL for terms */
	uint32_t last;  /* last operand, so that appending is O(1) */
	uint32_t next;  /* next operand of the parent, ACE_NIL if last */
};

struct ace {
	struct ace_node *node; /* node[0..n) */
	uint32_t n, cap;
	uint32_t root;
};

/* The characters of a user or group name inside a term: the POSIX portable
 * set [A-Za-z0-9._-] plus '@' (user@domain from sssd/winbind) and '$'
 * (machine accounts).  Parser and printer must agree on it, hence here.
 * Deliberately not ctype: the result must not depend on the locale. */
static inline int ace_is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       c == '@' || c == '$';
}

/* Spaces between tokens: blank, tab, and line breaks (an expression pasted
 * over several lines still parses). */
static inline int ace_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

#endif /* STREAMFS_ACE_INT_H */
