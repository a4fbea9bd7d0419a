/* births.c - what both ends of a connection do with topics' births
 * (topic_birth, home.c): the name the later of two topics of one name is
 * renamed to, the rename itself, and finding a topic by its birth (a
 * topic renamed at its home).  docs/design.md, "Replication links", has
 * the rules and their reasons.
 *
 * Every function here is called with fs.lock held. */
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rp.h"

#define LOSER_TAG 17                    /* "~" and 16 hex digits */
#define LOSER_TRIES 1000

void rp_birth_str(const struct sf_birth *b, char *buf, size_t cap)
{
	int64_t s = b->ns / 1000000000, ns = b->ns % 1000000000;
	if (ns < 0) {
		s--;
		ns += 1000000000;
	}
	snprintf(buf, cap, "born at replica %016" PRIx64 " at %" PRId64
		 ".%09" PRId64, b->replica, s, ns);
}

/* Name with tag, the name cut short so that both fit NAME_MAX_BYTES. */
static void with_tag(const char *name, const char *tag, char *out,
		     size_t cap)
{
	size_t keep = strlen(name), tl = strlen(tag);
	if (keep + tl > NAME_MAX_BYTES)
		keep = NAME_MAX_BYTES - tl;
	snprintf(out, cap, "%.*s%s", (int)keep, name, tag);
}

int rp_loser_name(uint64_t stream, const char *name,
		  const struct sf_birth *b, char *out, size_t cap)
{
	char tag[LOSER_TAG + 16];
	uint64_t ino;
	for (unsigned i = 1; i <= LOSER_TRIES; i++) {
		if (i == 1)
			snprintf(tag, sizeof tag, "~%016" PRIx64, b->replica);
		else
			snprintf(tag, sizeof tag, "~%016" PRIx64 "-%u",
				 b->replica, i);
		with_tag(name, tag, out, cap);
		int r = store_lookup(fs.store, stream, out, &ino);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
	}
	return -EEXIST;
}

int rp_rename_aside(uint64_t stream, const char *path, const char *name,
		    const struct sf_birth *b, const char *why)
{
	char to[NAME_MAX_BYTES + 1];
	struct caller root;
	rp_root_caller(&root);
	int r = rp_loser_name(stream, name, b, to, sizeof to);
	if (r == 0)
		r = ns_rename_as(&root, stream, name, stream, to,
				 RENAME_NOREPLACE);
	if (r < 0) {
		log_msg(SF_LOG_WARNING, "replica: topic %s/%s cannot be "
			"renamed aside: %s", path, name, strerror(-r));
		return r;
	}
	notify_inval_name(stream, name);
	notify_inval_name(stream, to);
	log_msg(SF_LOG_INFO, "replica: topic %s/%s renamed to %s: %s", path,
		name, to, why);
	return 0;
}

int rp_find_birth(uint64_t stream, uint64_t home, const struct sf_birth *b,
		  uint64_t *ino, char *name, size_t cap)
{
	struct store_dirit *it = store_dirit_open(fs.store, stream);
	const char *n;
	size_t len;
	uint32_t type;
	int found = 0;
	if (!it)
		return -ENOMEM;
	while (!found && store_dirit_next(it, &n, &len, ino, &type) == 1) {
		struct sf_inode in;
		struct sf_birth kept;
		uint64_t h;
		if (type != DT_REG || len >= cap ||
		    store_get_inode(fs.store, *ino, &in) < 0 ||
		    !is_topic(&in) || store_topic_home(fs.store, *ino, &h) < 0 ||
		    h != home || store_topic_birth(fs.store, *ino, &kept) != 0 ||
		    sf_birth_cmp(&kept, b) != 0)
			continue;
		memcpy(name, n, len);
		name[len] = 0;
		found = 1;
	}
	store_dirit_close(it);
	return found;
}
