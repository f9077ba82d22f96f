// SPDX-License-Identifier: GPL-2.0

// Not a rule but the layer's scope: dm-linear, whole, in safe code on the
// same abstractions as iofollow (ctr opens a device, map remaps each bio,
// an empty flush goes to the device as it is). rust/dm is a dm layer, not an
// iofollow layer.
// expect: compiles
// (Never registered by the module, which registers iofollow only.)
#[allow(dead_code)]
struct Linear {
    dev: crate::dm::DmDev,
    start: u64,
    len: u64,
}

#[vtable]
impl crate::dm::TargetOps for Linear {
    type PerBio = u64;
    type Tag = IssuedIo;

    fn ctr(target: &CtrTarget<'_>, args: &[&str]) -> Result<impl PinInit<Self, Error>, CtrError> {
        let [path, start] = args else {
            return Err(CtrError::new(EINVAL, c"Invalid argument count"));
        };
        let start = start
            .parse()
            .map_err(|_| CtrError::new(EINVAL, c"Invalid device sector"))?;
        let dev =
            DmDev::open(target, path).map_err(|e| CtrError::new(e, c"Device lookup failed"))?;
        Ok(Linear {
            dev,
            start,
            len: target.len(),
        })
    }

    fn map(&self, ctx: &AtomicCtx<'_>, bio: MapBio<'_, u64>) -> Routed {
        if bio.op() == crate::dm::BioOp::Flush {
            return bio.remap_flush(&self.dev);
        }
        let offset = bio.sector().saturating_sub(ctx.target().begin());
        bio.remap(&self.dev, self.start.saturating_add(offset))
    }

    fn status(&self, _kind: StatusType, _out: &mut StatusWriter<'_>) {}

    fn message(
        &self,
        _ctx: &ProcessCtx<'_>,
        _args: &[&str],
        _reply: &mut StatusWriter<'_>,
    ) -> Result<Reply> {
        Err(EINVAL)
    }

    fn iterate_devices(&self, visitor: &mut DeviceVisitor<'_>) -> i32 {
        visitor.visit(&self.dev, self.start, self.len)
    }
}

/// What the module's init would do to offer it too.
fn _register_linear() -> Result<crate::dm::Registration<Linear>> {
    crate::dm::Registration::new(kernel::c_str!("linear-example"), [1, 0, 0])
}
