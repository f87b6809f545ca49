//! Message transport over `SOCK_SEQPACKET` unix sockets, with descriptors in `SCM_RIGHTS`.
//!
//! Seqpacket keeps message boundaries, so one `sendmsg` is one JSON message. Every receive is
//! bounded ([`MAX_MESSAGE`], [`MAX_FDS`]) and a truncated message or descriptor list is an error:
//! the host treats what the agent says as untrusted.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::sys::cvt;

/// Largest message either side accepts.
pub(crate) const MAX_MESSAGE: usize = 128 * 1024;
/// Most descriptors one message may carry.
pub(crate) const MAX_FDS: usize = 16;

/// Space for the control message carrying up to [`MAX_FDS`] descriptors.
const CMSG_SPACE: usize = 512;

/// Sends one message with `fds` attached. Fails with `WouldBlock` on a full non-blocking socket.
pub(crate) fn send_raw(sock: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut cmsg_buf = [0u64; CMSG_SPACE / 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points at `cmsg_buf`, which is larger than `space`, so the first
        // header and its data fit; the copy writes exactly `fds.len()` ints into CMSG_DATA.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(cmsg).cast::<RawFd>(),
                fds.len(),
            );
        }
    }
    loop {
        // SAFETY: `msg` points at live buffers (`iov`, `cmsg_buf`) for the duration of the call.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives one message into `buf`. Returns the length (0 means the peer closed) and the
/// descriptors that came with it (close-on-exec).
pub(crate) fn recv_raw(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg_buf = [0u64; CMSG_SPACE / 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_SPACE;
    let n = loop {
        // SAFETY: `msg` points at live, writable buffers for the duration of the call.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg_control` with well-formed headers of `msg_controllen`
    // bytes; we walk them with the CMSG macros and take ownership of each SCM_RIGHTS fd once.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let header = libc::CMSG_LEN(0) as usize;
                let count = ((*cmsg).cmsg_len as usize - header) / mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 || fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors in message",
        ));
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too large",
        ));
    }
    Ok((n, fds))
}

/// Serializes and sends `message` (blocking sockets: the spawner and the agent).
pub(crate) fn send<T: Serialize>(sock: RawFd, message: &T, fds: &[RawFd]) -> io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "message too large",
        ));
    }
    send_raw(sock, &bytes, fds)
}

/// Receives and parses one message; `Ok(None)` when the peer closed the socket.
pub(crate) fn recv<T: DeserializeOwned>(sock: RawFd) -> io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let (n, fds) = recv_raw(sock, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let message = serde_json::from_slice(&buf[..n])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Some((message, fds)))
}

/// The host side of a seqpacket socket, driven by tokio.
#[derive(Debug)]
pub(crate) struct AsyncSeqpacket {
    fd: AsyncFd<OwnedFd>,
}

impl AsyncSeqpacket {
    /// Wraps `fd`, switching it to non-blocking mode. Needs a tokio runtime.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        crate::sys::set_nonblocking(fd.as_raw_fd(), true)?;
        // SAFETY: an OwnedFd keeps its descriptor open and unchanged until the AsyncFd drops it.
        let fd = unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)
        }?;
        Ok(AsyncSeqpacket { fd })
    }

    /// Sends one message, waiting while the socket buffer is full.
    pub(crate) async fn send<T: Serialize>(&self, message: &T, fds: &[RawFd]) -> io::Result<()> {
        let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
        if bytes.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message too large",
            ));
        }
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|inner| send_raw(inner.get_ref().as_raw_fd(), &bytes, fds)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one message now, without waiting (for synchronous callers such as `signal`).
    pub(crate) fn send_now<T: Serialize>(&self, message: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
        send_raw(self.fd.get_ref().as_raw_fd(), &bytes, &[])
    }

    /// Shuts both directions down: the peer reads EOF even while this side's descriptor stays
    /// open in other handles.
    pub(crate) fn shutdown(&self) {
        // SAFETY: shutdown on our live socket has no memory effects.
        unsafe { libc::shutdown(self.fd.get_ref().as_raw_fd(), libc::SHUT_RDWR) };
    }

    /// Receives one message; `Ok(None)` when the peer closed the socket.
    pub(crate) async fn recv<T: DeserializeOwned>(&self) -> io::Result<Option<(T, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let (n, fds) = loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| recv_raw(inner.get_ref().as_raw_fd(), &mut buf)) {
                Ok(result) => break result?,
                Err(_would_block) => continue,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let message = serde_json::from_slice(&buf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Some((message, fds)))
    }
}

/// Checks that `fd` really is what the peer claims (untrusted input from the agent).
pub(crate) fn fd_kind(fd: &OwnedFd) -> io::Result<libc::mode_t> {
    // SAFETY: stat is plain data and fstat only writes into it.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `fd` is a live descriptor and `st` is a valid out-pointer.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT)
}
