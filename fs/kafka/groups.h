/* groups.h - what offsets.c asks groups.c: may this member of this
 * generation commit a group's offsets now?  Both run on the listener
 * thread only, which owns the groups (no lock). */
#ifndef STREAMFS_KAFKA_GROUPS_H
#define STREAMFS_KAFKA_GROUPS_H

#include "kafka.h"

/* KERR_NONE when an OffsetCommit of group (a valid group name) by
 * member (empty: none) of generation (-1: none) may commit: as Kafka, a
 * commit without a generation only while the group has no members, else
 * only by a member of the current generation and not while the group is
 * between a join and the leader's assignment.  Otherwise
 * UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS.  A
 * member's commit counts as a sign of life (its session goes on). */
int16_t kgroup_commit_check(const char *group, int32_t generation,
			    struct kstr member);

/* 0 if s is a group id streamfs keeps cursors for (a cursor name: 1 to
 * SF_GROUP_MAX bytes of [A-Za-z0-9._-], not "." or ".."), copied into
 * out (SF_GROUP_MAX + 1 bytes); -1 otherwise. */
int kgroup_name(struct kstr s, char *out);

/* ---- what group_list.c reads (ListGroups, DescribeGroups) ---- */
/* A group as described: its state by Kafka's name ("Empty",
 * "PreparingRebalance", "CompletingRebalance", "Stable"), protocol type
 * and chosen protocol ("" when none). */
struct kgroup_info {
	const char *id, *state, *ptype, *proto;
};
/* A member as described: the metadata of the group's chosen protocol
 * and the leader's assignment for it (len 0 when none). */
struct kmember_info {
	const char *id, *instance, *client;     /* instance may be NULL */
	const uint8_t *meta, *assign;
	int32_t mlen, alen;
};
/* Call fn for every group the listener knows (those with members). */
void kgroup_each(void (*fn)(void *arg, const struct kgroup_info *g),
		 void *arg);
/* The group id: false when the listener knows no such group.  With
 * member not NULL, member is called for each of its members. */
bool kgroup_describe(const char *id, struct kgroup_info *g,
		     void (*member)(void *arg, const struct kmember_info *m),
		     void *arg);

#endif
