//! Page contents, eager mode: which pages of a parked task hold data (from its pagemap),
//! reading them on the source and writing them into the stub on the target, both through
//! /proc/PID/mem (the kernel's own access path, with its permission checks).

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::image::Vma;
use crate::peer::proto::PageBatch;
use crate::uapi_gen as uapi;

pub const PAGE: u64 = 4096;

/// CPU time this thread has used (for the transfer's log line: a side whose thread was busy
/// all along is the one that set the pace).
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
/// Bytes of page data per message: large enough for throughput, small enough to keep
/// memory use flat on both sides.
pub const BATCH_BYTES: usize = 1 << 20;

const PM_PRESENT: u64 = 1 << 63;
const PM_SWAP: u64 = 1 << 62;
const PM_FILE: u64 = 1 << 61;

/// A run of pages to copy; `zero_skip` allows dropping all-zero pages (anonymous memory
/// reads as zero on the target anyway; a file page does not).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub start: u64,
    pub pages: u64,
    pub zero_skip: bool,
}

/// Does this pagemap entry hold data that must travel, for a mapping of this kind?
pub fn wanted(entry: u64, file_backed: bool) -> bool {
    if file_backed {
        // Only private copies (copy-on-write) differ from the file on the target.
        (entry & PM_PRESENT != 0 && entry & PM_FILE == 0) || entry & PM_SWAP != 0
    } else {
        entry & (PM_PRESENT | PM_SWAP) != 0
    }
}

/// The runs of pages to copy from `vmas`, read from `pagemap` (/proc/PID/pagemap).
pub fn scan(pagemap: &File, vmas: &[Vma]) -> std::io::Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    let mut buf = Vec::new();
    for v in vmas.iter().filter(|v| !v.is_special()) {
        let file_backed = v.kind == uapi::VMA_KIND_FILE;
        let n = (v.len() / PAGE) as usize;
        buf.resize(n * 8, 0);
        pagemap.read_exact_at(&mut buf, v.start / PAGE * 8)?;
        for (i, e) in buf.chunks_exact(8).enumerate() {
            let e = u64::from_ne_bytes(e.try_into().unwrap_or([0; 8]));
            if !wanted(e, file_backed) {
                continue;
            }
            let addr = v.start + i as u64 * PAGE;
            match runs.last_mut() {
                Some(r) if r.start + r.pages * PAGE == addr && r.zero_skip == !file_backed => r.pages += 1,
                _ => runs.push(Run { start: addr, pages: 1, zero_skip: !file_backed }),
            }
        }
    }
    Ok(runs)
}

pub fn total_bytes(runs: &[Run]) -> u64 {
    runs.iter().map(|r| r.pages * PAGE).sum()
}

/// Reading or writing page contents through /proc/PID/mem.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("reading pages at {addr:#x}: {source}")]
    Read { addr: u64, source: std::io::Error },
    #[error("writing pages at {addr:#x}: {source}")]
    Write { addr: u64, source: std::io::Error },
    #[error("unaligned page run at {0:#x}")]
    Unaligned(u64),
}

/// Pages read from /proc/PID/mem with one call.
const READ_PAGES: u64 = 256;

/// The memory of a frozen (then parked) task, for reading its pages: its pid, a pidfd and
/// its /proc/PID/mem (opened by the user the daemon acts for: the module's proof).
///
/// process_vm_readv does one copy and pins pages many at a time; /proc/PID/mem goes through
/// a bounce page and a page-table walk per page (about twice the cost in a lab node). But it
/// names the task by pid, which could be another process's once the task is gone; the pidfd
/// (opened before the freeze, so it is the frozen task: `migrate::source`) still alive after
/// a read says the pid was the task's during it. /proc/PID/mem is bound to the task's mm and
/// reads what process_vm_readv cannot (a mapping without read permission, with FOLL_FORCE).
pub struct TaskMemory {
    pub pid: u32,
    pidfd: Option<std::os::fd::OwnedFd>,
    file: File,
}

impl TaskMemory {
    pub fn new(pid: u32, file: File, pidfd: Option<std::os::fd::OwnedFd>) -> Self {
        TaskMemory { pid, pidfd, file }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn try_clone(&self) -> std::io::Result<Self> {
        let pidfd = self.pidfd.as_ref().map(|p| p.try_clone()).transpose()?;
        Ok(TaskMemory { pid: self.pid, pidfd, file: self.file.try_clone()? })
    }

    /// `len` bytes at `addr`, in a new buffer (not zeroed first: the read fills it).
    pub fn read_new(&self, len: usize, addr: u64) -> std::io::Result<Vec<u8>> {
        let mut data: Vec<u8> = Vec::with_capacity(len);
        if let Some(pidfd) = &self.pidfd {
            let local = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: len };
            let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: len };
            // SAFETY: the local iovec is the vector's own `len` bytes of capacity, written by
            // the kernel only; the remote one is only read, in the other process.
            let n = unsafe { libc::process_vm_readv(self.pid as libc::pid_t, &local, 1, &remote, 1, 0) };
            if n == len as isize && !crate::fd::relay::has_ended(pidfd) {
                // SAFETY: all `len` bytes were written by the read just made.
                unsafe { data.set_len(len) };
                return Ok(data);
            }
        }
        data.resize(len, 0);
        self.file.read_exact_at(&mut data, addr)?;
        Ok(data)
    }
}

