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
};
