/* check.h - the checks of the unit tests that need no fixture.  CHECK(cond)
 * counts one check and, when it fails, prints the test file, the line and
 * the condition; check_at() does the same for a line its caller names (a
 * helper checking on behalf of its caller); check_summary() prints
 * "N passed, N failed" and is main's exit status.  Each test program
 * includes it once: the counts are that program's. */
#ifndef STREAMFS_UNIT_CHECK_H
#define STREAMFS_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond) check_at(!!(cond), #cond, __LINE__)

static inline int check_at(int ok, const char *what, int line)
{
	const char *file = strrchr(__BASE_FILE__, '/');
	if (ok) {
		passed++;
	} else {
		failed++;
		fprintf(stderr, "%s:%d: check failed: %s\n",
			file ? file + 1 : __BASE_FILE__, line, what);
	}
	return ok;
}

static inline int check_summary(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
