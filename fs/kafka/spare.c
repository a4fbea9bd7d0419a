/* spare.c - response buffers kept for reuse: each connection keeps the
 * buffer of its last sent response as its spare and builds the next
 * response in it, so a consumer's steady fetches of about a megabyte
 * each touch the same pages instead of faulting in a fresh buffer every
 * time.  Bounded: a buffer over KAFKA_SPARE_MAX is given back at once,
 * and all spares together hold at most KAFKA_SPARE_TOTAL (past it a sent
 * buffer is given back), so thousands of idle connections stay small.
 *
 * Owned by the listener thread (spare.total and every connection's
 * spare); no lock. */
#include <stdlib.h>

#include "kafka.h"

static struct {
	size_t total;                   /* bytes of every spare's cap */
} spare;

void kspare_take(struct kbuf *sp, struct kbuf *b)
{
	if (!sp->p) {
		kb_init(b);
		return;
	}
	spare.total -= sp->cap;
	*b = *sp;
	b->len = 0;
	b->oom = false;
	kb_init(sp);
}

void kspare_give(struct kbuf *sp, struct kbuf *b)
{
	if (!b->p)
		return;
	if (sp->p || b->oom || b->cap > KAFKA_SPARE_MAX ||
	    b->cap > KAFKA_SPARE_TOTAL - spare.total) {
		kb_free(b);
		return;
	}
	spare.total += b->cap;
	*sp = *b;
	sp->len = 0;
	kb_init(b);
}

void kspare_drop(struct kbuf *sp)
{
	spare.total -= sp->cap;
	kb_free(sp);
}

size_t kspare_total(void)
{
	return spare.total;
}
