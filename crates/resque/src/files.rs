//! File I/O for native jobs, confined to the Worker's `roots`. Both loops (the
//! Rust loop and the JS loop, through the napi glue) read and write files here
//! and nowhere else.
//!
//! Why not "resolve the path, check it, then open it": between the check and
//! the open, anyone who can create symlinks inside a root can swap a file or
//! a directory for a link that leads out, and the open follows it. So each
//! root is opened once, as a directory descriptor, and every path is resolved
//! by the kernel relative to that descriptor:
//!
//! - Linux 5.6+: `openat2(root, rest, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`.
//!   Symlinks inside the root are followed as long as they stay beneath it; an
//!   absolute symlink, or one whose `..` climbs out, fails (EXDEV), whatever a
//!   racing process swaps in.
//! - Other unix systems, or a kernel (or seccomp filter) without openat2: a walk
//!   that opens one component at a time with `O_NOFOLLOW`, refusing every
//!   symlink inside a root (stricter; documented).
//! - An operator who wants no symlink followed at all (`followSymlinks: false`,
//!   [`Roots::open_with`]) gets RESOLVE_NO_SYMLINKS added on Linux; the walk
//!   already refuses every symlink. A path through one fails with
//!   ERR_PATH_OUTSIDE_ROOTS, as it does in the walk. The root's own path may
//!   still be a symlink: it is resolved once, at construction.
//! - Elsewhere (Windows): paths are canonicalized and checked, then opened
//!   (this does not close the swap race; documented).
//!
//! Reads accept regular files only (a FIFO would hang a slot; it is opened
//! with O_NONBLOCK, so opening it returns at once) and refuse a file over the
//! job's `maxInputBytes` before reading a byte. Writes create a temporary
//! file with O_EXCL | O_NOFOLLOW in the target's directory (by descriptor) and
//! rename it over the target within that directory: a symlink planted at the
//! target is replaced, never followed.

use std::path::{Component, Path, PathBuf};

use rusque_core::error::{Code, Error, Result};

/// What a job may read when its definition sets no `maxInputBytes`: 256 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
  Input,
  Output,
}

impl Role {
  fn name(self) -> &'static str {
    match self {
      Role::Input => "input",
      Role::Output => "output",
    }
  }
}

/// How paths are resolved beneath a root descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
  /// openat2 with RESOLVE_BENEATH.
  Beneath,
  /// One component at a time, no symlinks at all.
  Walk,
}

/// A Roots' resolution: the mode, and whether the operator allows symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct How {
  #[cfg_attr(not(unix), allow(dead_code))]
  mode: Mode,
  /// false: the operator asked for no symlinks (RESOLVE_NO_SYMLINKS).
  follow: bool,
}

#[derive(Debug)]
struct Root {
  /// As given (made absolute lexically): job paths may name the root this way.
  given: PathBuf,
  /// After symlinks, resolved once at construction: for matching and messages.
  canonical: PathBuf,
  #[cfg(unix)]
  fd: std::os::fd::OwnedFd,
}

/// The directories a Worker's native jobs may read and write, opened once.
#[derive(Debug)]
pub struct Roots {
  roots: Vec<Root>,
  #[cfg_attr(not(unix), allow(dead_code))]
  mode: Mode,
  /// The operator's `followSymlinks` (default true).
  follow: bool,
}

impl Roots {
  /// No roots: every path is refused.
  pub fn none() -> Roots {
    Roots { roots: Vec::new(), mode: Mode::Walk, follow: true }
  }

  /// Opens each root. Each must be an absolute path to an existing directory;
  /// the error (ERR_INVALID_ARG) names the root and what is wrong with it.
  /// Symlinks inside a root are followed while they stay inside it (where
  /// openat2 is available).
  pub fn open<S: AsRef<str>>(paths: &[S]) -> Result<Roots> {
    Roots::open_with(paths, true)
  }

