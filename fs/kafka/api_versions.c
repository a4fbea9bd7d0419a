/* api_versions.c - ApiVersions (v0-3): the table of served APIs and
 * their versions.  v3's request body (flexible) names the client's
 * software, which is read and not used; its response is flexible in the
 * body but, as every ApiVersions response, has header v0 (listener.c). */
#include "kafka.h"

int kafka_api_versions(struct kreq *req, struct kbuf *resp)
{
	bool flex = req->api_version >= 3;
	if (flex) {
		kr_cstring(&req->body);         /* client_software_name */
		kr_cstring(&req->body);         /* client_software_version */
		kr_tags(&req->body);
		if (req->body.bad)
			return -1;
	}
	int n = 0;
	for (int k = 0; k < KAPI_MAX; k++)
		n += kafka_apis[k].handler != NULL;
	kb_i16(resp, KERR_NONE);
	if (flex)
		kb_carray(resp, n);
	else
		kb_array(resp, n);
	for (int k = 0; k < KAPI_MAX; k++) {
		if (!kafka_apis[k].handler)
			continue;
		kb_i16(resp, (int16_t)k);
		kb_i16(resp, kafka_apis[k].min_version);
		kb_i16(resp, kafka_apis[k].max_version);
		if (flex)
			kb_tags(resp);
	}
	if (req->api_version >= 1)
		kb_i32(resp, 0);                /* throttle_time_ms */
	if (flex)
		kb_tags(resp);
	return 0;
}
