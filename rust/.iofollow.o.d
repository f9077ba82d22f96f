/work/main/rust/iofollow.o: /opt/iofollow/src/linux-6.12.117/.clippy.toml /work/main/rust/iofollow.rs /work/main/rust/dm/mod.rs /work/main/rust/dm/lock.rs /work/main/rust/dm/args.rs /work/main/rust/dm/bio.rs /work/main/rust/dm/dev.rs /work/main/rust/dm/ffi.rs /work/main/rust/dm/limits.rs /work/main/rust/dm/services.rs /work/main/rust/dm/status.rs /work/main/rust/dm/target.rs /work/main/rust/migration/mod.rs /work/main/rust/migration/ctr.rs /work/main/rust/migration/engine.rs /work/main/rust/migration/head.rs /work/main/rust/migration/message.rs /work/main/rust/migration/routing.rs /work/main/rust/migration/status.rs /work/main/rust/policy/mod.rs /work/main/rust/policy/anticipation.rs /work/main/rust/policy/copyrun.rs /work/main/rust/policy/head.rs /work/main/rust/policy/liveness.rs /work/main/rust/policy/map.rs /work/main/rust/policy/message.rs /work/main/rust/policy/ordering.rs /work/main/rust/policy/piggyback.rs /work/main/rust/policy/ratio.rs /work/main/rust/policy/select.rs /work/main/rust/policy/table.rs /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libcore.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libcompiler_builtins.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libkernel.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libffi.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libmacros.so /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libbindings.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libuapi.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libbuild_error.rmeta

/work/main/rust/.iofollow.o.d: /opt/iofollow/src/linux-6.12.117/.clippy.toml /work/main/rust/iofollow.rs /work/main/rust/dm/mod.rs /work/main/rust/dm/lock.rs /work/main/rust/dm/args.rs /work/main/rust/dm/bio.rs /work/main/rust/dm/dev.rs /work/main/rust/dm/ffi.rs /work/main/rust/dm/limits.rs /work/main/rust/dm/services.rs /work/main/rust/dm/status.rs /work/main/rust/dm/target.rs /work/main/rust/migration/mod.rs /work/main/rust/migration/ctr.rs /work/main/rust/migration/engine.rs /work/main/rust/migration/head.rs /work/main/rust/migration/message.rs /work/main/rust/migration/routing.rs /work/main/rust/migration/status.rs /work/main/rust/policy/mod.rs /work/main/rust/policy/anticipation.rs /work/main/rust/policy/copyrun.rs /work/main/rust/policy/head.rs /work/main/rust/policy/liveness.rs /work/main/rust/policy/map.rs /work/main/rust/policy/message.rs /work/main/rust/policy/ordering.rs /work/main/rust/policy/piggyback.rs /work/main/rust/policy/ratio.rs /work/main/rust/policy/select.rs /work/main/rust/policy/table.rs /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libcore.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libcompiler_builtins.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libkernel.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libffi.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libmacros.so /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libbindings.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libuapi.rmeta /opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libbuild_error.rmeta

/opt/iofollow/src/linux-6.12.117/.clippy.toml:
/work/main/rust/iofollow.rs:
/work/main/rust/dm/mod.rs:
/work/main/rust/dm/lock.rs:
/work/main/rust/dm/args.rs:
/work/main/rust/dm/bio.rs:
/work/main/rust/dm/dev.rs:
/work/main/rust/dm/ffi.rs:
/work/main/rust/dm/limits.rs:
/work/main/rust/dm/services.rs:
/work/main/rust/dm/status.rs:
/work/main/rust/dm/target.rs:
/work/main/rust/migration/mod.rs:
/work/main/rust/migration/ctr.rs:
/work/main/rust/migration/engine.rs:
/work/main/rust/migration/head.rs:
/work/main/rust/migration/message.rs:
/work/main/rust/migration/routing.rs:
/work/main/rust/migration/status.rs:
/work/main/rust/policy/mod.rs:
/work/main/rust/policy/anticipation.rs:
/work/main/rust/policy/copyrun.rs:
/work/main/rust/policy/head.rs:
/work/main/rust/policy/liveness.rs:
/work/main/rust/policy/map.rs:
/work/main/rust/policy/message.rs:
/work/main/rust/policy/ordering.rs:
/work/main/rust/policy/piggyback.rs:
/work/main/rust/policy/ratio.rs:
/work/main/rust/policy/select.rs:
/work/main/rust/policy/table.rs:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libcore.rmeta:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libcompiler_builtins.rmeta:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libkernel.rmeta:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libffi.rmeta:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libmacros.so:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libbindings.rmeta:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libuapi.rmeta:
/opt/iofollow/kernel/6.12.117-c7dd65b5cec7c819/rust/libbuild_error.rmeta:

# env-dep:CLIPPY_ARGS
# env-dep:CLIPPY_CONF_DIR=/opt/iofollow/src/linux-6.12.117
