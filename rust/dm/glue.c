// SPDX-License-Identifier: GPL-2.0
/*
 * Thin C glue for the iofollow dm abstraction (see glue.h): one
 * target_type whose callbacks are Rust functions, and one-line wrappers for
 * what Rust cannot call (static inlines, struct fields). The per-target
 * services (worker, dm-io, buffers) are in services.c.
 */
#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/ratelimit.h>
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
static_assert(IOF_NO_BUF == UINT_MAX);

/* One budget for every IO-path error of the module, as DMERR_LIMIT has. */
static DEFINE_RATELIMIT_STATE(iof_log_rs, DEFAULT_RATELIMIT_INTERVAL,
			      DEFAULT_RATELIMIT_BURST);

bool iof_log_allowed(void)
{
	return __ratelimit(&iof_log_rs);
}

/*
 * dm runs the constructors of two tables loaded at once in parallel; state
 * they share (the head model of each disk) is joined and left under this.
 */
static DEFINE_MUTEX(iof_ctr_dtr_mutex);

void iof_ctr_dtr_lock(void)
{
	mutex_lock(&iof_ctr_dtr_mutex);
}

void iof_ctr_dtr_unlock(void)
{
	mutex_unlock(&iof_ctr_dtr_mutex);
}

static struct target_type iof_target = {
	.module = THIS_MODULE,
};

int iof_register(const char *name, unsigned int major, unsigned int minor,
		 unsigned int patch, const struct iof_ops *ops)
{
	int r;

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
	iof_target.preresume = ops->preresume;
	iof_target.resume = ops->resume;
	iof_target.iterate_devices = ops->iterate_devices;
	iof_target.io_hints = ops->io_hints;
	r = iof_cache_bufs_init();
	if (r)
		return r;
	r = dm_register_target(&iof_target);
	if (r)
		iof_cache_bufs_exit();
	return r;
}

void iof_unregister(void)
{
	dm_unregister_target(&iof_target);
	/* Every target is gone, and with it every cache buffer. */
	iof_cache_bufs_exit();
}

sector_t iof_target_begin(struct dm_target *ti)
{
	return ti->begin;
}

/*
 * "<dm name> (<major>:<minor>)" of the mapped device, for log lines: the
 * name as the operator sees it when the table was loaded, and the number,
 * which a rename does not change. Process context (a mutex).
 */
void iof_target_label(struct dm_target *ti, char *buf, size_t len)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	char name[DM_NAME_LEN];

	if (dm_copy_name_and_uuid(md, name, NULL))
		snprintf(buf, len, "%s", dm_device_name(md));
	else
		snprintf(buf, len, "%s (%s)", name, dm_device_name(md));
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

/*
 * A stable identifier of @dev in @buf (at least DM_UUID_LEN bytes),
 * NUL-terminated: a device-mapper device's UUID (an LVM volume's
 * "LVM-<vg><lv>"), a partition's UUID, or "" for a device with neither.
 * Process context (a mutex).
 */
void iof_dev_identity(struct dm_dev *dev, char *buf, size_t len)
{
	struct block_device *bdev = dev->bdev;
	struct mapped_device *md;

	if (len < DM_UUID_LEN)
		return;
	buf[0] = 0;
	md = dm_get_md(bdev->bd_dev);
	if (md) {
		if (dm_copy_name_and_uuid(md, NULL, buf))
			buf[0] = 0;
		dm_put(md);
		return;
	}
	if (bdev_is_partition(bdev) && bdev->bd_meta_info)
		strscpy(buf, bdev->bd_meta_info->uuid,
			min(len, sizeof(bdev->bd_meta_info->uuid)));
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

/*
 * A bio taken in map (DM_MAPIO_SUBMITTED) sent on to @dev at @sector later,
 * as dm-delay issues the bios it held: its completion reaches the target's
 * end_io as a remapped bio's does.
 */
void iof_bio_submit_remapped(struct bio *bio, struct dm_dev *dev, sector_t sector)
{
	bio_set_dev(bio, dev->bdev);
	bio->bi_iter.bi_sector = sector;
	dm_submit_bio_remap(bio, NULL);
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