/// Read the runs of a task and hand them out in batches of about BATCH_BYTES. `send` gets
/// each batch and the bytes of pages examined so far.
pub fn read_batches<E: From<PageError>>(
    mem: &TaskMemory,
    runs: &[Run],
    mut send: impl FnMut(PageBatch, u64) -> Result<(), E>,
) -> Result<(), E> {
    let mut batch = PageBatch { runs: Vec::new() };
    let mut batch_bytes = 0usize;
    let mut done = 0u64;
    for r in runs {
        let mut off = 0;
        while off < r.pages {
            let n = (r.pages - off).min(READ_PAGES);
            let start = r.start + off * PAGE;
            // Read straight into the run that will be sent: no copy between the read and
            // the cipher (only all-zero pages, when skipped, split it).
            let data = mem.read_new((n * PAGE) as usize, start).map_err(|source| PageError::Read { addr: start, source })?;
            off += n;
            done += n * PAGE;
            let zero = |p: &[u8]| p.iter().all(|&b| b == 0);
            if !r.zero_skip || !data.chunks_exact(PAGE as usize).any(zero) {
                batch_bytes += data.len();
                batch.runs.push((start, data.into()));
            } else {
                let mut from = None;
                for (i, page) in data.chunks_exact(PAGE as usize).enumerate() {
                    match (zero(page), from) {
                        (false, None) => from = Some(i),
                        (true, Some(f)) => {
                            batch.runs.push((start + f as u64 * PAGE, data[f * PAGE as usize..i * PAGE as usize].to_vec().into()));
                            batch_bytes += (i - f) * PAGE as usize;
                            from = None;
                        }
                        _ => {}
                    }
                }
                if let Some(f) = from {
                    batch.runs.push((start + f as u64 * PAGE, data[f * PAGE as usize..].to_vec().into()));
                    batch_bytes += data.len() - f * PAGE as usize;
                }
            }
            if batch_bytes >= BATCH_BYTES {
                send(std::mem::replace(&mut batch, PageBatch { runs: Vec::new() }), done)?;
                batch_bytes = 0;
            }
        }
    }
    if !batch.runs.is_empty() {
        send(batch, done)?;
    }
    Ok(())
}

/// Write a batch into the stub through its /proc/PID/mem. Returns the bytes written.
pub fn write_batch(mem: &File, batch: &PageBatch) -> Result<u64, PageError> {
    let mut n = 0;
    for (addr, data) in &batch.runs {
        if addr % PAGE != 0 || data.len() as u64 % PAGE != 0 {
            return Err(PageError::Unaligned(*addr));
        }
        mem.write_all_at(data, *addr).map_err(|source| PageError::Write { addr: *addr, source })?;
        n += data.len() as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_pages_travel_only_when_private() {
        assert!(wanted(PM_PRESENT, false));
        assert!(wanted(PM_SWAP, false));
        assert!(!wanted(0, false));
        assert!(!wanted(PM_PRESENT | PM_FILE, true)); // page cache, same file on target
        assert!(wanted(PM_PRESENT, true)); // copy-on-write copy
    }

    #[test]
    fn zero_pages_are_left_out_and_the_rest_kept_in_place() {
        let mut buf = vec![0u8; 8 * PAGE as usize];
        let base = (buf.as_ptr() as u64 + PAGE - 1) / PAGE * PAGE;
        let off = (base - buf.as_ptr() as u64) as usize;
        // Pages 0, 2, 3 and 5 of six hold data; 1 and 4 are zero.
        for p in [0usize, 2, 3, 5] {
            buf[off + p * PAGE as usize + 7] = p as u8 + 1;
        }
        let own = || TaskMemory::new(std::process::id(), File::open("/proc/self/mem").unwrap(), crate::fd::relay::pidfd(std::process::id()).ok());
        let mem = own();
        for zero_skip in [true, false] {
            let mut got = Vec::new();
            read_batches(&mem, &[Run { start: base, pages: 6, zero_skip }], |b, done| {
                assert_eq!(done, 6 * PAGE);
                got.extend(b.runs.into_iter().map(|(a, d)| ((a - base) / PAGE, d.to_vec())));
                Ok::<(), PageError>(())
            })
            .unwrap();
            let want: Vec<(u64, Vec<u8>)> = if zero_skip {
                vec![(0, buf[off..off + 4096].to_vec()), (2, buf[off + 2 * 4096..off + 4 * 4096].to_vec()), (5, buf[off + 5 * 4096..off + 6 * 4096].to_vec())]
            } else {
                vec![(0, buf[off..off + 6 * 4096].to_vec())]
            };
            assert_eq!(got, want, "zero_skip {zero_skip}");
        }
    }

    #[test]
    fn own_memory_scans_and_reads_back() {
        // A heap buffer of this test process: its pages are present after the write.
        let data: Vec<u8> = (0..4 * PAGE as usize).map(|i| (i % 251) as u8 + 1).collect();
        let addr = data.as_ptr() as u64;
        let start = addr / PAGE * PAGE;
        let end = (addr + data.len() as u64 + PAGE - 1) / PAGE * PAGE;
        let v = Vma { start, end, flags: 3, pgoff: 0, kind: uapi::VMA_KIND_ANON, path: None };
        let pm = File::open("/proc/self/pagemap").unwrap();
        let runs = scan(&pm, &[v]).unwrap();
        assert_eq!(total_bytes(&runs), end - start);
        let mem = TaskMemory::new(std::process::id(), File::open("/proc/self/mem").unwrap(), None);
        let mut got = Vec::new();
        read_batches(&mem, &runs, |b, _| {
            got.extend(b.runs);
            Ok::<(), PageError>(())
        })
        .unwrap();
        let (s, bytes) = &got[0];
        let off = (addr - s) as usize;
        assert_eq!(&bytes[off..off + data.len()], &data[..]);
    }
}
