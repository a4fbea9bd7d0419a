/*
 * follow.h - what streamctl tail and consume share: the topics their PATH
 * arguments name (a stream stands for each of its topics), reading them
 * to the end or, with -f, following them with poll() on their descriptors,
 * and the streams with inotify for topics made later, printing every
 * message through a format (msgfmt.h).
 */
#ifndef STREAMFS_FOLLOW_H
#define STREAMFS_FOLLOW_H

#include <stdint.h>
#include <sys/types.h>

#include "msgfmt.h"
#include "msgread.h"

struct follow_topic {
	char *path;		/* as given, or STREAM/NAME */
	struct msgread rd;
	struct topicinfo info;	/* as it was when opened */
	uint64_t limit;		/* not following: its size when opened */
	uint64_t flushed;	/* rd.pos when output was last flushed */
	int created;		/* found in a stream after the start */
	int failed;		/* an error was reported: no longer read */
	int more;		/* its last turn stopped before the end */
	ino_t ino;
};

struct follow_stream;

struct follow {
	/* Set by the caller: */
	const char *cmd;	/* "tail", "consume": for messages */
	int follow;		/* -f */
	uint64_t count;		/* stop after this many messages; 0: all */
	const struct msgfmt *fmt;
	/* Where topic T starts (its reader is open; T->created says it was
	 * made after the start): 0 and *POS, or TOOL_FAIL after an error
	 * line. */
	int (*start)(struct follow *f, struct follow_topic *t, uint64_t *pos);
	/* Output up to T->rd.pos has been written: 0, or TOOL_FAIL after an
	 * error line (T is then no longer read).  May be NULL. */
	int (*flushed)(struct follow *f, struct follow_topic *t);
	void *ctx;
	/* The run: */
	struct follow_topic **topics;
	size_t ntopics;
	struct follow_stream **streams;
	size_t nstreams;
	struct msgbuf buf;
	struct outbuf out;
	int inotify;		/* -1 until a stream is watched */
	uint64_t printed;
	int status;		/* 0, or TOOL_FAIL once anything failed */
	int stop;		/* -c reached, or output failed */
	int out_failed;		/* output failed (reported) */
};

/* Read (and with f->follow, follow) every topic PATHS name; the exit
 * status. */
int follow_run(struct follow *f, char **paths, int npaths);
/* What tail and consume do once their options are parsed: check the
 * format options and the paths (usage errors, named after f->cmd), make
 * f->fmt, follow_run, and free the format; the exit status. */
int follow_main(struct follow *f, const char *format, int json, char **paths,
		int npaths);

#endif
