/*
 * topic_walk.h - the topics a PATH given to a tool stands for: a topic
 * itself, or each topic of a stream in name order (with recursion, the
 * topics of its substreams after its own, depth first).
 */
#ifndef STREAMFS_TOPIC_WALK_H
#define STREAMFS_TOPIC_WALK_H

/* What to do with one topic; NAMED: PATH was given on the command line
 * (not found in a stream).  Returns 0 or TOOL_FAIL. */
typedef int topic_fn(const char *path, int named, void *arg);

/* 1 if PATH is a topic, 0 if not (a blob, a file without a kind), or
 * -TOOL_FAIL after an error line. */
int topic_is(const char *path);

struct topic_walk {
	int recursive;          /* in: descend into substreams */
	int stream;             /* out: PATH was a stream */
	unsigned long skipped;  /* out: substreams not readable (EACCES) */
};

/* fn for PATH if it is a topic, or for each topic of stream PATH. 0, or
 * TOOL_FAIL after error lines (the walk goes on past them).  A substream
 * the caller may not read is skipped and counted, not an error. */
int topic_each(const char *path, struct topic_walk *w, topic_fn *fn,
	       void *arg);

#endif
