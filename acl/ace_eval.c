/* ace_eval.c - decides whether a caller satisfies a parsed ACE.
 *
 * Owns ace_eval.  Evaluation is a walk of the tree with short-circuit '&'
 * and '|'; it allocates nothing, looks nothing up (the tree holds numeric
 * ids) and cannot fail, so the daemon may call it on every operation from
 * any thread.  Recursion depth is bounded by the parser's nesting limit.
 */
#include "ace_int.h"

/* Whether gid is the caller's primary group or one of its supplementary
 * groups. */
static int in_groups(const ace_caller_t *who, uint32_t gid)
{
	size_t i;

	if ((uint32_t)who->gid == gid)
		return 1;
	for (i = 0; who->groups && i < who->ngroups; i++)
		if ((uint32_t)who->groups[i] == gid)
			return 1;
	return 0;
}

/* The value (0 or 1) of node i of ace for who. */
static int eval_node(const ace_t *ace, uint32_t i, const ace_caller_t *who)
{
	const struct ace_node *n = &ace->node[i];
	uint32_t c;

	switch (n->kind) {
	case ACE_N_USER:
		return (uint32_t)who->uid == n->id;
	case ACE_N_GROUP:
		return in_groups(who, n->id);
	case ACE_N_PUBLIC:
		return 1;
	case ACE_N_NOT:
		return !eval_node(ace, n->child, who);
	case ACE_N_AND:
		for (c = n->child; c != ACE_NIL; c = ace->node[c].next)
			if (!eval_node(ace, c, who))
				return 0;
		return 1;
	case ACE_N_OR:
		for (c = n->child; c != ACE_NIL; c = ace->node[c].next)
			if (eval_node(ace, c, who))
				return 1;
		return 0;
	}
	return 0; /* not reached: the parser makes no other kinds */
}

/* Contract in ace.h.  A NULL tree or caller matches nobody. */
int ace_eval(const ace_t *ace, const ace_caller_t *who)
{
	if (!ace || !who || ace->root == ACE_NIL)
		return 0;
	return eval_node(ace, ace->root, who);
}