  /// As [`Roots::open`]; with `follow_symlinks` false, no symlink inside a
  /// root is followed at all, even one that stays inside (the operator's
  /// `followSymlinks: false`): a path through one is refused with
  /// ERR_PATH_OUTSIDE_ROOTS.
  pub fn open_with<S: AsRef<str>>(paths: &[S], follow_symlinks: bool) -> Result<Roots> {
    let mut roots = Vec::with_capacity(paths.len());
    for p in paths {
      roots.push(Root::open(p.as_ref())?);
    }
    let mode = roots.first().map_or(Mode::Walk, |r| r.probe_mode());
    Ok(Roots { roots, mode, follow: follow_symlinks })
  }

  pub fn is_empty(&self) -> bool {
    self.roots.is_empty()
  }

  /// The roots after symlinks, as resolved at construction.
  pub fn canonical(&self) -> Vec<PathBuf> {
    self.roots.iter().map(|r| r.canonical.clone()).collect()
  }

  /// Whether symlinks inside roots are followed (while they stay inside):
  /// false where openat2 is missing, or the operator disabled them, and
  /// every symlink is refused.
  pub fn follows_symlinks(&self) -> bool {
    self.follow && self.mode == Mode::Beneath
  }

  fn how(&self) -> How {
    How { mode: self.mode, follow: self.follow }
  }

  /// Reads the regular file at `path` (inside a root), at most `max_bytes`.
  pub fn read(&self, path: &str, max_bytes: u64) -> Result<Vec<u8>> {
    let (root, rel) = self.locate(path, Role::Input)?;
    if rel.is_empty() {
      return Err(Error::invalid(format!("input path {path:?} is a root directory itself; name a file inside it")));
    }
    sys::read(self.how(), root, &rel, path, max_bytes)
  }

  /// Writes `bytes` to `path` (inside a root) atomically; returns the path
  /// written, under the root's canonical path.
  pub fn write(&self, path: &str, bytes: &[u8]) -> Result<PathBuf> {
    let (root, rel) = self.locate(path, Role::Output)?;
    let Some((name, parent)) = rel.split_last() else {
      return Err(Error::invalid(format!("output path {path:?} is a root directory itself; name a file inside it")));
    };
    sys::write(self.how(), root, parent, name, path, bytes)?;
    Ok(rel.iter().fold(root.canonical.clone(), |p, c| p.join(c)))
  }

  /// The root `path` lies in (lexically) and the components after it. Of
  /// nested roots, the outermost is used: its descriptor allows the most.
  fn locate(&self, path: &str, role: Role) -> Result<(&Root, Vec<String>)> {
    if self.roots.is_empty() {
      return Err(Error::new(
        Code::PathOutsideRoots,
        format!("{} path {path:?} refused: this Worker has no roots option, so native jobs may not read or write files (use {{ key }} or {{ base64 }}, or set roots)", role.name()),
      ));
    }
    if path.contains('\0') {
      return Err(Error::invalid(format!("{} path {path:?} contains a NUL byte", role.name())));
    }
    let lexical = lexical_absolute(Path::new(path));
    let mut best: Option<(&Root, &Path)> = None;
    for root in &self.roots {
      for base in [&root.given, &root.canonical] {
        if let Ok(rest) = lexical.strip_prefix(base) {
          if best.is_none_or(|(_, b)| rest.components().count() > b.components().count()) {
            best = Some((root, rest));
          }
        }
      }
    }
    let Some((root, rest)) = best else {
      let roots: Vec<String> = self.roots.iter().map(|r| r.canonical.display().to_string()).collect();
      return Err(Error::new(
        Code::PathOutsideRoots,
        format!("{} path {path:?} resolves to {}, outside the Worker's roots ({})", role.name(), lexical.display(), roots.join(", ")),
      ));
    };
    let mut rel = Vec::new();
    for c in rest.components() {
      match c {
        Component::Normal(s) => rel.push(
          s.to_str().ok_or_else(|| Error::invalid(format!("{} path {path:?} is not valid UTF-8", role.name())))?.to_string(),
        ),
        // lexical_absolute leaves none of the others.
        _ => return Err(Error::invalid(format!("{} path {path:?} is not a plain path", role.name()))),
      }
    }
    Ok((root, rel))
  }
}

