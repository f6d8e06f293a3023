//! Roots against symlinks out, `..`, FIFOs, oversized files, writes over
//! links and directories, and errno mapping, in both resolution modes.

use super::*;
use std::os::unix::fs::symlink;

struct Tmp(PathBuf);
impl Drop for Tmp {
  fn drop(&mut self) {
    let _ = std::fs::remove_dir_all(&self.0);
  }
}

/// dir/{root,outside}, with root/a.txt and outside/secret.txt.
fn setup(tag: &str) -> (Tmp, PathBuf, PathBuf) {
  let dir = std::env::temp_dir().join(format!("rusque-files-{tag}-{}", std::process::id()));
  let _ = std::fs::remove_dir_all(&dir);
  let root = dir.join("root");
  let outside = dir.join("outside");
  std::fs::create_dir_all(root.join("sub")).unwrap();
  std::fs::create_dir_all(&outside).unwrap();
  std::fs::write(root.join("a.txt"), b"inside").unwrap();
  std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
  (Tmp(dir), root, outside)
}

fn s(p: &Path) -> &str {
  p.to_str().unwrap()
}

fn both(root: &Path) -> Vec<Roots> {
  let beneath = Roots::open(&[s(root)]).unwrap();
  let mut walk = Roots::open(&[s(root)]).unwrap();
  walk.mode = Mode::Walk;
  vec![beneath, walk]
}

#[test]
fn roots_must_be_absolute_existing_directories() {
  let (_t, root, _) = setup("validate");
  for (bad, why) in [
    ("", "not an absolute path"),
    ("relative/dir", "not an absolute path"),
    ("/no/such/rusque/dir", "does not exist"),
    (s(&root.join("a.txt")), "not a directory"),
  ] {
    let e = Roots::open(&[bad]).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg, "{bad}");
    assert!(e.message.contains(why) && e.message.contains(&format!("{bad:?}")), "{bad}: {}", e.message);
  }
  assert!(Roots::open(&[s(&root)]).is_ok());
}

#[test]
fn reads_inside_and_refuses_symlinks_and_dotdot_leading_out() {
  let (_t, root, outside) = setup("read");
  symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
  symlink(&outside, root.join("escape")).unwrap();
  symlink("../../outside/secret.txt", root.join("sub/rel.txt")).unwrap();
  symlink("../a.txt", root.join("sub/ok.txt")).unwrap();
  for roots in both(&root) {
    assert_eq!(roots.read(s(&root.join("a.txt")), 100).unwrap(), b"inside");
    let dotdot = format!("{}/../outside/secret.txt", s(&root));
    assert_eq!(roots.read(&dotdot, 100).unwrap_err().code, Code::PathOutsideRoots);
    for p in ["link.txt", "escape/secret.txt", "sub/rel.txt"] {
      let e = roots.read(s(&root.join(p)), 100).unwrap_err();
      assert_eq!(e.code, Code::PathOutsideRoots, "{p}: {}", e.message);
      assert!(e.message.contains("outside the Worker's roots"), "{}", e.message);
    }
    // A relative link that stays inside: followed with openat2, refused by the walk.
    let inside = roots.read(s(&root.join("sub/ok.txt")), 100);
    if roots.mode == Mode::Beneath {
      assert_eq!(inside.unwrap(), b"inside");
    } else {
      assert_eq!(inside.unwrap_err().code, Code::PathOutsideRoots);
    }
    assert_eq!(roots.read(s(&root.join("nope.txt")), 100).unwrap_err().code, Code::InputNotFound);
    assert_eq!(roots.read(s(&root.join("sub")), 100).unwrap_err().code, Code::InvalidArg);
    assert_eq!(roots.read(s(&root), 100).unwrap_err().code, Code::InvalidArg);
    assert_eq!(roots.read(s(&root.join("a.txt/x")), 100).unwrap_err().code, Code::InvalidArg);
    assert_eq!(roots.read(&format!("{}/{}", s(&root), "n".repeat(300)), 100).unwrap_err().code, Code::InvalidArg);
  }
  assert_eq!(Roots::none().read(s(&root.join("a.txt")), 100).unwrap_err().code, Code::PathOutsideRoots);
}

