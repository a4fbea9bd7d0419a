/* kaccess.h - what produce.c and fetch.c share: the topic a Kafka name
 * names, checked for produce or consume, and the store's errors as Kafka
 * error codes.  Everything
 * here is called with fs.lock held (fs.lock guards the nodes and the
 * store it reads). */
#ifndef STREAMFS_KAFKA_KACCESS_H
#define STREAMFS_KAFKA_KACCESS_H

#include "fs.h"
#include "kafka.h"

/* The topic Kafka name `name` (len bytes) names, into *in, checked for
 * the caller; for produce, a missing topic is made when its stream's
 * autocreate policy allows (ktopic_autocreate): a Kafka error code
 * (KERR_NONE; UNKNOWN_TOPIC_OR_PARTITION
 * for a name the mapping does not make, a missing path or one that is
 * not a topic; TOPIC_AUTHORIZATION_FAILED when a directory on the way
 * may not be searched, or the topic may not be produced to (produce) or
 * consumed from (!produce)). */
int kafka_topic_find(struct caller *c, const uint8_t *name, int32_t len,
		     bool produce, struct sf_inode *in);

/* A store error (-errno) as a Kafka error code. */
int16_t kafka_store_error(int err);

#endif
