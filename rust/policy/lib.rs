// SPDX-License-Identifier: GPL-2.0

//! Cargo shim for the IOFollow policy core.
//!
//! The kernel module compiles `mod.rs` and its children as `crate::policy`
//! (`pub mod policy;` in the module's crate root). Cargo compiles the very same
//! files through this shim, so the host tests, the simulator and the kernel run
//! one copy of the code. Only this file may carry crate-level attributes.
#![no_std]

#[cfg(test)]
extern crate std;

#[path = "mod.rs"]
mod policy;
pub use policy::*;
