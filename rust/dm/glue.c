// SPDX-License-Identifier: GPL-2.0
/*
 * Thin C glue for the iofollow dm abstraction (see glue.h): one
 * target_type whose callbacks are Rust functions, one-line wrappers for what
 * Rust cannot call (static inlines, fields), and the per-target services
 * (worker, dm-io on owned buffers, in-flight count) below.
 */
#include <linux/blkdev.h>
#include <linux/dm-io.h>
#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/ratelimit.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include "glue.h"

/* Values and layouts rust/dm/ffi.rs copies by hand: a kernel that changes one fails here. */
static_assert(DM_MAPIO_SUBMITTED == 0);
static_assert(DM_MAPIO_REMAPPED == 1);
static_assert(DM_MAPIO_KILL == 4);
static_assert(DM_ENDIO_DONE == 0);
static_assert(STATUSTYPE_INFO == 0);
static_assert(STATUSTYPE_TABLE == 1);
static_assert(sizeof(struct bio_list) == 2 * sizeof(void *));
static_assert(offsetof(struct bio_list, head) == 0);
static_assert(offsetof(struct bio_list, tail) == sizeof(void *));
static_assert(sizeof(blk_status_t) == 1);
static_assert(sizeof(dev_t) == 4);
static_assert(sizeof(sector_t) == 8);

/* One budget for every IO-path error of the module, as DMERR_LIMIT has. */
static DEFINE_RATELIMIT_STATE(iof_log_rs, DEFAULT_RATELIMIT_INTERVAL,
			      DEFAULT_RATELIMIT_BURST);

bool iof_log_allowed(void)
{
	return __ratelimit(&iof_log_rs);
}

static struct target_type iof_target = {
	.module = THIS_MODULE,
};

int iof_register(const char *name, unsigned int major, unsigned int minor,
		 unsigned int patch, const struct iof_ops *ops)
{
	iof_target.name = name;
	iof_target.version[0] = major;
	iof_target.version[1] = minor;
	iof_target.version[2] = patch;
	iof_target.ctr = ops->ctr;
	iof_target.dtr = ops->dtr;
	iof_target.map = ops->map;
	iof_target.end_io = ops->end_io;
	iof_target.status = ops->status;
	iof_target.message = ops->message;
	iof_target.presuspend = ops->presuspend;
	iof_target.presuspend_undo = ops->presuspend_undo;
	iof_target.postsuspend = ops->postsuspend;
	iof_target.resume = ops->resume;
	iof_target.iterate_devices = ops->iterate_devices;
	iof_target.io_hints = ops->io_hints;
	return dm_register_target(&iof_target);
}

void iof_unregister(void)
{
	dm_unregister_target(&iof_target);
}

sector_t iof_target_begin(struct dm_target *ti)
{
	return ti->begin;
}

sector_t iof_target_len(struct dm_target *ti)
{
	return ti->len;
}

void *iof_target_private(struct dm_target *ti)
{
	return ti->private;
}

void iof_target_set_private(struct dm_target *ti, void *private)
{
	ti->private = private;
}

void iof_target_set_error(struct dm_target *ti, const char *msg)
{
	ti->error = (char *)msg;
}

int iof_target_setup(struct dm_target *ti, unsigned int flush_bios,
		     unsigned int discard_bios, unsigned int write_zeroes_bios,
		     sector_t max_io_len)
{
	ti->num_flush_bios = flush_bios;
	ti->num_discard_bios = discard_bios;
	ti->num_write_zeroes_bios = write_zeroes_bios;
	ti->max_discard_granularity = true;
	return max_io_len ? dm_set_target_max_io_len(ti, max_io_len) : 0;
}

void iof_target_set_per_bio_size(struct dm_target *ti, unsigned int bytes)
{
	ti->per_io_data_size = bytes;
}

void iof_target_event(struct dm_target *ti)
{
	dm_table_event(ti->table);
}

int iof_target_iterate(struct dm_target *ti, iterate_devices_callout_fn fn,
		       struct dm_dev *dev, sector_t start, sector_t len, void *data)
{
	return fn(ti, dev, start, len, data);
}

int iof_get_device(struct dm_target *ti, const char *path, struct dm_dev **result)
{
	return dm_get_device(ti, path, dm_table_get_mode(ti->table), result);
}

void iof_put_device(struct dm_target *ti, struct dm_dev *dev)
{
	dm_put_device(ti, dev);
}

const char *iof_dev_name(struct dm_dev *dev)
{
	return dev->name;
}

sector_t iof_dev_nr_sectors(struct dm_dev *dev)
{
	return bdev_nr_sectors(dev->bdev);
}

unsigned int iof_dev_logical_block_size(struct dm_dev *dev)
{
	return bdev_logical_block_size(dev->bdev);
}

