/* set_home.c - gives a topic of an unmounted data folder a home at
 * another replica, as replication does for the topics it makes, so that
 * tests/test_homes.py can check what the mount refuses of such a topic.
 * Usage: set_home DATADIR STREAM TOPIC HEXID (exit 0 if done). */
#include <stdio.h>
#include <stdlib.h>

#include "store_fixture.h"

int main(int argc, char **argv)
{
	uint64_t stream, ino;
	if (argc != 5) {
		fprintf(stderr, "usage: %s DATADIR STREAM TOPIC HEXID\n",
			argv[0]);
		return 2;
	}
	struct store *st = open_store(argv[1]);
	if (!st)
		return 1;
	int ok = EQ(store_lookup(st, 1, argv[2], &stream), 0) &&
		 EQ(store_lookup(st, stream, argv[3], &ino), 0) &&
		 EQ(store_topic_set_home(st, ino,
					 strtoull(argv[4], NULL, 16)), 0);
	store_close(st);
	return ok && failed == 0 ? 0 : 1;
}
