/* producer_id.c - InitProducerId (v0-1): a new producer id for an
 * idempotent producer, from the store's counter (never handed out twice,
 * restarts included), with epoch 0.  Transactions are not served: a
 * request with a transactional id is refused with
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED and hands out nothing. */
#include "kaccess.h"

int kafka_init_producer_id(struct kreq *req, struct kbuf *resp)
{
	struct kreader *r = &req->body;
	struct kstr txn = kr_string(r);
	kr_i32(r);                              /* transaction_timeout_ms */
	if (r->bad)
		return -1;
	int16_t err = KERR_NONE;
	int64_t pid = -1;
	if (txn.len >= 0) {
		err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
	} else {
		pthread_mutex_lock(&fs.lock);
		int rc = store_producer_id_next(fs.store, &pid);
		pthread_mutex_unlock(&fs.lock);
		if (rc < 0) {
			err = kafka_store_error(rc);
			pid = -1;
		}
	}
	kb_i32(resp, 0);                        /* throttle_time_ms */
	kb_i16(resp, err);
	kb_i64(resp, pid);
	kb_i16(resp, err ? -1 : 0);             /* producer_epoch */
	return 0;
}
