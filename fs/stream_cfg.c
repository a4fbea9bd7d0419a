/* stream_cfg.c - the stream settings cache: a stream's policies and the
 * parsed expression of each stream permission, loaded from the store once
 * and kept on the directory's node until they change (ns_policy_changed),
 * and the loading of one stored expression (ace_load).  Under fs.lock,
 * like the nodes it hangs on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs.h"

#define ACE_PREFIX SF_POLICY_PREFIX "ace."

int ace_load(uint64_t ino, int perm, ace_t **out)
{
	char name[64], *val;
	size_t len;
	ace_error_t err;
	*out = NULL;
	snprintf(name, sizeof(name), ACE_PREFIX "%s", ace_perm_name(perm));
	int r = store_get_xattr(fs.store, ino, name, &val, &len);
	if (r == -ENODATA)
		return 0;
	if (r < 0)
		return r;
	r = ace_parse(val, len, out, &err);
	free(val);
	if (r < 0) {
		/* Stored text was checked when set: a user or group may have
		 * been deleted since.  Refuse rather than guess. */
		log_msg(SF_LOG_WARNING, "inode %llu: stored %s "
			"expression no longer parses (%s); denying",
			(unsigned long long)ino, ace_perm_name(perm), err.msg);
		return -EACCES;
	}
	return 0;
}

static struct stream_cfg *stream_cfg_load(uint64_t dir, int *err)
{
	struct stream_cfg *cfg = calloc(1, sizeof(*cfg));
	*err = cfg ? store_get_policy(fs.store, dir, &cfg->policy) : -ENOMEM;
	for (int i = 0; *err == 0 && i < STREAM_PERMS; i++)
		*err = ace_load(dir, i, &cfg->ace[i]);
	if (*err) {
		stream_cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

struct stream_cfg *stream_cfg_get(uint64_t dir, bool *owned, int *err)
{
	struct node *n = node_find(dir);
	*owned = false;
	*err = 0;
	if (n && n->stream)
		return n->stream;
	struct stream_cfg *cfg = stream_cfg_load(dir, err);
	if (cfg && n)
		n->stream = cfg;
	else
		*owned = cfg != NULL;
	return cfg;
}

int ns_policy(uint64_t dir, struct sf_policy *out)
{
	bool owned;
	int r;
	struct stream_cfg *cfg = stream_cfg_get(dir, &owned, &r);
	if (cfg)
		*out = cfg->policy;
	if (owned)
		stream_cfg_free(cfg);
	return r;
}

void ns_policy_changed(uint64_t dir)
{
	struct node *n = node_find(dir);
	if (n) {
		stream_cfg_free(n->stream);
		n->stream = NULL;
	}
}
