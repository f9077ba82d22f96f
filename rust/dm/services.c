// SPDX-License-Identifier: GPL-2.0
/*
 * Per-target services of the iofollow dm abstraction (see glue.h and
 * rust/dm/services.rs): one WQ_MEM_RECLAIM worker, buffers the layer owns
 * and bounds, asynchronous dm-io from a mempool of requests (GFP_NOIO), and
 * the count of IOs in flight that suspend and dtr wait for. Every IO ends in
 * exactly one call of the owner's io_fn, also when it cannot start.
 */
#include <linux/blkdev.h>
#include <linux/dm-io.h>
#include <linux/mempool.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include "glue.h"

/* One asynchronous dm-io request in flight; from a mempool (GFP_NOIO). */
struct iof_job {
	struct iof_services *s;
	struct bio *bio;
	u64 tag;
	unsigned int buf;	/* the buffer lent to the IO, or IOF_NO_BUF */
};

struct iof_services {
	struct workqueue_struct *wq;
	struct work_struct work;
	struct delayed_work later;	/* a kick at a set time (kick_after) */
	spinlock_t lock;	/* orders kicks against shutdown */
	bool stopping;
	void *owner;
	iof_work_fn work_fn;
	iof_io_fn io_fn;
	atomic_t in_flight;
	struct dm_io_client *io;
	mempool_t jobs;
	unsigned int nr_bufs;
	size_t buf_bytes;
	void **bufs;
	struct shrinker *shrinker;	/* NULL unless the owner has reclaimable memory */
	iof_count_fn count_fn;
	iof_scan_fn scan_fn;
};

static void iof_work(struct work_struct *work)
{
	struct iof_services *s = container_of(work, struct iof_services, work);

	s->work_fn(s->owner);
}

static void iof_work_later(struct work_struct *work)
{
	struct iof_services *s = container_of(to_delayed_work(work),
					      struct iof_services, later);

	iof_services_kick(s);
}

struct iof_services *iof_services_create(struct dm_target *ti,
					 unsigned int nr_bufs, size_t buf_bytes,
					 iof_work_fn work_fn, iof_io_fn io_fn)
{
	struct iof_services *s;
	unsigned int i;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return ERR_PTR(-ENOMEM);
	spin_lock_init(&s->lock);
	INIT_WORK(&s->work, iof_work);
	INIT_DELAYED_WORK(&s->later, iof_work_later);
	atomic_set(&s->in_flight, 0);
	s->work_fn = work_fn;
	s->io_fn = io_fn;
	s->wq = alloc_workqueue("kiofollowd/%s", WQ_MEM_RECLAIM, 0,
				dm_device_name(dm_table_get_md(ti->table)));
	if (!s->wq)
		goto bad;
	s->io = dm_io_client_create();
	if (IS_ERR(s->io)) {
		s->io = NULL;
		goto bad;
	}
	if (mempool_init_kmalloc_pool(&s->jobs, nr_bufs + 16, sizeof(struct iof_job)))
		goto bad;
	s->bufs = kcalloc(nr_bufs, sizeof(void *), GFP_KERNEL);
	if (!s->bufs)
		goto bad;
	s->nr_bufs = nr_bufs;
	s->buf_bytes = buf_bytes;
	for (i = 0; i < nr_bufs; i++) {
		s->bufs[i] = vmalloc(buf_bytes);
		if (!s->bufs[i])
			goto bad;
	}
	return s;
bad:
	iof_services_destroy(s);
	return ERR_PTR(-ENOMEM);
}

void iof_services_bind(struct iof_services *s, void *owner)
{
	s->owner = owner;
}

void iof_services_kick(struct iof_services *s)
{
	unsigned long flags;

	spin_lock_irqsave(&s->lock, flags);
	if (!s->stopping)
		queue_work(s->wq, &s->work);
	spin_unlock_irqrestore(&s->lock, flags);
}

/*
 * Queues the worker in about @ns (at least one jiffy, at most when an earlier
 * kick_after is due: a pending one is not pushed back).
 */
void iof_services_kick_after(struct iof_services *s, u64 ns)
{
	unsigned long flags;

	spin_lock_irqsave(&s->lock, flags);
	if (!s->stopping)
		queue_delayed_work(s->wq, &s->later,
				   max_t(unsigned long, 1, nsecs_to_jiffies(ns)));
	spin_unlock_irqrestore(&s->lock, flags);
}

