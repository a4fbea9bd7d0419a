/* json.h - the JSON text the daemon writes by hand (json.c); it needs
 * nothing of the daemon, so the metrics' renderer and its unit test use it
 * as well. */
#ifndef STREAMFS_JSON_H
#define STREAMFS_JSON_H

#include <stddef.h>
#include <time.h>

/* s as a JSON string, quoted, into buf (cut short, NUL-terminated, if it
 * does not fit); returns the length the whole of it needs. */
size_t json_str(char *buf, size_t cap, const char *s);
/* ts as a JSON string of RFC 3339 UTC time with milliseconds
 * ("2024-05-01T12:00:00.123Z"); returns its length, as json_str. */
size_t json_time(char *buf, size_t cap, const struct timespec *ts);

#endif
