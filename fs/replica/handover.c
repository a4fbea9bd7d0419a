/* handover.c - moving a topic's home here (user.streamfs.replica.home):
 * the hand-overs asked, kept in memory only (a restart forgets them), and
 * the steps a link to the topic's home takes for each: HANDOVER sent on
 * its connection, HANDED answered with the topic's final end at the old
 * home, and the home taken here once this copy has reached that end.
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

uint64_t rp_handover_token(void)
{
	return ++tokens;
}

int replica_home_ask(uint64_t ino, uint64_t stream, uint64_t home)
{
	char name[NAME_MAX_BYTES + 1];
	struct handover *h = find(ino);
	if (h && h->st != H_REFUSED)
		return 0;               /* asked already: it goes on */
	int r = rp_name_in(stream, ino, name, sizeof name);
	if (r < 0)
		return r;
	if (!h && nhand == HANDOVERS_MAX)
		return -EBUSY;
	if (!h && nhand == caphand) {
		size_t cap = caphand ? caphand * 2 : 16;
		struct handover *p = realloc(hand, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		hand = p;
		caphand = cap;
	}
	if (!h)
		h = &hand[nhand++];
	memset(h, 0, sizeof *h);
	h->ino = ino;
	h->stream = stream;
	h->home = home;
	snprintf(h->name, sizeof h->name, "%s", name);
	h->st = H_ASK;
	log_msg(SF_LOG_INFO, "replica: topic %" PRIu64 " (%s): its home is "
		"to move here from replica %016" PRIx64, ino, name, home);
	return 0;
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
		drop(h);
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
		} else {
			h->st = H_REFUSED;
			snprintf(h->why, sizeof h->why, "%s", why);
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
		drop(h);                /* removed, or moved on meanwhile */
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
	drop(h);
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