static unsigned long iof_shrink_count(struct shrinker *shrinker,
				      struct shrink_control *sc)
{
	struct iof_services *s = shrinker->private_data;

	return s->count_fn(s->owner) ?: SHRINK_EMPTY;
}

static unsigned long iof_shrink_scan(struct shrinker *shrinker,
				     struct shrink_control *sc)
{
	struct iof_services *s = shrinker->private_data;

	return s->scan_fn(s->owner, sc->nr_to_scan) ?: SHRINK_STOP;
}

/*
 * Lets reclaim shrink the owner's memory: @count_fn says how many objects it
 * could free, @scan_fn frees up to nr of them. Both are called from reclaim,
 * in any context that reclaims, until iof_services_shutdown().
 */
int iof_services_add_shrinker(struct iof_services *s, struct dm_target *ti,
			      iof_count_fn count_fn, iof_scan_fn scan_fn)
{
	s->shrinker = shrinker_alloc(0, "iofollow-%s",
				     dm_device_name(dm_table_get_md(ti->table)));
	if (!s->shrinker)
		return -ENOMEM;
	s->count_fn = count_fn;
	s->scan_fn = scan_fn;
	s->shrinker->count_objects = iof_shrink_count;
	s->shrinker->scan_objects = iof_shrink_scan;
	s->shrinker->seeks = DEFAULT_SEEKS;
	s->shrinker->private_data = s;
	shrinker_register(s->shrinker);
	return 0;
}

/* No work runs or is queued after this, and no shrinker call; IO may still be in flight. */
void iof_services_shutdown(struct iof_services *s)
{
	unsigned long flags;

	if (s->shrinker) {
		/* Waits for a scan in progress. */
		shrinker_free(s->shrinker);
		s->shrinker = NULL;
	}

	spin_lock_irqsave(&s->lock, flags);
	s->stopping = true;
	spin_unlock_irqrestore(&s->lock, flags);
	if (s->wq) {
		/* Its kick sees stopping and queues nothing. */
		cancel_delayed_work_sync(&s->later);
		destroy_workqueue(s->wq);
		s->wq = NULL;
	}
}

void iof_services_destroy(struct iof_services *s)
{
	unsigned int i;

	iof_services_shutdown(s);
	WARN_ON(atomic_read(&s->in_flight));
	for (i = 0; i < s->nr_bufs; i++)
		vfree(s->bufs[i]);
	kfree(s->bufs);
	mempool_exit(&s->jobs);
	if (s->io)
		dm_io_client_destroy(s->io);
	kfree(s);
}

void iof_io_get(struct iof_services *s)
{
	atomic_inc(&s->in_flight);
}

void iof_io_put(struct iof_services *s)
{
	/* The last access to *s: the waiter may free it once it sees zero. */
	if (atomic_dec_and_test(&s->in_flight))
		wake_up_var(&s->in_flight);
}

void iof_io_wait_idle(struct iof_services *s)
{
	wait_var_event(&s->in_flight, !atomic_read(&s->in_flight));
}

void iof_cond_resched(void)
{
	cond_resched();
}

/* @bytes of buffer @buf from byte @offset, or NULL if outside the buffer. */
const void *iof_services_buf_range(struct iof_services *s, unsigned int buf,
				   size_t offset, size_t bytes)
{
	if (buf >= s->nr_bufs || offset > s->buf_bytes ||
	    bytes > s->buf_bytes - offset)
		return NULL;
	return (const char *)s->bufs[buf] + offset;
}

/* Copies buffer @buf from byte @offset into the data pages of @bio. */
int iof_bio_fill_from_buf(struct iof_services *s, struct bio *bio,
			  unsigned int buf, size_t offset)
{
	struct bvec_iter iter;
	struct bio_vec bv;
	const char *from;

	if (buf >= s->nr_bufs || offset > s->buf_bytes ||
	    bio->bi_iter.bi_size > s->buf_bytes - offset)
		return -EINVAL;
	from = (const char *)s->bufs[buf] + offset;
	bio_for_each_segment(bv, bio, iter) {
		memcpy_to_bvec(&bv, from);
		from += bv.bv_len;
	}
	return 0;
}

