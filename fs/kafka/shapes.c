/* shapes.c - the shape of every request body the listener serves: for
 * each API key and version in kafka_apis, a walk over every field of the
 * body with the bounded readers of codec.c, saying only whether the body
 * parses.  The listener runs it before the handler, so a handler reads a
 * body known to be whole and changes nothing for one that is not (the
 * connection is closed, as Kafka does).  Pure: also the body decoding
 * that tests/fuzz/fuzz_kafka_requests.c fuzzes.
 *
 * Bytes after the last field are ignored, as Kafka's brokers do. */
#include "kafka.h"

/* An array of n elements each read by fn: stops at the first short one. */
static void each(struct kreader *r, int32_t n,
		 void (*fn)(struct kreader *r, int16_t v), int16_t v)
{
	for (int32_t i = 0; i < n && !r->bad; i++)
		fn(r, v);
}

static void api_versions(struct kreader *r, int16_t v)
{
	if (v >= 3) {
		kr_cstring(r);                  /* client_software_name */
		kr_cstring(r);                  /* client_software_version */
		kr_tags(r);
	}
}

static void a_string(struct kreader *r, int16_t v)
{
	(void)v;
	kr_string(r);
}

static void metadata(struct kreader *r, int16_t v)
{
	each(r, kr_array(r), a_string, v);
	if (v >= 4)
		kr_i8(r);                       /* allow_auto_topic_creation */
	if (v >= 8) {
		kr_i8(r);       /* include_cluster_authorized_operations */
		kr_i8(r);       /* include_topic_authorized_operations */
	}
}

static void produce_partition(struct kreader *r, int16_t v)
{
	(void)v;
	kr_i32(r);                              /* index */
	kr_bytes(r);                            /* records */
}

static void produce_topic(struct kreader *r, int16_t v)
{
	kr_string(r);
	each(r, kr_array(r), produce_partition, v);
}

static void produce(struct kreader *r, int16_t v)
{
	if (v >= 3)
		kr_string(r);                   /* transactional_id */
	kr_i16(r);                              /* acks */
	kr_i32(r);                              /* timeout_ms */
	each(r, kr_array(r), produce_topic, v);
}

static void fetch_partition(struct kreader *r, int16_t v)
{
	kr_i32(r);                              /* partition */
	if (v >= 9)
		kr_i32(r);                      /* current_leader_epoch */
	kr_i64(r);                              /* fetch_offset */
	if (v >= 5)
		kr_i64(r);                      /* log_start_offset */
	kr_i32(r);                              /* partition_max_bytes */
}

static void fetch_topic(struct kreader *r, int16_t v)
{
	kr_string(r);
	each(r, kr_array(r), fetch_partition, v);
}

static void an_i32(struct kreader *r, int16_t v)
{
	(void)v;
	kr_i32(r);
}

static void forgotten_topic(struct kreader *r, int16_t v)
{
	kr_string(r);
	each(r, kr_array(r), an_i32, v);
}

static void fetch(struct kreader *r, int16_t v)
{
	kr_i32(r);                              /* replica_id */
	kr_i32(r);                              /* max_wait_ms */
	kr_i32(r);                              /* min_bytes */
	kr_i32(r);                              /* max_bytes */
	kr_i8(r);                               /* isolation_level */
	if (v >= 7) {
		kr_i32(r);                      /* session_id */
		kr_i32(r);                      /* session_epoch */
	}
	each(r, kr_array(r), fetch_topic, v);
	if (v >= 7)
		each(r, kr_array(r), forgotten_topic, v);
	if (v >= 11)
		kr_string(r);                   /* rack_id */
}

static void list_offsets_partition(struct kreader *r, int16_t v)
{
	kr_i32(r);                              /* partition */
	if (v >= 4)
		kr_i32(r);                      /* current_leader_epoch */
	kr_i64(r);                              /* timestamp */
}

static void list_offsets_topic(struct kreader *r, int16_t v)
{
	kr_string(r);
	each(r, kr_array(r), list_offsets_partition, v);
}

static void list_offsets(struct kreader *r, int16_t v)
{
	kr_i32(r);                              /* replica_id */
	if (v >= 2)
		kr_i8(r);                       /* isolation_level */
	each(r, kr_array(r), list_offsets_topic, v);
}

/* group_id, generation_id, member_id, and from v3 group_instance_id:
 * the head of Heartbeat and SyncGroup. */
static void member_head(struct kreader *r, int16_t v, int16_t instance_from)
{
	kr_string(r);
	kr_i32(r);
	kr_string(r);
	if (v >= instance_from)
		kr_string(r);
}

static void commit_partition(struct kreader *r, int16_t v)
{
	kr_i32(r);                              /* partition */
	kr_i64(r);                              /* committed_offset */
	if (v >= 6)
		kr_i32(r);                      /* committed_leader_epoch */
	kr_string(r);                           /* committed_metadata */
}

static void commit_topic(struct kreader *r, int16_t v)
{
	kr_string(r);
	each(r, kr_array(r), commit_partition, v);
}