#[test]
fn follow_symlinks_false_refuses_links_that_stay_inside() {
  let (_t, root, _) = setup("nosymlinks");
  std::fs::write(root.join("sub/b.txt"), b"in sub").unwrap();
  symlink("a.txt", root.join("file-link.txt")).unwrap();
  symlink("sub", root.join("dir-link")).unwrap();
  // Followed by default where openat2 is (the walk never follows one).
  let default = Roots::open(&[s(&root)]).unwrap();
  if default.mode == Mode::Beneath {
    assert!(default.follows_symlinks());
    assert_eq!(default.read(s(&root.join("file-link.txt")), 100).unwrap(), b"inside");
    assert_eq!(default.read(s(&root.join("dir-link/b.txt")), 100).unwrap(), b"in sub");
    default.write(s(&root.join("dir-link/w.bin")), b"w").unwrap();
    assert_eq!(std::fs::read(root.join("sub/w.bin")).unwrap(), b"w");
  }
  let off = Roots::open_with(&[s(&root)], false).unwrap();
  assert!(!off.follows_symlinks());
  let mut walk = Roots::open_with(&[s(&root)], false).unwrap();
  walk.mode = Mode::Walk;
  for roots in [off, walk] {
    for p in ["file-link.txt", "dir-link/b.txt"] {
      let e = roots.read(s(&root.join(p)), 100).unwrap_err();
      assert_eq!(e.code, Code::PathOutsideRoots, "{:?} {p}: {}", roots.mode, e.message);
      assert!(e.message.contains("symlinks are disabled for this Worker"), "{}", e.message);
    }
    let e = roots.write(s(&root.join("dir-link/x.bin")), b"x").unwrap_err();
    assert_eq!(e.code, Code::PathOutsideRoots, "{}", e.message);
    assert!(e.message.contains("symlinks are disabled for this Worker"), "{}", e.message);
    assert!(!root.join("sub/x.bin").exists());
    // Real paths still work; a link at an output target is replaced, not followed.
    assert_eq!(roots.read(s(&root.join("sub/b.txt")), 100).unwrap(), b"in sub");
    let _ = std::fs::remove_file(root.join("planted"));
    symlink("a.txt", root.join("planted")).unwrap();
    roots.write(s(&root.join("planted")), b"new").unwrap();
    assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"inside");
  }
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
  let (_t, root, _) = setup("fifo");
  let fifo = root.join("pipe");
  let c = std::ffi::CString::new(s(&fifo)).unwrap();
  assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
  for roots in both(&root) {
    // Would block forever without O_NONBLOCK (no writer ever comes).
    let e = roots.read(s(&fifo), 100).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg);
    assert!(e.message.contains("FIFO"), "{}", e.message);
  }
}

#[test]
fn oversize_is_refused_before_reading() {
  let (_t, root, _) = setup("big");
  // Sparse: 3 GiB that take no disk; reading it would take seconds and the memory.
  let f = std::fs::File::create(root.join("big.bin")).unwrap();
  f.set_len(3 << 30).unwrap();
  for roots in both(&root) {
    let e = roots.read(s(&root.join("big.bin")), DEFAULT_MAX_INPUT_BYTES).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded);
    assert!(e.message.contains("maxInputBytes"), "{}", e.message);
    assert_eq!(roots.read(s(&root.join("a.txt")), 6).unwrap(), b"inside");
    assert_eq!(roots.read(s(&root.join("a.txt")), 5).unwrap_err().code, Code::LimitExceeded);
  }
}

fn leftovers(dir: &Path) -> Vec<String> {
  std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.ends_with(".tmp")).collect()
}

