// SPDX-License-Identifier: GPL-2.0

//! The helper programs the tool runs (lvm, losetup): their output, or an
//! error that names the command and what it printed.

use crate::error::{Error, Result};
use std::process::Command;

/// Runs `cmd` (shown as `shown` in errors) to its end; its stdout.
pub fn output_of(cmd: &mut Command, shown: &str) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| Error::new(format!("cannot run {shown}: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "'{shown}' failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
