/* index.c - the index batch: the topic index entries of recent appends,
 * held in memory and written to LevelDB in one write per INDEX_BATCH_MAX
 * appends, and the one helper that turns an entry into LevelDB records
 * (used by appends and by recovery alike).
 *
 * The records the entries describe are already in the segments, which are
 * the log: if the daemon dies, recovery indexes them again.  While the
 * daemon runs, the entries stay here until LevelDB has taken them, and
 * reads find them here (topic.c asks index_waiting()), so a write to
 * LevelDB that fails loses nothing and hides nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct index_batch {
	leveldb_writebatch_t *wb;       /* T, W and Q records of the entries;
					 * S records are added at the write */
	unsigned n;
	struct waiting {
		uint64_t ino;           /* the topic */
		struct idx_entry e;
		struct seg_state ss;    /* its stream's state after it */
		bool new_user;          /* its W key goes with it */
		bool late;              /* and its Q key */
	} w[INDEX_BATCH_MAX];
};

void index_put(leveldb_writebatch_t *b, uint64_t ino,
	       const struct idx_entry *e, bool new_segment_user)
{
	char k[KEY_MAX], v[IDX_VAL_SIZE_META];
	idx_encode(v, e);
	leveldb_writebatch_put(b, k, key_u64_u64(k, KEY_INDEX, ino, e->off),
			       v, idx_size(e));
	if (new_segment_user)
		leveldb_writebatch_put(b, k,
			key_u64_u64_u64(k, KEY_SEGUSER, e->seg_stream,
					e->seg_seq, ino), "", 0);
}

void late_put(leveldb_writebatch_t *b, uint64_t stream, uint64_t ino,
	      const struct idx_entry *e)
{
	char k[KEY_MAX], v[4];
	put_le32(v, e->len);
	leveldb_writebatch_put(b, k, key_u64x4(k, KEY_LATE, stream,
					       (uint64_t)e->ns, ino, e->off),
			       v, sizeof(v));
}

static struct index_batch *batch_of(struct store *st)
{
	if (!st->ib) {
		st->ib = calloc(1, sizeof(*st->ib));
		if (st->ib)
			st->ib->wb = leveldb_writebatch_create();
	}
	return st->ib;
}

/* The segment state of each stream in the batch, once: the newest one,
 * written with the entries it accounts for.  (One put per stream instead
 * of one per entry: every put is a memtable insert.) */
#define STATE_STREAMS 32
static void put_states(struct index_batch *ib)
{
	uint64_t seen[STATE_STREAMS];
	unsigned nseen = 0;
	for (unsigned i = ib->n; i-- > 0;) {
		const struct waiting *w = &ib->w[i];
		unsigned j = 0;
		while (j < nseen && seen[j] != w->e.seg_stream)
			j++;
		if (j < nseen)
			continue;
		if (nseen < STATE_STREAMS)
			seen[nseen++] = w->e.seg_stream;
		segstate_put(ib->wb, w->e.seg_stream, &w->ss);
	}
}

/* Write the batch (even an empty one, with force). */
static int flush(struct store *st, bool sync, bool force)
{
	struct index_batch *ib = st->ib;
	if ((!ib || ib->n == 0) && !sync && !force)
		return 0;
	if (!(ib = batch_of(st)))
		return -ENOMEM;
	put_states(ib);
	st->writing_index = true;
	int r = db_write(st, ib->wb, sync);
	st->writing_index = false;
	if (r < 0)
		return r;       /* the entries wait on, and reads see them */
	leveldb_writebatch_clear(ib->wb);
	ib->n = 0;
	return 0;
}

int index_flush(struct store *st, bool sync)
{
	return flush(st, sync, false);
}

int index_room(struct store *st)
{
	struct index_batch *ib = batch_of(st);
	if (!ib)
		return -ENOMEM;
	return ib->n < INDEX_BATCH_MAX ? 0 : index_flush(st, false);
}

static void put_waiting(leveldb_writebatch_t *wb, const struct waiting *w)
{
	index_put(wb, w->ino, &w->e, w->new_user);
	if (w->late)
		late_put(wb, w->e.seg_stream, w->ino, &w->e);
}

/* Take the newest entry out again (its synced write failed). */
static void drop_newest(struct index_batch *ib)
{
	ib->n--;
	leveldb_writebatch_clear(ib->wb);
	for (unsigned i = 0; i < ib->n; i++)
		put_waiting(ib->wb, &ib->w[i]);
}

int index_add(struct store *st, uint64_t ino, const struct idx_entry *e,
	      const struct seg_state *ss, bool new_segment_user, bool late,
	      bool sync)
{
	struct index_batch *ib = st->ib;
	struct waiting *w = &ib->w[ib->n++];
	*w = (struct waiting){ .ino = ino, .e = *e, .ss = *ss,
			       .new_user = new_segment_user, .late = late };
	put_waiting(ib->wb, w);
	/* A durable append's record is synced already (seg_append): its
	 * entry may wait with the others, as recovery indexes a synced record
	 * again, unless LevelDB holds a write recovery could not rebuild (a
	 * new topic, a roll), which must be synced before the append returns.
	 * Otherwise it is written by the next index_room() when full. */
	if (!sync || !(st->meta_unsynced || st->read_only || st->db_bad))
		return 0;
	int r = index_flush(st, true);
	if (r < 0)
		drop_newest(ib);
	return r;
}

int index_flush_with(struct store *st, const char *k, size_t klen,
		     const char *v, size_t vlen, bool sync)
{
	struct index_batch *ib = batch_of(st);
	if (!ib)
		return -ENOMEM;
	leveldb_writebatch_put(ib->wb, k, klen, v, vlen);
	int r = flush(st, sync, true);
	if (r < 0) {
		/* The entries wait on; the extra put goes. */
		leveldb_writebatch_clear(ib->wb);
		for (unsigned i = 0; i < ib->n; i++)
			put_waiting(ib->wb, &ib->w[i]);
	}
	return r;
}

const struct idx_entry *index_waiting(struct store *st, uint64_t ino,
				      unsigned *pos)
{
	struct index_batch *ib = st->ib;
	for (unsigned i = *pos; ib && i < ib->n; i++) {
		if (ib->w[i].ino == ino) {
			*pos = i + 1;
			return &ib->w[i].e;
		}
	}
	*pos = ib ? ib->n : 0;
	return NULL;
}

void index_batch_free(struct store *st)
{
	if (!st->ib)
		return;
	leveldb_writebatch_destroy(st->ib->wb);
	free(st->ib);
	st->ib = NULL;
}

unsigned index_waiting_count(const struct store *st)
{
	return st->ib ? st->ib->n : 0;
}
