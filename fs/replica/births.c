/* births.c - what both ends of a connection do with topics' births
 * (topic_birth, home.c): births said in reasons and log lines.
 * docs/design.md, "Replication links", has the rules and their
 * reasons.
 *
 * Every function here is called with fs.lock held. */
#include <inttypes.h>
#include <stdio.h>

#include "rp.h"

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
