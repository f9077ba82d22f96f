// SPDX-License-Identifier: GPL-2.0
/*
 * Page-backed buffers of the migration-aware cache (see rust/dm/cachebuf.rs):
 * one buffer per cached block. Its header comes from a dedicated slab cache
 * (visible in /proc/slabinfo as iofollow_cache_entry); its bytes live in
 * order-0 pages chained through page->lru, since a block can be 8 MiB and
 * needs nothing contiguous. Everything is allocated with GFP_NOWAIT and no
 * reserves: in the IO path a block is simply not cached when memory is
 * short. Buffers are immutable once filled and reference counted, so a VM
 * read being served keeps its buffer after the cache has dropped it.
 */
#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include "glue.h"

struct iof_cache_buf {
	refcount_t ref;
	unsigned int bytes;
	struct list_head pages;		/* in byte order, through page->lru */
};

static struct kmem_cache *iof_cache_bufs;
/* Buffers alive, module-wide: what the slab cache holds for us, exactly. */
static atomic_long_t iof_cache_bufs_alive = ATOMIC_LONG_INIT(0);

#define IOF_CACHE_GFP (GFP_NOWAIT | __GFP_NOWARN | __GFP_NOMEMALLOC)

int iof_cache_bufs_init(void)
{
	/* Not merged with a look-alike cache, so slabinfo shows ours alone. */
	iof_cache_bufs = kmem_cache_create("iofollow_cache_entry",
					   sizeof(struct iof_cache_buf), 0,
					   SLAB_NO_MERGE, NULL);
	return iof_cache_bufs ? 0 : -ENOMEM;
}

void iof_cache_bufs_exit(void)
{
	kmem_cache_destroy(iof_cache_bufs);
}

static void iof_cache_buf_free(struct iof_cache_buf *b)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, &b->pages, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
	kmem_cache_free(iof_cache_bufs, b);
	atomic_long_dec(&iof_cache_bufs_alive);
}

long iof_cache_bufs_in_use(void)
{
	return atomic_long_read(&iof_cache_bufs_alive);
}

/*
 * A buffer holding @bytes bytes of services buffer @buf from byte @offset,
 * or NULL (no memory, or a range outside the buffer). Never sleeps.
 */
struct iof_cache_buf *iof_cache_buf_copy(struct iof_services *s,
					 unsigned int buf, size_t offset,
					 unsigned int bytes)
{
	const char *from = iof_services_buf_range(s, buf, offset, bytes);
	struct iof_cache_buf *b;
	unsigned int done, len;
	struct page *page;

	if (!from || !bytes)
		return NULL;
	b = kmem_cache_alloc(iof_cache_bufs, IOF_CACHE_GFP);
	if (!b)
		return NULL;
	atomic_long_inc(&iof_cache_bufs_alive);
	refcount_set(&b->ref, 1);
	b->bytes = bytes;
	INIT_LIST_HEAD(&b->pages);
	for (done = 0; done < bytes; done += len) {
		page = alloc_page(IOF_CACHE_GFP);
		if (!page) {
			iof_cache_buf_free(b);
			return NULL;
		}
		len = min_t(unsigned int, PAGE_SIZE, bytes - done);
		memcpy(page_address(page), from + done, len);
		list_add_tail(&page->lru, &b->pages);
	}
	return b;
}

void iof_cache_buf_get(struct iof_cache_buf *b)
{
	refcount_inc(&b->ref);
}

/* Any context: freeing pages and slab objects does not sleep. */
void iof_cache_buf_put(struct iof_cache_buf *b)
{
	if (refcount_dec_and_test(&b->ref))
		iof_cache_buf_free(b);
}

unsigned int iof_cache_buf_bytes(struct iof_cache_buf *b)
{
	return b->bytes;
}

/*
 * Copies the data of read @bio from the concatenation of @n buffers,
 * starting at byte @offset of the first. Fails, copying nothing, if the bio
 * reaches past their end.
 */
int iof_bio_fill_from_cache(struct bio *bio, struct iof_cache_buf **bufs,
			    unsigned int n, size_t offset)
{
	struct iof_cache_buf *b;
	struct bvec_iter iter;
	struct bio_vec bv;
	struct page *page;
	size_t total = 0, in_page, left;
	unsigned int i, done, len;

	for (i = 0; i < n; i++)
		total += bufs[i]->bytes;
	if (offset > total || bio->bi_iter.bi_size > total - offset)
		return -EINVAL;
	if (!bio->bi_iter.bi_size)
		return 0;
	for (i = 0; offset >= bufs[i]->bytes; i++)
		offset -= bufs[i]->bytes;
	b = bufs[i];
	page = list_first_entry(&b->pages, struct page, lru);
	for (in_page = offset; in_page >= PAGE_SIZE; in_page -= PAGE_SIZE)
		page = list_next_entry(page, lru);
	left = b->bytes - offset;

	bio_for_each_segment(bv, bio, iter) {
		for (done = 0; done < bv.bv_len; done += len) {
			if (!left) {
				/* The size check above keeps i below n. */
				b = bufs[++i];
				page = list_first_entry(&b->pages, struct page, lru);
				in_page = 0;
				left = b->bytes;
			} else if (in_page == PAGE_SIZE) {
				page = list_next_entry(page, lru);
				in_page = 0;
			}
			len = min3((size_t)(bv.bv_len - done), PAGE_SIZE - in_page, left);
			memcpy_to_page(bv.bv_page, bv.bv_offset + done,
				       (const char *)page_address(page) + in_page, len);
			in_page += len;
			left -= len;
		}
	}
	return 0;
}
