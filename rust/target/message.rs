//! `dmsetup message <dev> 0 pause|resume|ratio V:M|policy follow|sequential`.

use super::IoFollow;
use crate::dm::Ctx;
use crate::policy::{
    message::{parse_message, Message},
    select::AnySelector,
};
use kernel::prelude::*;

pub(super) fn handle(t: &IoFollow, ctx: &Ctx<'_>, args: &[&str]) -> Result {
    let msg = parse_message(args).map_err(|e| {
        pr_err!("{}: message '{}': {}\n", t.name(), args.first().copied().unwrap_or(""), e.message());
        EINVAL
    })?;
    {
        let mut st = t.state.lock();
        match msg {
            Message::Pause => st.paused = true,
            Message::Resume => {
                // Also the way out of the error state: failed chunks are pending
                // again and are retried.
                st.paused = false;
                st.error = false;
                st.announced = false;
            }
            Message::Ratio(ratio) => st.ratio.set_ratio(ratio),
            Message::Policy(kind) => {
                if st.selector.kind() != kind {
                    st.selector = AnySelector::new(kind);
                }
            }
        }
    }
    ctx.kick();
    Ok(())
}