static void iof_io_done(unsigned long error_bits, void *context)
{
	struct iof_job *job = context;
	struct iof_services *s = job->s;
	struct bio *bio = job->bio;
	unsigned int buf = job->buf;
	u64 tag = job->tag;

	mempool_free(job, &s->jobs);
	s->io_fn(s->owner, tag, bio, buf, error_bits);
	iof_io_put(s);
}

/*
 * The caller holds an in-flight reference (iof_io_get) for this IO.  Every
 * IO ends in exactly one call of the owner's io_fn, with the reference
 * dropped after it: an IO dm-io refuses to start completes at once, with
 * every region failed, so its owner accounts it like any failed IO.
 */
static void iof_io_submit(struct iof_services *s, struct dm_io_request *req,
			  unsigned int nr_regions, struct dm_io_region *where,
			  struct bio *bio, unsigned int buf, u64 tag)
{
	struct iof_job *job = mempool_alloc(&s->jobs, GFP_NOIO);

	job->s = s;
	job->bio = bio;
	job->buf = buf;
	job->tag = tag;
	req->notify.fn = iof_io_done;
	req->notify.context = job;
	req->client = s->io;
	if (dm_io(req, nr_regions, where, NULL, IOPRIO_DEFAULT))
		iof_io_done(~0UL, job);
}

/* Refuses an IO before it has a job: same contract as a failed dm_io(). */
static void iof_io_refuse(struct iof_services *s, struct bio *bio,
			  unsigned int buf, u64 tag)
{
	s->io_fn(s->owner, tag, bio, buf, ~0UL);
	iof_io_put(s);
}

void iof_io_buf(struct iof_services *s, bool write, struct dm_dev *dev,
		sector_t sector, sector_t count, unsigned int buf, u64 tag)
{
	struct dm_io_region where = {
		.bdev = dev->bdev,
		.sector = sector,
		.count = count,
	};
	struct dm_io_request req = {
		.bi_opf = write ? REQ_OP_WRITE : REQ_OP_READ,
		.mem.type = DM_IO_VMA,
	};

	/* The buffer bounds the IO: never past its end. */
	if (buf >= s->nr_bufs || count > (s->buf_bytes >> SECTOR_SHIFT)) {
		iof_io_refuse(s, NULL, buf, tag);
		return;
	}
	req.mem.ptr.vma = s->bufs[buf];
	iof_io_submit(s, &req, 1, &where, NULL, buf, tag);
}

void iof_io_bio(struct iof_services *s, struct bio *bio, bool write,
		struct dm_dev *dev0, struct dm_dev *dev1, sector_t sector, u64 tag)
{
	struct dm_io_region where[2] = {
		{ .bdev = dev0->bdev, .sector = sector, .count = bio_sectors(bio) },
		{ .bdev = dev1 ? dev1->bdev : NULL, .sector = sector, .count = bio_sectors(bio) },
	};
	struct dm_io_request req = {
		.bi_opf = write ? REQ_OP_WRITE | (bio->bi_opf & (REQ_FUA | REQ_SYNC)) :
				  REQ_OP_READ,
		.mem.type = DM_IO_BIO,
		.mem.ptr.bio = bio,
	};

	if (!write && dev1) {
		iof_io_refuse(s, bio, IOF_NO_BUF, tag);
		return;
	}
	iof_io_submit(s, &req, dev1 ? 2 : 1, where, bio, IOF_NO_BUF, tag);
}

/* An empty flush of @dev, as dm-raid1 flushes its legs (dm-io, no region data). */
void iof_io_flush(struct iof_services *s, struct dm_dev *dev, u64 tag)
{
	struct dm_io_region where = {
		.bdev = dev->bdev,
		.sector = 0,
		.count = 0,
	};
	struct dm_io_request req = {
		.bi_opf = REQ_OP_WRITE | REQ_PREFLUSH | REQ_SYNC,
		.mem.type = DM_IO_KMEM,
		.mem.ptr.addr = NULL,
	};

	iof_io_submit(s, &req, 1, &where, NULL, IOF_NO_BUF, tag);
}
