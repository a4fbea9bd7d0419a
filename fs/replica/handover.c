/* handover.c - moving a topic's home here (user.streamfs.replica.home):
 * the hand-overs asked, kept in memory and in the store (V keys,
 * store_handover_*) so that a restart resumes them, and the steps a link
 * to the topic's home takes for each: HANDOVER sent on its connection,
 * HANDED answered with the topic's final end at the old home, and the
 * home taken here once this copy has reached that end.  A refusal is
 * kept in memory only (to be shown) and drops the stored one.
 * docs/design.md "Moving a topic's home" is the design.
 *
 * Every field here is guarded by fs.lock: the FUSE thread that asks, and
 * the link threads, hold it around every call. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"

#define HANDOVERS_MAX 4096

enum { H_ASK, H_HANDED, H_REFUSED };

struct handover {
	uint64_t ino, stream;   /* the topic, and the stream it was in */
	uint64_t home;          /* its home when the hand-over was asked */
	char name[NAME_MAX_BYTES + 1];
	int st;                 /* H_* */
	uint64_t asked;         /* the connection it was asked on, or 0 */
	uint64_t end, next;     /* H_HANDED: the final end at the old home */
	char why[RP_STR_MAX + 1];       /* H_REFUSED: the old home's reason */
};

/* Guarded by fs.lock: */
static struct handover *hand;
static size_t nhand, caphand;
static uint64_t tokens;         /* connections given a token so far */

static struct handover *find(uint64_t ino)
{
	for (size_t i = 0; i < nhand; i++)
		if (hand[i].ino == ino)
			return &hand[i];
	return NULL;
}

static void drop(struct handover *h)
{
	*h = hand[--nhand];
}

/* Keep h in the store as it is now (asked, or handed with its end). */
static int keep(const struct handover *h)
{
	struct sf_handover k = {
		.ino = h->ino, .stream = h->stream, .home = h->home,
		.handed = h->st == H_HANDED, .end = h->end, .next = h->next,
	};
	snprintf(k.name, sizeof k.name, "%s", h->name);
	return store_handover_put(fs.store, &k);
}

/* Forget h, here and in the store. */
static void drop_kept(struct handover *h)
{
	int r = store_handover_del(fs.store, h->ino);
	if (r < 0)
		log_msg(SF_LOG_WARNING, "replica: topic %" PRIu64 " (%s): "
			"cannot drop its hand-over from the store (%s); a "
			"restart resumes it", h->ino, h->name, strerror(-r));
	drop(h);
}

/* A new slot at the end of the table: NULL when full or out of
 * memory (*err says which). */
static struct handover *slot(int *err)
{
	if (nhand == HANDOVERS_MAX) {
		*err = -EBUSY;
		return NULL;
	}
	if (nhand == caphand) {
		size_t cap = caphand ? caphand * 2 : 16;
		struct handover *p = realloc(hand, cap * sizeof *p);
		if (!p) {
			*err = -ENOMEM;
			return NULL;
		}
		hand = p;
		caphand = cap;
	}
	return &hand[nhand++];
}

uint64_t rp_handover_token(void)
{
	return ++tokens;
}

int replica_home_ask(uint64_t ino, uint64_t stream, uint64_t home)
{
	struct handover n = { .ino = ino, .stream = stream, .home = home,
			      .st = H_ASK };
	struct handover *h = find(ino);
	if (h && h->st != H_REFUSED)
		return 0;               /* asked already: it goes on */
	int r = rp_name_in(stream, ino, n.name, sizeof n.name);
	if (r == 0 && !h && nhand == HANDOVERS_MAX)
		r = -EBUSY;
	if (r == 0)
		r = keep(&n);           /* kept before it is said to go on */
	if (r == 0 && !h && !(h = slot(&r)))
		store_handover_del(fs.store, ino);
	if (r < 0)
		return r;
	*h = n;
	log_msg(SF_LOG_INFO, "replica: topic %" PRIu64 " (%s): its home is "
		"to move here from replica %016" PRIx64, ino, n.name, home);
	return 0;
}

/* One hand-over kept in the store, taken back into the table at the
 * start (fs.lock held): one whose topic is gone or homed elsewhere
 * than the replica asked is dropped. */