sector_t iof_dev_start_sect(struct dm_dev *dev)
{
	return get_start_sect(dev->bdev);
}

dev_t iof_dev_whole_disk(struct dm_dev *dev)
{
	return bdev_whole(dev->bdev)->bd_dev;
}

unsigned int iof_bio_kind(struct bio *bio)
{
	unsigned int kind;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		kind = IOF_OP_READ;
		break;
	case REQ_OP_WRITE:
		kind = IOF_OP_WRITE;
		break;
	case REQ_OP_FLUSH:
		kind = IOF_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:
		kind = IOF_OP_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		kind = IOF_OP_WRITE_ZEROES;
		break;
	default:
		kind = IOF_OP_OTHER;
		break;
	}
	if (bio->bi_opf & REQ_PREFLUSH)
		kind |= IOF_FLAG_PREFLUSH;
	if (bio->bi_opf & REQ_FUA)
		kind |= IOF_FLAG_FUA;
	return kind;
}

sector_t iof_bio_sector(struct bio *bio)
{
	return bio->bi_iter.bi_sector;
}

unsigned int iof_bio_sectors(struct bio *bio)
{
	return bio_sectors(bio);
}

unsigned int iof_bio_target_nr(struct bio *bio)
{
	return dm_bio_get_target_bio_nr(bio);
}

void iof_bio_remap(struct bio *bio, struct dm_dev *dev, sector_t sector)
{
	bio_set_dev(bio, dev->bdev);
	bio->bi_iter.bi_sector = sector;
}

/* An empty flush keeps its sector: it has none (as linear_map does). */
void iof_bio_remap_dev(struct bio *bio, struct dm_dev *dev)
{
	bio_set_dev(bio, dev->bdev);
}

void *iof_bio_data(struct bio *bio, unsigned int bytes)
{
	return dm_per_bio_data(bio, bytes);
}

void iof_bio_endio(struct bio *bio, blk_status_t status)
{
	bio->bi_status = status;
	bio_endio(bio);
}

blk_status_t iof_errno_to_blk_status(int errno)
{
	return errno_to_blk_status(errno);
}

struct bio *iof_bio_list_pop(struct bio_list *list)
{
	return bio_list_pop(list);
}

void iof_bio_list_add(struct bio_list *list, struct bio *bio)
{
	bio_list_add(list, bio);
}

void iof_limits_set_chunk(struct queue_limits *limits, unsigned int chunk_sectors)
{
	limits->io_opt = chunk_sectors << SECTOR_SHIFT;
	/* With max_discard_granularity, dm splits discards at this boundary. */
	if (limits->max_hw_discard_sectors)
		limits->max_hw_discard_sectors = min(limits->max_hw_discard_sectors,
						     chunk_sectors);
}

unsigned long iof_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void iof_lock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

/* One asynchronous dm-io request in flight; from a mempool (GFP_NOIO). */
struct iof_job {
	struct iof_services *s;
	struct bio *bio;
	u64 tag;
};

struct iof_services {
	struct workqueue_struct *wq;
	struct work_struct work;
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
};

static void iof_work(struct work_struct *work)
{
	struct iof_services *s = container_of(work, struct iof_services, work);

	s->work_fn(s->owner);
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

/* No work runs or is queued after this; IO may still be in flight. */
void iof_services_shutdown(struct iof_services *s)
{
	unsigned long flags;

	spin_lock_irqsave(&s->lock, flags);
	s->stopping = true;
	spin_unlock_irqrestore(&s->lock, flags);
	if (s->wq) {
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
	u64 tag = job->tag;

	mempool_free(job, &s->jobs);
	s->io_fn(s->owner, tag, bio, error_bits);
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
			  struct bio *bio, u64 tag)
{
	struct iof_job *job = mempool_alloc(&s->jobs, GFP_NOIO);

	job->s = s;
	job->bio = bio;
	job->tag = tag;
	req->notify.fn = iof_io_done;
	req->notify.context = job;
	req->client = s->io;
	if (dm_io(req, nr_regions, where, NULL, IOPRIO_DEFAULT))
		iof_io_done(~0UL, job);
}

/* Refuses an IO before it has a job: same contract as a failed dm_io(). */
static void iof_io_refuse(struct iof_services *s, struct bio *bio, u64 tag)
{
	s->io_fn(s->owner, tag, bio, ~0UL);
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
		iof_io_refuse(s, NULL, tag);
		return;
	}
	req.mem.ptr.vma = s->bufs[buf];
	iof_io_submit(s, &req, 1, &where, NULL, tag);
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
		iof_io_refuse(s, bio, tag);
		return;
	}
	iof_io_submit(s, &req, dev1 ? 2 : 1, where, bio, tag);
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

	iof_io_submit(s, &req, 1, &where, NULL, tag);
}
