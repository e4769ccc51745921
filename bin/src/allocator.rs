//! The process's malloc settings, applied before any thread starts.
//!
//! glibc gives each thread that allocates under contention an arena of its own, up to eight per
//! core. Parley's runtime threads pass buffers (request bodies, rows, webhook batches) between
//! each other, so memory freed in one arena is not reused by the others, and the process's
//! resident size grows with fragmentation rather than use. Two arenas keep it close to what is
//! live (the 100k broadcast bench: peak RSS 458 MB with the default, 272 MB with two) at no
//! measurable cost in throughput on the machines Parley targets.

/// At most this many malloc arenas (unless `MALLOC_ARENA_MAX` says otherwise).
const ARENA_MAX: i32 = 2;

/// Limits malloc's arenas; call first thing in `main`, before any thread exists.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // An operator's own MALLOC_ARENA_MAX wins (glibc has already read it).
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        const M_ARENA_MAX: std::ffi::c_int = -8;
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: mallopt only changes allocator parameters; no other thread runs yet.
        unsafe {
            mallopt(M_ARENA_MAX, ARENA_MAX);
        }
    }
}