/// `path` made absolute (against the working directory) with `.` and `..`
/// folded, without touching the disk, as Node's `path.resolve` does.
fn lexical_absolute(path: &Path) -> PathBuf {
  let base = if path.is_absolute() { PathBuf::new() } else { std::env::current_dir().unwrap_or_default() };
  let mut out = PathBuf::new();
  for c in base.components().chain(path.components()) {
    match c {
      Component::ParentDir => {
        out.pop();
      }
      Component::CurDir => {}
      other => out.push(other.as_os_str()),
    }
  }
  out
}

fn bad_root(root: &str, why: &str) -> Error {
  Error::invalid(format!("root {root:?} {why}: roots must be absolute paths to existing directories"))
}

/// A path refused because resolving it met a symlink, where none is followed:
/// the operator disabled them, or (`disabled` false) openat2 is missing.
fn through_symlink(role: Role, path: &str, disabled: bool) -> Error {
  let what = role.name();
  let why = if disabled {
    ", and symlinks are disabled for this Worker (followSymlinks: false): no symlink inside its roots is followed; name the file by its real path"
  } else {
    ", which could lead outside the Worker's roots: without openat2 (Linux 5.6+) rusque follows no symlinks inside roots"
  };
  Error::new(Code::PathOutsideRoots, format!("{what} path {path:?} goes through a symlink{why}"))
}

/// The error for a failed open/read/write, by errno: the job's fault
/// (ERR_INVALID_ARG, ERR_*_NOT_FOUND, ERR_PATH_OUTSIDE_ROOTS) or the server's
/// (ERR_IO). With `how`, ELOOP means a symlink was met where none is followed.
fn io_error(e: &std::io::Error, role: Role, path: &str, how: How) -> Error {
  let what = role.name();
  #[cfg(unix)]
  {
    let job = |why: &str| Error::invalid(format!("{what} path {path:?}: {why}"));
    match e.raw_os_error().unwrap_or(0) {
      libc::ENOENT => {
        return match role {
          Role::Input => Error::new(Code::InputNotFound, format!("input path {path:?} does not exist")),
          Role::Output => Error::new(Code::OutputNotFound, format!("output directory of {path:?} does not exist")),
        }
      }
      libc::EXDEV => {
        return Error::new(
          Code::PathOutsideRoots,
          format!("{what} path {path:?} resolves outside the Worker's roots (through a symlink that leads out, or an absolute symlink)"),
        )
      }
      libc::ELOOP if !how.follow => return through_symlink(role, path, true),
      libc::ELOOP if how.mode == Mode::Walk => return through_symlink(role, path, false),
      libc::ELOOP => return job("too many levels of symlinks (a symlink loop?)"),
      libc::ENAMETOOLONG => return job("a name in it is too long"),
      libc::EISDIR => return job("is a directory, not a file"),
      libc::ENOTDIR => return job("a component of it is not a directory"),
      libc::ENXIO => return job("is a socket or a device, not a regular file"),
      _ => {}
    }
  }
  let _ = how;
  Error::new(Code::Io, format!("cannot {} {what} path {path:?}: {e} (a fault on the server: check the worker's permissions and disk)", if role == Role::Input { "read" } else { "write" }))
}

#[cfg(unix)]
mod sys {
  use std::ffi::CString;
  use std::fs::File;
  use std::io::{Read, Write};
  use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
  use std::sync::atomic::{AtomicU64, Ordering};

  use super::{bad_root, io_error, lexical_absolute, How, Mode, Role, Root};
  use rusque_core::error::{Code, Error, Result};

