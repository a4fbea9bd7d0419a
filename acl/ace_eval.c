/* ace_eval.c - decides whether a caller satisfies a parsed ACE.
 *
 * Owns ace_eval.  Evaluation is a walk of the tree with short-circuit '&'
 * and '|'; it allocates nothing and looks no names up (the tree holds
 * numeric ids), so the daemon may call it on every operation from any
 * thread.  The supplementary groups are fetched through the caller's
 * load_groups hook only when a g: term needs them.  Recursion depth is
 * bounded by the parser's nesting limit.
 */
#include "ace_int.h"

/* One evaluation: the caller, and its supplementary groups once known. */
struct eval {
	const ace_caller_t *who;
	const gid_t *groups;
	size_t ngroups;
	int loaded; /* 0: not yet; 1: groups are set; < 0: loading failed */
};

/* Make ev's groups known.  Returns 0 or the load_groups hook's error. */
static int load(struct eval *ev)
{
	const ace_caller_t *who = ev->who;
	int rc;

	if (ev->loaded)
		return ev->loaded < 0 ? ev->loaded : 0;
	if (!who->load_groups) {
		ev->groups = who->groups;
		ev->ngroups = who->groups ? who->ngroups : 0;
		ev->loaded = 1;
		return 0;
	}
	ev->groups = NULL;
	ev->ngroups = 0;
	rc = who->load_groups(who->ctx, &ev->groups, &ev->ngroups);
	if (rc > 0)
		rc = ACE_E_LOOKUP; /* a hook outside its contract still denies */
	if (rc == 0 && !ev->groups)
		ev->ngroups = 0;
	ev->loaded = rc < 0 ? rc : 1;
	return rc;
}

/* Whether gid is the caller's primary group or one of its supplementary
 * groups: 1, 0, or the error of loading the groups. */
static int in_groups(struct eval *ev, uint32_t gid)
{
	size_t i;
	int rc;

	if ((uint32_t)ev->who->gid == gid)
		return 1;
	if ((rc = load(ev)) < 0)
		return rc;
	for (i = 0; i < ev->ngroups; i++)
		if ((uint32_t)ev->groups[i] == gid)
			return 1;
	return 0;
}

/* The value of node i of ace: 1, 0, or a negative error that ends the
 * evaluation. */
static int eval_node(const ace_t *ace, uint32_t i, struct eval *ev)
{
	const struct ace_node *n = &ace->node[i];
	uint32_t c;
	int r;

	switch (n->kind) {
	case ACE_N_USER:
		return (uint32_t)ev->who->uid == n->id;
	case ACE_N_GROUP:
		return in_groups(ev, n->id);
	case ACE_N_PUBLIC:
		return 1;
	case ACE_N_NOT:
		r = eval_node(ace, n->child, ev);
		return r < 0 ? r : !r;
	case ACE_N_AND:
		for (c = n->child; c != ACE_NIL; c = ace->node[c].next)
			if ((r = eval_node(ace, c, ev)) <= 0)
				return r;
		return 1;
	case ACE_N_OR:
		for (c = n->child; c != ACE_NIL; c = ace->node[c].next)
			if ((r = eval_node(ace, c, ev)) != 0)
				return r;
		return 0;
	}
	return 0; /* not reached: the parser makes no other kinds */
}

/* Contract in ace.h. */
int ace_eval(const ace_t *ace, const ace_caller_t *who)
{
	struct eval ev = { .who = who };

	if (!ace || !who || ace->root == ACE_NIL)
		return 0;
	return eval_node(ace, ace->root, &ev);
}
