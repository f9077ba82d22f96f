// SPDX-License-Identifier: GPL-2.0

//! Device-mapper as the migration sees it: the [`Dm`] trait, and its
//! implementation over the `devicemapper` crate's ioctls.

use crate::error::{Error, Result};
use crate::table::Segment;
use devicemapper::{errors, DevId, DmError, DmFlags, DmName, DmOptions, DmUuid, DM};
use iofollow_policy::table::DiskId;

/// What the migration needs to know about a device-mapper device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevInfo {
    /// Its device number.
    pub dev: DiskId,
    /// Suspended now.
    pub suspended: bool,
    /// A table is loaded in its inactive slot.
    pub inactive_table: bool,
    /// How many openers it has.
    pub open_count: i32,
    /// An LVM logical volume (its dm uuid starts with `LVM-`): LVM's
    /// metadata says where it lives.
    pub lvm: bool,
}

/// The device-mapper operations of a migration. Names are dm device names.
pub trait Dm {
    /// The device's info, `None` if no device has that name.
    fn info(&self, name: &str) -> Result<Option<DevInfo>>;
    /// The names of every dm device.
    fn names(&self) -> Result<Vec<String>>;
    /// The name of the dm device with this number, `None` if it is not one.
    fn name_of(&self, dev: DiskId) -> Result<Option<String>>;
    /// Its active table.
    fn table(&self, name: &str) -> Result<Vec<Segment>>;
    /// Its active table's status lines.
    fn status(&self, name: &str) -> Result<Vec<Segment>>;
    /// The target types the kernel has.
    fn target_types(&self) -> Result<Vec<String>>;
    /// Creates a device with this table, active; returns its number.
    fn create(&self, name: &str, uuid: &str, table: &[Segment]) -> Result<DiskId>;
    /// Loads a table into the inactive slot.
    fn load(&self, name: &str, table: &[Segment]) -> Result<()>;
    /// Drops the inactive table.
    fn clear(&self, name: &str) -> Result<()>;
    /// Suspends, waiting for IO in flight (and freezing a filesystem on it).
    fn suspend(&self, name: &str) -> Result<()>;
    /// Resumes, making an inactive table active.
    fn resume(&self, name: &str) -> Result<()>;
    /// Removes the device.
    fn remove(&self, name: &str) -> Result<()>;
    /// Sends a target message to sector 0.
    fn message(&self, name: &str, msg: &str) -> Result<()>;
}

/// Device-mapper through `/dev/mapper/control`.
pub struct SystemDm {
    dm: DM,
}

fn explain(e: DmError) -> Error {
    if let DmError::Core(errors::Error::Ioctl(_, _, _, errno)) = &e {
        let code = **errno as i32;
        return Error::new(std::io::Error::from_raw_os_error(code).to_string());
    }
    Error::new(e.to_string())
}

fn dm_name(name: &str) -> Result<&DmName> {
    DmName::new(name).map_err(|_| Error::new(format!("'{name}' is not a valid device-mapper name")))
}

fn segments(v: Vec<(u64, u64, String, String)>) -> Vec<Segment> {
    v.into_iter()
        .map(|(start, len, target, params)| Segment {
            start,
            len,
            target,
            params,
        })
        .collect()
}

fn tuples(table: &[Segment]) -> Vec<(u64, u64, String, String)> {
    table
        .iter()
        .map(|s| (s.start, s.len, s.target.clone(), s.params.clone()))
        .collect()
}

impl SystemDm {
    /// Opens device-mapper's control device.
    pub fn open() -> Result<Self> {
        DM::new().map(|dm| Self { dm }).map_err(|e| {
            Error::new(format!(
                "cannot open /dev/mapper/control (are you root?): {}",
                explain(e)
            ))
        })
    }

    /// Every dm device: its name and number.
    fn devices(&self) -> Result<Vec<(String, DiskId)>> {
        let list = self
            .dm
            .list_devices()
            .map_err(|e| explain(e).context("listing device-mapper devices"))?;
        Ok(list
            .into_iter()
            .map(|(n, d, _)| {
                let dev = DiskId {
                    major: d.major,
                    minor: d.minor,
                };
                (n.to_string(), dev)
            })
            .collect())
    }