static void offset_commit(struct kreader *r, int16_t v)
{
	member_head(r, v, 7);
	if (v <= 4)
		kr_i64(r);                      /* retention_time_ms */
	each(r, kr_array(r), commit_topic, v);
}

static void offset_fetch(struct kreader *r, int16_t v)
{
	kr_string(r);                           /* group_id */
	each(r, kr_array(r), forgotten_topic, v);  /* name, [partition] */
}

static void find_coordinator(struct kreader *r, int16_t v)
{
	kr_string(r);                           /* key */
	if (v >= 1)
		kr_i8(r);                       /* key_type */
}

static void name_and_bytes(struct kreader *r, int16_t v)
{
	(void)v;
	kr_string(r);
	kr_bytes(r);
}

static void join_group(struct kreader *r, int16_t v)
{
	kr_string(r);                           /* group_id */
	kr_i32(r);                              /* session_timeout_ms */
	if (v >= 1)
		kr_i32(r);                      /* rebalance_timeout_ms */
	kr_string(r);                           /* member_id */
	if (v >= 5)
		kr_string(r);                   /* group_instance_id */
	kr_string(r);                           /* protocol_type */
	each(r, kr_array(r), name_and_bytes, v);  /* protocols */
}

static void sync_group(struct kreader *r, int16_t v)
{
	member_head(r, v, 3);
	each(r, kr_array(r), name_and_bytes, v);  /* assignments */
}

static void heartbeat(struct kreader *r, int16_t v)
{
	member_head(r, v, 3);
}

static void leave_group(struct kreader *r, int16_t v)
{
	(void)v;
	kr_string(r);                           /* group_id */
	kr_string(r);                           /* member_id */
}

static void assignment(struct kreader *r, int16_t v)
{
	kr_i32(r);                              /* partition_index */
	each(r, kr_array(r), an_i32, v);        /* broker_ids */
}

static void two_strings(struct kreader *r, int16_t v)
{
	(void)v;
	kr_string(r);
	kr_string(r);
}

static void creatable_topic(struct kreader *r, int16_t v)
{
	kr_string(r);                           /* name */
	kr_i32(r);                              /* num_partitions */
	kr_i16(r);                              /* replication_factor */
	each(r, kr_array(r), assignment, v);
	each(r, kr_array(r), two_strings, v);   /* configs: name, value */
}

static void create_topics(struct kreader *r, int16_t v)
{
	each(r, kr_array(r), creatable_topic, v);
	kr_i32(r);                              /* timeout_ms */
	if (v >= 1)
		kr_i8(r);                       /* validate_only */
}

static void delete_topics(struct kreader *r, int16_t v)
{
	each(r, kr_array(r), a_string, v);      /* topic_names */
	kr_i32(r);                              /* timeout_ms */
}

static void config_resource(struct kreader *r, int16_t v)
{
	kr_i8(r);                               /* resource_type */
	kr_string(r);                           /* resource_name */
	each(r, kr_array(r), a_string, v);      /* configuration_keys */
}

static void describe_configs(struct kreader *r, int16_t v)
{
	each(r, kr_array(r), config_resource, v);
	if (v >= 1)
		kr_i8(r);                       /* include_synonyms */
	if (v >= 3)
		kr_i8(r);                       /* include_documentation */
}

static void list_groups(struct kreader *r, int16_t v)
{
	(void)r;
	(void)v;
}

static void describe_groups(struct kreader *r, int16_t v)
{
	each(r, kr_array(r), a_string, v);      /* groups */
	if (v >= 3)
		kr_i8(r);       /* include_authorized_operations */
}

static void init_producer_id(struct kreader *r, int16_t v)
{
	(void)v;
	kr_string(r);                           /* transactional_id */
	kr_i32(r);                              /* transaction_timeout_ms */
}

static void (*const shapes[KAPI_MAX])(struct kreader *r, int16_t v) = {
	[KAPI_API_VERSIONS] = api_versions,
	[KAPI_METADATA] = metadata,
	[KAPI_PRODUCE] = produce,
	[KAPI_FETCH] = fetch,
	[KAPI_LIST_OFFSETS] = list_offsets,
	[KAPI_OFFSET_COMMIT] = offset_commit,
	[KAPI_OFFSET_FETCH] = offset_fetch,
	[KAPI_FIND_COORDINATOR] = find_coordinator,
	[KAPI_JOIN_GROUP] = join_group,
	[KAPI_SYNC_GROUP] = sync_group,
	[KAPI_HEARTBEAT] = heartbeat,
	[KAPI_LEAVE_GROUP] = leave_group,
	[KAPI_CREATE_TOPICS] = create_topics,
	[KAPI_DELETE_TOPICS] = delete_topics,
	[KAPI_DESCRIBE_CONFIGS] = describe_configs,
	[KAPI_LIST_GROUPS] = list_groups,
	[KAPI_DESCRIBE_GROUPS] = describe_groups,
	[KAPI_INIT_PRODUCER_ID] = init_producer_id,
};

int krequest_check(int16_t key, int16_t version, struct kreader body)
{
	if (key < 0 || key >= KAPI_MAX || !shapes[key])
		return -1;
	shapes[key](&body, version);
	return body.bad ? -1 : 0;
}