  fn cstr(s: &str) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
  }

  fn check(r: libc::c_int) -> std::io::Result<libc::c_int> {
    if r < 0 {
      Err(std::io::Error::last_os_error())
    } else {
      Ok(r)
    }
  }

  fn openat(dir: BorrowedFd, name: &CString, flags: libc::c_int, mode: libc::c_uint) -> std::io::Result<OwnedFd> {
    loop {
      // SAFETY: a valid directory descriptor and a NUL-terminated name.
      match check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) }) {
        Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
        Err(e) => return Err(e),
      }
    }
  }

  #[cfg(target_os = "linux")]
  fn openat2(dir: BorrowedFd, rel: &CString, flags: libc::c_int, follow: bool) -> std::io::Result<OwnedFd> {
    // libc's open_how is non_exhaustive; this is the kernel's layout (linux/openat2.h).
    #[repr(C)]
    struct OpenHow {
      flags: u64,
      mode: u64,
      resolve: u64,
    }
    let mut resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    if !follow {
      // Any symlink at all, in any component (the last too): ELOOP.
      resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    let how = OpenHow { flags: flags as u64, mode: 0, resolve };
    let mut again = 0;
    loop {
      // SAFETY: valid descriptor, NUL-terminated path, and `how` of the size passed.
      let r = unsafe {
        libc::syscall(libc::SYS_openat2, dir.as_raw_fd(), rel.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>())
      };
      if r >= 0 {
        return Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) });
      }
      let e = std::io::Error::last_os_error();
      match e.raw_os_error() {
        Some(libc::EINTR) => continue,
        // The kernel saw a rename race during a `..` and refused to guess: try again.
        Some(libc::EAGAIN) if again < 16 => again += 1,
        _ => return Err(e),
      }
    }
  }

  #[cfg(not(target_os = "linux"))]
  fn openat2(_dir: BorrowedFd, _rel: &CString, _flags: libc::c_int, _follow: bool) -> std::io::Result<OwnedFd> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
  }

  /// Opens `rel` (no `.`/`..`/empty components) beneath `root` with `flags`.
  /// The walk refuses every symlink, so `how.follow` only matters to openat2.
  fn open_beneath(how: How, root: BorrowedFd, rel: &[String], flags: libc::c_int) -> std::io::Result<OwnedFd> {
    if rel.is_empty() {
      return root.try_clone_to_owned();
    }
    if how.mode == Mode::Beneath {
      return openat2(root, &cstr(&rel.join("/"))?, flags, how.follow);
    }
    let (last, dirs) = rel.split_last().expect("not empty");
    let mut cur: Option<OwnedFd> = None;
    for d in dirs {
      let at = cur.as_ref().map_or(root, |f| f.as_fd());
      let next = open_component(at, &cstr(d)?, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
      cur = Some(next);
    }
    let at = cur.as_ref().map_or(root, |f| f.as_fd());
    open_component(at, &cstr(last)?, flags)
  }

  /// One step of the walk: `name` in `at`, never through a symlink (ELOOP).
  fn open_component(at: BorrowedFd, name: &CString, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    openat(at, name, flags | libc::O_NOFOLLOW, 0).map_err(|e| {
      // With O_DIRECTORY, Linux reports a symlink as ENOTDIR.
      if e.raw_os_error() == Some(libc::ENOTDIR) && flags & libc::O_DIRECTORY != 0 {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: valid descriptor, NUL-terminated name, and room for the stat.
        let r = unsafe { libc::fstatat(at.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
        // SAFETY: fstatat filled it in when it returned 0.
        if r == 0 && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFLNK {
          return std::io::Error::from_raw_os_error(libc::ELOOP);
        }
      }
      e
    })
  }

  impl Root {
    pub(super) fn open(given: &str) -> Result<Root> {
      let p = std::path::Path::new(given);
      if given.is_empty() || !p.is_absolute() {
        return Err(bad_root(given, "is not an absolute path"));
      }
      let fd = openat(
        // SAFETY: AT_FDCWD is not used for an absolute path, but is a valid dirfd.
        unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) },
        &CString::new(given).map_err(|_| bad_root(given, "contains a NUL byte"))?,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
      )
      .map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => bad_root(given, "does not exist"),
        Some(libc::ENOTDIR) => bad_root(given, "is not a directory"),
        _ => bad_root(given, &format!("cannot be opened ({e})")),
      })?;
      let canonical = std::fs::canonicalize(p).map_err(|e| bad_root(given, &format!("cannot be resolved ({e})")))?;
      Ok(Root { given: lexical_absolute(p), canonical, fd })
    }

    /// openat2 where the kernel has it and no seccomp filter hides it.
    pub(super) fn probe_mode(&self) -> Mode {
      let dot = CString::new(".").expect("no NUL");
      // With RESOLVE_NO_SYMLINKS too: a kernel with openat2 has had it since 5.6.
      match openat2(self.fd.as_fd(), &dot, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, false) {
        Ok(_) => Mode::Beneath,
        Err(_) => Mode::Walk,
      }
    }
  }

  fn kind(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
      libc::S_IFIFO => "a FIFO (named pipe)",
      libc::S_IFSOCK => "a socket",
      libc::S_IFCHR => "a character device",
      libc::S_IFBLK => "a block device",
      libc::S_IFDIR => "a directory",
      _ => "not a regular file",
    }
  }

  fn over(path: &str, size: u64, max: u64) -> Error {
    Error::new(
      Code::LimitExceeded,
      format!("input path {path:?} holds {size} bytes, over this job's maxInputBytes ({max}); raise maxInputBytes in native() if such files are expected"),
    )
  }

  pub(super) fn read(how: How, root: &Root, rel: &[String], path: &str, max: u64) -> Result<Vec<u8>> {
    let err = |e: std::io::Error| io_error(&e, Role::Input, path, how);
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    let fd = open_beneath(how, root.fd.as_fd(), rel, flags).map_err(err)?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(err)?;
    {
      use std::os::unix::fs::MetadataExt;
      if meta.mode() & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::invalid(format!("input path {path:?} is {}: native jobs read regular files only", kind(meta.mode()))));
      }
    }
    if meta.len() > max {
      return Err(over(path, meta.len(), max));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the cap tells a file that grew while being read.
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > max {
      return Err(over(path, bytes.len() as u64, max));
    }
    Ok(bytes)
  }

  static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

  fn tmp_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(TMP_SEQ.fetch_add(1, Ordering::Relaxed));
    format!(".rusque-{}-{:016x}.tmp", std::process::id(), h.finish())
  }

  pub(super) fn write(how: How, root: &Root, parent: &[String], name: &str, path: &str, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| io_error(&e, Role::Output, path, how);
    let dir = open_beneath(how, root.fd.as_fd(), parent, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC).map_err(err)?;
    let target = cstr(name).map_err(err)?;
    // A name no one else uses (O_EXCL), never a symlink (O_NOFOLLOW).
    let mut tries = 0;
    let (tmp, file) = loop {
      let tmp = cstr(&tmp_name()).map_err(err)?;
      match openat(dir.as_fd(), &tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o644) {
        Ok(fd) => break (tmp, File::from(fd)),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) && tries < 8 => tries += 1,
        Err(e) => return Err(err(e)),
      }
    };
    let remove = || {
      // SAFETY: valid descriptor and NUL-terminated name.
      unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    };
    let mut file = file;
    if let Err(e) = file.write_all(bytes) {
      remove();
      return Err(err(e));
    }
    drop(file);
    // SAFETY: valid descriptors and NUL-terminated names.
    if let Err(e) = check(unsafe { libc::renameat(dir.as_raw_fd(), tmp.as_ptr(), dir.as_raw_fd(), target.as_ptr()) }) {
      remove();
      return Err(err(e));
    }
    Ok(())
  }
}