    fn with<T>(
        &self,
        name: &str,
        what: &str,
        f: impl FnOnce(&DM, &DevId<'_>) -> std::result::Result<T, DmError>,
    ) -> Result<T> {
        let id = DevId::Name(dm_name(name)?);
        f(&self.dm, &id).map_err(|e| explain(e).context(format!("{what} {name}")))
    }
}

impl Dm for SystemDm {
    fn info(&self, name: &str) -> Result<Option<DevInfo>> {
        let id = DevId::Name(dm_name(name)?);
        match self.dm.device_info(&id) {
            Ok(info) => {
                let flags = info.flags();
                let d = info.device();
                Ok(Some(DevInfo {
                    dev: DiskId {
                        major: d.major,
                        minor: d.minor,
                    },
                    suspended: flags.contains(DmFlags::DM_SUSPEND),
                    inactive_table: flags.contains(DmFlags::DM_INACTIVE_PRESENT),
                    open_count: info.open_count(),
                    lvm: info
                        .uuid()
                        .is_some_and(|u| u.to_string().starts_with("LVM-")),
                }))
            }
            Err(DmError::Core(errors::Error::Ioctl(_, _, _, errno)))
                if *errno as i32 == libc::ENXIO =>
            {
                Ok(None)
            }
            Err(e) => Err(explain(e).context(format!("device-mapper info of {name}"))),
        }
    }

    fn names(&self) -> Result<Vec<String>> {
        Ok(self.devices()?.into_iter().map(|(n, _)| n).collect())
    }

    fn name_of(&self, dev: DiskId) -> Result<Option<String>> {
        Ok(self
            .devices()?
            .into_iter()
            .find(|&(_, d)| d == dev)
            .map(|(n, _)| n))
    }

    fn table(&self, name: &str) -> Result<Vec<Segment>> {
        self.with(name, "reading the table of", |dm, id| {
            dm.table_status(id, DmOptions::default().set_flags(DmFlags::DM_STATUS_TABLE))
        })
        .map(|(_, t)| segments(t))
    }

    fn status(&self, name: &str) -> Result<Vec<Segment>> {
        self.with(name, "reading the status of", |dm, id| {
            dm.table_status(id, DmOptions::default().set_flags(DmFlags::DM_NOFLUSH))
        })
        .map(|(_, t)| segments(t))
    }

    fn target_types(&self) -> Result<Vec<String>> {
        self.dm
            .list_versions()
            .map(|v| v.into_iter().map(|(name, ..)| name).collect())
            .map_err(|e| explain(e).context("listing device-mapper target types"))
    }

    fn create(&self, name: &str, uuid: &str, table: &[Segment]) -> Result<DiskId> {
        let dm_uuid = DmUuid::new(uuid)
            .map_err(|_| Error::new(format!("'{uuid}' is not a valid device-mapper uuid")))?;
        let info = self
            .dm
            .device_create(dm_name(name)?, Some(dm_uuid), DmOptions::default())
            .map_err(|e| explain(e).context(format!("creating {name}")))?;
        let undo = |e: Error| {
            let _ = self.remove(name);
            e
        };
        self.load(name, table).map_err(undo)?;
        self.resume(name).map_err(undo)?;
        let d = info.device();
        Ok(DiskId {
            major: d.major,
            minor: d.minor,
        })
    }

    fn load(&self, name: &str, table: &[Segment]) -> Result<()> {
        self.with(name, "loading a table into", |dm, id| {
            dm.table_load(id, &tuples(table), DmOptions::default())
        })
        .map(drop)
    }

    fn clear(&self, name: &str) -> Result<()> {
        self.with(name, "clearing the inactive table of", |dm, id| {
            dm.table_clear(id)
        })
        .map(drop)
    }

    fn suspend(&self, name: &str) -> Result<()> {
        self.with(name, "suspending", |dm, id| {
            dm.device_suspend(id, DmOptions::default().set_flags(DmFlags::DM_SUSPEND))
        })
        .map(drop)
    }

    fn resume(&self, name: &str) -> Result<()> {
        self.with(name, "resuming", |dm, id| {
            dm.device_suspend(id, DmOptions::default())
        })
        .map(drop)
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.with(name, "removing", |dm, id| {
            dm.device_remove(id, DmOptions::default())
        })
        .map(drop)
    }

    fn message(&self, name: &str, msg: &str) -> Result<()> {
        self.with(name, &format!("sending '{msg}' to"), |dm, id| {
            dm.target_msg(id, Some(0), msg)
        })
        .map(drop)
    }
}
