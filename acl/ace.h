/* ace.h - access control expressions (ACEs, docs/ace.md): parse, evaluate, print.
 *
 * An ACE is a boolean expression over the caller's identity:
 *
 *     u:USER  u:UID    the caller's uid is USER's (or UID)
 *     g:GROUP g:GID    the caller's primary or a supplementary group is GROUP
 *     p                everyone (public)
 *     !x  x & y  x | y  (x)     '!' binds tightest, then '&', then '|'
 *
 * The grammar, the error messages and the canonical text form are described in
 * docs/ace.md.  This library knows nothing of FUSE or of the store: the daemon
 * parses an expression when it is set, stores its canonical (numeric) text,
 * and evaluates it for each caller.
 *
 * Conventions: functions return 0 (or a documented non-negative value) on
 * success and a negative ACE_E_* code on failure.  Parsers fill an optional
 * struct ace_error with the code, a 1-based position and a reason; the library
 * never prints anything.  There is no global state; every function may be
 * called from several threads at once (name lookups use getpwnam_r and
 * friends).  Text is passed as (pointer, length) and need not end in NUL.
 */
#ifndef STREAMFS_ACE_H
#define STREAMFS_ACE_H

#include <stddef.h>
#include <sys/types.h>

/* The longest expression accepted, in bytes (a longer one is refused).  It
 * bounds the work of one parse and the size of a stored attribute. */
#define ACE_MAX_LEN 4096

/* The deepest nesting accepted, counting each '(' and each '!' that encloses
 * a term.  Parsing, printing and evaluation recurse once per level, so this
 * keeps their stack use small on any thread; real expressions nest 2 or 3. */
#define ACE_MAX_DEPTH 100

/* Room for a reason in struct ace_error, including the NUL. */
#define ACE_MSG_MAX 160

/* Error codes.  Each says what was wrong at ace_error.pos. */
enum {
	ACE_OK = 0,
	ACE_E_NOMEM = -1,     /* out of memory (pos 0) */
	ACE_E_INVAL = -2,     /* bad argument: NULL pointer, unknown flag (pos 0) */
	ACE_E_LONG = -3,      /* over ACE_MAX_LEN bytes (pos ACE_MAX_LEN + 1) */
	ACE_E_EMPTY = -4,     /* nothing but spaces (pos 1) */
	ACE_E_CHAR = -5,      /* a character or word that is no token */
	ACE_E_TERM = -6,      /* "u:" or "g:" without a name (pos of the u/g) */
	ACE_E_USER = -7,      /* no such user, or uid out of range (pos of u) */
	ACE_E_GROUP = -8,     /* no such group, or gid out of range (pos of g) */
	ACE_E_LOOKUP = -9,    /* the user or group database failed (pos of u/g) */
	ACE_E_UNCLOSED = -10, /* a '(' never closed (pos of that '(') */
	ACE_E_UNOPENED = -11, /* a ')' with no '(' (pos of that ')') */
	ACE_E_TRAILING = -12, /* an operator with nothing after it (pos of it) */
	ACE_E_OPERAND = -13,  /* '&' or '|' with nothing before it, or "()" */
	ACE_E_OPERATOR = -14, /* two operands with no operator between them */
	ACE_E_DEPTH = -15,    /* nesting deeper than ACE_MAX_DEPTH */
	ACE_E_PERM = -16,     /* permission list: unknown, misplaced or repeated */
	ACE_E_SYNTAX = -17,   /* permission list: item is not PERM=EXPRESSION */
};

/* What went wrong and where.  pos is 1-based and counts bytes of the text
 * that was passed in; it may be one past the end ("missing at the end").
 * Every accepted character is ASCII, so up to an error a byte position is
 * also a character position.  msg never repeats the position. */
typedef struct ace_error {
	int code;
	size_t pos;
	char msg[ACE_MSG_MAX];
} ace_error_t;

/* A parsed expression.  Opaque; immutable once parsed, so one tree may be
 * evaluated by several threads at once. */
typedef struct ace ace_t;

/* Who is asking: the caller's uid, primary gid and supplementary groups
 * (as fuse_req_getgroups returns them; groups may be NULL when ngroups is 0,
 * and may repeat gid).
 *
 * Finding the supplementary groups can be costly (FUSE reads /proc), so they
 * may instead come from load_groups: when it is not NULL, groups and ngroups
 * are ignored and ace_eval calls load_groups(ctx, &groups, &n) at most once,
 * and only when a g: term does not match gid.  It returns 0 with the groups
 * set (they must stay valid until ace_eval returns), or a negative error. */
typedef struct ace_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	int (*load_groups)(void *ctx, const gid_t **groups, size_t *n);
	void *ctx;
} ace_caller_t;

/* ------------------------------------------------------------------------
 * Expressions
 */

/* Parse text[0..len) into a new tree.
 * On success returns 0 and sets *out; free it with ace_free.
 * On failure returns a negative ACE_E_* code, leaves *out NULL and, when err
 * is not NULL, fills it (err->code equals the return value).  User and group
 * names are resolved now (numbers are taken as they are), so a tree holds
 * only numeric ids. */
int ace_parse(const char *text, size_t len, ace_t **out, ace_error_t *err);

/* Free a tree from ace_parse.  NULL is allowed. */
void ace_free(ace_t *ace);

