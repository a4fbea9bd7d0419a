/* buf.h - growing a realloc'd byte block by doubling: the one growth rule
 * of the daemon's output buffers (Kafka responses, replication frames,
 * the metrics files), each of which keeps its own fields and failure
 * flag around it. */
#ifndef STREAMFS_BUF_H
#define STREAMFS_BUF_H

#include <stddef.h>

/* The block p (cap bytes, NULL when cap is 0) with room for need bytes:
 * p itself when it has it, else p grown by doubling from first (or cap)
 * and *cap updated.  NULL when memory ran out, p then still valid and
 * *cap unchanged.  A NULL block is made even for need 0, so that the
 * caller's p + len is never an offset from NULL. */
void *buf_grow(void *p, size_t *cap, size_t need, size_t first);

#endif