#[test]
fn writes_replace_planted_links_and_never_leave_temporaries() {
  let (_t, root, outside) = setup("write");
  symlink(&outside, root.join("escape")).unwrap();
  for roots in both(&root) {
    let out = roots.write(s(&root.join("sub/out.bin")), b"one").unwrap();
    assert_eq!(out, root.canonicalize().unwrap().join("sub/out.bin"));
    assert_eq!(std::fs::read(root.join("sub/out.bin")).unwrap(), b"one");
    // A symlink at the target is replaced, and its target left alone.
    let _ = std::fs::remove_file(root.join("planted"));
    symlink(outside.join("secret.txt"), root.join("planted")).unwrap();
    roots.write(s(&root.join("planted")), b"two").unwrap();
    assert!(!std::fs::symlink_metadata(root.join("planted")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(outside.join("secret.txt")).unwrap(), b"secret");
    let e = roots.write(s(&root.join("escape/x.bin")), b"x").unwrap_err();
    assert_eq!(e.code, Code::PathOutsideRoots, "{}", e.message);
    assert!(!outside.join("x.bin").exists());
    assert_eq!(roots.write(&format!("{}/../outside/y.bin", s(&root)), b"x").unwrap_err().code, Code::PathOutsideRoots);
    // The root itself is not a file to write.
    assert_eq!(roots.write(s(&root), b"x").unwrap_err().code, Code::InvalidArg);
    assert_eq!(roots.write(&format!("{}/", s(&root)), b"x").unwrap_err().code, Code::InvalidArg);
    assert_eq!(roots.write(s(&root.join("nope/x.bin")), b"x").unwrap_err().code, Code::OutputNotFound);
    // Renaming over a directory fails, and the temporary goes.
    assert_eq!(roots.write(s(&root.join("sub")), b"x").unwrap_err().code, Code::InvalidArg);
    assert_eq!(leftovers(&root), Vec::<String>::new());
    assert_eq!(leftovers(&root.join("sub")), Vec::<String>::new());
  }
  assert!(!root.parent().unwrap().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
}

#[test]
fn errno_decides_whose_fault_it_is() {
  let code = |errno: i32, role: Role, walk: bool| {
    let how = How { mode: if walk { Mode::Walk } else { Mode::Beneath }, follow: true };
    io_error(&std::io::Error::from_raw_os_error(errno), role, "/r/x", how).code
  };
  for errno in [libc::EACCES, libc::EPERM, libc::EROFS, libc::ENOSPC, libc::EIO, libc::EDQUOT, libc::EMFILE] {
    assert_eq!(code(errno, Role::Input, false), Code::Io, "{errno}");
    assert_eq!(code(errno, Role::Output, false), Code::Io, "{errno}");
  }
  for errno in [libc::ENAMETOOLONG, libc::EISDIR, libc::ENOTDIR, libc::ELOOP, libc::ENXIO] {
    assert_eq!(code(errno, Role::Input, false), Code::InvalidArg, "{errno}");
  }
  assert_eq!(code(libc::EXDEV, Role::Output, false), Code::PathOutsideRoots);
  assert_eq!(code(libc::ELOOP, Role::Input, true), Code::PathOutsideRoots);
  assert_eq!(code(libc::ENOENT, Role::Input, false), Code::InputNotFound);
  assert_eq!(code(libc::ENOENT, Role::Output, false), Code::OutputNotFound);
}

#[test]
fn permission_faults_are_the_servers_not_the_jobs() {
  if unsafe { libc::geteuid() } == 0 {
    return; // root reads and writes regardless of modes
  }
  let (_t, root, _) = setup("perm");
  use std::os::unix::fs::PermissionsExt;
  std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o000)).unwrap();
  for roots in both(&root) {
    assert_eq!(roots.read(s(&root.join("a.txt")), 100).unwrap_err().code, Code::Io);
  }
}
