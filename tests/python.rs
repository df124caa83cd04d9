//! Python attaches to Values and Arrays made in Rust, through `python/shmkit.py` (standard
//! library only), and both sides read and write them. Skipped, saying so, without python3.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{fork, NameGuard, LIMIT};
use shmkit::{Array, CChar, Value};

fn python() -> Option<Command> {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 is not on this machine");
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/python"));
    Some(cmd)
}

fn run_python(script: &str, args: &[&str]) -> Option<String> {
    let mut cmd = python()?;
    let out = cmd.arg("-c").arg(script).args(args).output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "python failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    Some(stdout)
}

const SCRIPT: &str = r#"
import sys, shmkit
v_name, a_name, c_name = sys.argv[1:4]
v = shmkit.Value(v_name)
assert v.typecode == "i" and v.value == 41, v.value
v.value = 42
for _ in range(1000):
    with v.get_lock():
        v.value += 1
a = shmkit.Array(a_name)
assert len(a) == 3 and a[:] == [1.5, 2.5, 3.5], a[:]
a[1] = -a[1]
c = shmkit.Array(c_name)
assert c.typecode == "c" and c.value == b"hello", c.value
c.value = b"hi"
for wrong in (lambda: shmkit.Array(v_name), lambda: shmkit.Value(a_name), lambda: shmkit.Value("no-such-object")):
    try:
        wrong()
        raise SystemExit("a wrong open was accepted")
    except shmkit.ShmkitError:
        pass
try:
    a[3]
    raise SystemExit("an out-of-range index was accepted")
except IndexError:
    pass
print("python ok")
"#;

#[test]
fn python_round_trip_in_both_directions() {
    let (gv, ga, gc) = (NameGuard::new("py-value"), NameGuard::new("py-array"), NameGuard::new("py-bytes"));
    let v = Value::<i32>::create(gv.name(), 41).unwrap();
    let a = Array::<f64>::create(ga.name(), &[1.5, 2.5, 3.5]).unwrap();
    let c = Array::<CChar>::create_bytes(gc.name(), b"hello\0\0\0").unwrap();
    let Some(out) = run_python(SCRIPT, &[gv.name(), ga.name(), gc.name()]) else { return };
    assert!(out.contains("python ok"), "{out}");
    // What Python wrote, Rust reads.
    assert_eq!(v.load(), 1042);
    assert_eq!(a.to_vec(), vec![1.5, -2.5, 3.5]);
    assert_eq!(c.value(), b"hi");
    assert!(!v.is_locked());
}

#[test]
fn python_and_rust_increment_under_one_lock() {
    let g = NameGuard::new("py-shared-lock");
    let v = Value::<i64>::create(g.name(), 0).unwrap();
    if python().is_none() {
        return;
    }
    let n = 2000;
    // A Rust process and a Python process increment under the same lock at once.
    let rust = fork(|| {
        for _ in 0..n {
            let mut guard = v.get_lock().unwrap();
            guard.update(|x| x + 1);
            drop(guard);
            std::thread::yield_now();
        }
        0
    });
    let script = "import sys, shmkit\nv = shmkit.Value(sys.argv[1])\nfor _ in range(int(sys.argv[2])):\n    with v.get_lock():\n        v.value += 1\nprint('python ok')";
    let out = run_python(script, &[g.name(), &n.to_string()]).unwrap();
    assert!(out.contains("python ok"));
    rust.join_ok(LIMIT);
    assert_eq!(v.load(), 2 * n);
    let _ = Duration::ZERO;
}

#[test]
fn python_refuses_a_value_with_an_older_one_copy_layout() {
    // Before the two copies, a Value<i32>'s body was 128 bytes of control and one copy.
    let g = NameGuard::new("py-old-value");
    let spec = shmkit::Spec::new(shmkit::Kind::Value, 136).elem(shmkit::TypeDesc::of::<i32>(), 1);
    let _obj = shmkit::Object::create(g.name(), &spec, &shmkit::CreateOptions::new(), |_, _| {}).unwrap();
    let script = "import sys, shmkit\ntry:\n    shmkit.Value(sys.argv[1])\n    raise SystemExit('an old layout was accepted')\nexcept shmkit.ShmkitError as e:\n    assert 'create it again' in str(e), e\nprint('python ok')";
    if let Some(out) = run_python(script, &[g.name()]) {
        assert!(out.contains("python ok"), "{out}");
    }
}
