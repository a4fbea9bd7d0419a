/*
 * tool.h - what the streamfs command-line tools share: the version for
 * --version, the one-line error format ("PROG: WHAT: what went wrong"),
 * exit statuses and the check of standard output at the end, strict
 * parsing of numbers given on the command line, stat with its error line,
 * path joining and sorted directory listings.
 */
#ifndef STREAMFS_TOOL_H
#define STREAMFS_TOOL_H

#include <stddef.h>
#include <stdint.h>

struct dirent;
struct stat;

/* Exit statuses: 0 success, 1 an operation failed, 2 the command line was
 * wrong (nothing was touched). */
enum { TOOL_FAIL = 1, TOOL_USAGE = 2 };

/* The program's name in messages; set once by main(). */
extern const char *tool_name;

/* The streamfs version the tools print for --version: the project version
 * from the build's config.h, or "unknown" when built without it. */
extern const char tool_version[];

/* The end of main(): "return tool_finish(STATUS);".  Flushes standard
 * output; output that could not be written (a full disk, a closed pipe) is
 * an error too, reported as "PROG: standard output: REASON", and then the
 * result is TOOL_FAIL.  Otherwise the result is STATUS. */
int tool_finish(int status);

/* Print "PROG: WHAT: MESSAGE" as one line on stderr.  WHAT is usually a
 * path; control characters in it are shown as '?' so the message stays one
 * line.  WHAT may be NULL. */
void tool_error(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "PROG: CMD: MESSAGE (see 'PROG CMD --help')" as one line on stderr
 * and return TOOL_USAGE.  CMD may be NULL for the top level. */
int tool_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report the option getopt_long() just refused (it returned '?' or ':',
 * with opterr = 0 and an optstring starting with ':') and return
 * TOOL_USAGE. */
int tool_bad_option(const char *cmd, int c, char **argv);
/* Parse the "--help"-only option list of a command: -1 to go on (optind
 * at the first operand), else the exit status to return. */
int tool_only_help(const char *cmd, const char *usage, int argc,
		   char **argv);

/* Parse S as a decimal number with nothing else around it (no sign, no
 * spaces).  Returns 0, -EINVAL when S is not such a number, or -ERANGE
 * when it does not fit in 64 bits. */
int tool_parse_u64(const char *s, uint64_t *out);
/* Consumer group names as the daemon takes them (docs/design.md,
 * "Consumer groups"): 1 to TOOL_GROUP_MAX bytes of [A-Za-z0-9._-], not
 * "." or "..".  1 if name is one. */
#define TOOL_GROUP_MAX 200
int tool_group_ok(const char *name);

/* Like tool_parse_u64() for a signed number (a leading '-' allowed). */
int tool_parse_i64(const char *s, int64_t *out);

/* stat() PATH (symlinks followed) into ST.  0, or TOOL_FAIL after the
 * line "PROG: PATH: REASON" (strerror's, e.g. "No such file or
 * directory"). */
int tool_stat(const char *path, struct stat *st);

/* "DIR/NAME" in a malloc'd string (the caller frees it); no '/' is added
 * when DIR already ends in one.  NULL when out of memory. */
char *tool_join(const char *dir, const char *name);

/* A filter for tool_list_dir(): nonzero to keep entry DE of directory DIR.
 * It may change errno. */
typedef int tool_dir_filter(const char *dir, const struct dirent *de);

/* The names of DIR's entries other than "." and ".." (and of those, only
 * the ones KEEP keeps, unless KEEP is NULL), sorted by strcmp() so output
 * does not depend on the file system's order.  *NAMES is a malloc'd array
 * of *COUNT malloc'd strings (it may be NULL when *COUNT is 0); the caller
 * frees each name and the array.  Returns 0, or -errno when DIR cannot be
 * opened or read or memory runs out; *NAMES and *COUNT then hold the names
 * read until then, sorted. */
int tool_list_dir(const char *dir, tool_dir_filter *keep, char ***names,
		  size_t *count);

#endif