/* Evaluate a tree for a caller: 1 if the expression holds, 0 if not, or
 * the negative error of who->load_groups when the groups were needed and
 * could not be loaded (deny then: with '!', guessing "no groups" could
 * grant).  A NULL tree or caller gives 0.  There is no special case for
 * root: the caller of this function decides whether root bypasses ACEs
 * (docs/ace.md says it does). */
int ace_eval(const ace_t *ace, const ace_caller_t *who);

/* Flags of ace_to_text. */
enum {
	ACE_TEXT_NUMERIC = 0, /* canonical form, for storage: u:1001, g:100 */
	ACE_TEXT_NAMES = 1,   /* for people: names where they resolve back */
};

/* Print a tree as text into a new NUL-terminated string (*out, free it with
 * free()).  Returns 0, ACE_E_NOMEM or ACE_E_INVAL.  The text is canonical:
 * operators are written " & " and " | ", '!' is written next to its operand,
 * parentheses appear only where precedence needs them, and chains of one
 * operator are flattened ("(a & b) & c" prints as "a & b & c").  Parsing the
 * text gives an equal tree; printing that gives the same text.
 * With ACE_TEXT_NAMES a user or group is printed by name when the id has a
 * name that parses back to the same id, and by number otherwise. */
int ace_to_text(const ace_t *ace, int flags, char **out);

/* The fixed, static reason for a code ("unknown user", ...); never NULL. */
const char *ace_strerror(int code);

/* ------------------------------------------------------------------------
 * User and group names
 */

/* Resolve a user: name[0..len) is either all decimal digits (a uid, taken as
 * it is, whether or not a user has it) or a name looked up with getpwnam_r.
 * Returns 0 and sets *uid, or ACE_E_USER (no such user, uid out of range,
 * empty or over 255 bytes), ACE_E_LOOKUP (the database failed) or
 * ACE_E_NOMEM. */
int ace_user_id(const char *name, size_t len, uid_t *uid);

/* The same for groups with getgrnam_r; ACE_E_GROUP when there is none. */
int ace_group_id(const char *name, size_t len, gid_t *gid);

/* Write the name of uid into buf (size bytes, NUL-terminated).
 * Returns 0, ACE_E_USER when uid has no name, ACE_E_LOOKUP, ACE_E_NOMEM, or
 * ACE_E_INVAL when the name does not fit. */
int ace_user_name(uid_t uid, char *buf, size_t size);

/* The same for groups; ACE_E_GROUP when gid has no name. */
int ace_group_name(gid_t gid, char *buf, size_t size);

/* ------------------------------------------------------------------------
 * Permissions and permission lists (streamfs-ace's PERM=EXPR,PERM=EXPR)
 */

/* The permissions an ACE can be set for.  Stream (directory) permissions
 * first, then blob (file) permissions. */
enum ace_perm {
	ACE_PERM_ADMIN,   /* stream: change policies and ACEs */
	ACE_PERM_PRODUCE, /* stream: append to topics */
	ACE_PERM_CONSUME, /* stream: read topics, commit cursors */
	ACE_PERM_TOPIC,   /* stream: create, delete, rename topics */
	ACE_PERM_COPY,    /* stream: replicate the stream elsewhere */
	ACE_PERM_READ,    /* blob: read */
	ACE_PERM_WRITE,   /* blob: write */
	ACE_PERM_COUNT
};

/* What a permission list is for: which permission names it may use. */
enum ace_object {
	ACE_OBJ_STREAM = 1, /* admin, produce, consume, topic, copy */
	ACE_OBJ_BLOB = 2,   /* read, write */
	ACE_OBJ_ANY = 3,    /* all of them (e.g. for -R over mixed objects) */
};

/* The name of a permission ("admin", ...), or NULL when perm is out of range.
 * It is also the suffix of the attribute user.streamfs.ace.NAME. */
const char *ace_perm_name(int perm);

/* The ACE_OBJ_* object a permission belongs to, or 0 when out of range. */
int ace_perm_object(int perm);

/* Look up a permission name (exact, lower case).  Returns its enum ace_perm
 * value (>= 0), or ACE_E_PERM when there is no such permission. */
int ace_perm_lookup(const char *name, size_t len);

/* The result of ace_list_parse: one entry per PERM=EXPR item, in the order
 * given.  Each entry's tree belongs to the list. */
typedef struct ace_list {
	size_t n;
	struct ace_list_item {
		int perm;        /* enum ace_perm */
		ace_t *ace;      /* its parsed expression */
		size_t pos;      /* 1-based position of the permission name */
	} item[ACE_PERM_COUNT];
} ace_list_t;

/* Parse "PERM=EXPR,PERM=EXPR,..." (text[0..len)) for an object of kind obj
 * (ACE_OBJ_*).  Items are split at commas, which no expression contains;
 * spaces around names and commas are allowed.  Each permission may appear
 * once.  On success returns 0 and fills *list (free with ace_list_clear).
 * On failure returns an ACE_E_* code, leaves list empty and fills err with a
 * position counted from the start of the whole list: ACE_E_EMPTY (no items),
 * ACE_E_SYNTAX (an item without '=' or without a name), ACE_E_PERM (unknown
 * name, a name not for obj, a repeated name), or any code of ace_parse
 * for an expression. */
int ace_list_parse(const char *text, size_t len, int obj, ace_list_t *list,
		   ace_error_t *err);

/* Free the trees of a list and empty it.  Safe on an empty list. */
void ace_list_clear(ace_list_t *list);

#endif /* STREAMFS_ACE_H */
