/* permission.c - what each operation asks of the caller: produce, consume,
 * topic and admin of a stream (its expressions come from the settings
 * cache, stream_cfg.c), read and write of a blob (its expressions are read
 * at open), and open by kind.  The decision itself (expression, else mode
 * bits or ownership, root always) is acl/access.c's.
 *
 * Every check here notes its outcome for the request being served: the
 * last one decides, so a check that an operation tries before another
 * (consume, then produce) is forgotten when the next grants.  When the
 * request is over, a denial still noted is reported to the errors stream
 * (denial_report, events.c). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "access.h"
#include "fs.h"

/* ---- the denial of the request being served ---- */

/* One per serving thread: a request is served by one thread at a time. */
static __thread struct {
	bool set;
	uid_t uid;
	pid_t pid;
	uint64_t ino;
	const char *perm;       /* a string constant */
	int err;
} denial;

int permission_noted(struct caller *c, uint64_t ino, const char *perm,
		     int r)
{
	if (r == -EACCES || r == -EPERM) {
		denial.set = true;
		denial.uid = c->uid;
		denial.pid = c->pid;
		denial.ino = ino;
		denial.perm = perm;
		denial.err = -r;
	} else if (r == 0) {
		denial.set = false;
	}
	return r;
}

void denial_report(const char *op)
{
	if (!denial.set)
		return;
	denial.set = false;
	events_denied(denial.uid, denial.pid, op, denial.ino, denial.perm,
		      denial.err);
}

/* Mode bits by their letters: "r", "wx", ... */
static const char *letters(int want)
{
	static const char *const name[8] = {
		"none", "x", "w", "wx", "r", "rx", "rw", "rwx",
	};
	return name[want & 7];
}

int may_mode(struct caller *c, const struct sf_inode *in, int want)
{
	return permission_noted(c, in->ino, letters(want),
				perm_check(c, in->mode, in->uid, in->gid,
					   want));
}

int may_own(struct caller *c, const struct sf_inode *in)
{
	return permission_noted(c, in->ino, "owner",
				perm_owner(c, in->uid));
}

int may_sticky(struct caller *c, const struct sf_inode *dir, uid_t owner)
{
	return permission_noted(c, dir->ino, "sticky",
				perm_sticky(c, dir->mode, dir->uid, owner));
}

/* ---- decisions ---- */

/* perm of stream dir, for object ino (a topic, or the stream itself). */
static int stream_may(struct caller *c, uint64_t dir, uint64_t ino, int perm,
		      const struct access_fallback *fb)
{
	bool owned;
	int r;
	struct stream_cfg *cfg = stream_cfg_get(dir, &owned, &r);
	if (cfg)
		r = access_check(c, cfg->ace[perm], fb);
	if (owned)
		stream_cfg_free(cfg);
	return permission_noted(c, ino ? ino : dir, ace_perm_name(perm), r);
}

static struct access_fallback fallback(const struct sf_inode *in, int want)
{
	struct access_fallback fb = { in->mode, in->uid, in->gid, want };
	return fb;
}

int may_produce(struct caller *c, const struct sf_inode *topic)
{
	struct access_fallback fb = fallback(topic, PERM_W);
	return stream_may(c, topic->parent, topic->ino, ACE_PERM_PRODUCE,
			  &fb);
}

int may_consume(struct caller *c, const struct sf_inode *topic)
{
	struct access_fallback fb = fallback(topic, PERM_R);
	return stream_may(c, topic->parent, topic->ino, ACE_PERM_CONSUME,
			  &fb);
}

int may_describe(struct caller *c, const struct sf_inode *topic)
{
	int r = may_consume(c, topic);
	return r == -EACCES ? may_produce(c, topic) : r;
}

int may_topic(struct caller *c, const struct sf_inode *dir)
{
	int r = may_mode(c, dir, PERM_X);
	struct access_fallback fb = fallback(dir, PERM_W);
	return r < 0 ? r : stream_may(c, dir->ino, dir->ino, ACE_PERM_TOPIC,
				      &fb);
}

int may_admin(struct caller *c, const struct sf_inode *dir)
{
	struct access_fallback fb = fallback(dir, 0);
	return stream_may(c, dir->ino, dir->ino, ACE_PERM_ADMIN, &fb);
}

int may_copy(struct caller *c, const struct sf_inode *dir)
{
	struct access_fallback fb = fallback(dir, 0);
	return stream_may(c, dir->ino, dir->ino, ACE_PERM_COPY, &fb);
}

int may_blob(struct caller *c, const struct sf_inode *blob, int want)
{
	static const struct { int bit, perm; } map[] = {
		{ PERM_R, ACE_PERM_READ }, { PERM_W, ACE_PERM_WRITE },
	};
	int r = 0;
	for (int i = 0; r == 0 && i < 2; i++) {
		if (!(want & map[i].bit))
			continue;
		ace_t *ace;
		r = ace_load(blob->ino, map[i].perm, &ace);
		struct access_fallback fb = fallback(blob, map[i].bit);
		if (r == 0)
			r = permission_noted(c, blob->ino,
					     ace_perm_name(map[i].perm),
					     access_check(c, ace, &fb));
		ace_free(ace);
	}
	return r;
}

int may_open(struct caller *c, const struct sf_inode *in, int flags)
{
	int want = 0;
	switch (flags & O_ACCMODE) {
	case O_RDONLY: want = PERM_R; break;
	case O_WRONLY: want = PERM_W; break;
	default: want = PERM_R | PERM_W; break;
	}
	if (flags & O_TRUNC)
		want |= PERM_W;
	if (!S_ISREG(in->mode))
		return may_mode(c, in, want);
	int r = 0;
	if (in->kind == SF_KIND_TOPIC ||
	    (in->kind == SF_KIND_NONE && (flags & O_APPEND))) {
		/* A topic, or a file an O_APPEND write will make one. */
		if (want & PERM_R)
			r = may_consume(c, in);
		if (r == 0 && (want & PERM_W))
			r = may_produce(c, in);
		return r;
	}
	return may_blob(c, in, want);
}
