/*
 * timefmt.h - arrival times as the tools show and accept them: nanoseconds
 * since the epoch (what streamfs stores) and ISO-8601 UTC text.
 */
#ifndef STREAMFS_TIMEFMT_H
#define STREAMFS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL, with room for any int
 * the fields could hold. */
#define TIMEFMT_ISO_SIZE 80

/* Write NS as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds) into BUF. */
void timefmt_iso(uint64_t ns, char buf[TIMEFMT_ISO_SIZE]);

/* Parse a time given on the command line into nanoseconds since the epoch:
 * either that number itself, or ISO-8601 "YYYY-MM-DD[THH:MM[:SS[.F]]]"
 * ('T' or a space; F up to 9 digits) followed by nothing or 'Z' (UTC) or
 * an offset "+HH:MM", "-HH:MM", "+HHMM".  Returns 0, or -EINVAL when S is
 * neither form, or -ERANGE when it is outside 1970 .. 2262 (what 64-bit
 * signed nanoseconds can hold). */
int timefmt_parse(const char *s, uint64_t *ns);

#endif
