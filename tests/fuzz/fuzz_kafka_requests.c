/* fuzz_kafka_requests.c - libFuzzer target for the Kafka listener's
 * request decoding: the input is the bytes a client sent, cut into
 * frames by the listener's own framing (fs/kafka/frame.c), each frame's
 * header read as the listener reads it, and each body of a served key
 * and version walked by its shape (fs/kafka/shapes.c), for every API and
 * version in kafka_apis (fs/kafka/apis.c).  A header or body that does
 * not parse ends the input, as it closes a connection.  Checks that every
 * read stays inside its frame, and that a body once accepted is accepted
 * again (the walk is pure).  Build and run with tools/fuzz.sh
 * kafka_requests. */
#include <stdlib.h>

#include "kafka.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* apis.c names the handlers; none runs here (they need the daemon). */
static int no_handler(struct kreq *req, struct kbuf *resp)
{
	(void)req;
	(void)resp;
	abort();
}
#define STUB(name) \
	int name(struct kreq *req, struct kbuf *resp) \
	{ return no_handler(req, resp); }
STUB(kafka_api_versions)
STUB(kafka_metadata)
STUB(kafka_list_offsets)
STUB(kafka_produce)
STUB(kafka_fetch)
STUB(kafka_find_coordinator)
STUB(kafka_join_group)
STUB(kafka_sync_group)
STUB(kafka_heartbeat)
STUB(kafka_leave_group)
STUB(kafka_offset_commit)
STUB(kafka_offset_fetch)
STUB(kafka_init_producer_id)
STUB(kafka_create_topics)
STUB(kafka_delete_topics)
STUB(kafka_describe_configs)
STUB(kafka_list_groups)
STUB(kafka_describe_groups)

/* One frame's request: false when the connection would be closed. */
static bool one(const uint8_t *p, size_t n)
{
	struct khead h;
	if (khead_parse(p, n, &h) < 0)
		return false;
	if (h.body.p < p || h.body.end != p + n || h.body.p > h.body.end)
		abort();
	if (h.client_id.len > 0 &&
	    (h.client_id.p < p || h.client_id.p + h.client_id.len > p + n))
		abort();
	if (!khead_version_served(&h))
		return h.api_key == KAPI_API_VERSIONS;  /* answered in v0 */
	int r = krequest_check(h.api_key, h.api_version, h.body);
	if (r != krequest_check(h.api_key, h.api_version, h.body))
		abort();
	return r == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	size_t at = 0;
	for (;;) {
		size_t f = kframe_size(d + at, n - at);
		if (f == 0 || f == (size_t)-1 || f > n - at)
			return 0;
		if (f < 12)
			abort();        /* size 8 or more, plus the field */
		if (!one(d + at + 4, f - 4))
			return 0;
		at += f;
	}
}
