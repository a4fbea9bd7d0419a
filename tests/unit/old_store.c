/* old_store.c - makes a data folder hold what a streamfs older than the
 * system stream could have made: a user's stream /.streamfs with a topic
 * `log` of one message, "old\n".  tests/test_sysstream.py mounts such a
 * folder.  Usage: old_store DATADIR (created or opened; exit 0 if done). */
#include <stdio.h>

#include "store_fixture.h"

int main(int argc, char **argv)
{
	struct fx fx;
	struct sf_topic t;
	if (argc != 2) {
		fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
		return 2;
	}
	struct store *st = open_store(argv[1]);
	if (!st)
		return 1;
	int ok = make_topic_in(st, ".streamfs", "log", &fx) &&
		 EQ(store_topic_load(st, fx.ino, &t), 0) &&
		 EQ(append(st, &fx, &t, "old\n"), 0) &&
		 EQ(store_sync(st), 0);
	store_close(st);
	return ok && failed == 0 ? 0 : 1;
}
