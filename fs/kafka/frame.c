/* frame.c - cutting requests out of a connection's bytes and reading
 * their headers: the frame's size field and its bounds, then the request
 * header (key, version, correlation id, client id, and the tagged fields
 * of header v2).  Pure functions over bytes, so the listener and the
 * request fuzz target (tests/fuzz/fuzz_kafka_requests.c) run the same
 * code. */
#include "kafka.h"

size_t kframe_size(const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	int32_t v = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			      (uint32_t)p[2] << 8 | p[3]);
	if (v < 8 || (uint32_t)v > KAFKA_FRAME_MAX)
		return (size_t)-1;
	return (size_t)v + 4;
}

int khead_parse(const uint8_t *p, size_t n, struct khead *h)
{
	struct kreader r;
	kr_init(&r, p, n);
	h->api_key = kr_i16(&r);
	h->api_version = kr_i16(&r);
	h->correlation_id = kr_i32(&r);
	h->client_id = kr_string(&r);
	if (r.bad || h->api_key < 0 || h->api_key >= KAPI_MAX ||
	    !kafka_apis[h->api_key].handler)
		return -1;
	h->api = &kafka_apis[h->api_key];
	h->flexible = h->api->flexible_from >= 0 &&
		      h->api_version >= h->api->flexible_from;
	if (h->flexible)
		kr_tags(&r);
	if (r.bad)
		return -1;
	h->body = r;
	return 0;
}

bool khead_version_served(const struct khead *h)
{
	return h->api_version >= h->api->min_version &&
	       h->api_version <= h->api->max_version;
}
