/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of the iofollow dm abstraction: the contract between
 * rust/dm/glue.c and rust/dm/ffi.rs.  Every type is opaque to Rust; Rust
 * reaches the fields and the static inline helpers of device-mapper.h and
 * blkdev.h only through the functions below (the kernel's rust/helpers/
 * pattern, since an out-of-tree module cannot extend the bindings crate).
 */
#ifndef IOFOLLOW_GLUE_H
#define IOFOLLOW_GLUE_H

#include <linux/device-mapper.h>

/* Callbacks implemented in Rust (rust/dm/mod.rs) for one target type. */
struct iof_ops {
	int (*ctr)(struct dm_target *ti, unsigned int argc, char **argv);
	void (*dtr)(struct dm_target *ti);
	int (*map)(struct dm_target *ti, struct bio *bio);
	int (*end_io)(struct dm_target *ti, struct bio *bio, blk_status_t *error);
	void (*status)(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result, unsigned int maxlen);
	int (*message)(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen);
	void (*presuspend)(struct dm_target *ti);
	void (*presuspend_undo)(struct dm_target *ti);
	void (*postsuspend)(struct dm_target *ti);
	int (*preresume)(struct dm_target *ti);
	void (*resume)(struct dm_target *ti);
	int (*iterate_devices)(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data);
	void (*io_hints)(struct dm_target *ti, struct queue_limits *limits);
};

/* Called from the worker and from dm-io completions of one target. */
typedef void (*iof_work_fn)(void *owner);
/* @buf: the buffer an IO had been lent (iof_io_buf), or IOF_NO_BUF. */
#define IOF_NO_BUF UINT_MAX
typedef void (*iof_io_fn)(void *owner, u64 tag, struct bio *bio,
			  unsigned int buf, unsigned long error_bits);

int iof_register(const char *name, unsigned int major, unsigned int minor,
		 unsigned int patch, const struct iof_ops *ops);
void iof_unregister(void);
/* Serialises the constructors and destructors of every target of the type. */
void iof_ctr_dtr_lock(void);
void iof_ctr_dtr_unlock(void);
bool iof_log_allowed(void);

/* dm_target */
sector_t iof_target_begin(struct dm_target *ti);
void iof_target_label(struct dm_target *ti, char *buf, size_t len);
sector_t iof_target_len(struct dm_target *ti);
void *iof_target_private(struct dm_target *ti);
void iof_target_set_private(struct dm_target *ti, void *private);
void iof_target_set_error(struct dm_target *ti, const char *msg);
int iof_target_setup(struct dm_target *ti, unsigned int flush_bios,
		     unsigned int discard_bios, unsigned int write_zeroes_bios,
		     sector_t max_io_len);
void iof_target_set_per_bio_size(struct dm_target *ti, unsigned int bytes);
void iof_target_event(struct dm_target *ti);
int iof_target_iterate(struct dm_target *ti, iterate_devices_callout_fn fn,
		       struct dm_dev *dev, sector_t start, sector_t len, void *data);

/* dm_dev: a device opened by the table, in the table's mode */
int iof_get_device(struct dm_target *ti, const char *path, struct dm_dev **result);
void iof_put_device(struct dm_target *ti, struct dm_dev *dev);
const char *iof_dev_name(struct dm_dev *dev);
sector_t iof_dev_nr_sectors(struct dm_dev *dev);
unsigned int iof_dev_logical_block_size(struct dm_dev *dev);
sector_t iof_dev_start_sect(struct dm_dev *dev);
dev_t iof_dev_whole_disk(struct dm_dev *dev);
void iof_dev_identity(struct dm_dev *dev, char *buf, size_t len);

/* bio, normalised so Rust does not depend on the REQ_* bit layout */
#define IOF_OP_READ		0
#define IOF_OP_WRITE		1
#define IOF_OP_FLUSH		2
#define IOF_OP_DISCARD		3
#define IOF_OP_WRITE_ZEROES	4
#define IOF_OP_OTHER		5
#define IOF_OP_MASK		0xff
#define IOF_FLAG_PREFLUSH	0x100
#define IOF_FLAG_FUA		0x200

