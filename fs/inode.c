/* inode.c - the inode table: the kernel's node ids are our inode numbers;
 * a node lives while the kernel holds references to it (lookup count) or
 * it is open.  Every reply that hands the kernel an entry adds one to its
 * lookup count; forget subtracts; the last reference of an unlinked inode
 * purges it from the store.  Also here: what a node owns (its settings
 * cache), and the helpers that write inode records (put_inode keeps the
 * node's copy of kind and stream in step).  All under fs.lock. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fs.h"
#include "replica/replica.h"

static size_t slot(uint64_t ino, size_t size)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 20) & (size - 1);
}

int node_table_init(void)
{
	fs.tab_size = 1 << 16;
	fs.tab = calloc(fs.tab_size, sizeof(*fs.tab));
	if (!fs.tab)
		return -1;
	struct node *root = node_get(FUSE_ROOT_ID);
	if (!root)
		return -1;
	root->nlookup = 1;      /* the kernel's implicit reference */
	return 0;
}

static void node_destroy(struct node *n)
{
	free(n->topic);
	stream_cfg_free(n->stream);
	free(n);
}

void node_table_free(void)
{
	for (size_t i = 0; i < fs.tab_size; i++) {
		struct node *n = fs.tab[i];
		while (n) {
			struct node *next = n->hnext;
			node_destroy(n);
			n = next;
		}
	}
	free(fs.tab);
	fs.tab = NULL;
}

struct node *node_find(uint64_t ino)
{
	struct node *n = fs.tab[slot(ino, fs.tab_size)];
	while (n && n->ino != ino)
		n = n->hnext;
	return n;
}

static void grow(void)
{
	size_t size = fs.tab_size * 2;
	struct node **tab = calloc(size, sizeof(*tab));
	if (!tab)
		return;                 /* keep the longer chains */
	for (size_t i = 0; i < fs.tab_size; i++) {
		struct node *n = fs.tab[i];
		while (n) {
			struct node *next = n->hnext;
			size_t s = slot(n->ino, size);
			n->hnext = tab[s];
			tab[s] = n;
			n = next;
		}
	}
	free(fs.tab);
	fs.tab = tab;
	fs.tab_size = size;
}

struct node *node_get(uint64_t ino)
{
	struct node *n = node_find(ino);
	if (n)
		return n;
	if (fs.nnodes >= fs.tab_size)
		grow();
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = ino;
	size_t s = slot(ino, fs.tab_size);
	n->hnext = fs.tab[s];
	fs.tab[s] = n;
	fs.nnodes++;
	return n;
}

static void unhash(struct node *n)
{
	struct node **pp = &fs.tab[slot(n->ino, fs.tab_size)];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	fs.nnodes--;
}

void node_release_if_unused(struct node *n)
{
	if (n->nlookup > 0 || n->nopen > 0 || n->ino == FUSE_ROOT_ID)
		return;
	if (n->unlinked) {
		int r = store_purge_inode(fs.store, n->ino);
		if (r < 0)
			log_msg(SF_LOG_ERROR, "cannot purge inode "
				"%llu: %d (purged at the next mount)",
				(unsigned long long)n->ino, r);
	}
	unhash(n);
	node_destroy(n);
}

void node_note(struct node *n, const struct sf_inode *in)
{
	n->kind = in->kind;
	n->parent = in->parent;
	n->mtime_set = in->flags & SF_INODE_MTIME_SET;
	n->known = true;
}

void put_inode(struct store_batch *b, const struct sf_inode *in)
{
	struct node *n = node_find(in->ino);
	store_put_inode(b, in);
	if (n)
		node_note(n, in);
}

void node_forget(uint64_t ino, uint64_t count)
{
	struct node *n = node_find(ino);
	if (!n)
		return;
	if (count > n->nlookup) {
		log_msg(SF_LOG_ERROR, "forget of %llu below zero "
			"(%llu > %llu)", (unsigned long long)ino,
			(unsigned long long)count,
			(unsigned long long)n->nlookup);
		abort();
	}
	n->nlookup -= count;
	node_release_if_unused(n);
}

/* ---- memory a node owns ---- */

void stream_cfg_free(struct stream_cfg *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < STREAM_PERMS; i++)
		ace_free(cfg->ace[i]);
	free(cfg);
}

/* ---- inode records ---- */

bool is_topic(const struct sf_inode *in)
{
	return S_ISREG(in->mode) && in->kind == SF_KIND_TOPIC;
}

void touch_ctime(struct sf_inode *in)
{
	clock_gettime(CLOCK_REALTIME, &in->ctime);
}

void touch_mtime(struct sf_inode *in)
{
	clock_gettime(CLOCK_REALTIME, &in->mtime);
	in->ctime = in->mtime;
}

int inode_save(const struct sf_inode *in)
{
	struct store_batch *b = store_batch_new();
	put_inode(b, in);
	int r = store_commit(fs.store, b, false);
	store_batch_free(b);
	return r;
}

int kind_save(const struct sf_inode *in)
{
	struct store_batch *b = store_batch_new();
	int r = 0;
	put_inode(b, in);
	if (is_topic(in)) {
		/* A topic answers to its stream's expressions only. */
		store_del_xattr(b, in->ino, SF_POLICY_PREFIX "ace.read");
		store_del_xattr(b, in->ino, SF_POLICY_PREFIX "ace.write");
		/* Made a topic here: born here, now (unless it has a
		 * birth, as one replication made has). */
		r = store_put_birth_new(fs.store, b, in->ino);
	}
	if (r == 0)
		r = store_commit(fs.store, b, false);
	store_batch_free(b);
	if (r == 0 && is_topic(in))
		replica_names_changed(in->parent);      /* a topic now */
	return r;
}