#[cfg(not(unix))]
mod sys {
  //! Without descriptor-relative opens: canonicalize and check, then open.
  //! A symlink swapped in between the check and the open is not caught here.

  use std::path::{Path, PathBuf};

  use super::{bad_root, io_error, lexical_absolute, through_symlink, How, Mode, Role, Root};
  use rusque_core::error::{Code, Error, Result};

  impl Root {
    pub(super) fn open(given: &str) -> Result<Root> {
      let p = Path::new(given);
      if given.is_empty() || !p.is_absolute() {
        return Err(bad_root(given, "is not an absolute path"));
      }
      let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad_root(given, "does not exist"),
        _ => bad_root(given, &format!("cannot be opened ({e})")),
      })?;
      if !meta.is_dir() {
        return Err(bad_root(given, "is not a directory"));
      }
      let canonical = std::fs::canonicalize(p).map_err(|e| bad_root(given, &format!("cannot be resolved ({e})")))?;
      Ok(Root { given: lexical_absolute(p), canonical })
    }
    pub(super) fn probe_mode(&self) -> Mode {
      Mode::Walk
    }
  }

  fn inside(root: &Root, role: Role, path: &str, resolved: &Path) -> Result<()> {
    if resolved.starts_with(&root.canonical) {
      Ok(())
    } else {
      Err(Error::new(Code::PathOutsideRoots, format!("{} path {path:?} resolves to {}, outside the Worker's roots", role.name(), resolved.display())))
    }
  }

  fn joined(root: &Root, rel: &[String]) -> PathBuf {
    rel.iter().fold(root.canonical.clone(), |p, c| p.join(c))
  }

  /// With followSymlinks false: refuses a path any of whose components under
  /// the root is a symlink (checked, then opened: the same race as above).
  fn no_symlinks(how: How, root: &Root, rel: &[String], role: Role, path: &str) -> Result<()> {
    if how.follow {
      return Ok(());
    }
    let mut p = root.canonical.clone();
    for c in rel {
      p.push(c);
      if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(through_symlink(role, path, true));
      }
    }
    Ok(())
  }

  pub(super) fn read(how: How, root: &Root, rel: &[String], path: &str, max: u64) -> Result<Vec<u8>> {
    let err = |e: std::io::Error| io_error(&e, Role::Input, path, how);
    no_symlinks(how, root, rel, Role::Input, path)?;
    let real = joined(root, rel).canonicalize().map_err(err)?;
    inside(root, Role::Input, path, &real)?;
    let meta = std::fs::metadata(&real).map_err(err)?;
    if !meta.is_file() {
      return Err(Error::invalid(format!("input path {path:?} is not a regular file: native jobs read regular files only")));
    }
    if meta.len() > max {
      return Err(Error::new(Code::LimitExceeded, format!("input path {path:?} holds {} bytes, over this job's maxInputBytes ({max})", meta.len())));
    }
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(&real).map_err(err)?.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > max {
      return Err(Error::new(Code::LimitExceeded, format!("input path {path:?} grew over this job's maxInputBytes ({max}) while being read")));
    }
    Ok(bytes)
  }

  pub(super) fn write(how: How, root: &Root, parent: &[String], name: &str, path: &str, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| io_error(&e, Role::Output, path, how);
    no_symlinks(how, root, parent, Role::Output, path)?;
    let dir = joined(root, parent).canonicalize().map_err(err)?;
    inside(root, Role::Output, path, &dir)?;
    let tmp = dir.join(format!(".rusque-{}-{}.tmp", std::process::id(), name.len()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| {
      let _ = std::fs::remove_file(&tmp);
      err(e)
    })
  }
}

#[cfg(all(test, unix))]
mod tests;
