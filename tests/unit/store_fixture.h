/* store_fixture.h - what the store's unit tests (test_store.c,
 * test_store_faults.c) share: the harness and the helpers that make
 * topics as fs/ does, append to them and read them back.
 *
 * Organisation, after LevelDB's log_test.cc: every test is a small named
 * function; fixture_main() gives each one a fresh data folder (mkdtemp,
 * removed afterwards).  CHECK, EQ and BYTES report a failure with its file
 * and line and carry on; fixture_main prints "N passed, M failed" alone on
 * the last line and returns 1 if anything failed.
 */
#ifndef STREAMFS_TESTS_STORE_FIXTURE_H
#define STREAMFS_TESTS_STORE_FIXTURE_H

#include "internal.h"

/* ---- the harness ---- */

extern int passed, failed;

int check_at(int ok, const char *what, const char *file, int line);
int eq_at(unsigned long long got, unsigned long long want, const char *what,
	  const char *file, int line);
int bytes_at(const void *got, const void *want, size_t n, const char *what,
	     const char *file, int line);

#define CHECK(c) check_at(!!(c), #c, __FILE__, __LINE__)
#define EQ(got, want) eq_at((unsigned long long)(got),                   \
			    (unsigned long long)(want), #got " == " #want,  \
			    __FILE__, __LINE__)
#define BYTES(got, want, n) bytes_at(got, want, n, #got " == " #want,     \
				     __FILE__, __LINE__)

struct test {
	const char *name;
	void (*fn)(const char *dir);
};

#define T(fn) { #fn, fn }
#define NTESTS(a) (sizeof(a) / sizeof((a)[0]))

/* Usage: PROG [name]: runs the tests whose name contains name, all of them
 * without one, each in a folder PROG.XXXXXX below $TMPDIR (or /tmp); the
 * exit status. */
int fixture_main(const char *prog, const struct test *tests, size_t n,
		 int argc, char **argv);

/* ---- opening, topics as fs/ makes them, appends and reads ---- */

struct store *open_reserve(const char *dir, uint64_t reserve);
struct store *open_store(const char *dir);
/* A fresh inode number, as fs/ gets one. */
uint64_t new_ino(struct store *st);
/* Make dir/name as fs/ does (ns_make): the inode record and the entry,
 * and the parent's record again with its new times and link count.  A
 * topic gets its kind at once (fs/ fixes it at the first write). */
uint64_t make_node(struct store *st, uint64_t dir, const char *name,
		   uint32_t mode, uint32_t kind);

/* A topic and the stream directory it belongs to. */
struct fx {
	uint64_t stream, ino;
};

/* The topic sname/tname (the stream made if needed); 1 if made. */
int make_topic_in(struct store *st, const char *sname, const char *tname,
		  struct fx *fx);
/* The topic s/t. */
int make_topic(struct store *st, struct fx *fx);
uint32_t count_lines(const char *s, size_t n);
/* Append s as one record of line messages. */
int append(struct store *st, const struct fx *fx, struct sf_topic *t,
	   const char *s);
int append_all(struct store *st, const struct fx *fx, struct sf_topic *t,
	       const char *const *recs, int n);
/* Bytes [off, off+len) of a topic gathered into out (NUL-terminated);
 * their count, or -errno. */
long read_into(struct store *st, uint64_t ino, const struct sf_topic *t,
	       uint64_t off, size_t len, char *out, size_t cap);
int reads_at(struct store *st, uint64_t ino, const struct sf_topic *t,
	     uint64_t off, size_t len, const char *want, const char *file,
	     int line);
int same_topic_at(const struct sf_topic *a, const struct sf_topic *b,
		  const char *file, int line);

/* The topic reads as want over [off, off+len). */
#define READS(st, ino, t, off, len, want) \
	reads_at(st, ino, t, off, len, want, __FILE__, __LINE__)
/* Every field of two topic states is the same. */
#define SAME_TOPIC(a, b) same_topic_at(a, b, __FILE__, __LINE__)

/* Reopen dir and load the topic; NULL (after a failed check) if not. */
struct store *reopen_load(const char *dir, const struct fx *fx,
			  struct sf_topic *t);

/* ---- files, time ---- */

/* The path of segment (stream, seq) below dir. */
void seg_file(char *buf, size_t cap, const char *dir, uint64_t stream,
	      uint64_t seq);
/* A file's size, -1 if it cannot be stat'ed. */
long long file_size(const char *path);
void sleep_ms(long ms);

#endif
