/* apis.c - the table of the APIs the listener serves: each key's versions,
 * the first version whose request header is flexible, and its handler.
 * ApiVersions answers from it; the listener and the request shapes
 * (shapes.c) look requests up in it.  Read-only, so any thread may. */
#include "kafka.h"

const struct kapi kafka_apis[KAPI_MAX] = {
	[KAPI_API_VERSIONS] = { 0, 3, 3, kafka_api_versions },
	[KAPI_METADATA] = { 0, 8, 9, kafka_metadata },
	[KAPI_LIST_OFFSETS] = { 1, 5, 6, kafka_list_offsets },
	[KAPI_PRODUCE] = { 0, 8, 9, kafka_produce },
	[KAPI_FETCH] = { 4, 11, 12, kafka_fetch },
	[KAPI_FIND_COORDINATOR] = { 0, 2, 3, kafka_find_coordinator },
	[KAPI_JOIN_GROUP] = { 0, 5, 6, kafka_join_group },
	[KAPI_SYNC_GROUP] = { 0, 3, 4, kafka_sync_group },
	[KAPI_HEARTBEAT] = { 0, 3, 4, kafka_heartbeat },
	[KAPI_LEAVE_GROUP] = { 0, 2, 4, kafka_leave_group },
	[KAPI_OFFSET_COMMIT] = { 2, 7, 8, kafka_offset_commit },
	[KAPI_OFFSET_FETCH] = { 1, 5, 6, kafka_offset_fetch },
	[KAPI_INIT_PRODUCER_ID] = { 0, 1, 2, kafka_init_producer_id },
	/* the admin APIs */
	[KAPI_CREATE_TOPICS] = { 0, 4, 5, kafka_create_topics },
	[KAPI_DELETE_TOPICS] = { 0, 3, 4, kafka_delete_topics },
	[KAPI_DESCRIBE_CONFIGS] = { 0, 3, 4, kafka_describe_configs },
	[KAPI_LIST_GROUPS] = { 0, 2, 3, kafka_list_groups },
	[KAPI_DESCRIBE_GROUPS] = { 0, 4, 5, kafka_describe_groups },
};
