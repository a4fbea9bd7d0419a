/* kaccess.c - the topic a Kafka name names, for produce and fetch:
 * looked up with the caller's search permission (topics.c; a produce
 * makes a missing one as Metadata would, autocreate allowing), then checked
 * for produce or consume with the FUSE side's functions
 * (fs/permission.c); and the store's errors as Kafka error codes. */
#include <errno.h>
#include <string.h>

#include "kaccess.h"

int16_t kafka_store_error(int err)
{
	switch (err) {
	case 0:
		return KERR_NONE;
	case -EINVAL:
		return KERR_INVALID_RECORD;
	case -EMSGSIZE:
	case -EFBIG:
		return KERR_MESSAGE_TOO_LARGE;
	case -ENOMEM:
		return KERR_UNKNOWN_SERVER_ERROR;
	default:
		return KERR_KAFKA_STORAGE_ERROR;      /* EIO, ENOSPC, EROFS */
	}
}

int kafka_topic_find(struct caller *c, const uint8_t *name, int32_t len,
		     bool produce, struct sf_inode *in)
{
	char path[4096];
	if (len <= 0 || kname_to_path((const char *)name, (size_t)len, path,
				      sizeof(path)) < 0)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	int r = ktopic_lookup(c, path, in);
	if (r == -ENOENT && produce) {
		/* Produced to before anyone asked for it (MapR makes it). */
		r = ktopic_autocreate(c, path, in);
		if (r == -EEXIST || r == -EINVAL || r == -ENAMETOOLONG)
			r = -ENOENT;    /* a file that is no topic; a bad name */
		if (r == -EPERM)
			r = -EACCES;
	}
	if (r == -EACCES)
		return KERR_TOPIC_AUTHORIZATION_FAILED;
	if (r < 0 && r != -ENOENT)
		return kafka_store_error(r);    /* a topic not made: EIO ... */
	if (r < 0)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	r = produce ? may_produce(c, in) : may_consume(c, in);
	return r < 0 ? KERR_TOPIC_AUTHORIZATION_FAILED : KERR_NONE;
}
