//! The `sftpha` binary: everything lives in the library, but for what needs unsafe code: the
//! allocator, what a connection's thread gives back when its client goes quiet, and passing
//! listening sockets from process to process (the gateway's supervisor, systemd).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// jemalloc returns freed memory to the system (a background thread purges pages unused for a
/// while), where glibc keeps what a connection's thread freed in its arenas: a flood of
/// sessions left 110 MiB resident after it ended (SECURITY.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    sftpha::node::on_thread_idle(thread_idle);
    sftpha::gateway::sockets::install(sftpha::gateway::sockets::Hooks { adopt, hand_over });
    sftpha::run::main()
}

/// What a connection's thread gives back once its client has gone quiet (1000 idle sessions
/// measured with bench/sessions.py: 314 KiB each without it, 201 KiB with it):
/// - jemalloc's thread cache of freed memory (`thread.idle` flushes it to the arenas and
///   purges them): what the login freed, ~100 KiB a session;
/// - the stack pages below the current frame: the login's deepest calls (key exchange,
///   signature check) touched ~90 KiB of stack that an idle session never uses again.
fn thread_idle() {
    // SAFETY: `thread.idle` reads and writes nothing through the pointers, which are null.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.idle".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    release_stack_below_here();
}

/// Discards the calling thread's stack pages more than [`STACK_MARGIN`] below this frame:
/// nothing lives there (the stack grows down), and a later call that reaches them gets fresh
/// zeroed pages, as on first use.
fn release_stack_below_here() {
    const STACK_MARGIN: usize = 8 << 10;
    // SAFETY: pthread_getattr_np fills `attr`, which is destroyed after use; the range given to
    // madvise lies inside this thread's stack, below every live frame (ours, and the calls we
    // still make, need far less than STACK_MARGIN), and MADV_DONTNEED on private anonymous
    // memory only makes it read as zeroes when next touched.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return;
        }
        let mut low: *mut libc::c_void = std::ptr::null_mut();
        let mut size = 0usize;
        let got = libc::pthread_attr_getstack(&attr, &mut low, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        let here = &raw const attr as usize;
        let page = 4096;
        let end = here.saturating_sub(STACK_MARGIN) & !(page - 1);
        let low = (low as usize).next_multiple_of(page);
        if got == 0 && end > low && here < low + size {
            libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED);
        }
    }
}

/// Takes an inherited descriptor (LISTEN_FDS), if it is open.
fn adopt(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: fcntl(F_GETFD) only reads the descriptor's flags. The LISTEN_FDS protocol gives
    // this process descriptors 3.. and nothing else in it owns them; `inherited()` adopts each
    // once, at start-up.
    unsafe {
        if libc::fcntl(fd, libc::F_GETFD) < 0 {
            return None;
        }
        Some(OwnedFd::from_raw_fd(fd))
    }
}

/// Gives `command`'s process each of `fds` as 3, 4, ... and SIGTERM if the thread that
/// started it ends (the supervisor's only thread: the supervisor itself).
fn hand_over(command: &mut tokio::process::Command, fds: Vec<RawFd>) {
    // SAFETY: between fork and exec the closure calls only dup2 (which also clears
    // close-on-exec on the copy) and prctl, both async-signal-safe, and allocates nothing.
    // `fds` are open descriptors that the supervisor keeps for its whole life, numbered above
    // the targets, so no dup2 overwrites a source still to be copied.
    unsafe {
        command.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, sftpha::gateway::sockets::FIRST_FD + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}