unsigned int iof_bio_kind(struct bio *bio);
sector_t iof_bio_sector(struct bio *bio);
unsigned int iof_bio_sectors(struct bio *bio);
unsigned int iof_bio_target_nr(struct bio *bio);
void iof_bio_remap(struct bio *bio, struct dm_dev *dev, sector_t sector);
void iof_bio_remap_dev(struct bio *bio, struct dm_dev *dev);
void iof_bio_submit_remapped(struct bio *bio, struct dm_dev *dev, sector_t sector);
void *iof_bio_data(struct bio *bio, unsigned int bytes);
void iof_bio_endio(struct bio *bio, blk_status_t status);
blk_status_t iof_errno_to_blk_status(int errno);
struct bio *iof_bio_list_pop(struct bio_list *list);
void iof_bio_list_add(struct bio_list *list, struct bio *bio);

/* an irq-safe spinlock for state shared with bio completions */
unsigned long iof_lock_irqsave(spinlock_t *lock);
void iof_lock_irqrestore(spinlock_t *lock, unsigned long flags);

/*
 * Per-target services: one WQ_MEM_RECLAIM worker, preallocated vmalloc
 * buffers, and asynchronous dm-io with a count of IOs in flight.
 */
struct iof_services;
struct iof_services *iof_services_create(struct dm_target *ti,
					 unsigned int nr_bufs, size_t buf_bytes,
					 iof_work_fn work_fn, iof_io_fn io_fn);
void iof_services_bind(struct iof_services *s, void *owner);
void iof_services_kick(struct iof_services *s);
void iof_services_kick_after(struct iof_services *s, u64 ns);
void iof_services_shutdown(struct iof_services *s);
void iof_services_destroy(struct iof_services *s);
void iof_io_get(struct iof_services *s);
void iof_io_put(struct iof_services *s);
void iof_io_wait_idle(struct iof_services *s);
/* Each IO ends in one io_fn call, also when it cannot start (all bits set). */
void iof_io_buf(struct iof_services *s, bool write, struct dm_dev *dev,
		sector_t sector, sector_t count, unsigned int buf, u64 tag);
int iof_bio_fill_from_buf(struct iof_services *s, struct bio *bio,
			  unsigned int buf, size_t offset);
void iof_io_bio(struct iof_services *s, struct bio *bio, bool write,
		struct dm_dev *dev0, struct dm_dev *dev1, sector_t sector, u64 tag);
void iof_io_flush(struct iof_services *s, struct dm_dev *dev, u64 tag);

/* target-owned reclaimable memory: a shrinker calling back into the owner */
typedef unsigned long (*iof_count_fn)(void *owner);
typedef unsigned long (*iof_scan_fn)(void *owner, unsigned long nr);
int iof_services_add_shrinker(struct iof_services *s, struct dm_target *ti,
			      iof_count_fn count_fn, iof_scan_fn scan_fn);
const void *iof_services_buf_range(struct iof_services *s, unsigned int buf,
				   size_t offset, size_t bytes);

/* page-backed, reference-counted buffers of the migration-aware cache */
/* Synchronous IO of a metadata device (metaio.c). */
struct iof_meta_io;
struct iof_meta_io *iof_meta_io_create(unsigned int blocks);
void iof_meta_io_destroy(struct iof_meta_io *m);
void *iof_meta_io_buf(struct iof_meta_io *m);
int iof_meta_io_rw(struct iof_meta_io *m, struct dm_dev *dev, bool write,
		   bool fua, sector_t sector, unsigned int blocks);

struct iof_cache_buf;
int iof_cache_bufs_init(void);
void iof_cache_bufs_exit(void);
long iof_cache_bufs_in_use(void);
void iof_cond_resched(void);
struct iof_cache_buf *iof_cache_buf_copy(struct iof_services *s,
					 unsigned int buf, size_t offset,
					 unsigned int bytes);
void iof_cache_buf_get(struct iof_cache_buf *b);
void iof_cache_buf_put(struct iof_cache_buf *b);
unsigned int iof_cache_buf_bytes(struct iof_cache_buf *b);
int iof_bio_fill_from_cache(struct bio *bio, struct iof_cache_buf **bufs,
			    unsigned int n, size_t offset);

/* queue_limits */
void iof_limits_set_chunk(struct queue_limits *limits, unsigned int chunk_sectors);

#endif