static int resume_one(const struct sf_handover *k, void *arg)
{
	uint64_t home;
	int r, *n = arg;
	struct sf_inode in;
	if (store_get_inode(fs.store, k->ino, &in) < 0 || in.nlink == 0 ||
	    !is_topic(&in) || store_topic_home(fs.store, k->ino, &home) < 0 ||
	    home != k->home) {
		store_handover_del(fs.store, k->ino);
		return 0;
	}
	struct handover *h = find(k->ino);
	if (!h && !(h = slot(&r)))
		return r;
	*h = (struct handover){ .ino = k->ino, .stream = k->stream,
				.home = k->home,
				.st = k->handed ? H_HANDED : H_ASK,
				.end = k->end, .next = k->next };
	snprintf(h->name, sizeof h->name, "%s", k->name);
	log_msg(SF_LOG_INFO, "replica: topic %" PRIu64 " (%s): the move of "
		"its home here from replica %016" PRIx64 " goes on (%s)",
		k->ino, k->name, k->home,
		k->handed ? "handed over" : "asking");
	(*n)++;
	return 0;
}

int replica_home_resume(void)
{
	int n = 0;
	int r = store_handover_list(fs.store, resume_one, &n);
	return r < 0 ? r : n;
}

int replica_home_state(uint64_t ino, char *buf, size_t cap)
{
	struct handover *h = find(ino);
	if (!h)
		return snprintf(buf, cap, "none");
	if (h->st == H_ASK)
		return snprintf(buf, cap, "asking %016" PRIx64, h->home);
	if (h->st == H_HANDED)
		return snprintf(buf, cap, "catching up to byte %" PRIu64,
				h->end);
	return snprintf(buf, cap, "refused: %s", h->why);
}

void replica_home_forget(uint64_t ino)
{
	struct handover *h = find(ino);
	if (h)
		drop_kept(h);
}

int rp_handover_next(uint64_t stream, uint64_t peer, uint64_t token,
		     char *name, size_t cap)
{
	for (size_t i = 0; i < nhand; i++) {
		struct handover *h = &hand[i];
		if (h->stream != stream || h->home != peer ||
		    h->st != H_ASK || h->asked == token)
			continue;
		h->asked = token;
		snprintf(name, cap, "%s", h->name);
		return 1;
	}
	return 0;
}

void rp_handover_answer(uint64_t stream, uint64_t peer, const char *name,
			int status, uint64_t end, uint64_t next,
			const char *why)
{
	for (size_t i = 0; i < nhand; i++) {
		struct handover *h = &hand[i];
		if (h->stream != stream || h->home != peer || h->st != H_ASK ||
		    strcmp(h->name, name) != 0)
			continue;
		if (status == RP_HANDED_OK) {
			h->st = H_HANDED;
			h->end = end;
			h->next = next;
			int r = keep(h);
			if (r < 0)      /* a restart asks again: same answer */
				log_msg(SF_LOG_WARNING, "replica: topic %s: "
					"cannot keep its hand-over's end in "
					"the store: %s", name, strerror(-r));
		} else {
			h->st = H_REFUSED;
			snprintf(h->why, sizeof h->why, "%s", why);
			store_handover_del(fs.store, h->ino);
			log_msg(SF_LOG_WARNING, "replica: topic %s: replica "
				"%016" PRIx64 " refused to hand it over: %s",
				name, peer, why);
		}
		return;
	}
}

/* h's copy here reached the old home's final end: take the home. */
static int take(struct handover *h, uint64_t self)
{
	struct sf_topic t;
	uint64_t home;
	if (rp_topic_state(h->ino, &t) < 0 ||
	    store_topic_home(fs.store, h->ino, &home) < 0 ||
	    home != h->home) {
		drop_kept(h);           /* removed, or moved on meanwhile */
		return 0;
	}
	if (t.size < h->end || t.next_msg < h->next)
		return 0;
	int r = topic_home_set(h->ino, self);
	if (r < 0)
		return 0;               /* tried again on the next turn */
	log_msg(SF_LOG_INFO, "replica: topic %" PRIu64 " (%s) is homed here "
		"now, at byte %" PRIu64 " (message %" PRIu64 ")", h->ino,
		h->name, t.size, t.next_msg);
	drop_kept(h);
	return 1;
}

int rp_handover_finish(uint64_t stream, uint64_t self)
{
	int n = 0;
	for (size_t i = nhand; i-- > 0;)
		if (hand[i].stream == stream && hand[i].st == H_HANDED)
			n += take(&hand[i], self);
	return n;
}
