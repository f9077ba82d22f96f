// SPDX-License-Identifier: GPL-2.0
/*
 * Synchronous IO of a small metadata device (see rust/dm/metaio.rs): a
 * dm-io client of its own and one vmalloc'd buffer of whole 4 KiB blocks,
 * read and written in process context only (dm-io sleeps until the IO
 * completes). The target's copy IO never waits behind it: it is used while
 * the device is suspended, or before it is resumed.
 */
#include <linux/dm-io.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "glue.h"

#define IOF_META_BLOCK_SHIFT 12

struct iof_meta_io {
	struct dm_io_client *io;
	void *buf;
	unsigned int blocks;
};

struct iof_meta_io *iof_meta_io_create(unsigned int blocks)
{
	struct iof_meta_io *m = kzalloc(sizeof(*m), GFP_KERNEL);

	if (!m)
		return ERR_PTR(-ENOMEM);
	m->io = dm_io_client_create();
	if (IS_ERR(m->io)) {
		m->io = NULL;
		goto bad;
	}
	m->buf = vzalloc((size_t)blocks << IOF_META_BLOCK_SHIFT);
	if (!m->buf)
		goto bad;
	m->blocks = blocks;
	return m;
bad:
	iof_meta_io_destroy(m);
	return ERR_PTR(-ENOMEM);
}

void iof_meta_io_destroy(struct iof_meta_io *m)
{
	vfree(m->buf);
	if (m->io)
		dm_io_client_destroy(m->io);
	kfree(m);
}

void *iof_meta_io_buf(struct iof_meta_io *m)
{
	return m->buf;
}

/*
 * Reads or writes the first @blocks 4 KiB blocks of the buffer at @sector
 * of @dev; a write with @fua is durable when this returns 0. An empty write
 * with @blocks 0 and @fua is a flush of @dev's volatile cache. Sleeps.
 */
int iof_meta_io_rw(struct iof_meta_io *m, struct dm_dev *dev, bool write,
		   bool fua, sector_t sector, unsigned int blocks)
{
	unsigned long error_bits = 0;
	struct dm_io_region where = {
		.bdev = dev->bdev,
		.sector = sector,
		.count = (sector_t)blocks << (IOF_META_BLOCK_SHIFT - SECTOR_SHIFT),
	};
	struct dm_io_request req = {
		.bi_opf = (write ? REQ_OP_WRITE : REQ_OP_READ) | REQ_SYNC | REQ_META,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = m->buf,
		.client = m->io,
		/* No notify.fn: dm_io() waits for the IO. */
	};
	int r;

	if (blocks > m->blocks || (!write && !blocks))
		return -EINVAL;
	if (write && fua)
		req.bi_opf |= blocks ? REQ_FUA : REQ_PREFLUSH;
	r = dm_io(&req, 1, &where, &error_bits, IOPRIO_DEFAULT);
	if (r)
		return r;
	return error_bits ? -EIO : 0;
}
