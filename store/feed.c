/* feed.c - which stream of another replica each local stream receives
 * (F stream sender -> the sender's stream id), as the replication
 * receiver noted it at the first HELLO: a stream takes the topics of one
 * stream per sending replica, because a link's HOLDS answer lists every
 * topic homed at the sender, and a second stream of the sender would
 * remove the first one's copies as topics it does not have.  Written
 * synced; a stream's feeds go with its purge (namespace.c).
 * docs/format.md has the layout. */
#include <errno.h>

#include "internal.h"

int store_feed_get(struct store *st, uint64_t stream, uint64_t sender,
		   uint64_t *source)
{
	char k[KEY_MAX];
	return db_get_u64(st, k, key_u64_u64(k, KEY_FEED, stream, sender),
			  source);
}

int store_feed_set(struct store *st, uint64_t stream, uint64_t sender,
		   uint64_t source)
{
	char k[KEY_MAX], v[8];
	if (sender == 0 || source == 0)
		return -EINVAL;
	put_le64(v, source);
	return db_put_one(st, k, key_u64_u64(k, KEY_FEED, stream, sender), v,
			  8, true);
}
