/* replica.c - the store side of replication: this data folder's replica
 * id, each topic's home, reading records whole for a link to send,
 * storing records another replica sent with their own offsets, and the
 * links kept in LevelDB. */
#include "internal.h"

#include <errno.h>

int store_replica_id(struct store *st, uint64_t *id)
{
	(void)st; (void)id;
	return -ENOSYS;
}

int store_topic_home(struct store *st, uint64_t ino, uint64_t *home)
{
	(void)st; (void)ino; (void)home;
	return -ENOSYS;
}

int store_topic_set_home(struct store *st, uint64_t ino, uint64_t home)
{
	(void)st; (void)ino; (void)home;
	return -ENOSYS;
}

int store_topic_raw_read(struct store *st, uint64_t ino,
			 const struct sf_topic *t, uint64_t off,
			 size_t max_bytes, struct sf_rread *out)
{
	(void)st; (void)ino; (void)t; (void)off; (void)max_bytes; (void)out;
	return -ENOSYS;
}

void store_rread_free(struct sf_rread *r)
{
	(void)r;
}

int store_topic_replicate(struct store *st, uint64_t ino, uint64_t stream,
			  struct sf_topic *t, const struct sf_rrecord *r,
			  bool sync)
{
	(void)st; (void)ino; (void)stream; (void)t; (void)r; (void)sync;
	return -ENOSYS;
}

int store_link_add(struct store *st, struct sf_link *l)
{
	(void)st; (void)l;
	return -ENOSYS;
}

int store_link_del(struct store *st, uint64_t id)
{
	(void)st; (void)id;
	return -ENOSYS;
}

int store_link_set_flags(struct store *st, uint64_t id, uint32_t flags)
{
	(void)st; (void)id; (void)flags;
	return -ENOSYS;
}

int store_link_list(struct store *st, struct sf_link *out, size_t max)
{
	(void)st; (void)out; (void)max;
	return -ENOSYS;
}
